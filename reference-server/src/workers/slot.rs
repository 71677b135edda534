//! One worker slot: a stable id (TorchServe's worker "port") whose task keeps a worker process
//! alive: start, load, serve batches, and after any failure restart with TorchServe's back-off
//! until `maxRetryTimeoutInSec` has passed in one failure streak (contract §6.2).

use super::process::{SpawnSpec, WorkerProcess, oom_kill_count};
use super::{BACK_OFF, ModelSpec, WorkerEnv, WorkerError};
use crate::batching::stopped;
use crate::job::{Job, JobError};
use chrono::{DateTime, Local};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use worker_protocol::{Frame, LoadRequest, PredictReply, PredictRequest, Request, Response};

static BATCH_IDS: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Starting,
    Ready,
    /// waiting to restart after a failure
    Backoff,
    /// gave up after maxRetryTimeoutInSec, or stopped
    Stopped,
}

/// Outcome of the most recent load attempt, for synchronous register/scale.
#[derive(Debug, Clone)]
pub enum LoadState {
    Pending,
    Loaded,
    Failed(Arc<WorkerError>),
}

#[derive(Debug)]
struct Status {
    state: State,
    pid: Option<u32>,
    start_time: DateTime<Local>,
    failing_since: Option<Instant>,
    gave_up: bool,
}

/// A point-in-time view of a slot for describe.
#[derive(Debug, Clone)]
pub struct SlotView {
    pub id: u32,
    pub state: State,
    pub pid: Option<u32>,
    pub start_time: DateTime<Local>,
    pub gpu_id: Option<u32>,
}

pub struct WorkerSlot {
    pub id: u32,
    pub gpu_id: Option<u32>,
    status: Mutex<Status>,
    stop_tx: watch::Sender<bool>,
    load_tx: watch::Sender<LoadState>,
    task: Mutex<Option<JoinHandle<()>>>,
    max_retry_timeout: Duration,
}

impl WorkerSlot {
    /// Creates the slot and starts its task.
    pub fn start(
        id: u32,
        gpu_id: Option<u32>,
        env: Arc<WorkerEnv>,
        spec: Arc<ModelSpec>,
    ) -> Arc<WorkerSlot> {
        let slot = Arc::new(WorkerSlot {
            id,
            gpu_id,
            status: Mutex::new(Status {
                state: State::Starting,
                pid: None,
                start_time: Local::now(),
                failing_since: None,
                gave_up: false,
            }),
            stop_tx: watch::channel(false).0,
            load_tx: watch::channel(LoadState::Pending).0,
            task: Mutex::new(None),
            max_retry_timeout: spec.max_retry_timeout,
        });
        spec.live_workers.fetch_add(1, Ordering::SeqCst);
        let handle = tokio::spawn(run(slot.clone(), env, spec));
        *slot.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        slot
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> SlotView {
        let s = self.status();
        SlotView {
            id: self.id,
            state: s.state,
            pid: s.pid,
            start_time: s.start_time,
            gpu_id: self.gpu_id,
        }
    }

    /// TorchServe's isHealthy: never failed, or failing for less than maxRetryTimeoutInSec.
    pub fn is_healthy(&self) -> bool {
        let s = self.status();
        !s.gave_up
            && s.failing_since
                .is_none_or(|t| t.elapsed() < self.max_retry_timeout)
    }

    pub fn is_ready(&self) -> bool {
        self.status().state == State::Ready
    }

    /// Asks the slot to stop: it finishes the batch in flight, then ends its process.
    pub fn stop(&self) {
        self.stop_tx.send_replace(true);
    }

    /// Waits for the task to end; past `timeout` it is aborted (the process is killed on drop and
    /// jobs in flight answer "Worker died."). Returns false on timeout.
    pub async fn join(&self, timeout: Duration) -> bool {
        let handle = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut handle) = handle else {
            return true;
        };
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(_) => true,
            Err(_) => {
                handle.abort();
                let _ = handle.await;
                false
            }
        }
    }

    /// Waits for the first load attempt that ends (success or failure).
    pub async fn wait_loaded(&self) -> Result<(), Arc<WorkerError>> {
        let mut rx = self.load_tx.subscribe();
        let state = rx
            .wait_for(|s| !matches!(s, LoadState::Pending))
            .await
            .map(|s| s.clone());
        match state {
            Ok(LoadState::Failed(e)) => Err(e),
            _ => Ok(()),
        }
    }

    fn set_state(&self, state: State, pid: Option<u32>) {
        let mut s = self.status();
        s.state = state;
        s.pid = pid;
    }
}

