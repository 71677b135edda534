//! A job: one inference or describe request waiting for a worker, and the channel its answer
//! goes back on. Every job gets exactly one final [`JobEvent::Done`], possibly preceded by
//! streaming chunks; [`Job`]'s `Drop` guarantees that even when a job is lost on an unexpected path.

use std::time::Instant;
use tokio::sync::mpsc;
use worker_protocol::{BatchKind, Request, Response};

/// Why a job failed; mapped to HTTP in `http::error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// the worker crashed or timed out while it held the job (500 `Worker died.`)
    #[error("Worker died.")]
    WorkerDied,
    /// the worker process was killed for memory (exit 137): TorchServe answers 507
    #[error("Worker died.")]
    WorkerKilledForMemory,
    /// batch-level error from the handler or the worker's output rules (code, message)
    #[error("{message}")]
    Handler { code: u16, message: String },
    /// the job waited longer than the model's clientTimeoutInMills
    #[error("Request timed out before a worker took it")]
    ClientTimeout,
    /// the last worker was scaled away while the job waited (503, TorchServe's no-worker text)
    #[error("no worker to serve the request")]
    NoWorker,
    /// the server is stopping or the model was unregistered while the job waited
    #[error("Model {0} was unregistered while the request was waiting")]
    Cancelled(String),
}

/// What the HTTP side receives for a job.
#[derive(Debug)]
pub enum JobEvent {
    /// an intermediate response (streaming); more follow
    Chunk(Response),
    /// the final answer
    Done(Result<Response, JobError>),
}

/// One queued request.
#[derive(Debug)]
pub struct Job {
    pub kind: BatchKind,
    pub request: Request,
    pub arrived: Instant,
    reply: Option<mpsc::UnboundedSender<JobEvent>>,
}

impl Job {
    pub fn new(kind: BatchKind, request: Request) -> (Job, mpsc::UnboundedReceiver<JobEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Job {
                kind,
                request,
                arrived: Instant::now(),
                reply: Some(tx),
            },
            rx,
        )
    }

    pub fn id(&self) -> &str {
        &self.request.request_id
    }

    /// Sends a streaming chunk; the job stays open.
    pub fn chunk(&self, resp: Response) {
        if let Some(tx) = &self.reply {
            // The client may be gone; nothing to do then.
            let _ = tx.send(JobEvent::Chunk(resp));
        }
    }

    /// Sends the final answer and closes the job.
    pub fn finish(mut self, result: Result<Response, JobError>) {
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(JobEvent::Done(result));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Invariant: every request gets an answer. A job dropped without `finish` (a bug, or a
        // task torn down mid-batch) answers "Worker died." rather than hanging its client.
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(JobEvent::Done(Err(JobError::WorkerDied)));
        }
    }
}
