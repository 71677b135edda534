//! The resolved server configuration.
//!
//! Precedence, lowest first: built-in defaults < config.properties < `TS_*` environment variables
//! (only when `enable_envvars_config=true`) < command-line flags. TorchServe itself lets the
//! environment override flags; we follow the usual rule that the most explicit source wins.
//!
//! Unknown keys are logged and ignored; a known key with a bad value is a start-up error that
//! names the key.

use crate::cli::Args;
use crate::properties;
use regex::Regex;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config key `{key}`: invalid value {value:?}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("config key `{key}`: environment variable {var} is not set (used as ${{{var}}})")]
    MissingEnv { key: String, var: String },
}

/// Keys TorchServe 0.12 reads that this server implements.
const KNOWN_KEYS: &[&str] = &[
    "inference_address",
    "management_address",
    "metrics_address",
    "model_store",
    "load_models",
    "models",
    "number_of_gpu",
    "default_workers_per_model",
    "job_queue_size",
    "default_response_timeout",
    "default_startup_timeout",
    "unregister_model_timeout",
    "max_request_size",
    "max_response_size",
    "allowed_urls",
    "use_env_allowed_urls",
    "initial_worker_port",
    "enable_envvars_config",
    "default_service_handler",
    "service_envelope",
    "decode_input_request",
    "limit_max_image_pixels",
    "enable_model_api",
    "disable_token_authorization",
    "token_expiration_min",
    "enable_metrics_api",
    "metrics_mode",
    "install_py_dep_per_model",
    // ours
    "simulated_gpus",
    "worker_binary",
    "max_archive_bytes",
    "max_archive_entries",
    "ready_file",
];

/// Keys TorchServe reads that have no meaning here (JVM, Netty, gRPC, logging, plugins...).
/// They are accepted silently so an existing config.properties needs no edit.
const ACCEPTED_KEYS: &[&str] = &[
    "number_of_netty_threads",
    "netty_client_threads",
    "use_native_io",
    "io_ratio",
    "metric_time_interval",
    "metrics_config",
    "model_metrics_auto_detect",
    "disable_system_metrics",
    "async_logging",
    "vmargs",
    "prefer_direct_buffer",
    "model_snapshot",
    "model_server_home",
    "workflow_store",
    "cpp_log_config",
    "blacklist_env_vars",
    "debug",
    "ipex_enable",
    "cpu_launcher_enable",
    "cpu_launcher_args",
    "ipex_gpu_enable",
    "grpc_inference_address",
    "grpc_management_address",
    "grpc_inference_port",
    "grpc_management_port",
    "enable_grpc_ssl",
    "initial_distribution_port",
    "ts_open_inference_protocol",
    "ts_header_key_sequence_id",
    "ts_header_key_sequence_start",
    "ts_header_key_sequence_end",
    "system_metrics_cmd",
    "tsConfigFile",
    "version",
    "cors_allowed_origin",
    "cors_allowed_methods",
    "cors_allowed_headers",
    "keystore",
    "keystore_pass",
    "keystore_type",
    "certificate_file",
    "private_key_file",
    "python",
];

/// Everything the server needs, resolved once at start-up and passed explicitly.
#[derive(Debug, Clone)]
pub struct Config {
    pub inference_address: SocketAddr,
    pub management_address: SocketAddr,
    pub metrics_address: SocketAddr,
    pub model_store: Option<PathBuf>,
    /// `load_models` entries (`all`, `file`, `name=file`), flags included
    pub load_models: Vec<String>,
    /// the `models` JSON: name → version → settings
    pub models: BTreeMap<String, BTreeMap<String, ModelsJsonEntry>>,
    /// configured cap; effective count = min(detected, this)
    pub number_of_gpu: Option<u32>,
    /// declared GPUs without devices (ids 0..n), for running the assignment rules on CPU hosts
    pub simulated_gpus: Option<u32>,
    pub default_workers_per_model: u32,
    pub job_queue_size: usize,
    pub default_response_timeout: u64,
    pub default_startup_timeout: u64,
    pub unregister_model_timeout: u64,
    pub max_request_size: usize,
    pub max_response_size: usize,
    pub allowed_urls: Vec<Regex>,
    pub initial_worker_port: u32,
    pub default_service_handler: Option<String>,
    pub service_envelope: Option<String>,
    pub decode_input_request: bool,
    pub limit_max_image_pixels: bool,
    pub enable_model_api: bool,
    pub token_auth: bool,
    pub token_expiration_min: f64,
    pub enable_metrics_api: bool,
    /// pip-install each model's requirementsFile into its unpacked folder at register
    pub install_py_dep_per_model: bool,
    /// where key_file.json is written (cwd, as TorchServe)
    pub key_file: PathBuf,
    /// the Python worker executable (default: `ts-worker` beside this binary)
    pub worker_binary: PathBuf,
    pub archive_limits: mar::extract::Limits,
    /// the config file that was read, if any
    pub config_file: Option<PathBuf>,
    /// once the APIs answer, the bound addresses are written here as JSON (ports may be 0 in
    /// the config: tests and supervisors read the real ones back)
    pub ready_file: Option<PathBuf>,
}

