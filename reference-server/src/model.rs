//! One registered model version: its settings, its job queue and its worker slots, and scaling
//! (contract §4.3): scale-up adds slots until `min`, scale-down removes slots at index >= `max`,
//! newest first. TorchServe never autoscales between min and max, and neither do we.

use crate::job::JobError;
use crate::settings::Settings;
use crate::workers::slot::{SlotView, WorkerSlot};
use crate::workers::{ModelSpec, WorkerEnv, WorkerError};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

/// What to delete when the version is unregistered.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// the folder the archive was unpacked into
    pub unpacked: Option<PathBuf>,
    /// an archive downloaded from a URL into the model store
    pub downloaded: Option<PathBuf>,
}

impl Cleanup {
    pub fn remove(&self) {
        if let Some(dir) = &self.unpacked {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(file) = &self.downloaded {
            let _ = std::fs::remove_file(file);
        }
    }
}

pub struct ModelVersion {
    pub spec: Arc<ModelSpec>,
    pub url: String,
    pub runtime: String,
    pub settings: Settings,
    pub loaded_at_startup: bool,
    /// whether this model's workers get GPUs
    pub uses_gpu: bool,
    /// valid yaml deviceIds (per-model round robin)
    pub device_ids: Option<Vec<u32>>,
    device_counter: AtomicUsize,
    workers: tokio::sync::Mutex<Workers>,
    min_max: std::sync::Mutex<(u32, u32)>,
    pub cleanup: Cleanup,
}

struct Workers {
    slots: Vec<Arc<WorkerSlot>>,
}

/// Result of a scale request.
pub struct ScaleOutcome {
    /// slots created by this request (a synchronous caller waits for them to load)
    pub added: Vec<Arc<WorkerSlot>>,
    /// false when a removed worker did not stop within unregister_model_timeout
    pub removed_in_time: bool,
}

impl ModelVersion {
    pub fn new(
        spec: Arc<ModelSpec>,
        url: String,
        runtime: String,
        settings: Settings,
        loaded_at_startup: bool,
        env: &WorkerEnv,
        cleanup: Cleanup,
    ) -> ModelVersion {
        let uses_gpu = env.gpus.model_uses_gpu(settings.device_type);
        let device_ids = if uses_gpu {
            env.gpus.valid_device_ids(settings.device_ids.as_deref())
        } else {
            None
        };
        ModelVersion {
            spec,
            url,
            runtime,
            min_max: std::sync::Mutex::new((settings.min_workers, settings.max_workers)),
            settings,
            loaded_at_startup,
            uses_gpu,
            device_ids,
            device_counter: AtomicUsize::new(0),
            workers: tokio::sync::Mutex::new(Workers { slots: Vec::new() }),
            cleanup,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn version(&self) -> &str {
        &self.spec.version
    }

    pub fn min_max(&self) -> (u32, u32) {
        *self.min_max.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The GPU for a new worker: this model's deviceIds in turn, else the server-wide round robin.
    fn next_gpu(&self, env: &WorkerEnv) -> Option<u32> {
        if !self.uses_gpu {
            return None;
        }
        match &self.device_ids {
            Some(ids) => Some(ids[self.device_counter.fetch_add(1, Ordering::Relaxed) % ids.len()]),
            None => env.gpus.next_global(),
        }
    }

    /// Sets min/max and adds or removes worker slots.
    pub async fn scale(
        &self,
        min: u32,
        max: u32,
        env: &Arc<WorkerEnv>,
        worker_ids: &AtomicU32,
        stop_timeout: Duration,
    ) -> ScaleOutcome {
        let mut w = self.workers.lock().await;
        *self.min_max.lock().unwrap_or_else(|p| p.into_inner()) = (min, max);
        let current = w.slots.len() as u32;
        let mut added = Vec::new();
        let mut removed = Vec::new();
        if current < min {
            for _ in current..min {
                let id = worker_ids.fetch_add(1, Ordering::Relaxed);
                let slot =
                    WorkerSlot::start(id, self.next_gpu(env), env.clone(), self.spec.clone());
                w.slots.push(slot.clone());
                added.push(slot);
            }
        } else if current > max {
            removed = w.slots.split_off(max as usize);
        }
        let left = w.slots.len();
        drop(w);
        let mut removed_in_time = true;
        for slot in removed.iter().rev() {
            slot.stop();
        }
        for slot in removed.iter().rev() {
            removed_in_time &= slot.join(stop_timeout).await;
        }
        if left == 0 {
            // Nobody will serve what is still queued: answer it now rather than never.
            for job in self.spec.queue.drain() {
                job.finish(Err(JobError::NoWorker));
            }
        }
        ScaleOutcome {
            added,
            removed_in_time,
        }
    }

    /// Waits until every slot in `slots` has finished its first load attempt.
    pub async fn wait_loaded(slots: &[Arc<WorkerSlot>]) -> Result<(), Arc<WorkerError>> {
        for slot in slots {
            slot.wait_loaded().await?;
        }
        Ok(())
    }

    /// Stops every worker and answers every queued job (unregister, shutdown).
    pub async fn shutdown(&self, stop_timeout: Duration) -> bool {
        // Stop the slots before closing the queue: a worker that saw the queue close first
        // would take it for a dead process and count a restart.
        let slots = std::mem::take(&mut self.workers.lock().await.slots);
        for slot in &slots {
            slot.stop();
        }
        for job in self.spec.queue.close() {
            job.finish(Err(JobError::Cancelled(self.spec.name.clone())));
        }
        let mut in_time = true;
        for slot in slots.iter().rev() {
            in_time &= slot.join(stop_timeout).await;
        }
        in_time
    }

    /// Deletes what registering created on disk.
    pub fn remove_files(&self) {
        self.cleanup.remove();
    }

    pub async fn slots(&self) -> Vec<Arc<WorkerSlot>> {
        self.workers.lock().await.slots.clone()
    }

    pub async fn views(&self) -> Vec<SlotView> {
        self.workers
            .lock()
            .await
            .slots
            .iter()
            .map(|s| s.view())
            .collect()
    }

    /// Workers loaded and serving.
    pub async fn ready_count(&self) -> usize {
        self.workers
            .lock()
            .await
            .slots
            .iter()
            .filter(|s| s.is_ready())
            .count()
    }

    /// Whether any worker is loaded and serving.
    pub async fn has_ready_worker(&self) -> bool {
        self.workers.lock().await.slots.iter().any(|s| s.is_ready())
    }

    /// Some worker is running or restarting (not given up): requests are queued.
    pub fn has_workers(&self) -> bool {
        self.spec.live_workers.load(Ordering::SeqCst) > 0
    }

    /// TorchServe's health rule for /ping: at least minWorkers healthy workers.
    pub async fn is_healthy(&self) -> bool {
        let (min, _) = self.min_max();
        let healthy = self
            .workers
            .lock()
            .await
            .slots
            .iter()
            .filter(|s| s.is_healthy())
            .count() as u32;
        healthy >= min
    }
}
