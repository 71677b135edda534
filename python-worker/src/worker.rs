//! The worker's conversation with the server: connect, Hello, one Load, then batches until the
//! server closes the socket.

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use worker_protocol::{DEFAULT_MAX_FRAME, Frame, Hello, PROTOCOL_VERSION, read_frame_into};

use crate::channel::{ReplyChannel, Writer};
use crate::error::WorkerError;
use crate::logline;
use crate::process;
use crate::runtime::{Runtime, flush_std_streams};
use crate::service::{Outcome, Service};

/// What `ts-worker` is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// the server's listening socket
    pub socket: PathBuf,
    /// only used to tag this worker's own log lines
    pub model_name: Option<String>,
    /// only used to tag this worker's own log lines
    pub worker_id: Option<String>,
}

/// How the conversation ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// the server closed the socket
    ServerClosed,
    /// a handler called `sys.exit(code)`
    HandlerExit(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::ServerClosed => 0,
            Exit::HandlerExit(code) => code,
        }
    }
}

/// Runs one worker to the end. Load failures are reported to the server before this returns
/// [`WorkerError::LoadFailed`].
pub fn run(config: &Config) -> Result<Exit, WorkerError> {
    process::die_with_parent()?;
    let stream = UnixStream::connect(&config.socket).map_err(|source| WorkerError::Connect {
        path: config.socket.display().to_string(),
        source,
    })?;
    process::exit_on_hangup(&stream)?;
    let writer = Writer::new(stream.try_clone()?);
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let tag = tag(config);

    let (runtime, python_version) = Python::attach(|py| {
        let v = py.version_info();
        Runtime::start(py).map(|rt| (Arc::new(rt), format!("{}.{}.{}", v.major, v.minor, v.patch)))
    })?;
    writer.send(&Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        pid: std::process::id(),
        python_version,
        worker_version: env!("CARGO_PKG_VERSION").into(),
    }))?;

    let mut service: Option<Service> = None;
    let mut body = Vec::new();
    let result = loop {
        // the socket is read without the GIL, so handler threads keep running meanwhile
        let frame = match read_frame_into(&mut reader, DEFAULT_MAX_FRAME, &mut body) {
            Ok(Some(frame)) => frame,
            Ok(None) => break Ok(Exit::ServerClosed),
            Err(e) => break Err(e.into()),
        };
        match frame {
            Frame::Load(req) if service.is_none() => {
                let channel = ReplyChannel::new(writer.clone(), Arc::clone(&runtime));
                let (reply, loaded) =
                    Python::attach(|py| Service::load(py, &runtime, &req, channel));
                let failed = (reply.code != 200).then(|| (reply.code, reply.message.clone()));
                writer.send(&Frame::LoadReply(reply))?;
                match (loaded, failed) {
                    (Some(s), None) => {
                        logline::emit("INFO", &format!("{tag}loaded model {}", req.model_name));
                        service = Some(s);
                    }
                    (_, failed) => {
                        let (code, message) = failed.unwrap_or((500, "load failed".into()));
                        break Err(WorkerError::LoadFailed { code, message });
                    }
                }
            }
            Frame::Load(_) => break Err(WorkerError::UnexpectedFrame("a second Load")),
            Frame::Predict(req) => {
                let Some(service) = &service else {
                    break Err(WorkerError::UnexpectedFrame("Predict before Load"));
                };
                match Python::attach(|py| service.predict(py, &req)) {
                    Outcome::Reply(reply) => writer.send(&Frame::PredictReply(reply))?,
                    Outcome::Exit(code) => {
                        logline::emit(
                            "WARNING",
                            &format!("{tag}the handler called sys.exit({code})"),
                        );
                        break Ok(Exit::HandlerExit(code));
                    }
                }
            }
            Frame::Hello(_) => break Err(WorkerError::UnexpectedFrame("Hello")),
            Frame::LoadReply(_) => break Err(WorkerError::UnexpectedFrame("LoadReply")),
            Frame::PredictReply(_) | Frame::Intermediate(_) => {
                break Err(WorkerError::UnexpectedFrame("a reply"));
            }
        }
    };
    Python::attach(flush_std_streams);
    result
}

fn tag(config: &Config) -> String {
    match (&config.model_name, &config.worker_id) {
        (Some(m), Some(w)) => format!("[{m} worker {w}] "),
        (Some(m), None) => format!("[{m}] "),
        (None, Some(w)) => format!("[worker {w}] "),
        (None, None) => String::new(),
    }
}
