//! The server under test: where it listens, what it offers, how fixtures reach it.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::client::redact_key;

/// Bearer keys for token authorisation (TorchServe's key_file.json).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub inference: String,
    pub management: String,
    /// The key that may call `/token` to refresh the others.
    pub api: Option<String>,
}

impl Keys {
    /// Reads TorchServe's `key_file.json`: `{"management": {"key": ..}, "inference": {"key": ..}, "API": {"key": ..}}`.
    pub fn from_key_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let key = |section: &str| v[section]["key"].as_str().map(str::to_owned);
        Ok(Self {
            inference: key("inference")
                .ok_or_else(|| anyhow::anyhow!("{}: no inference.key", path.display()))?,
            management: key("management")
                .ok_or_else(|| anyhow::anyhow!("{}: no management.key", path.display()))?,
            api: key("API"),
        })
    }
}

/// How fixture archives reach the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryMode {
    /// Copied into this folder (the target's model store) and registered by file name.
    ModelStore(PathBuf),
    /// Served by the suite over its own loopback HTTP server and registered by URL.
    Serve,
}

/// What the target offers; checks needing something it lacks are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// GPUs the target assigns to workers (0 for a CPU-only target).
    pub gpus: u32,
    pub token_auth: bool,
    pub model_api: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            gpus: 0,
            token_auth: false,
            model_api: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub inference_url: String,
    pub management_url: String,
    pub metrics_url: String,
    pub keys: Option<Keys>,
    /// Where the keys came from, so the token-refresh check can read the new ones.
    pub key_file: Option<PathBuf>,
    pub delivery: DeliveryMode,
    pub caps: Capabilities,
}

impl Target {
    /// A target on loopback with TorchServe's port layout (inference, +1, +2).
    pub fn loopback(port_base: u16, delivery: DeliveryMode) -> Self {
        Self {
            inference_url: format!("http://127.0.0.1:{port_base}"),
            management_url: format!("http://127.0.0.1:{}", port_base + 1),
            metrics_url: format!("http://127.0.0.1:{}", port_base + 2),
            keys: None,
            key_file: None,
            delivery,
            caps: Capabilities::default(),
        }
    }

    /// The settings as reported in `--json`, keys redacted.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "inference_url": self.inference_url,
            "management_url": self.management_url,
            "metrics_url": self.metrics_url,
            "keys": self.keys.as_ref().map(|k| serde_json::json!({
                "inference": redact_key(&k.inference),
                "management": redact_key(&k.management),
                "api": k.api.as_deref().map(redact_key),
            })),
            "key_file": self.key_file,
            "delivery": self.delivery,
            "capabilities": self.caps,
        })
    }
}
