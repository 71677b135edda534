//! The per-model-version job queue and batch aggregation (contract §6.1).
//!
//! All workers of a model version share one FIFO queue. A free worker takes the `forming` lock
//! (one batch is formed at a time, like TorchServe's per-model lock), waits for the first job,
//! then takes up to `batch_size - 1` more until `max_batch_delay` has passed since that first
//! job *arrived*. TorchServe starts the clock when the worker picks the first job up; counting from
//! arrival bounds the latency of a job that waited for a busy worker, and is never later.
//! Describe jobs always travel alone.

use crate::job::{Job, JobError};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use worker_protocol::BatchKind;

pub struct JobQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    capacity: usize,
    forming: tokio::sync::Mutex<()>,
}

struct QueueState {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// Why a job could not be queued; the job comes back so the caller can answer it.
#[derive(Debug)]
pub enum PushError {
    Full(Job),
    Closed(Job),
}

/// How batches are formed for one model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub batch_size: usize,
    pub max_delay: Duration,
    /// jobs older than this when polled are answered with a timeout instead of being run
    pub client_timeout: Option<Duration>,
}

impl JobQueue {
    pub fn new(capacity: usize) -> JobQueue {
        JobQueue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                closed: false,
            }),
            notify: Notify::new(),
            capacity,
            forming: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding this lock cannot leave the deque half-updated; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a job at the tail, refusing it when the queue is full or closed.
    pub fn push(&self, job: Job) -> Result<(), PushError> {
        {
            let mut st = self.lock();
            if st.closed {
                return Err(PushError::Closed(job));
            }
            if st.jobs.len() >= self.capacity {
                return Err(PushError::Full(job));
            }
            st.jobs.push_back(job);
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Puts jobs back at the head, in their order (a worker scaled down before running them).
    pub fn requeue_front(&self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let mut st = self.lock();
        if st.closed {
            drop(st);
            for job in jobs {
                job.finish(Err(JobError::WorkerDied));
            }
            return;
        }
        for job in jobs.into_iter().rev() {
            st.jobs.push_front(job);
        }
        drop(st);
        self.notify.notify_one();
    }

    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn remaining_capacity(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// Takes everything waiting, leaving the queue open.
    pub fn drain(&self) -> Vec<Job> {
        self.lock().jobs.drain(..).collect()
    }

    /// Closes the queue and returns what was waiting, for the caller to answer.
    pub fn close(&self) -> Vec<Job> {
        let mut st = self.lock();
        st.closed = true;
        let jobs = st.jobs.drain(..).collect();
        drop(st);
        self.notify.notify_waiters();
        jobs
    }

    /// Waits for the next batch. Returns `None` when the queue is closed or `cancel` resolves
    /// (the worker is stopping, or its process died while idle); jobs gathered before a cancel go
    /// back to the head of the queue, so no job is lost.
    pub async fn next_batch<F: Future<Output = ()>>(
        &self,
        policy: BatchPolicy,
        cancel: F,
    ) -> Option<Vec<Job>> {
        tokio::pin!(cancel);
        let _forming = tokio::select! {
            g = self.forming.lock() => g,
            () = &mut cancel => return None,
        };
        let first = loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.closed {
                    return None;
                }
                if let Some(job) = take(&mut st.jobs, policy.client_timeout, |_| true) {
                    break job;
                }
            }
            tokio::select! {
                () = &mut notified => {}
                () = &mut cancel => return None,
            }
        };
        let single = first.kind == BatchKind::Describe || policy.batch_size <= 1;
        let deadline = Instant::from_std(first.arrived) + policy.max_delay;
        let mut batch = vec![first];
        if single {
            return Some(batch);
        }
        while batch.len() < policy.batch_size {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                while batch.len() < policy.batch_size {
                    match take(&mut st.jobs, policy.client_timeout, |j| {
                        j.kind == BatchKind::Predict
                    }) {
                        Some(job) => batch.push(job),
                        None => break,
                    }
                }
            }
            if batch.len() >= policy.batch_size || Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => break,
                () = &mut cancel => {
                    self.requeue_front(batch);
                    return None;
                }
            }
        }
        // Leftover jobs: wake the next free worker, which may be waiting on the forming lock.
        if !self.is_empty() {
            self.notify.notify_one();
        }
        Some(batch)
    }
}

