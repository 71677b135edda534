//! The Python handler fixtures of the conformance suite and a builder for their archives.
//!
//! Each fixture is a folder `handlers/<name>/` holding Python file(s), an optional
//! `model-config.yaml` and a `fixture.json` ([`FixtureSpec`]). The folders are embedded at
//! compile time (see `build.rs`), so a binary built from this crate needs no checkout.
//! Archives are built at run time with the `mar` crate; none is committed.

mod archive;
mod error;
mod spec;

pub use archive::{BuildOptions, ConfigChoice};
pub use error::FixtureError;
pub use mar::create::ArchiveFormat;
pub use spec::FixtureSpec;

use std::fs;
use std::path::Path;

/// One fixture folder as embedded by `build.rs`.
struct EmbeddedFixture {
    name: &'static str,
    files: &'static [(&'static str, &'static [u8])],
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A fixture: its name (the folder name), its parsed `fixture.json` and its files.
#[derive(Debug, Clone)]
pub struct Fixture {
    name: &'static str,
    spec: FixtureSpec,
    files: &'static [(&'static str, &'static [u8])],
}

/// Names of every embedded fixture, sorted.
pub fn names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|f| f.name).collect()
}

/// Every embedded fixture, sorted by name.
pub fn all() -> Result<Vec<Fixture>, FixtureError> {
    EMBEDDED.iter().map(Fixture::from_embedded).collect()
}

/// The fixture called `name`.
pub fn get(name: &str) -> Result<Fixture, FixtureError> {
    EMBEDDED
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| FixtureError::Unknown(name.to_owned()))
        .and_then(Fixture::from_embedded)
}

/// Builds the archive of every fixture into `out_dir` with the same options (the model
/// name of each is its fixture name). Returns the written paths.
pub fn build_all(
    out_dir: &Path,
    opts: &BuildOptions,
) -> Result<Vec<std::path::PathBuf>, FixtureError> {
    all()?.iter().map(|f| f.build(out_dir, opts)).collect()
}

impl Fixture {
    fn from_embedded(e: &EmbeddedFixture) -> Result<Self, FixtureError> {
        let raw = e
            .files
            .iter()
            .find(|(rel, _)| *rel == spec::SPEC_FILE)
            .map(|(_, bytes)| *bytes)
            .ok_or_else(|| FixtureError::MissingSpec(e.name.to_owned()))?;
        let spec = serde_json::from_slice(raw).map_err(|source| FixtureError::Spec {
            name: e.name.to_owned(),
            source,
        })?;
        Ok(Self {
            name: e.name,
            spec,
            files: e.files,
        })
    }

    /// The folder name, also the default model name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The parsed `fixture.json`.
    pub fn spec(&self) -> &FixtureSpec {
        &self.spec
    }

    /// Every file of the fixture (relative path with `/`, contents), `fixture.json` included.
    pub fn files(&self) -> &'static [(&'static str, &'static [u8])] {
        self.files
    }

    /// The contents of one file of the fixture.
    pub fn file(&self, rel: &str) -> Option<&'static [u8]> {
        self.files.iter().find(|(r, _)| *r == rel).map(|(_, b)| *b)
    }

    /// The fixture's own `model-config.yaml` (or the file `fixture.json` names), if any.
    pub fn model_config(&self) -> Option<&'static str> {
        let rel = self
            .spec
            .config_file
            .as_deref()
            .unwrap_or(spec::DEFAULT_CONFIG);
        self.file(rel).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Writes the fixture's files (not `fixture.json`) under `dir`, creating it.
    pub fn write_sources(&self, dir: &Path) -> Result<(), FixtureError> {
        for (rel, bytes) in self.files.iter().filter(|(rel, _)| *rel != spec::SPEC_FILE) {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| FixtureError::io(parent, e))?;
            }
            fs::write(&path, bytes).map_err(|e| FixtureError::io(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