/// One version's settings in the `models` JSON of config.properties.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelsJsonEntry {
    #[serde(default)]
    pub default_version: Option<bool>,
    #[serde(default)]
    pub mar_name: Option<String>,
    #[serde(default)]
    pub min_workers: Option<i64>,
    #[serde(default)]
    pub max_workers: Option<i64>,
    #[serde(default)]
    pub batch_size: Option<i64>,
    #[serde(default)]
    pub max_batch_delay: Option<i64>,
    #[serde(default)]
    pub response_timeout: Option<i64>,
    #[serde(default)]
    pub startup_timeout: Option<i64>,
    #[serde(default)]
    pub runtime_type: Option<String>,
}

impl Config {
    /// Resolves flags, the config file and (when enabled) the environment.
    pub fn resolve(args: &Args) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self::resolve_with(args, &env, &cwd)
    }

    /// [`Config::resolve`] with the environment and working folder given, for tests.
    pub fn resolve_with(
        args: &Args,
        env: &BTreeMap<String, String>,
        cwd: &Path,
    ) -> Result<Config, ConfigError> {
        let config_file = args
            .ts_config
            .clone()
            .or_else(|| env.get("TS_CONFIG_FILE").map(PathBuf::from))
            .or_else(|| Some(cwd.join("config.properties")).filter(|p| p.is_file()));

        let mut props: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = &config_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            for (k, v) in properties::parse(&text) {
                let v = expand_env(&k, &v, env)?;
                props.insert(k, v);
            }
        }
        for key in props.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) && !ACCEPTED_KEYS.contains(&key.as_str()) {
                tracing::warn!(key = %key, "unknown config.properties key ignored");
            }
        }

        if parse_bool(props.get("enable_envvars_config").map(String::as_str)) {
            let env_urls = parse_bool(props.get("use_env_allowed_urls").map(String::as_str));
            for key in KNOWN_KEYS {
                if *key == "allowed_urls" && !env_urls {
                    continue;
                }
                if let Some(v) = env.get(&format!("TS_{}", key.to_uppercase())) {
                    props.insert((*key).to_string(), v.clone());
                }
            }
        }

        // Flags win over everything.
        if let Some(store) = &args.model_store {
            props.insert("model_store".into(), store.display().to_string());
        }
        if !args.models.is_empty() {
            props.insert("load_models".into(), args.models.join(","));
        }
        if args.enable_model_api {
            props.insert("enable_model_api".into(), "true".into());
        }
        if args.disable_token_auth {
            props.insert("disable_token_authorization".into(), "true".into());
        }

        let p = Props(&props);
        let worker_binary = match props
            .get("worker_binary")
            .or_else(|| env.get("TSRS_WORKER_BIN"))
        {
            Some(path) => PathBuf::from(path),
            None => default_worker_binary(),
        };
        let models = match props.get("models") {
            None => BTreeMap::new(),
            Some(text) if text.trim().is_empty() => BTreeMap::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| ConfigError::Invalid {
                key: "models".into(),
                value: text.clone(),
                reason: e.to_string(),
            })?,
        };
        let allowed = props
            .get("allowed_urls")
            .map(String::as_str)
            .unwrap_or("file://.*|http(s)?://.*");
        let allowed_urls = allowed
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pat| {
                // TorchServe matches the whole URL (Matcher.matches), case-insensitively.
                regex::RegexBuilder::new(&format!("^(?:{pat})$"))
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| ConfigError::Invalid {
                        key: "allowed_urls".into(),
                        value: pat.to_string(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let defaults = mar::extract::Limits::default();
        Ok(Config {
            inference_address: p.address("inference_address", "http://127.0.0.1:8080")?,
            management_address: p.address("management_address", "http://127.0.0.1:8081")?,
            metrics_address: p.address("metrics_address", "http://127.0.0.1:8082")?,
            model_store: props
                .get("model_store")
                .filter(|s| !s.is_empty())
                .map(|s| cwd.join(s)),
            load_models: props
                .get("load_models")
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            models,
            number_of_gpu: p.opt_num("number_of_gpu")?,
            simulated_gpus: p.opt_num("simulated_gpus")?,
            default_workers_per_model: p.num("default_workers_per_model", 0)?,
            job_queue_size: p.num("job_queue_size", 100)?,
            default_response_timeout: p.num("default_response_timeout", 120)?,
            default_startup_timeout: p.num("default_startup_timeout", 120)?,
            unregister_model_timeout: p.num("unregister_model_timeout", 120)?,
            max_request_size: p.num("max_request_size", 6_553_500)?,
            max_response_size: p.num("max_response_size", 6_553_500)?,
            allowed_urls,
            initial_worker_port: p.num("initial_worker_port", 9000)?,
            default_service_handler: props
                .get("default_service_handler")
                .filter(|s| !s.is_empty())
                .cloned(),
            service_envelope: props
                .get("service_envelope")
                .filter(|s| !s.is_empty())
                .cloned(),
            decode_input_request: p.bool("decode_input_request", true),
            limit_max_image_pixels: p.bool("limit_max_image_pixels", true),
            enable_model_api: p.bool("enable_model_api", false),
            token_auth: !p.bool("disable_token_authorization", false),
            token_expiration_min: p.num("token_expiration_min", 60.0)?,
            enable_metrics_api: p.bool("enable_metrics_api", true),
            install_py_dep_per_model: p.bool("install_py_dep_per_model", false),
            key_file: cwd.join("key_file.json"),
            worker_binary,
            archive_limits: mar::extract::Limits {
                max_total_bytes: p.num("max_archive_bytes", defaults.max_total_bytes)?,
                max_entries: p.num("max_archive_entries", defaults.max_entries)?,
            },
            config_file,
            ready_file: props
                .get("ready_file")
                .filter(|s| !s.is_empty())
                .map(|s| cwd.join(s)),
        })
    }
}

/// `ts-worker` next to the running executable.
fn default_worker_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("ts-worker")))
        .unwrap_or_else(|| PathBuf::from("ts-worker"))
}

