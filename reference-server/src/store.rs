//! From a register `url` to an unpacked model folder with its manifest (contract §1.1, §1.2, §4.2):
//! model-store names, folders, `.mar` / `.tar.gz` archives, and downloads from allowed URLs.

use crate::config::Config;
use crate::model::Cleanup;
use mar::manifest::Manifest;
use mar::model_config::ModelConfig;
use regex::RegexBuilder;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("Model store has not been configured.")]
    NoStore,
    /// `url=` given but empty (TorchServe's wording)
    #[error("empty url")]
    EmptyUrl,
    #[error("Relative path is not allowed in url: {0}")]
    RelativePath(String),
    #[error("Given URL {0} does not match any allowed URL(s)")]
    UrlNotAllowed(String),
    #[error("Model not found at: {0}")]
    NotFound(String),
    #[error("Model file already exists {0}")]
    AlreadyExists(String),
    #[error("Failed to download archive from: {url}")]
    Download { url: String, reason: String },
    /// corrupt, truncated or unsafe archive (TorchServe unpacks nothing from a non-zip `.mar`
    /// and then answers 400 "Model name is not defined."; we say what is wrong)
    #[error("Model archive {url} cannot be unpacked")]
    Unpack {
        url: String,
        source: mar::ArchiveError,
    },
    #[error("{0}")]
    InvalidModel(String),
    #[error("Invalid RuntimeType value: {0}")]
    BadRuntime(String),
    #[error("Failed to save model: {url}")]
    Io { url: String, source: std::io::Error },
}

impl StoreError {
    /// The underlying cause, for the error body's `cause` field and the log.
    pub fn cause(&self) -> Option<String> {
        match self {
            StoreError::Download { reason, .. } => Some(reason.clone()),
            StoreError::Unpack { source, .. } => Some(source.to_string()),
            StoreError::Io { source, .. } => Some(source.to_string()),
            _ => None,
        }
    }
}

/// Register parameters that change what the manifest says.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub model_name: Option<String>,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    /// the name to use when neither `model_name` nor the manifest gives one: start-up models
    /// get their file name; the register API gets none (TorchServe then answers 400)
    pub default_name: Option<String>,
}

/// A model folder ready to be served.
#[derive(Debug)]
pub struct Prepared {
    pub name: String,
    pub version: String,
    pub runtime: String,
    pub handler: String,
    pub envelope: String,
    pub model_dir: PathBuf,
    pub yaml: Option<ModelConfig>,
    /// model-config.yaml as JSON text (`{}` when none)
    pub yaml_json: String,
    /// the manifest's requirementsFile (relative to the model folder)
    pub requirements_file: Option<String>,
    pub cleanup: Cleanup,
}

impl Prepared {
    /// Deletes what preparing created (a refused or rolled-back register).
    pub fn discard(self) {
        self.cleanup.remove();
    }
}

/// `file://`, `fil://` (sic) and `http(s)://`: TorchServe's test for "this is a URL".
static URL_LIKE: LazyLock<regex::Regex> = LazyLock::new(|| {
    RegexBuilder::new(r"^(file?://.*|https?://.*)$")
        .case_insensitive(true)
        .build()
        .expect("static regex")
});

pub const RUNTIMES: [&str; 3] = ["python", "python3", "LSP"];

