//! Worker processes: starting them, serving batches through them, restarting them, and the GPU
//! each one gets.
//!
//! Invariant: this module knows the worker only through `worker_protocol` frames and the
//! process's exit status and output lines. It never knows Python.

pub mod connection;
pub mod gpu;
pub mod logs;
pub mod process;
pub mod slot;

use crate::batching::{BatchPolicy, JobQueue};
use crate::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("cannot start worker binary {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("worker socket: {0}")]
    Socket(std::io::Error),
    #[error("worker exited during start-up ({status}){}", tail_suffix(.stderr_tail))]
    ExitedEarly { status: String, stderr_tail: String },
    #[error("worker did not load within {secs} s (startupTimeout)")]
    StartupTimeout { secs: u64 },
    #[error("worker protocol error: {0}")]
    Protocol(worker_protocol::ProtocolError),
    #[error("unexpected frame from worker: {0}")]
    Unexpected(String),
    /// the handler failed to load; `detail` holds the Python traceback
    #[error("{message}")]
    LoadFailed {
        code: u16,
        message: String,
        detail: String,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

impl From<worker_protocol::ProtocolError> for WorkerError {
    fn from(e: worker_protocol::ProtocolError) -> Self {
        WorkerError::Protocol(e)
    }
}

impl WorkerError {
    /// The HTTP status a synchronous register/scale answers with (TorchServe: the load reply's
    /// code, else 500).
    pub fn status(&self) -> u16 {
        match self {
            WorkerError::LoadFailed { code, .. } if *code >= 400 => *code,
            _ => 500,
        }
    }

    /// The Python traceback, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            WorkerError::LoadFailed { detail, .. } if !detail.is_empty() => Some(detail),
            WorkerError::ExitedEarly { stderr_tail, .. } if !stderr_tail.is_empty() => {
                Some(stderr_tail)
            }
            _ => None,
        }
    }
}

/// Server-wide settings every worker needs.
pub struct WorkerEnv {
    pub binary: PathBuf,
    /// private 0700 folder for sockets
    pub run_dir: PathBuf,
    pub server_version: String,
    pub decode_input_request: bool,
    pub limit_max_image_pixels: bool,
    pub max_response_size: usize,
    pub metrics: Arc<Metrics>,
    pub gpus: Arc<gpu::Gpus>,
}

/// What the workers of one model version share: its queue and its immutable settings.
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub model_dir: PathBuf,
    pub handler: String,
    pub envelope: String,
    /// model-config.yaml as JSON text
    pub yaml_json: String,
    pub policy: BatchPolicy,
    pub response_timeout: Duration,
    pub startup_timeout: Duration,
    pub max_retry_timeout: Duration,
    pub queue: Arc<JobQueue>,
    /// slots whose task runs and has not given up: jobs are accepted only while this is > 0
    pub live_workers: std::sync::atomic::AtomicUsize,
}

/// TorchServe's restart back-off in seconds (WorkerThread.BACK_OFF); the first retry uses index 1.
pub const BACK_OFF: [u64; 18] = [
    0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597,
];
