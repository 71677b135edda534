//! What the server needs from an unpacked model folder.

use std::path::{Path, PathBuf};

use crate::ArchiveError;
use crate::manifest::{MANIFEST_PATH, Manifest};
use crate::model_config::{ConfigWarning, ModelConfig, WarningKind};
use crate::safe_path;

#[derive(Debug, Clone)]
pub struct ModelDir {
    pub path: PathBuf,
    pub manifest: Option<Manifest>,
    pub config: Option<ModelConfig>,
    pub config_warnings: Vec<ConfigWarning>,
}

/// Reads MAR-INF/MANIFEST.json (None when absent; Err when malformed) and the configFile it names.
///
/// As in the frontend (`ModelArchive.getModelConfig`), a config file that is missing or is not
/// valid YAML is not fatal: `config` is then None and the reason is in `config_warnings`.
pub fn load(path: &Path) -> Result<ModelDir, ArchiveError> {
    let manifest_path = path.join(MANIFEST_PATH);
    let manifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => Some(Manifest::from_slice(&bytes).map_err(|source| {
            ArchiveError::ManifestMalformed {
                path: manifest_path.clone(),
                source,
            }
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ArchiveError::io(&manifest_path, e)),
    };
    let mut dir = ModelDir {
        path: path.to_path_buf(),
        manifest,
        config: None,
        config_warnings: Vec::new(),
    };
    let config_file = dir
        .manifest
        .as_ref()
        .and_then(|m| m.model.as_ref())
        .and_then(|m| m.config_file.clone());
    if let Some(name) = config_file {
        load_config(&mut dir, &name);
    }
    Ok(dir)
}

fn load_config(dir: &mut ModelDir, name: &str) {
    let mut warn = |message: String| {
        dir.config_warnings.push(ConfigWarning {
            key: String::new(),
            message,
            kind: WarningKind::Document,
        })
    };
    let Some(rel) = safe_path::relative_path(name).filter(|r| !r.as_os_str().is_empty()) else {
        warn(format!(
            "configFile {name:?} is not a path inside the model folder; ignored"
        ));
        return;
    };
    let file = dir.path.join(rel);
    let text = match std::fs::read(&file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            warn(format!("{}: {e}; no model config is used", file.display()));
            return;
        }
    };
    match ModelConfig::parse_named(&text, &file.display().to_string()) {
        Ok((config, warnings)) => {
            dir.config = Some(config);
            dir.config_warnings.extend(warnings);
        }
        Err(e) => warn(format!("{e}; no model config is used")),
    }
}

/// TorchServe's rule for a model given as a folder: when the folder holds exactly one entry and
/// that entry is a folder, the inner folder is the model dir (a tgz unpacked with its root).
pub fn resolve(path: &Path) -> Result<PathBuf, ArchiveError> {
    let mut entries = std::fs::read_dir(path).map_err(|e| ArchiveError::io(path, e))?;
    let first = entries
        .next()
        .transpose()
        .map_err(|e| ArchiveError::io(path, e))?;
    if let (Some(only), None) = (first, entries.next()) {
        let inner = only.path();
        if inner.is_dir() {
            return Ok(inner);
        }
    }
    Ok(path.to_path_buf())
}
