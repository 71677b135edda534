//! Packaging a fixture into an archive with the `mar` crate.
use std::fs;
use std::path::{Path, PathBuf};

use mar::create::{ArchiveFormat, CreateOptions, create};

use crate::spec::{DEFAULT_CONFIG, SPEC_FILE};
use crate::{Fixture, FixtureError};

/// Which model-config.yaml goes into the archive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConfigChoice {
    /// The fixture's own file, if it has one.
    #[default]
    Fixture,
    /// No config file at all.
    None,
    /// This YAML text instead of the fixture's file.
    Yaml(String),
}

/// How to package a fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `modelName` in the manifest; the fixture name when `None`.
    pub model_name: Option<String>,
    /// `modelVersion` in the manifest.
    pub version: String,
    pub format: ArchiveFormat,
    pub config: ConfigChoice,
    /// `runtime` in the manifest.
    pub runtime: String,
    /// The written file's stem when it should differ from the model name.
    pub file_stem: Option<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            model_name: None,
            version: "1.0".to_owned(),
            format: ArchiveFormat::Default,
            config: ConfigChoice::Fixture,
            runtime: "python".to_owned(),
            file_stem: None,
        }
    }
}

impl Fixture {
    /// Packages the fixture into `out_dir` (created if missing) and returns the written path:
    /// `<stem>.mar`, `<stem>.tar.gz` or the directory `<stem>/`. An existing output is replaced.
    pub fn build(&self, out_dir: &Path, opts: &BuildOptions) -> Result<PathBuf, FixtureError> {
        let staging =
            tempfile::tempdir().map_err(|e| FixtureError::io(&std::env::temp_dir(), e))?;
        let src = staging.path().join("src");
        let export = staging.path().join("out");
        fs::create_dir_all(&export).map_err(|e| FixtureError::io(&export, e))?;
        self.write_sources(&src)?;

        let config_rel = self
            .spec
            .config_file
            .clone()
            .unwrap_or_else(|| DEFAULT_CONFIG.to_owned());
        let config_file = match &opts.config {
            ConfigChoice::Fixture => self.file(&config_rel).map(|_| src.join(&config_rel)),
            ConfigChoice::None => None,
            ConfigChoice::Yaml(text) => {
                let path = src.join(DEFAULT_CONFIG);
                fs::write(&path, text).map_err(|e| FixtureError::io(&path, e))?;
                Some(path)
            }
        };
        let handler_file = self.spec.handler_file();
        let packaged_elsewhere = |rel: &str| {
            rel == SPEC_FILE
                || rel == handler_file
                || rel == config_rel
                || rel == DEFAULT_CONFIG
                || Some(rel) == self.spec.serialized_file.as_deref()
                || Some(rel) == self.spec.model_file.as_deref()
        };
        let extra_files = self
            .files
            .iter()
            .map(|(rel, _)| *rel)
            .filter(|rel| !packaged_elsewhere(rel))
            .map(|rel| src.join(rel).display().to_string())
            .collect();

        let model_name = opts
            .model_name
            .clone()
            .unwrap_or_else(|| self.name.to_owned());
        let create_opts = CreateOptions {
            model_name: model_name.clone(),
            version: opts.version.clone(),
            serialized_file: self.spec.serialized_file.as_ref().map(|f| src.join(f)),
            model_file: self.spec.model_file.as_ref().map(|f| src.join(f)),
            // A path, like the archiver's --handler: the manifest keeps only the basename.
            handler: src
                .join(archiver_handler(&self.spec.handler))
                .display()
                .to_string(),
            extra_files,
            runtime: opts.runtime.clone(),
            export_path: export.clone(),
            archive_format: opts.format,
            force: true,
            requirements_file: None,
            config_file,
        };
        let written = create(&create_opts).map_err(|source| FixtureError::Archive {
            name: self.name.to_owned(),
            source,
        })?;

        fs::create_dir_all(out_dir).map_err(|e| FixtureError::io(out_dir, e))?;
        let stem = opts.file_stem.as_deref().unwrap_or(&model_name);
        let dest = out_dir.join(format!("{stem}{}", opts.format.extension()));
        remove_existing(&dest)?;
        move_path(&written, &dest)?;
        Ok(dest)
    }
}

/// The archiver copies `file.py:fn` literally (and fails); `file:fn` is the spelling it
/// accepts, so a `.py` before a function name is dropped.
fn archiver_handler(handler: &str) -> String {
    match handler.split_once(':') {
        Some((module, function)) => format!(
            "{}:{function}",
            module.strip_suffix(".py").unwrap_or(module)
        ),
        None => handler.to_owned(),
    }
}

fn remove_existing(path: &Path) -> Result<(), FixtureError> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else if path.exists() {
        fs::remove_file(path)
    } else {
        return Ok(());
    };
    result.map_err(|e| FixtureError::io(path, e))
}

/// `rename` fails across file systems (the staging dir may be on another one): copy then.
fn move_path(from: &Path, to: &Path) -> Result<(), FixtureError> {
    if fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_recursive(from, to)
}

fn copy_recursive(from: &Path, to: &Path) -> Result<(), FixtureError> {
    if from.is_dir() {
        fs::create_dir_all(to).map_err(|e| FixtureError::io(to, e))?;
        for entry in fs::read_dir(from).map_err(|e| FixtureError::io(from, e))? {
            let entry = entry.map_err(|e| FixtureError::io(from, e))?;
            copy_recursive(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| FixtureError::io(to, e))
    }
}
