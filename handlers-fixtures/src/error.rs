//! Errors of the fixtures layer.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("no fixture called {0:?}")]
    Unknown(String),
    #[error("fixture {0:?} has no fixture.json")]
    MissingSpec(String),
    #[error("fixture {name:?}: bad fixture.json: {source}")]
    Spec {
        name: String,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the archive of {name:?}: {source}")]
    Archive {
        name: String,
        source: mar::ArchiveError,
    },
}

impl FixtureError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