/// Why serving through one process ended.
enum ServeEnd {
    Stopped,
    Failed(String),
}

async fn run(slot: Arc<WorkerSlot>, env: Arc<WorkerEnv>, spec: Arc<ModelSpec>) {
    let mut stop = slot.stop_tx.subscribe();
    let mut backoff_idx = 0usize;
    let mut generation = 0u64;
    loop {
        if *stop.borrow() {
            break;
        }
        generation += 1;
        slot.set_state(State::Starting, None);
        let started = tokio::select! {
            r = start_and_load(&slot, &env, &spec, generation) => r,
            () = stopped(&mut stop) => break,
        };
        let cause = match started {
            Ok(mut proc) => {
                backoff_idx = 0;
                {
                    let mut s = slot.status();
                    s.state = State::Ready;
                    s.pid = Some(proc.pid);
                    s.failing_since = None;
                }
                slot.load_tx.send_replace(LoadState::Loaded);
                tracing::info!(model = %spec.name, version = %spec.version, worker = slot.id, pid = proc.pid, "worker ready");
                let end = serve(&slot, &env, &spec, &mut proc, &mut stop).await;
                end_process(&mut proc).await;
                match end {
                    ServeEnd::Stopped => break,
                    ServeEnd::Failed(cause) => cause,
                }
            }
            Err(e) => {
                let cause = e.to_string();
                match e.detail() {
                    Some(detail) => {
                        tracing::error!(model = %spec.name, version = %spec.version, worker = slot.id,
                        "worker failed to load: {cause}\n{detail}")
                    }
                    None => {
                        tracing::error!(model = %spec.name, version = %spec.version, worker = slot.id,
                        "worker failed to load: {cause}")
                    }
                }
                slot.load_tx.send_replace(LoadState::Failed(Arc::new(e)));
                cause
            }
        };
        env.metrics.worker_restarted(&spec.name, &spec.version);
        let since = *slot.status().failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= spec.max_retry_timeout {
            tracing::error!(model = %spec.name, version = %spec.version, worker = slot.id,
                "worker keeps failing ({cause}); giving up after maxRetryTimeoutInSec");
            slot.status().gave_up = true;
            break;
        }
        backoff_idx = (backoff_idx + 1).min(BACK_OFF.len() - 1);
        let delay = Duration::from_secs(BACK_OFF[backoff_idx]);
        slot.set_state(State::Backoff, None);
        tracing::warn!(model = %spec.name, version = %spec.version, worker = slot.id,
            "worker failed ({cause}); restarting in {} s", delay.as_secs());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => break,
        }
    }
    slot.set_state(State::Stopped, None);
    let left = spec.live_workers.fetch_sub(1, Ordering::SeqCst) - 1;
    if left == 0 && slot.status().gave_up {
        // Every worker has given up: nobody will ever serve what waits, so answer it now
        // (and new requests get 503 at once, see ModelVersion::has_workers).
        for job in spec.queue.drain() {
            job.finish(Err(JobError::NoWorker));
        }
    }
}

