//! Metrics in Prometheus text format 0.0.4 (contract §5.3): TorchServe's frontend metric names and
//! labels, a few of our own (queue depth, batch sizes, worker restarts), and the metrics handlers
//! add through `context.metrics`.
//!
//! TorchServe's frontend "latency" metrics are counters of summed microseconds; we keep that shape
//! so existing dashboards (rate(latency)/rate(requests)) keep working.

use crate::job::Job;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;
use worker_protocol::{Metric, MetricKind};

type Labels = Vec<(String, String)>;

const BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(f64),
    Histogram {
        buckets: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Family {
    kind: Kind,
    help: String,
    series: BTreeMap<Labels, Value>,
}

impl Family {
    /// A gauge family computed at scrape time (queue depth...).
    pub fn gauge(help: &str, series: Vec<(Labels, f64)>) -> Family {
        Family {
            kind: Kind::Gauge,
            help: help.into(),
            series: series
                .into_iter()
                .map(|(l, v)| (l, Value::Scalar(v)))
                .collect(),
        }
    }
}

pub struct Metrics {
    hostname: String,
    families: Mutex<BTreeMap<String, Family>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Metrics {
            hostname,
            families: Mutex::new(BTreeMap::new()),
        }
    }

    fn update(
        &self,
        name: &str,
        kind: Kind,
        help: &str,
        labels: Labels,
        f: impl FnOnce(&mut Value),
    ) {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            kind,
            help: help.to_string(),
            series: BTreeMap::new(),
        });
        let v = fam.series.entry(labels).or_insert_with(|| match kind {
            Kind::Histogram => Value::Histogram {
                buckets: vec![0; BUCKETS.len()],
                sum: 0.0,
                count: 0,
            },
            _ => Value::Scalar(0.0),
        });
        f(v);
    }

    fn add(&self, name: &str, kind: Kind, help: &str, labels: Labels, x: f64) {
        self.update(name, kind, help, labels, |v| {
            if let Value::Scalar(s) = v {
                *s += x;
            }
        });
    }

    fn set(&self, name: &str, help: &str, labels: Labels, x: f64) {
        self.update(name, Kind::Gauge, help, labels, |v| *v = Value::Scalar(x));
    }

    fn observe(&self, name: &str, help: &str, labels: Labels, x: f64) {
        self.update(name, Kind::Histogram, help, labels, |v| {
            if let Value::Histogram {
                buckets,
                sum,
                count,
            } = v
            {
                for (i, b) in BUCKETS.iter().enumerate() {
                    if x <= *b {
                        buckets[i] += 1;
                    }
                }
                *sum += x;
                *count += 1;
            }
        });
    }

    fn model_labels(&self, model: &str, version: Option<&str>) -> Labels {
        vec![
            ("model_name".into(), model.into()),
            ("model_version".into(), version.unwrap_or("default").into()),
            ("hostname".into(), self.hostname.clone()),
        ]
    }

    fn host_labels(&self) -> Labels {
        vec![
            ("Level".into(), "Host".into()),
            ("Hostname".into(), self.hostname.clone()),
        ]
    }

    /// One inference request answered (any status), with its latency.
    pub fn inference_done(
        &self,
        model: &str,
        version: Option<&str>,
        status: u16,
        latency: Duration,
    ) {
        let l = self.model_labels(model, version);
        self.add(
            "ts_inference_requests_total",
            Kind::Counter,
            "Total number of inference requests.",
            l.clone(),
            1.0,
        );
        self.add(
            "ts_inference_latency_microseconds",
            Kind::Counter,
            "Cumulative inference duration in microseconds",
            l,
            latency.as_secs_f64() * 1e6,
        );
        self.http_status(status);
    }

    /// Requests2XX / 4XX / 5XX, counted for every API answer.
    pub fn http_status(&self, status: u16) {
        let name = match status {
            200..=299 => "Requests2XX",
            400..=499 => "Requests4XX",
            500..=599 => "Requests5XX",
            _ => return,
        };
        self.add(
            name,
            Kind::Counter,
            "Requests by status class",
            self.host_labels(),
            1.0,
        );
    }

    /// A batch left the queue: queue latency per job and the batch size.
    pub fn batch_dispatched(&self, model: &str, version: &str, batch: &[Job]) {
        let mut total_queue = 0.0;
        for job in batch {
            let us = job.arrived.elapsed().as_secs_f64() * 1e6;
            total_queue += us;
        }
        let l = self.model_labels(model, Some(version));
        self.add(
            "ts_queue_latency_microseconds",
            Kind::Counter,
            "Cumulative queue duration in microseconds",
            l,
            total_queue,
        );
        let avg_ms = total_queue / 1000.0 / batch.len().max(1) as f64;
        self.set(
            "QueueTime",
            "Time spent by a job in the queue, in ms",
            self.host_labels(),
            avg_ms,
        );
        let l = vec![
            ("model_name".into(), model.into()),
            ("model_version".into(), version.into()),
        ];
        self.observe(
            "ts_batch_size",
            "Requests per batch sent to a worker",
            l,
            batch.len() as f64,
        );
    }

    pub fn worker_thread_time(&self, _model: &str, _version: &str, d: Duration) {
        self.set(
            "WorkerThreadTime",
            "Time of the last worker round trip, in ms",
            self.host_labels(),
            d.as_secs_f64() * 1e3,
        );
    }

    pub fn worker_load_time(&self, model: &str, version: &str, d: Duration) {
        let mut l = self.host_labels();
        l.insert(0, ("WorkerName".into(), format!("{model}:{version}")));
        self.set(
            "WorkerLoadTime",
            "Time to start a worker and load its model, in ms",
            l,
            d.as_secs_f64() * 1e3,
        );
    }

    pub fn worker_restarted(&self, model: &str, version: &str) {
        let l = vec![
            ("model_name".into(), model.into()),
            ("model_version".into(), version.into()),
        ];
        self.add(
            "ts_worker_restarts_total",
            Kind::Counter,
            "Worker process failures followed by a restart",
            l,
            1.0,
        );
    }

    /// Metrics a handler added through `context.metrics`.
    pub fn handler_metrics(&self, model: &str, _version: &str, metrics: &[Metric]) {
        for m in metrics {
            if !valid_name(&m.name) {
                tracing::warn!(model, metric = %m.name, "handler metric with an invalid Prometheus name dropped");
                continue;
            }
            let mut labels: Labels = m
                .dimensions
                .iter()
                .filter(|(k, _)| valid_name(k))
                .cloned()
                .collect();
            if !labels.iter().any(|(k, _)| k == "ModelName") {
                labels.push(("ModelName".into(), model.into()));
            }
            if !labels.iter().any(|(k, _)| k == "Hostname") {
                labels.push(("Hostname".into(), self.hostname.clone()));
            }
            let help = format!("handler metric ({})", m.unit);
            match m.kind {
                MetricKind::Counter => self.add(&m.name, Kind::Counter, &help, labels, m.value),
                MetricKind::Gauge => self.set(&m.name, &help, labels, m.value),
                MetricKind::Histogram => self.observe(&m.name, &help, labels, m.value),
            }
        }
    }

    /// The exposition text; `names` filters families (the `name[]` query parameter).
    pub fn render(&self, names: &[String], extra: Vec<(String, Family)>) -> String {
        let fams = self
            .families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut all: BTreeMap<String, Family> = fams;
        all.extend(extra);
        let mut out = String::new();
        for (name, fam) in &all {
            if !names.is_empty() && !names.iter().any(|n| n == name) {
                continue;
            }
            let kind = match fam.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in &fam.series {
                match value {
                    Value::Scalar(v) => {
                        let _ =
                            writeln!(out, "{name}{} {}", fmt_labels(labels, None), fmt_value(*v));
                    }
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        for (b, c) in BUCKETS.iter().zip(buckets) {
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {c}",
                                fmt_labels(labels, Some(&fmt_value(*b)))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            fmt_labels(labels, Some("+Inf"))
                        );
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            fmt_labels(labels, None),
                            fmt_value(*sum)
                        );
                        let _ = writeln!(out, "{name}_count{} {count}", fmt_labels(labels, None));
                    }
                }
            }
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut s = String::from("{");
    let mut first = true;
    for (k, v) in labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(le.map(|l| ("le", l)))
    {
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(s, "{k}=\"");
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_filters_and_escapes() {
        let m = Metrics {
            hostname: "h".into(),
            families: Mutex::new(BTreeMap::new()),
        };
        m.inference_done("echo", None, 200, Duration::from_micros(1500));
        m.inference_done("echo", Some("2.0"), 503, Duration::from_micros(500));
        m.handler_metrics(
            "echo",
            "1.0",
            &[Metric {
                name: "MyCount".into(),
                unit: "count".into(),
                kind: MetricKind::Counter,
                value: 2.0,
                dimensions: vec![("Tag".into(), "a\"b".into())],
            }],
        );
        let text = m.render(&[], vec![]);
        assert!(
            text.contains("# TYPE ts_inference_requests_total counter"),
            "{text}"
        );
        assert!(text.contains(r#"ts_inference_requests_total{model_name="echo",model_version="default",hostname="h"} 1.0"#), "{text}");
        assert!(text.contains(r#"ts_inference_latency_microseconds{model_name="echo",model_version="default",hostname="h"} 1500.0"#), "{text}");
        assert!(
            text.contains(r#"MyCount{Tag="a\"b",ModelName="echo",Hostname="h"} 2.0"#),
            "{text}"
        );
        assert!(
            text.contains("Requests5XX{Level=\"Host\",Hostname=\"h\"} 1.0"),
            "{text}"
        );
        let only = m.render(&["MyCount".to_string()], vec![]);
        assert!(
            only.contains("MyCount") && !only.contains("ts_inference"),
            "{only}"
        );
    }
}
