//! model-config.yaml (contract 1.5) with TorchServe's per-key rules already applied
//! (AR/model/ModelConfig.java `build` and its setters).
//!
//! A field is `Some` only when its key is present and TorchServe would take the value. Values of
//! the wrong type and unknown keys are warnings, never errors: the frontend logs and ignores them.

use serde::Serialize;
use serde_yaml::Value as Yaml;

use crate::ArchiveError;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelConfig {
    pub min_workers: Option<u32>,
    pub max_workers: Option<u32>,
    pub batch_size: Option<u32>,
    /// milliseconds
    pub max_batch_delay: Option<u64>,
    /// seconds
    pub response_timeout: Option<u64>,
    /// seconds
    pub startup_timeout: Option<u64>,
    pub device_type: Option<DeviceType>,
    pub device_ids: Option<Vec<i64>>,
    /// lower-case: `pp`, `tp`, `pptp` or `custom`
    pub parallel_type: Option<String>,
    pub parallel_level: Option<i64>,
    pub max_retry_timeout_in_sec: Option<u64>,
    pub client_timeout_in_mills: Option<u64>,
    pub job_queue_size: Option<u32>,
    pub use_job_ticket: Option<bool>,
    pub continuous_batching: Option<bool>,
    pub async_communication: Option<bool>,
    pub use_venv: Option<bool>,
    pub sequence_max_idle_msec: Option<u64>,
    pub sequence_timeout_msec: Option<u64>,
    pub max_sequence_job_queue_size: Option<u64>,
    pub max_num_sequence: Option<u64>,
    pub sequence_batching: Option<bool>,
    /// the whole YAML document as JSON (what Python sees as context.model_yaml_config)
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Cpu,
    Gpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A key TorchServe's frontend does not read (handlers may still read it from the raw dict).
    UnknownKey,
    /// The value has the wrong YAML type, so TorchServe ignores it.
    WrongType,
    /// The type is right but the value is out of range or not one of the allowed words.
    InvalidValue,
    /// About the document as a whole.
    Document,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    pub key: String,
    pub message: String,
    pub kind: WarningKind,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Keys the frontend reads; `torchrun` is a map whose `nproc-per-node` sets parallelLevel.
pub const KNOWN_KEYS: &[&str] = &[
    "minWorkers",
    "maxWorkers",
    "batchSize",
    "maxBatchDelay",
    "responseTimeout",
    "startupTimeout",
    "deviceType",
    "deviceIds",
    "parallelType",
    "parallelLevel",
    "torchrun",
    "maxRetryTimeoutInSec",
    "clientTimeoutInMills",
    "jobQueueSize",
    "useJobTicket",
    "sequenceMaxIdleMSec",
    "sequenceTimeoutMSec",
    "maxSequenceJobQueueSize",
    "maxNumSequence",
    "continuousBatching",
    "sequenceBatching",
    "asyncCommunication",
    "useVenv",
];

impl ModelConfig {
    /// YAML syntax errors are Err; wrong types / unknown keys are warnings.
    pub fn parse(text: &str) -> Result<(ModelConfig, Vec<ConfigWarning>), ArchiveError> {
        Self::parse_named(text, "model-config.yaml")
    }

    /// As [`ModelConfig::parse`], naming `file` in errors.
    pub fn parse_named(
        text: &str,
        file: &str,
    ) -> Result<(ModelConfig, Vec<ConfigWarning>), ArchiveError> {
        let doc: Yaml = serde_yaml::from_str(text).map_err(|e| ArchiveError::ConfigSyntax {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let mut b = Builder::default();
        match &doc {
            Yaml::Mapping(map) => {
                for (k, v) in map {
                    match k.as_str() {
                        Some(key) => b.apply(key, v),
                        None => b.warn(
                            &yaml_key_text(k),
                            WarningKind::UnknownKey,
                            "key is not a string; ignored",
                        ),
                    }
                }
            }
            // Valid YAML, but the frontend then fails to register the model (a NullPointerException
            // in ModelConfig.build, HTTP 500), so callers must see it.
            Yaml::Null => b.warn(
                "",
                WarningKind::Document,
                "the document is empty; TorchServe 0.12 fails to register a model with an empty config file",
            ),
            other => {
                return Err(ArchiveError::ConfigSyntax {
                    file: file.to_string(),
                    message: format!(
                        "the top level must be a mapping, found {}",
                        yaml_kind(other)
                    ),
                });
            }
        }
        b.config.raw = yaml_to_json(&doc);
        Ok((b.config, b.warnings))
    }
}

#[derive(Default)]
struct Builder {
    config: ModelConfig,
    warnings: Vec<ConfigWarning>,
}

impl Builder {
    fn warn(&mut self, key: &str, kind: WarningKind, message: impl Into<String>) {
        self.warnings.push(ConfigWarning {
            key: key.to_string(),
            message: message.into(),
            kind,
        });
    }

    /// Java's `v instanceof Integer`: SnakeYAML yields Integer only for values in i32 range.
    fn int(&mut self, key: &str, v: &Yaml) -> Option<i32> {
        let n = v.as_i64().and_then(|n| i32::try_from(n).ok());
        if n.is_none() {
            let what = if v.is_i64() || v.is_u64() {
                "an integer outside the 32-bit range".to_string()
            } else {
                yaml_kind(v).to_string()
            };
            self.warn(
                key,
                WarningKind::WrongType,
                format!("should be an integer, found {what}; ignored"),
            );
        }
        n
    }

    /// Java's `v instanceof Boolean`. SnakeYAML reads YAML 1.1, where plain yes/no/on/off are
    /// booleans too; serde_yaml leaves those as strings, so accept them here.
    fn bool(&mut self, key: &str, v: &Yaml) -> Option<bool> {
        let b = match v {
            Yaml::Bool(b) => Some(*b),
            Yaml::String(s) => match s.as_str() {
                "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
                "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if b.is_none() {
            self.warn(
                key,
                WarningKind::WrongType,
                format!("should be true or false, found {}; ignored", yaml_kind(v)),
            );
        }
        b
    }

    fn rejected(&mut self, key: &str, value: i32, rule: &str) {
        self.warn(
            key,
            WarningKind::InvalidValue,
            format!("{value} is {rule}; ignored"),
        );
    }

    fn apply(&mut self, key: &str, v: &Yaml) {
        let clamp_u32 = |n: i32, lo: i32| n.max(lo) as u32;
        let clamp_u64 = |n: i32, lo: i32| n.max(lo) as u64;
        match key {
            "minWorkers" => {
                if let Some(n) = self.int(key, v) {
                    self.config.min_workers = Some(clamp_u32(n, 1));
                }
            }
            "maxWorkers" => match self.int(key, v) {
                Some(n) if n < 0 => self.rejected(key, n, "negative"),
                Some(n) => self.config.max_workers = Some(n as u32),
                None => {}
            },
            "batchSize" => {
                if let Some(n) = self.int(key, v) {
                    self.config.batch_size = Some(clamp_u32(n, 1));
                }
            }
            "maxBatchDelay" => match self.int(key, v) {
                Some(n) if n < 0 => self.rejected(key, n, "negative"),
                Some(n) => self.config.max_batch_delay = Some(n as u64),
                None => {}
            },
            "responseTimeout" | "startupTimeout" => match self.int(key, v) {
                Some(n) if n <= 0 => self.rejected(key, n, "not positive"),
                Some(n) if key == "responseTimeout" => {
                    self.config.response_timeout = Some(n as u64)
                }
                Some(n) => self.config.startup_timeout = Some(n as u64),
                None => {}
            },
            "deviceType" => self.device_type(key, v),
            "parallelType" => self.parallel_type(key, v),
            "parallelLevel" => match self.int(key, v) {
                Some(n) if n < 0 => self.rejected(key, n, "negative"),
                Some(n) => self.config.parallel_level = Some(i64::from(n)),
                None => {}
            },
            "deviceIds" => self.device_ids(key, v),
            "torchrun" => self.torchrun(key, v),
            "maxRetryTimeoutInSec" => {
                if let Some(n) = self.int(key, v) {
                    self.config.max_retry_timeout_in_sec = Some(clamp_u64(n, 0));
                }
            }
            "clientTimeoutInMills" => {
                if let Some(n) = self.int(key, v) {
                    self.config.client_timeout_in_mills = Some(clamp_u64(n, 0));
                }
            }
            "jobQueueSize" => {
                if let Some(n) = self.int(key, v) {
                    self.config.job_queue_size = Some(clamp_u32(n, 0));
                }
            }
            "sequenceMaxIdleMSec" => {
                if let Some(n) = self.int(key, v) {
                    self.config.sequence_max_idle_msec = Some(clamp_u64(n, 0));
                }
            }
            "sequenceTimeoutMSec" => {
                if let Some(n) = self.int(key, v) {
                    self.config.sequence_timeout_msec = Some(clamp_u64(n, 0));
                }
            }
            "maxSequenceJobQueueSize" => {
                if let Some(n) = self.int(key, v) {
                    self.config.max_sequence_job_queue_size = Some(clamp_u64(n, 1));
                }
            }
            "maxNumSequence" => {
                if let Some(n) = self.int(key, v) {
                    self.config.max_num_sequence = Some(clamp_u64(n, 1));
                }
            }
            "useJobTicket" => {
                self.config.use_job_ticket = self.bool(key, v).or(self.config.use_job_ticket)
            }
            "continuousBatching" => {
                self.config.continuous_batching =
                    self.bool(key, v).or(self.config.continuous_batching)
            }
            "sequenceBatching" => {
                self.config.sequence_batching = self.bool(key, v).or(self.config.sequence_batching)
            }
            "asyncCommunication" => {
                self.config.async_communication =
                    self.bool(key, v).or(self.config.async_communication)
            }
            "useVenv" => self.config.use_venv = self.bool(key, v).or(self.config.use_venv),
            _ => self.warn(
                key,
                WarningKind::UnknownKey,
                "not a TorchServe setting; the frontend ignores it (handlers can still read it)",
            ),
        }
    }

    fn device_type(&mut self, key: &str, v: &Yaml) {
        match v.as_str() {
            Some(s) => match s.to_lowercase().as_str() {
                "cpu" => self.config.device_type = Some(DeviceType::Cpu),
                "gpu" => self.config.device_type = Some(DeviceType::Gpu),
                _ => {
                    self.config.device_type = None;
                    self.warn(
                        key,
                        WarningKind::InvalidValue,
                        format!("{s:?} is neither cpu nor gpu; ignored"),
                    );
                }
            },
            None => self.warn(
                key,
                WarningKind::WrongType,
                format!("should be cpu or gpu, found {}; ignored", yaml_kind(v)),
            ),
        }
    }

    fn parallel_type(&mut self, key: &str, v: &Yaml) {
        match v.as_str() {
            Some(s) => {
                let lower = s.to_lowercase();
                if matches!(lower.as_str(), "pp" | "tp" | "pptp" | "custom") {
                    self.config.parallel_type = Some(lower);
                } else {
                    self.config.parallel_type = None;
                    self.warn(
                        key,
                        WarningKind::InvalidValue,
                        format!("{s:?} is not one of pp, tp, pptp, custom; ignored"),
                    );
                }
            }
            None => self.warn(
                key,
                WarningKind::WrongType,
                format!(
                    "should be pp, tp, pptp or custom, found {}; ignored",
                    yaml_kind(v)
                ),
            ),
        }
    }

    fn device_ids(&mut self, key: &str, v: &Yaml) {
        let Some(items) = v.as_sequence() else {
            self.warn(
                key,
                WarningKind::WrongType,
                format!(
                    "should be a list of integers, found {}; ignored",
                    yaml_kind(v)
                ),
            );
            return;
        };
        let ids: Option<Vec<i64>> = items
            .iter()
            .map(|item| item.as_i64().filter(|n| i32::try_from(*n).is_ok()))
            .collect();
        if ids.is_none() {
            self.warn(
                key,
                WarningKind::WrongType,
                "every element must be an integer; the whole list is ignored",
            );
        }
        self.config.device_ids = ids;
    }

    /// `torchrun.nproc-per-node` (default 1; values <= 0 keep 1) becomes parallelLevel.
    fn torchrun(&mut self, key: &str, v: &Yaml) {
        let Some(map) = v.as_mapping() else {
            self.warn(
                key,
                WarningKind::WrongType,
                format!(
                    "should be a mapping of torchrun parameters, found {}; ignored",
                    yaml_kind(v)
                ),
            );
            return;
        };
        let mut nproc = 1i64;
        if let Some(n) = map.get("nproc-per-node") {
            match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                Some(n) if n > 0 => nproc = i64::from(n),
                _ => self.warn(
                    "torchrun.nproc-per-node",
                    WarningKind::InvalidValue,
                    "should be a positive integer; 1 is used",
                ),
            }
        }
        self.config.parallel_level = Some(nproc);
    }
}

fn yaml_kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(n) if n.is_f64() => "a float",
        Yaml::Number(_) => "an integer",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

fn yaml_key_text(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".to_string(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// YAML to JSON for the raw view; non-string keys become their text, NaN/inf become null.
pub(crate) fn yaml_to_json(v: &Yaml) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Yaml::Null => J::Null,
        Yaml::Bool(b) => J::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Yaml::String(s) => J::String(s.clone()),
        Yaml::Sequence(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => J::Object(
            map.iter()
                .map(|(k, v)| (yaml_key_text(k), yaml_to_json(v)))
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (ModelConfig, Vec<ConfigWarning>) {
        ModelConfig::parse(text).unwrap()
    }

    #[test]
    fn torchserve_rules_are_applied() {
        let (c, w) = parse(
            "minWorkers: 0\nmaxWorkers: -1\nbatchSize: -5\nmaxBatchDelay: -1\nresponseTimeout: 0\n\
             startupTimeout: 30\ndeviceType: GPU\ndeviceIds: [0, 1]\nparallelType: TP\n\
             maxRetryTimeoutInSec: -3\njobQueueSize: -1\nmaxNumSequence: 0\nuseJobTicket: yes\n",
        );
        assert_eq!(c.min_workers, Some(1));
        assert_eq!(c.max_workers, None);
        assert_eq!(c.batch_size, Some(1));
        assert_eq!(c.max_batch_delay, None);
        assert_eq!(c.response_timeout, None);
        assert_eq!(c.startup_timeout, Some(30));
        assert_eq!(c.device_type, Some(DeviceType::Gpu));
        assert_eq!(c.device_ids, Some(vec![0, 1]));
        assert_eq!(c.parallel_type.as_deref(), Some("tp"));
        assert_eq!(c.max_retry_timeout_in_sec, Some(0));
        assert_eq!(c.job_queue_size, Some(0));
        assert_eq!(c.max_num_sequence, Some(1));
        assert_eq!(c.use_job_ticket, Some(true));
        let keys: Vec<_> = w.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys, ["maxWorkers", "maxBatchDelay", "responseTimeout"]);
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_warnings() {
        let (c, w) = parse(
            "minWorkers: '2'\nbatchSize: 2.0\ndeviceIds: [0, a]\nuseVenv: 1\nhandler:\n  x: 1\n\
             maxWorkers: 3000000000\n",
        );
        assert_eq!(c.min_workers, None);
        assert_eq!(c.batch_size, None);
        assert_eq!(c.device_ids, None);
        assert_eq!(c.use_venv, None);
        assert_eq!(c.max_workers, None);
        let kinds: Vec<_> = w.iter().map(|w| (w.key.as_str(), w.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("minWorkers", WarningKind::WrongType),
                ("batchSize", WarningKind::WrongType),
                ("deviceIds", WarningKind::WrongType),
                ("useVenv", WarningKind::WrongType),
                ("handler", WarningKind::UnknownKey),
                ("maxWorkers", WarningKind::WrongType),
            ]
        );
        assert_eq!(c.raw["handler"]["x"], 1);
    }

    #[test]
    fn torchrun_sets_parallel_level_in_document_order() {
        let (c, _) = parse("parallelLevel: 4\ntorchrun:\n  nproc-per-node: 2\n");
        assert_eq!(c.parallel_level, Some(2));
        let (c, _) = parse("torchrun:\n  nnodes: 1\nparallelLevel: 4\n");
        assert_eq!(c.parallel_level, Some(4));
        let (c, w) = parse("torchrun:\n  nproc-per-node: 0\n");
        assert_eq!(c.parallel_level, Some(1));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn syntax_errors_and_non_mappings_are_errors() {
        assert!(ModelConfig::parse("a: [1, 2").is_err());
        assert!(ModelConfig::parse("- 1\n- 2\n").is_err());
        let (c, w) = parse("");
        assert_eq!(c.raw, serde_json::Value::Null);
        assert_eq!(w[0].kind, WarningKind::Document);
    }
}
