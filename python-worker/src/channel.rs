//! The worker's side of the socket, shared by the main loop (Hello, load and final replies)
//! and by handlers that stream (`context.cl_socket`).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyConnectionError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};
use worker_protocol::{Frame, PredictReply};

use crate::reply::{Part, encode_responses};
use crate::runtime::Runtime;
use crate::tsframe::parse_ts_response;

/// Serialises whole frames onto the socket, so a streaming handler thread and the main loop
/// never interleave bytes. The encode buffer is kept between frames: a fresh allocation per
/// reply showed up in profiles (glibc consolidating its free lists on each larger malloc).
#[derive(Clone)]
pub(crate) struct Writer(Arc<Mutex<(UnixStream, Vec<u8>)>>);

impl Writer {
    pub(crate) fn new(stream: UnixStream) -> Writer {
        Writer(Arc::new(Mutex::new((
            stream,
            Vec::with_capacity(64 * 1024),
        ))))
    }

    pub(crate) fn send(&self, frame: &Frame) -> std::io::Result<()> {
        // a panic while holding the lock leaves at worst a stale buffer, which is cleared here
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (stream, buf) = &mut *guard;
        buf.clear();
        frame.encode(buf);
        let result = stream.write_all(buf);
        // one huge reply should not pin its memory for the worker's lifetime
        if buf.capacity() > 1 << 20 {
            *buf = Vec::with_capacity(64 * 1024);
        }
        result
    }
}

/// `context.cl_socket`: what TorchServe's streaming helpers write to.
#[pyclass(frozen, module = "_tsrs_worker", name = "ReplyChannel")]
pub(crate) struct ReplyChannel {
    writer: Writer,
    runtime: Arc<Runtime>,
    /// the batch being predicted; streaming outside a batch is an error
    batch: Mutex<Option<u64>>,
}

impl ReplyChannel {
    pub(crate) fn new(writer: Writer, runtime: Arc<Runtime>) -> ReplyChannel {
        ReplyChannel {
            writer,
            runtime,
            batch: Mutex::new(None),
        }
    }

    pub(crate) fn set_batch(&self, batch: Option<u64>) {
        *self.batch.lock().unwrap_or_else(|p| p.into_inner()) = batch;
    }

    fn current_batch(&self) -> PyResult<u64> {
        self.batch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| PyRuntimeError::new_err("no batch is being predicted: intermediate responses can only be sent from the handler"))
    }

    fn send_reply(&self, py: Python<'_>, reply: PredictReply) -> PyResult<()> {
        let frame = Frame::Intermediate(reply);
        py.detach(|| self.writer.send(&frame))
            .map_err(|e| PyConnectionError::new_err(e.to_string()))
    }
}

#[pymethods]
impl ReplyChannel {
    /// Used by the bundled `send_intermediate_predict_response`: encodes `ret` like a final
    /// reply (same per-request rules) and marks each response `ts_stream_next: true`.
    #[pyo3(signature = (ret, req_id_map, message, code, context))]
    fn send_intermediate(
        &self,
        py: Python<'_>,
        ret: &Bound<'_, PyAny>,
        req_id_map: &Bound<'_, PyDict>,
        message: String,
        code: i64,
        context: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let batch_id = self.current_batch()?;
        let responses = encode_responses(
            py,
            &self.runtime,
            ret,
            req_id_map,
            context,
            None,
            Part::Intermediate,
        )?;
        let code = u16::try_from(code)
            .map_err(|_| PyValueError::new_err(format!("invalid status code {code}")))?;
        self.send_reply(
            py,
            PredictReply {
                batch_id,
                code,
                message,
                detail: String::new(),
                responses,
                metrics: vec![],
            },
        )
    }

    /// Used by the real TorchServe package's streaming helper, which hands over a message in
    /// TorchServe's own wire format.
    fn sendall(&self, py: Python<'_>, msg: &Bound<'_, PyAny>) -> PyResult<()> {
        let batch_id = self.current_batch()?;
        // TorchServe builds the message in a bytearray; accept any bytes-like object
        let msg = match msg.cast::<PyByteArray>() {
            Ok(b) => b.to_vec(),
            Err(_) => py
                .get_type::<PyBytes>()
                .call1((msg,))?
                .cast_into::<PyBytes>()?
                .as_bytes()
                .to_vec(),
        };
        let parsed = parse_ts_response(&msg).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let code = u16::try_from(parsed.code)
            .map_err(|_| PyValueError::new_err(format!("invalid status code {}", parsed.code)))?;
        self.send_reply(
            py,
            PredictReply {
                batch_id,
                code,
                message: parsed.message,
                detail: String::new(),
                responses: parsed.responses,
                metrics: vec![],
            },
        )
    }
}
