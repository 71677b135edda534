//! A loaded handler: its entry point and Context, and the predict path.

use std::sync::Arc;
use std::time::Instant;

use pyo3::exceptions::PySystemExit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;
use worker_protocol::{
    BatchKind, LoadReply, LoadRequest, Metric, MetricKind, PredictReply, PredictRequest,
};

use crate::channel::ReplyChannel;
use crate::data::build_batch;
use crate::reply::{Part, encode_responses};
use crate::runtime::{Failure, Runtime};

pub(crate) struct Service {
    runtime: Arc<Runtime>,
    model_name: String,
    decode: bool,
    entry_point: Py<PyAny>,
    context: Py<PyAny>,
    metrics: Py<PyAny>,
    /// the metrics cache's event buffer, checked after each batch
    metric_events: Py<PyList>,
    request_processor: Py<PyAny>,
    channel: Py<ReplyChannel>,
}

/// What a batch leads to.
pub(crate) enum Outcome {
    Reply(PredictReply),
    /// the handler called `sys.exit(code)`: the process ends, as TorchServe's worker would
    Exit(i32),
}

impl Service {
    /// Loads the handler (contract 1.4). On failure, the reply carries the traceback and there
    /// is no service.
    pub(crate) fn load(
        py: Python<'_>,
        runtime: &Arc<Runtime>,
        req: &LoadRequest,
        channel: ReplyChannel,
    ) -> (LoadReply, Option<Service>) {
        match Self::try_load(py, runtime, req, channel) {
            Ok(service) => {
                let metrics = service.drain_metrics(py);
                let reply = LoadReply {
                    code: 200,
                    message: format!("loaded model {}", req.model_name),
                    detail: String::new(),
                    metrics,
                };
                (reply, Some(service))
            }
            Err(err) => {
                let f = Failure::classify(py, &runtime.load_failure, &req.model_name, &err);
                (
                    LoadReply {
                        code: f.code,
                        message: f.message,
                        detail: f.detail,
                        metrics: vec![],
                    },
                    None,
                )
            }
        }
    }

    fn try_load(
        py: Python<'_>,
        runtime: &Arc<Runtime>,
        req: &LoadRequest,
        channel: ReplyChannel,
    ) -> PyResult<Service> {
        let metrics = runtime.metrics_cache.bind(py).call1((&req.model_name,))?;
        let (entry_point, context) = runtime
            .load
            .bind(py)
            .call1((
                &req.model_name,
                &req.model_dir,
                &req.handler,
                &req.envelope,
                req.batch_size,
                req.gpu_id,
                req.limit_max_image_pixels,
                &req.server_version,
                &req.model_yaml_config,
                &metrics,
            ))?
            .extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
        let channel = Py::new(py, channel)?;
        context.setattr("cl_socket", &channel)?;
        let request_processor = py.import("ts.context")?.getattr("RequestProcessor")?;
        let metric_events = metrics.getattr("events")?.cast_into::<PyList>()?;
        Ok(Service {
            runtime: Arc::clone(runtime),
            model_name: req.model_name.clone(),
            decode: req.decode_input_request,
            entry_point: entry_point.unbind(),
            context: context.unbind(),
            metrics: metrics.unbind(),
            metric_events: metric_events.unbind(),
            request_processor: request_processor.unbind(),
            channel,
        })
    }

    pub(crate) fn predict(&self, py: Python<'_>, req: &PredictRequest) -> Outcome {
        self.channel.get().set_batch(Some(req.batch_id));
        let result = self.run_handler(py, req);
        self.channel.get().set_batch(None);
        let mut metrics = self.drain_metrics(py);
        let reply = |code, message: String, detail: String, responses| PredictReply {
            batch_id: req.batch_id,
            code,
            message,
            detail,
            responses,
            metrics: vec![],
        };
        let mut reply = match result {
            Ok((responses, millis)) => {
                metrics.push(self.prediction_time(millis));
                reply(200, String::new(), String::new(), responses)
            }
            Err(HandlerError::Exit(code)) => return Outcome::Exit(code),
            Err(HandlerError::Failed(f)) => reply(f.code, f.message, f.detail, vec![]),
        };
        reply.metrics = metrics;
        Outcome::Reply(reply)
    }

