//! MAR-INF/MANIFEST.json (contract 1.2) as typed serde structs.
//!
//! Fields are declared in the order torch-model-archiver writes them, so a manifest read from an
//! archiver-made archive is written back with the same key order; keys this crate does not know
//! are kept in `extra` (in their order) and written after the known ones.

use serde::{Deserialize, Deserializer, Serialize};

use crate::pyjson;

/// Where the manifest lives inside a model folder or archive.
pub const MANIFEST_PATH: &str = "MAR-INF/MANIFEST.json";

/// Handler names torch-model-archiver does not copy because TorchServe ships them
/// (MA/model_packaging_utils.py `model_handlers`, contract 1.3).
pub const BUILTIN_HANDLERS: &[&str] = &[
    "base_handler",
    "text_classifier",
    "image_classifier",
    "object_detector",
    "image_segmenter",
    "dali_image_classifier",
    "vllm_handler",
    "trt_llm_handler",
];

/// Runtime values the frontend accepts (AR/model/Manifest.java `RuntimeType`).
pub const RUNTIMES: &[&str] = &["python", "python3", "LSP"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub created_on: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelInfo>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub archiver_version: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub model_name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub serialized_file: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub handler: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub model_file: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub requirements_file: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub config_file: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub envelope: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub version: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    pub fn from_slice(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The archiver's layout: `json.dumps(manifest, indent=2)`, no trailing newline.
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain strings and JSON values cannot fail.
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        pyjson::dumps_indent2(&value)
    }

    /// `model.modelName`, when present.
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_ref()?.model_name.as_deref()
    }

    /// `model.handler`, when present.
    pub fn handler(&self) -> Option<&str> {
        self.model.as_ref()?.handler.as_deref()
    }
}

/// `^[A-Za-z0-9][A-Za-z0-9_\-.]*$`, the archiver's model-name rule.
pub fn is_valid_model_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphanumeric() => {
            bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }
        _ => false,
    }
}

/// Whether `handler` names a handler TorchServe ships (so it need not be in the archive).
pub fn is_builtin_handler(handler: &str) -> bool {
    BUILTIN_HANDLERS.contains(&handler)
}

/// GSON, which the frontend reads the manifest with, turns a JSON number or boolean into its
/// text when the field is a String; do the same so such manifests load as they do there.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(D::Error::custom(format!(
            "expected a string, found {}",
            json_kind(&other)
        ))),
    }
}

pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCHIVER_MANIFEST: &str = r#"{
  "createdOn": "26/11/2026 21:00:51",
  "runtime": "python3",
  "model": {
    "modelName": "seed",
    "serializedFile": "m.pt",
    "handler": "model_handler:handle",
    "modelFile": "m.py",
    "modelVersion": "1.0"
  },
  "archiverVersion": "0.12.0"
}"#;

    #[test]
    fn archiver_manifest_round_trips_byte_for_byte() {
        let m = Manifest::from_slice(ARCHIVER_MANIFEST.as_bytes()).unwrap();
        assert_eq!(m.model_name(), Some("seed"));
        assert_eq!(m.to_json_pretty(), ARCHIVER_MANIFEST);
    }

    #[test]
    fn unknown_keys_are_kept_in_order() {
        let text = r#"{"runtime":"python","zeta":1,"alpha":{"b":2,"a":1},"model":{"modelName":"m","custom":[1]}}"#;
        let m = Manifest::from_slice(text.as_bytes()).unwrap();
        assert_eq!(m.extra.keys().collect::<Vec<_>>(), ["zeta", "alpha"]);
        assert_eq!(
            m.model.as_ref().unwrap().extra["custom"],
            serde_json::json!([1])
        );
        let back = Manifest::from_slice(m.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn numbers_are_read_as_text_like_gson() {
        let m = Manifest::from_slice(br#"{"model":{"modelName":"m","modelVersion":2.0}}"#).unwrap();
        assert_eq!(m.model.unwrap().model_version.as_deref(), Some("2.0"));
        assert!(Manifest::from_slice(br#"{"model":{"modelName":["m"]}}"#).is_err());
    }

    #[test]
    fn model_names() {
        for ok in ["a", "A1", "resnet-18", "m_v1.2", "9"] {
            assert!(is_valid_model_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", "a\n"] {
            assert!(!is_valid_model_name(bad), "{bad:?}");
        }
    }
}