async fn start_and_load(
    slot: &WorkerSlot,
    env: &WorkerEnv,
    spec: &ModelSpec,
    generation: u64,
) -> Result<WorkerProcess, WorkerError> {
    let handler_dir = spec
        .handler
        .split(':')
        .next()
        .and_then(|m| m.rsplit_once('/'))
        .map(|(dir, _)| spec.model_dir.join(dir));
    let spawn = SpawnSpec {
        binary: &env.binary,
        run_dir: &env.run_dir,
        model_dir: &spec.model_dir,
        handler_dir,
        model_name: &spec.name,
        version: &spec.version,
        worker_id: slot.id,
        generation,
        decode_input_request: env.decode_input_request,
        max_frame: max_frame(env),
    };
    let started = Instant::now();
    let mut proc = WorkerProcess::start(&spawn, spec.startup_timeout).await?;
    slot.set_state(State::Starting, Some(proc.pid));
    let load = LoadRequest {
        model_name: spec.name.clone(),
        model_dir: spec.model_dir.display().to_string(),
        handler: spec.handler.clone(),
        envelope: spec.envelope.clone(),
        batch_size: u32::try_from(spec.policy.batch_size.max(1)).unwrap_or(u32::MAX),
        gpu_id: slot.gpu_id,
        limit_max_image_pixels: env.limit_max_image_pixels,
        decode_input_request: env.decode_input_request,
        server_version: env.server_version.clone(),
        model_yaml_config: spec.yaml_json.clone(),
    };
    proc.conn.send(&Frame::Load(load)).await?;
    let remaining = spec.startup_timeout.saturating_sub(started.elapsed());
    let reply = tokio::select! {
        biased;
        f = proc.conn.recv() => f,
        () = tokio::time::sleep(remaining) => {
            return Err(WorkerError::StartupTimeout { secs: spec.startup_timeout.as_secs() });
        }
    };
    match reply {
        Ok(Frame::LoadReply(r)) if r.code == 200 => {
            env.metrics
                .handler_metrics(&spec.name, &spec.version, &r.metrics);
            env.metrics
                .worker_load_time(&spec.name, &spec.version, started.elapsed());
            Ok(proc)
        }
        Ok(Frame::LoadReply(r)) => Err(WorkerError::LoadFailed {
            code: r.code,
            message: r.message,
            detail: r.detail,
        }),
        Ok(other) => Err(WorkerError::Unexpected(
            format!("{other:?}").chars().take(200).collect(),
        )),
        Err(_) => {
            // The socket closed: report what the process said before it died.
            let status = tokio::time::timeout(Duration::from_secs(2), proc.child.wait()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let tail: Vec<String> = proc
                .stderr_tail
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            Err(WorkerError::ExitedEarly {
                status: match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "no exit status".into(),
                },
                stderr_tail: tail.join("\n"),
            })
        }
    }
}

/// The largest frame accepted from a worker: a full batch of maximal responses plus framing.
fn max_frame(env: &WorkerEnv) -> u32 {
    let per = env.max_response_size.saturating_add(64 * 1024);
    u32::try_from(per.saturating_mul(64))
        .unwrap_or(u32::MAX)
        .max(worker_protocol::DEFAULT_MAX_FRAME)
}

async fn serve(
    slot: &WorkerSlot,
    env: &WorkerEnv,
    spec: &ModelSpec,
    proc: &mut WorkerProcess,
    stop: &mut watch::Receiver<bool>,
) -> ServeEnd {
    loop {
        let batch = {
            let child = &mut proc.child;
            let cancel = async {
                tokio::select! {
                    () = stopped(stop) => {}
                    _ = child.wait() => {}
                }
            };
            spec.queue.next_batch(spec.policy, cancel).await
        };
        let Some(mut batch) = batch else {
            if *stop.borrow() {
                return ServeEnd::Stopped;
            }
            return ServeEnd::Failed("worker process exited while idle".into());
        };
        let batch_id = BATCH_IDS.fetch_add(1, Ordering::Relaxed);
        let kind = batch[0].kind;
        let requests: Vec<Request> = batch
            .iter_mut()
            .map(|j| {
                let id = j.request.request_id.clone();
                std::mem::replace(
                    &mut j.request,
                    Request {
                        request_id: id,
                        headers: Vec::new(),
                        params: Vec::new(),
                    },
                )
            })
            .collect();
        env.metrics
            .batch_dispatched(&spec.name, &spec.version, &batch);
        let sent = proc
            .conn
            .send(&Frame::Predict(PredictRequest {
                batch_id,
                kind,
                requests,
            }))
            .await;
        let started = Instant::now();
        let outcome = match sent {
            Ok(()) => await_reply(env, spec, proc, batch_id, &batch).await,
            Err(e) => Err(format!("cannot send batch: {e}")),
        };
        env.metrics
            .worker_thread_time(&spec.name, &spec.version, started.elapsed());
        match outcome {
            Ok(reply) => route(env, spec, batch, reply),
            Err(cause) => {
                let err = died_error(proc).await;
                tracing::error!(model = %spec.name, version = %spec.version, worker = slot.id, pid = proc.pid,
                    "batch of {} failed: {cause}", batch.len());
                for job in batch {
                    job.finish(Err(err.clone()));
                }
                return ServeEnd::Failed(cause);
            }
        }
    }
}