    fn run_handler(
        &self,
        py: Python<'_>,
        req: &PredictRequest,
    ) -> Result<(Vec<worker_protocol::Response>, f64), HandlerError> {
        let rt = &*self.runtime;
        let context = self.context.bind(py);
        let fail = |err: PyErr| HandlerError::from_handler(py, rt, &self.model_name, err);

        let batch = build_batch(
            py,
            rt,
            self.request_processor.bind(py),
            &req.requests,
            req.kind == BatchKind::Describe,
            self.decode,
        )
        .map_err(fail)?;
        let set = |obj: &Bound<'_, PyAny>, name, value: &Bound<'_, PyAny>| {
            obj.setattr(name, value).map_err(fail)
        };
        set(
            context,
            intern!(py, "request_ids"),
            batch.request_ids.as_any(),
        )?;
        set(
            context,
            intern!(py, "request_processor"),
            batch.processors.as_any(),
        )?;
        set(
            self.metrics.bind(py),
            intern!(py, "request_ids"),
            batch.request_ids.as_any(),
        )?;

        let start = Instant::now();
        let ret = self
            .entry_point
            .bind(py)
            .call1((&batch.data, context))
            .map_err(fail)?;
        let millis = start.elapsed().as_secs_f64() * 1000.0;

        let Ok(list) = ret.cast::<PyList>() else {
            let kind = ret
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            crate::logline::emit(
                "WARNING",
                &format!("model: {}, Invalid return type: {kind}.", self.model_name),
            );
            return Err(HandlerError::batch(503, "Invalid model predict output"));
        };
        if list.len() != req.requests.len() {
            crate::logline::emit(
                "WARNING",
                &format!(
                    "model: {}, number of batch response mismatched, expect: {}, got: {}.",
                    self.model_name,
                    req.requests.len(),
                    list.len()
                ),
            );
            return Err(HandlerError::batch(
                503,
                "number of batch response mismatched",
            ));
        }
        encode_responses(
            py,
            rt,
            list.as_any(),
            &batch.request_ids,
            context,
            Some(batch.processors.as_any()),
            Part::Final,
        )
        .map(|responses| (responses, millis))
        .map_err(|err| {
            HandlerError::Failed(Failure::classify(
                py,
                &rt.output_failure,
                &self.model_name,
                &err,
            ))
        })
    }

    /// TorchServe's per-batch `PredictionTime` gauge, in milliseconds rounded to 0.01.
    fn prediction_time(&self, millis: f64) -> Metric {
        Metric {
            name: "PredictionTime".into(),
            unit: "Milliseconds".into(),
            kind: MetricKind::Gauge,
            value: (millis * 100.0).round() / 100.0,
            dimensions: vec![
                ("ModelName".into(), self.model_name.clone()),
                ("Level".into(), "Model".into()),
            ],
        }
    }

    /// Metrics the handler recorded since the last reply. A malformed event is dropped with a
    /// log line rather than failing the reply.
    fn drain_metrics(&self, py: Python<'_>) -> Vec<Metric> {
        let events = self.metric_events.bind(py);
        if events.is_empty() {
            return Vec::new();
        }
        let drained = match self.metrics.bind(py).call_method0(intern!(py, "drain")) {
            Ok(d) => d,
            Err(e) => {
                crate::logline::emit(
                    "ERROR",
                    &format!(
                        "cannot read handler metrics: {}",
                        crate::runtime::describe(py, &e)
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for event in drained.try_iter().into_iter().flatten().flatten() {
            match event.extract::<(String, String, u8, f64, Vec<(String, String)>)>() {
                Ok((name, unit, kind, value, dimensions)) => {
                    let kind = match kind {
                        0 => MetricKind::Counter,
                        1 => MetricKind::Gauge,
                        _ => MetricKind::Histogram,
                    };
                    out.push(Metric {
                        name,
                        unit,
                        kind,
                        value,
                        dimensions,
                    });
                }
                Err(e) => crate::logline::emit(
                    "ERROR",
                    &format!("dropping a malformed metric event: {e}"),
                ),
            }
        }
        out
    }
}

enum HandlerError {
    Failed(Failure),
    Exit(i32),
}

impl HandlerError {
    fn batch(code: u16, message: &str) -> HandlerError {
        HandlerError::Failed(Failure {
            code,
            message: message.into(),
            detail: String::new(),
        })
    }

    fn from_handler(py: Python<'_>, rt: &Runtime, model: &str, err: PyErr) -> HandlerError {
        if err.is_instance_of::<PySystemExit>(py) {
            return HandlerError::Exit(exit_code(py, &err));
        }
        HandlerError::Failed(Failure::classify(py, &rt.predict_failure, model, &err))
    }
}

/// `sys.exit(x)`: None → 0, an int → itself, anything else is printed and gives 1 (Python's
/// own rules).
fn exit_code(py: Python<'_>, err: &PyErr) -> i32 {
    let code = err.value(py).getattr("code").ok();
    match code {
        None => 1,
        Some(c) if c.is_none() => 0,
        Some(c) => c.extract::<i32>().unwrap_or_else(|_| {
            eprintln!("{}", c.str().map(|s| s.to_string()).unwrap_or_default());
            1
        }),
    }
}