/// The last path segment of a URL or path.
pub fn file_name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// The model name used when neither the parameter nor the manifest gives one.
pub fn default_name(url: &str) -> String {
    let f = file_name_of(url.trim_end_matches('/'));
    for ext in [".tar.gz", ".mar", ".tgz", ".model"] {
        if let Some(stem) = f.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    f
}

/// Resolves `url`, unpacks it under `unpack_root`, reads its manifest and applies overrides.
pub async fn prepare(
    url: &str,
    ov: &Overrides,
    config: &Config,
    unpack_root: &Path,
) -> Result<Prepared, StoreError> {
    let store = config.model_store.as_deref().ok_or(StoreError::NoStore)?;
    // An empty url would name the store folder itself.
    if url.is_empty() {
        return Err(StoreError::EmptyUrl);
    }
    if url.contains("..") {
        return Err(StoreError::RelativePath(url.to_string()));
    }
    let file_name = file_name_of(url);
    let location = store.join(&file_name);
    let mut cleanup = Cleanup::default();

    if config.allowed_urls.iter().any(|re| re.is_match(url)) {
        if location.exists() {
            return Err(StoreError::AlreadyExists(file_name));
        }
        if file_name.is_empty() || file_name.contains('\\') {
            return Err(StoreError::Download {
                url: url.into(),
                reason: "no file name in the URL".into(),
            });
        }
        download(url, &location).await?;
        cleanup.downloaded = Some(location.clone());
    } else if URL_LIKE.is_match(url) {
        return Err(StoreError::UrlNotAllowed(url.to_string()));
    }

    let model_dir = if location.is_file() {
        let dest = unpack_root.join(uuid::Uuid::new_v4().simple().to_string());
        let limits = config.archive_limits;
        let (src, dst) = (location.clone(), dest.clone());
        let unpacked =
            tokio::task::spawn_blocking(move || mar::extract::extract(&src, &dst, &limits))
                .await
                .map_err(|e| StoreError::Io {
                    url: url.into(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        match unpacked {
            Ok(dir) => {
                cleanup.unpacked = Some(dest);
                dir
            }
            Err(source) => {
                let _ = std::fs::remove_dir_all(&dest);
                if let Some(f) = cleanup.downloaded.take() {
                    let _ = std::fs::remove_file(f);
                }
                return Err(StoreError::Unpack {
                    url: url.into(),
                    source,
                });
            }
        }
    } else if Path::new(url).is_dir() {
        single_inner_dir(Path::new(url))
    } else if location.is_dir() {
        single_inner_dir(&location)
    } else {
        return Err(StoreError::NotFound(url.to_string()));
    };
    let model_dir = std::fs::canonicalize(&model_dir).unwrap_or(model_dir);

    let result = read_model(url, ov, config, &model_dir);
    match result {
        Ok(facts) => {
            let yaml_json = facts
                .yaml
                .as_ref()
                .map_or_else(|| "{}".to_string(), |c| c.raw.to_string());
            Ok(Prepared {
                name: facts.name,
                version: facts.version,
                runtime: facts.runtime,
                handler: facts.handler,
                envelope: config.service_envelope.clone().unwrap_or_default(),
                model_dir,
                yaml: facts.yaml,
                yaml_json,
                requirements_file: facts.requirements_file,
                cleanup,
            })
        }
        Err(e) => {
            cleanup.remove();
            Err(e)
        }
    }
}

/// What the manifest (after overrides) and model-config.yaml say.
struct ModelFacts {
    name: String,
    version: String,
    runtime: String,
    handler: String,
    yaml: Option<ModelConfig>,
    requirements_file: Option<String>,
}

fn read_model(
    url: &str,
    ov: &Overrides,
    config: &Config,
    dir: &Path,
) -> Result<ModelFacts, StoreError> {
    let loaded = mar::model_dir::load(dir).map_err(|e| StoreError::InvalidModel(e.to_string()))?;
    for w in &loaded.config_warnings {
        tracing::warn!(url, "model-config.yaml: {w}");
    }
    // No MANIFEST.json: TorchServe uses an empty manifest (runtime python, version 1.0).
    let manifest = loaded.manifest.unwrap_or_else(|| Manifest {
        runtime: Some("python".into()),
        model: Some(Default::default()),
        ..Default::default()
    });
    let model = manifest
        .model
        .clone()
        .ok_or_else(|| StoreError::InvalidModel("Missing Model entry in manifest file.".into()))?;
    let name = ov
        .model_name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| model.model_name.clone().filter(|s| !s.is_empty()))
        .or_else(|| ov.default_name.clone())
        .ok_or_else(|| StoreError::InvalidModel("Model name is not defined.".into()))?;
    // An absent runtime is python (the manifest's default); an unknown one is refused.
    let runtime = match (&ov.runtime, &manifest.runtime) {
        (Some(r), _) => r.clone(),
        (None, None) => "python".to_string(),
        (None, Some(r)) if RUNTIMES.contains(&r.as_str()) => r.clone(),
        (None, Some(_)) => {
            return Err(StoreError::InvalidModel(
                "Runtime is not defined or invalid.".into(),
            ));
        }
    };
    let handler = ov
        .handler
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| model.handler.clone().filter(|h| !h.is_empty()))
        .or_else(|| config.default_service_handler.clone())
        .unwrap_or_default();
    let version = model.model_version.clone().unwrap_or_else(|| "1.0".into());
    Ok(ModelFacts {
        name,
        version,
        runtime,
        handler,
        yaml: loaded.config,
        requirements_file: model.requirements_file.clone().filter(|r| !r.is_empty()),
    })
}

/// TorchServe's tgz rule: a folder holding exactly one entry that is a folder means that folder.
fn single_inner_dir(dir: &Path) -> PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).collect())
        .unwrap_or_default();
    if entries.len() == 1 && entries[0].path().is_dir() {
        entries[0].path()
    } else {
        dir.to_path_buf()
    }
}

async fn download(url: &str, dest: &Path) -> Result<(), StoreError> {
    let fail = |reason: String| StoreError::Download {
        url: url.to_string(),
        reason,
    };
    let tmp = dest.with_extension("part");
    let result: Result<(), StoreError> = async {
        if let Some(path) = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("FILE://"))
        {
            tokio::fs::copy(path, &tmp)
                .await
                .map_err(|e| fail(e.to_string()))?;
            return Ok(());
        }
        let resp = reqwest::get(url).await.map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let bytes = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| fail(e.to_string())),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(
            file_name_of("https://h/x/squeezenet.mar?sig=1"),
            "squeezenet.mar"
        );
        assert_eq!(default_name("noop.mar"), "noop");
        assert_eq!(default_name("bert.tar.gz"), "bert");
        assert_eq!(default_name("/store/folder/"), "folder");
        assert!(URL_LIKE.is_match("HTTPS://x/y.mar"));
        assert!(URL_LIKE.is_match("fil://x"));
        assert!(!URL_LIKE.is_match("s3://x"));
    }
}