/// Reads frames until the final reply of `batch_id`, forwarding streaming chunks.
async fn await_reply(
    env: &WorkerEnv,
    spec: &ModelSpec,
    proc: &mut WorkerProcess,
    batch_id: u64,
    batch: &[Job],
) -> Result<PredictReply, String> {
    let deadline = tokio::time::Instant::now() + spec.response_timeout;
    let index: HashMap<&str, usize> = batch.iter().enumerate().map(|(i, j)| (j.id(), i)).collect();
    loop {
        let frame = tokio::select! {
            f = proc.conn.recv() => f,
            () = tokio::time::sleep_until(deadline) => {
                return Err(format!("no response within {} s (responseTimeout)", spec.response_timeout.as_secs()));
            }
        };
        match frame {
            Ok(Frame::Intermediate(r)) if r.batch_id == batch_id => {
                for resp in r.responses {
                    match index.get(resp.request_id.as_str()) {
                        Some(&i) if resp.body.len() <= env.max_response_size => {
                            batch[i].chunk(resp)
                        }
                        Some(_) => {
                            tracing::error!(model = %spec.name, "streamed chunk exceeds max_response_size; dropped")
                        }
                        None => {
                            tracing::error!(model = %spec.name, id = %resp.request_id, "chunk for an unknown request id")
                        }
                    }
                }
            }
            Ok(Frame::PredictReply(r)) if r.batch_id == batch_id => return Ok(r),
            Ok(other) => {
                return Err(format!(
                    "unexpected frame: {}",
                    format!("{other:?}").chars().take(120).collect::<String>()
                ));
            }
            Err(e) => return Err(format!("connection lost: {e}")),
        }
    }
}

/// Delivers a final reply: every job of the batch gets exactly one answer.
fn route(env: &WorkerEnv, spec: &ModelSpec, batch: Vec<Job>, reply: PredictReply) {
    env.metrics
        .handler_metrics(&spec.name, &spec.version, &reply.metrics);
    if reply.code != 200 {
        if reply.detail.is_empty() {
            tracing::warn!(model = %spec.name, version = %spec.version, code = reply.code, "batch failed: {}", reply.message);
        } else {
            tracing::error!(model = %spec.name, version = %spec.version, code = reply.code,
                "batch failed: {}\n{}", reply.message, reply.detail);
        }
        for job in batch {
            job.finish(Err(JobError::Handler {
                code: reply.code,
                message: reply.message.clone(),
            }));
        }
        return;
    }
    let mut by_id: HashMap<String, Response> = reply
        .responses
        .into_iter()
        .map(|r| (r.request_id.clone(), r))
        .collect();
    for job in batch {
        match by_id.remove(job.id()) {
            Some(resp) if resp.body.len() > env.max_response_size => {
                tracing::error!(model = %spec.name, bytes = resp.body.len(), "response exceeds max_response_size");
                job.finish(Err(JobError::WorkerDied));
            }
            Some(resp) => job.finish(Ok(resp)),
            None => job.finish(Err(JobError::Handler {
                code: 503,
                message: "number of batch response mismatched".into(),
            })),
        }
    }
    for id in by_id.keys() {
        tracing::error!(model = %spec.name, id = %id, "worker answered an unknown request id");
    }
}

/// After a failed round trip: kill the process and tell an OOM kill from any other death.
async fn died_error(proc: &mut WorkerProcess) -> JobError {
    use std::os::unix::process::ExitStatusExt;
    let status = match proc.child.try_wait() {
        Ok(Some(s)) => Some(s),
        _ => tokio::time::timeout(Duration::from_millis(200), proc.child.wait())
            .await
            .ok()
            .and_then(Result::ok),
    };
    let sigkilled = status.is_some_and(|s| s.signal() == Some(9) || s.code() == Some(137));
    // A SIGKILL while the cgroup's OOM-kill counter moved: the kernel killed it for memory.
    let oom = matches!((proc.oom_kills_at_start, oom_kill_count()), (Some(a), Some(b)) if b > a);
    if sigkilled && oom {
        JobError::WorkerKilledForMemory
    } else {
        JobError::WorkerDied
    }
}

async fn end_process(proc: &mut WorkerProcess) {
    let _ = proc.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), proc.child.wait()).await;
}
