//! TorchServe 0.12 model archives: `.mar` (zip), `.tar.gz` and unpacked folders.
//!
//! - [`manifest`]: MAR-INF/MANIFEST.json as typed structs, written back in the archiver's layout.
//! - [`model_config`]: model-config.yaml with TorchServe's per-key rules applied.
//! - [`extract`]: safe unpacking with size and entry-count limits.
//! - [`model_dir`]: what the server reads from an unpacked model folder.
//! - [`create`]: torch-model-archiver 0.12's behaviour (`mar create`).
//! - [`archive`]: listing and reading entries of any of the three formats without unpacking.
//! - [`check`] and [`inspect`]: `mar check` and `mar inspect`.

pub mod archive;
pub mod check;
pub mod create;
mod error;
pub mod extract;
pub mod format;
pub mod inspect;
pub mod manifest;
pub mod model_config;
pub mod model_dir;
mod pyjson;
mod safe_path;
mod zip_entry;

pub use error::ArchiveError;
pub use format::SourceFormat;
