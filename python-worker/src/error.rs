//! The worker's error type.

use thiserror::Error;
use worker_protocol::ProtocolError;

#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("cannot connect to the server socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the server sent {0} out of order")]
    UnexpectedFrame(&'static str),
    #[error("Python runtime setup failed: {0}")]
    Python(String),
    #[error("loading the model failed ({code}): {message}")]
    LoadFailed { code: u16, message: String },
    #[error("the server process is gone")]
    ParentGone,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl WorkerError {
    /// The process exit code for this error. A handler's `sys.exit(n)` is not an error: it is
    /// handled where it is raised.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::LoadFailed { .. } => 3,
            WorkerError::Connect { .. } | WorkerError::ParentGone => 4,
            WorkerError::Protocol(_) | WorkerError::UnexpectedFrame(_) | WorkerError::Io(_) => 5,
            WorkerError::Python(_) => 6,
        }
    }
}
