//! `fixture.json`: what the archiver needs to package a fixture.
use serde::{Deserialize, Serialize};

pub(crate) const SPEC_FILE: &str = "fixture.json";
pub(crate) const DEFAULT_CONFIG: &str = "model-config.yaml";

/// The contents of `handlers/<name>/fixture.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureSpec {
    /// The handler string as given to the archiver (`echo.py`, `fn_entry:predict`, `errors`).
    pub handler: String,
    /// What the fixture exercises.
    pub description: String,
    /// The model-config file, relative to the fixture folder (`model-config.yaml` when absent
    /// and such a file exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// A file packaged as the serialized model file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialized_file: Option<String>,
    /// A file packaged as the model definition file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_file: Option<String>,
}

impl FixtureSpec {
    /// The Python file the handler string points at (`fn_entry:predict` → `fn_entry.py`).
    pub fn handler_file(&self) -> String {
        let module = self.handler.split(':').next().unwrap_or_default();
        if module.ends_with(".py") {
            module.to_owned()
        } else {
            format!("{module}.py")
        }
    }
}