/// Java's Boolean.parseBoolean: only a case-insensitive "true" is true.
pub fn parse_bool(v: Option<&str>) -> bool {
    v.is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))
}

fn expand_env(
    key: &str,
    value: &str,
    env: &BTreeMap<String, String>,
) -> Result<String, ConfigError> {
    let re = Regex::new(r"\$\{([^}]+)\}").expect("static regex");
    let mut out = String::with_capacity(value.len());
    let mut last = 0;
    for cap in re.captures_iter(value) {
        let m = cap.get(0).expect("group 0");
        let var = &cap[1];
        let val = env.get(var).ok_or_else(|| ConfigError::MissingEnv {
            key: key.to_string(),
            var: var.to_string(),
        })?;
        out.push_str(&value[last..m.start()]);
        out.push_str(val);
        last = m.end();
    }
    out.push_str(&value[last..]);
    Ok(out)
}

struct Props<'a>(&'a BTreeMap<String, String>);

impl Props<'_> {
    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            value: self.0.get(key).cloned().unwrap_or_default(),
            reason: reason.into(),
        }
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, ConfigError> {
        Ok(self.opt_num(key)?.unwrap_or(default))
    }

    fn opt_num<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.0.get(key).map(|s| s.trim()) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, "expected a non-negative number")),
        }
    }

    fn bool(&self, key: &str, default: bool) -> bool {
        match self.0.get(key) {
            None => default,
            Some(v) => parse_bool(Some(v)),
        }
    }

    fn address(&self, key: &str, default: &str) -> Result<SocketAddr, ConfigError> {
        let raw = self
            .0
            .get(key)
            .map(String::as_str)
            .unwrap_or(default)
            .trim();
        let rest = if let Some(r) = raw.strip_prefix("http://") {
            r
        } else if raw.starts_with("https://") {
            return Err(self.invalid(
                key,
                "https is not supported; terminate TLS in front of the server",
            ));
        } else {
            raw
        };
        let rest = rest.trim_end_matches('/');
        rest.to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .ok_or_else(|| self.invalid(key, "expected http://HOST:PORT"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(props: &str, env: &[(&str, &str)], args: Args) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.properties");
        std::fs::write(&file, props).unwrap();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args = Args {
            ts_config: Some(file),
            ..args
        };
        Config::resolve_with(&args, &env, dir.path())
    }

    #[test]
    fn defaults_match_torchserve() {
        let c = resolve("", &[], Args::default()).unwrap();
        assert_eq!(c.inference_address.to_string(), "127.0.0.1:8080");
        assert_eq!(c.management_address.to_string(), "127.0.0.1:8081");
        assert_eq!(c.metrics_address.to_string(), "127.0.0.1:8082");
        assert_eq!(c.job_queue_size, 100);
        assert_eq!(c.default_response_timeout, 120);
        assert_eq!(c.max_request_size, 6_553_500);
        assert_eq!(c.initial_worker_port, 9000);
        assert!(c.token_auth);
        assert!(!c.enable_model_api);
        assert!(
            c.allowed_urls
                .iter()
                .any(|r| r.is_match("https://example.com/a.mar"))
        );
        assert!(
            !c.allowed_urls
                .iter()
                .any(|r| r.is_match("ftp://example.com/a.mar"))
        );
    }

    #[test]
    fn precedence_file_env_flags() {
        let props = "enable_envvars_config=true\njob_queue_size=5\ndefault_workers_per_model=2\n";
        let c = resolve(props, &[("TS_JOB_QUEUE_SIZE", "7")], Args::default()).unwrap();
        assert_eq!(c.job_queue_size, 7, "env beats the file");
        assert_eq!(c.default_workers_per_model, 2);

        let c = resolve(
            "job_queue_size=5",
            &[("TS_JOB_QUEUE_SIZE", "7")],
            Args::default(),
        )
        .unwrap();
        assert_eq!(c.job_queue_size, 5, "env ignored unless enabled");

        let props = "enable_envvars_config=true\ndisable_token_authorization=false";
        let args = Args {
            disable_token_auth: true,
            ..Args::default()
        };
        let c = resolve(props, &[("TS_DISABLE_TOKEN_AUTHORIZATION", "false")], args).unwrap();
        assert!(!c.token_auth, "flags beat env");
    }

    #[test]
    fn allowed_urls_env_needs_opt_in() {
        let props = "enable_envvars_config=true\nallowed_urls=file://.*";
        let c = resolve(props, &[("TS_ALLOWED_URLS", "http://.*")], Args::default()).unwrap();
        assert!(c.allowed_urls[0].is_match("file:///x"));
        let props = "enable_envvars_config=true\nuse_env_allowed_urls=true\nallowed_urls=file://.*";
        let c = resolve(props, &[("TS_ALLOWED_URLS", "http://.*")], Args::default()).unwrap();
        assert!(c.allowed_urls[0].is_match("http://x"));
    }

    #[test]
    fn env_placeholders() {
        let c = resolve("job_queue_size=${Q}", &[("Q", "9")], Args::default()).unwrap();
        assert_eq!(c.job_queue_size, 9);
        let e = resolve("job_queue_size=${NOPE}", &[], Args::default()).unwrap_err();
        assert!(
            e.to_string().contains("NOPE") && e.to_string().contains("job_queue_size"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = resolve("job_queue_size=lots", &[], Args::default()).unwrap_err();
        assert!(e.to_string().contains("job_queue_size"), "{e}");
        let e = resolve("inference_address=nowhere", &[], Args::default()).unwrap_err();
        assert!(e.to_string().contains("inference_address"), "{e}");
        let e = resolve("models={not json", &[], Args::default()).unwrap_err();
        assert!(e.to_string().contains("models"), "{e}");
        let c = resolve("some_future_key=1", &[], Args::default());
        assert!(c.is_ok(), "unknown keys are not fatal");
    }

    #[test]
    fn models_json() {
        let props = r#"models={"noop": {"1.0": {"defaultVersion": true, "marName": "noop.mar", "minWorkers": 1, "maxWorkers": 1, "batchSize": 4, "maxBatchDelay": 100, "responseTimeout": 120}}}"#;
        let c = resolve(props, &[], Args::default()).unwrap();
        let e = &c.models["noop"]["1.0"];
        assert_eq!(e.batch_size, Some(4));
        assert_eq!(e.mar_name.as_deref(), Some("noop.mar"));
    }
}
