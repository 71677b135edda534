//! Model lifecycle operations behind the management API: register, scale, unregister, and
//! submitting jobs (contract §4.2–4.6, §5.2). HTTP-free: the http module parses parameters and
//! renders what these return.

use crate::job::{Job, JobEvent};
use crate::model::ModelVersion;
use crate::registry::RegistryError;
use crate::server::Server;
use crate::settings::{Requested, Settings};
use crate::store::{self, Overrides, StoreError};
use crate::workers::{ModelSpec, WorkerError};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc::UnboundedReceiver;
use worker_protocol::{BatchKind, Request};

#[derive(Debug, Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    BadRequest(String),
    /// a synchronous register/scale whose workers failed to load
    #[error("{message}")]
    WorkersFailed {
        status: u16,
        message: String,
        cause: Arc<WorkerError>,
    },
    #[error("Timed out while cleaning resources: {0}")]
    StopTimeout(String),
    #[error(transparent)]
    Dependencies(#[from] crate::dependencies::DependencyError),
}

/// Why a job could not be queued.
#[derive(Debug, Error)]
pub enum SubmitError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// no worker, or the queue is full: TorchServe answers both with the same 503 text
    #[error("no worker")]
    NoWorker {
        name: String,
        version: Option<String>,
    },
}

/// A `{"status": ...}` answer with its HTTP code.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReply {
    pub code: u16,
    pub status: String,
}

impl StatusReply {
    fn new(code: u16, status: impl Into<String>) -> StatusReply {
        StatusReply {
            code,
            status: status.into(),
        }
    }
}

/// Register parameters (contract §4.2).
#[derive(Debug, Clone, Default)]
pub struct RegisterParams {
    pub url: String,
    pub overrides: Overrides,
    pub requested: Requested,
    pub synchronous: bool,
}

impl Server {
    fn stop_timeout(&self) -> Duration {
        Duration::from_secs(self.config.unregister_model_timeout)
    }

    /// Registers a model; with workers, starts them (and waits when synchronous). A synchronous
    /// register whose workers fail is rolled back.
    pub async fn register(
        &self,
        p: RegisterParams,
        at_startup: bool,
    ) -> Result<StatusReply, LifecycleError> {
        if let Some(rt) = &p.overrides.runtime
            && !store::RUNTIMES.contains(&rt.as_str())
        {
            return Err(StoreError::BadRuntime(rt.clone()).into());
        }
        let prepared =
            store::prepare(&p.url, &p.overrides, &self.config, &self.unpack_root()).await?;
        if self.registry.contains(&prepared.name, &prepared.version) {
            let e = RegistryError::AlreadyRegistered {
                name: prepared.name.clone(),
                version: prepared.version.clone(),
            };
            prepared.discard();
            return Err(e.into());
        }
        if self.config.install_py_dep_per_model
            && let Some(req) = &prepared.requirements_file
            && let Err(e) = crate::dependencies::install(
                &prepared.name,
                &prepared.model_dir,
                req,
                prepared.cleanup.unpacked.is_some(),
            )
            .await
        {
            prepared.discard();
            return Err(e.into());
        }
        let initial = match p.requested.initial_workers {
            Some(n) => n.max(0) as u32,
            None if at_startup => self.startup_workers(),
            None => self.config.default_workers_per_model,
        };
        let json = self
            .config
            .models
            .get(&prepared.name)
            .and_then(|m| m.get(&prepared.version));
        let settings = Settings::resolve(
            &p.requested,
            prepared.yaml.as_ref(),
            json,
            &self.config,
            initial,
            at_startup,
        );
        let store::Prepared {
            name,
            version,
            runtime,
            handler,
            envelope,
            model_dir,
            yaml_json,
            cleanup,
            ..
        } = prepared;
        let spec = Arc::new(ModelSpec {
            name,
            version,
            model_dir,
            handler,
            envelope,
            yaml_json,
            policy: crate::batching::BatchPolicy {
                batch_size: settings.batch_size as usize,
                max_delay: Duration::from_millis(settings.max_batch_delay),
                client_timeout: (settings.client_timeout > 0)
                    .then(|| Duration::from_millis(settings.client_timeout)),
            },
            response_timeout: Duration::from_secs(settings.response_timeout),
            startup_timeout: Duration::from_secs(settings.startup_timeout),
            max_retry_timeout: Duration::from_secs(settings.max_retry_timeout),
            queue: Arc::new(crate::batching::JobQueue::new(settings.job_queue_size)),
            live_workers: Default::default(),
        });
        let (min, max) = (settings.min_workers, settings.max_workers);
        let mv = Arc::new(ModelVersion::new(
            spec,
            p.url.clone(),
            runtime,
            settings,
            at_startup,
            &self.env,
            cleanup,
        ));
        if let Err(e) = self.registry.insert(mv.clone()) {
            mv.remove_files();
            return Err(e.into());
        }
        let (name, version) = (mv.name().to_string(), mv.version().to_string());
        tracing::info!(model = %name, version = %version, url = %p.url, "model registered");
        if min == 0 {
            return Ok(StatusReply::new(
                200,
                format!(
                    "Model \"{name}\" Version: {version} registered with 0 initial workers. Use scale workers API to add workers for the model."
                ),
            ));
        }
        let outcome = mv
            .scale(min, max, &self.env, &self.worker_ids, self.stop_timeout())
            .await;
        if !p.synchronous {
            return Ok(StatusReply::new(202, "Processing worker updates..."));
        }
        match ModelVersion::wait_loaded(&outcome.added).await {
            Ok(()) if mv.ready_count().await >= min as usize => Ok(StatusReply::new(
                200,
                format!(
                    "Model \"{name}\" Version: {version} registered with {min} initial workers"
                ),
            )),
            Ok(()) => Ok(StatusReply::new(206, "Workers scaling in progress...")),
            Err(cause) => {
                // TorchServe's onError: the model is unregistered again.
                self.registry.remove_exact(&mv);
                mv.shutdown(self.stop_timeout()).await;
                mv.remove_files();
                Err(LifecycleError::WorkersFailed {
                    status: cause.status(),
                    message: format!("Failed to start workers for model {name} version: {version}"),
                    cause,
                })
            }
        }
    }

