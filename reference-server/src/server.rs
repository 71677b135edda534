//! The server's shared state, start-up models and shutdown.

use crate::config::Config;
use crate::lifecycle::RegisterParams;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::settings::Requested;
use crate::store::Overrides;
use crate::tokens::Tokens;
use crate::workers::WorkerEnv;
use crate::workers::gpu::Gpus;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;
use thiserror::Error;

/// `context.system_properties["server_version"]`: the TorchServe release whose contract we follow.
pub const SERVER_VERSION: &str = "0.12.0";

#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot create the private run folder: {0}")]
    RunDir(std::io::Error),
    #[error(
        "worker binary {0} not found: build it with `cargo build -p python-worker`, or set worker_binary in config.properties"
    )]
    WorkerBinary(PathBuf),
    #[error("cannot write the token key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("cannot bind {what} address {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

pub struct Server {
    pub config: Arc<Config>,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub env: Arc<WorkerEnv>,
    pub gpus: Arc<Gpus>,
    pub tokens: Option<Tokens>,
    /// worker ids count up from initial_worker_port, server-wide
    pub worker_ids: AtomicU32,
    run_dir: tempfile::TempDir,
}

impl Server {
    pub fn new(config: Config) -> Result<Arc<Server>, StartError> {
        if !config.worker_binary.is_file() {
            return Err(StartError::WorkerBinary(config.worker_binary.clone()));
        }
        let run_dir = tempfile::Builder::new()
            .prefix("torchserve-rs-")
            .tempdir()
            .map_err(StartError::RunDir)?;
        std::fs::set_permissions(run_dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(StartError::RunDir)?;
        std::fs::create_dir_all(run_dir.path().join("models")).map_err(StartError::RunDir)?;
        let gpus = Arc::new(Gpus::detect(config.simulated_gpus, config.number_of_gpu));
        if gpus.count() > 0 {
            tracing::info!(
                count = gpus.count(),
                simulated = gpus.is_simulated(),
                "GPUs available to workers"
            );
        }
        let tokens = if config.token_auth {
            let t =
                Tokens::init(&config.key_file, config.token_expiration_min).map_err(|source| {
                    StartError::KeyFile {
                        path: config.key_file.clone(),
                        source,
                    }
                })?;
            tracing::info!(
                key_file = %config.key_file.display(),
                "token authorization is on: send `Authorization: Bearer <key>` with the keys in the key file (--disable-token-auth turns it off)"
            );
            Some(t)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::new());
        let env = Arc::new(WorkerEnv {
            binary: config.worker_binary.clone(),
            run_dir: run_dir.path().to_path_buf(),
            server_version: SERVER_VERSION.to_string(),
            decode_input_request: config.decode_input_request,
            limit_max_image_pixels: config.limit_max_image_pixels,
            max_response_size: config.max_response_size,
            metrics: metrics.clone(),
            gpus: gpus.clone(),
        });
        Ok(Arc::new(Server {
            worker_ids: AtomicU32::new(config.initial_worker_port),
            config: Arc::new(config),
            registry: Registry::default(),
            metrics,
            env,
            gpus,
            tokens,
            run_dir,
        }))
    }

    /// Where archives are unpacked (inside the private run folder).
    pub fn unpack_root(&self) -> PathBuf {
        self.run_dir.path().join("models")
    }

    /// Workers per start-up model (contract §1.5): default_workers_per_model, else the GPU count,
    /// else the CPU count.
    pub fn startup_workers(&self) -> u32 {
        if self.config.default_workers_per_model > 0 {
            self.config.default_workers_per_model
        } else if self.gpus.count() > 0 {
            self.gpus.count()
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
        }
    }

    /// Registers `load_models` and the `models` JSON, waiting for their workers. Failures are
    /// logged and the server starts anyway, as TorchServe does.
    pub async fn load_startup_models(&self) {
        let mut entries: Vec<(Option<String>, String)> = Vec::new();
        for item in &self.config.load_models {
            if item == "all" {
                entries.extend(self.store_models().into_iter().map(|f| (None, f)));
            } else if let Some((name, file)) = item.split_once('=') {
                entries.push((Some(name.to_string()), file.to_string()));
            } else {
                entries.push((None, item.clone()));
            }
        }
        for (name, file) in entries {
            let params = RegisterParams {
                url: file.clone(),
                overrides: Overrides {
                    model_name: name,
                    default_name: Some(crate::store::default_name(&file)),
                    ..Default::default()
                },
                requested: Requested::default(),
                synchronous: true,
            };
            match self.register(params, true).await {
                Ok(reply) => tracing::info!(url = %file, "{}", reply.status),
                Err(e) => tracing::error!(url = %file, "start-up model failed: {e}"),
            }
        }
        for (name, versions) in &self.config.models {
            for (version, entry) in versions {
                let Some(mar_name) = &entry.mar_name else {
                    tracing::error!(model = %name, version = %version, "`models` entry without marName ignored");
                    continue;
                };
                if self.registry.contains(name, version) {
                    continue;
                }
                let params = RegisterParams {
                    url: mar_name.clone(),
                    overrides: Overrides {
                        model_name: Some(name.clone()),
                        runtime: entry.runtime_type.clone(),
                        ..Default::default()
                    },
                    requested: Requested::default(),
                    synchronous: true,
                };
                match self.register(params, true).await {
                    Ok(reply) => {
                        tracing::info!(model = %name, "{}", reply.status);
                        if entry.default_version == Some(true)
                            && let Err(e) = self.registry.set_default(name, version)
                        {
                            tracing::error!(model = %name, "{e}");
                        }
                    }
                    Err(e) => {
                        tracing::error!(model = %name, version = %version, "start-up model failed: {e}")
                    }
                }
            }
        }
    }

    /// Archives and folders in the model store (`load_models=all`), hidden entries skipped.
    fn store_models(&self) -> Vec<String> {
        let Some(store) = &self.config.model_store else {
            return Vec::new();
        };
        let mut names: Vec<String> = std::fs::read_dir(store)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let keep = !name.starts_with('.')
                            && (e.path().is_dir()
                                || name.ends_with(".mar")
                                || name.ends_with(".model")
                                || name.ends_with(".tar.gz"));
                        keep.then_some(name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Stops every worker of every model; what is queued or in flight is answered.
    pub async fn shutdown(&self, grace: Duration) {
        let all = self.registry.all();
        let stops = all.iter().map(|mv| mv.shutdown(grace));
        futures_util::future::join_all(stops).await;
        // Unpacked folders live in the private run folder, removed when the server is dropped;
        // downloaded archives stay in the model store, as with TorchServe.
    }
}