/// Removes the first live job matching `want`, answering expired ones on the way.
fn take(
    jobs: &mut VecDeque<Job>,
    client_timeout: Option<Duration>,
    want: impl Fn(&Job) -> bool,
) -> Option<Job> {
    loop {
        let idx = jobs.iter().position(&want)?;
        let job = jobs.remove(idx).expect("index from position");
        match client_timeout {
            Some(t) if job.arrived.elapsed() > t => job.finish(Err(JobError::ClientTimeout)),
            _ => return Some(job),
        }
    }
}

/// Resolves once `stop` holds true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobEvent;
    use worker_protocol::Request;

    fn job(id: &str, kind: BatchKind) -> (Job, tokio::sync::mpsc::UnboundedReceiver<JobEvent>) {
        Job::new(
            kind,
            Request {
                request_id: id.into(),
                headers: vec![],
                params: vec![],
            },
        )
    }

    fn policy(batch_size: usize, ms: u64) -> BatchPolicy {
        BatchPolicy {
            batch_size,
            max_delay: Duration::from_millis(ms),
            client_timeout: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn full_batch_leaves_at_once_and_describe_travels_alone() {
        let q = JobQueue::new(10);
        let (_tx, mut stop) = watch::channel(false);
        let mut rxs = vec![];
        for (id, kind) in [
            ("a", BatchKind::Predict),
            ("d", BatchKind::Describe),
            ("b", BatchKind::Predict),
            ("c", BatchKind::Predict),
        ] {
            let (j, rx) = job(id, kind);
            q.push(j).unwrap();
            rxs.push(rx);
        }
        let b = q
            .next_batch(policy(3, 1000), stopped(&mut stop))
            .await
            .unwrap();
        assert_eq!(b.iter().map(Job::id).collect::<Vec<_>>(), ["a", "b", "c"]);
        let b2 = q
            .next_batch(policy(3, 1000), stopped(&mut stop))
            .await
            .unwrap();
        assert_eq!(b2.iter().map(Job::id).collect::<Vec<_>>(), ["d"]);
        for j in b.into_iter().chain(b2) {
            j.finish(Err(JobError::WorkerDied));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn partial_batch_leaves_after_max_delay() {
        let q = JobQueue::new(10);
        let (_tx, mut stop) = watch::channel(false);
        let (j, _rx) = job("a", BatchKind::Predict);
        q.push(j).unwrap();
        let t0 = Instant::now();
        let b = q
            .next_batch(policy(4, 200), stopped(&mut stop))
            .await
            .unwrap();
        assert_eq!(b.len(), 1);
        // Virtual (paused) time: the batch waited out max_batch_delay, measured from arrival.
        let waited = Instant::now() - t0;
        assert!(
            waited >= Duration::from_millis(199) && waited <= Duration::from_millis(201),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn full_queue_refuses_and_stop_requeues() {
        let q = JobQueue::new(1);
        let (a, _ra) = job("a", BatchKind::Predict);
        let (b, _rb) = job("b", BatchKind::Predict);
        q.push(a).unwrap();
        assert!(matches!(q.push(b), Err(PushError::Full(_))));
        let (tx, mut stop) = watch::channel(false);
        let q = std::sync::Arc::new(q);
        let q2 = q.clone();
        let h =
            tokio::spawn(async move { q2.next_batch(policy(4, 60_000), stopped(&mut stop)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(true).unwrap();
        assert!(h.await.unwrap().is_none());
        assert_eq!(q.len(), 1, "the gathered job went back to the queue");
    }

    #[tokio::test]
    async fn dropped_job_still_answers() {
        let (j, mut rx) = job("a", BatchKind::Predict);
        drop(j);
        assert!(matches!(
            rx.recv().await,
            Some(JobEvent::Done(Err(JobError::WorkerDied)))
        ));
    }
}
