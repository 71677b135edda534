//! The one error type of the archive layer. Every variant names the file (and the entry when
//! there is one) so a message is useful without its context.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    #[error("{path}: neither a zip (.mar) nor a gzip-compressed tar archive")]
    UnknownFormat { path: PathBuf },

    #[error("{path}: unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },

    #[error("{path}: link {entry:?} -> {target:?} points outside the model folder")]
    LinkEscapes {
        path: PathBuf,
        entry: String,
        target: String,
    },

    #[error("{path}: {what} exceeds the limit of {limit} (zip bomb?)")]
    LimitExceeded {
        path: PathBuf,
        what: String,
        limit: u64,
    },

    #[error(
        "{path}: entry {entry:?} fails its checksum (stored {expected:08x}, computed {actual:08x})"
    )]
    ChecksumMismatch {
        path: PathBuf,
        entry: String,
        expected: u32,
        actual: u32,
    },

    #[error("{path}: malformed MANIFEST.json: {source}")]
    ManifestMalformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{file}: invalid YAML: {message}")]
    ConfigSyntax { file: String, message: String },

    #[error("{path}: extraction target must be absent or an empty folder")]
    DestNotEmpty { path: PathBuf },

    /// Errors of `create`; their texts are torch-model-archiver 0.12's.
    #[error("{0}")]
    Archiver(String),
}

impl ArchiveError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArchiveError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl std::fmt::Display) -> Self {
        ArchiveError::Corrupt {
            path: path.into(),
            detail: detail.to_string(),
        }
    }
}