    /// Scales workers (contract §4.3). `min` defaults to 1, `max` to `min`.
    pub async fn scale(
        &self,
        name: &str,
        version: Option<&str>,
        min: Option<i64>,
        max: Option<i64>,
        synchronous: bool,
    ) -> Result<StatusReply, LifecycleError> {
        let min = min.unwrap_or(1);
        let max = max.unwrap_or(min);
        if max < min {
            return Err(LifecycleError::BadRequest(
                "max_worker cannot be less than min_worker.".into(),
            ));
        }
        let mv = self.registry.get(name, version)?;
        let (min, max) = (
            min.clamp(0, i64::from(u32::MAX)) as u32,
            max.clamp(0, i64::from(u32::MAX)) as u32,
        );
        let outcome = mv
            .scale(min, max, &self.env, &self.worker_ids, self.stop_timeout())
            .await;
        if !outcome.removed_in_time {
            return Err(LifecycleError::StopTimeout(name.to_string()));
        }
        if !synchronous {
            return Ok(StatusReply::new(202, "Processing worker updates..."));
        }
        match ModelVersion::wait_loaded(&outcome.added).await {
            Ok(()) if mv.ready_count().await >= min as usize => {
                let mut msg = format!("Workers scaled to {min} for model: {name}");
                if let Some(v) = version {
                    msg.push_str(&format!(", version: {v}"));
                }
                Ok(StatusReply::new(200, msg))
            }
            Ok(()) => Ok(StatusReply::new(206, "Workers scaling in progress...")),
            Err(cause) => Err(LifecycleError::WorkersFailed {
                status: cause.status(),
                message: format!(
                    "Failed to start workers for model {name} version: {}",
                    version.unwrap_or("null")
                ),
                cause,
            }),
        }
    }

    /// Unregisters a version (the default one when none is named).
    pub async fn unregister(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<StatusReply, LifecycleError> {
        let mv = self.registry.remove(name, version)?;
        let in_time = mv.shutdown(self.stop_timeout()).await;
        mv.remove_files();
        tracing::info!(model = %name, version = %mv.version(), "model unregistered");
        if !in_time {
            return Err(LifecycleError::StopTimeout(name.to_string()));
        }
        Ok(StatusReply::new(
            200,
            format!("Model \"{name}\" unregistered"),
        ))
    }

    pub fn set_default(&self, name: &str, version: &str) -> Result<StatusReply, LifecycleError> {
        self.registry.set_default(name, version)?;
        Ok(StatusReply::new(
            200,
            format!("Default version successfully updated for model \"{name}\" to \"{version}\""),
        ))
    }

    /// Queues one request for a model version; the receiver gets its answer.
    pub fn submit(
        &self,
        name: &str,
        version: Option<&str>,
        kind: BatchKind,
        request: Request,
    ) -> Result<(Arc<ModelVersion>, UnboundedReceiver<JobEvent>), SubmitError> {
        let mv = self.registry.get(name, version)?;
        let no_worker = || SubmitError::NoWorker {
            name: name.to_string(),
            version: version.map(String::from),
        };
        if !mv.has_workers() {
            return Err(no_worker());
        }
        let (job, rx) = Job::new(kind, request);
        match mv.spec.queue.push(job) {
            Ok(()) => {
                // The last worker may have stopped or given up between the check and the push,
                // after it answered what was queued: answer what is left rather than never.
                if !mv.has_workers() {
                    for job in mv.spec.queue.drain() {
                        job.finish(Err(crate::job::JobError::NoWorker));
                    }
                }
                Ok((mv, rx))
            }
            Err(e) => {
                // The job is refused before it was queued: answer through the error, not the job.
                let job = match e {
                    crate::batching::PushError::Full(j) | crate::batching::PushError::Closed(j) => {
                        j
                    }
                };
                job.finish(Err(crate::job::JobError::NoWorker));
                Err(no_worker())
            }
        }
    }
}
