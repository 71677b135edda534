//! Safe extraction of a model archive into a folder.
//!
//! Invariant: nothing is written outside `dest`. Entry names with `..`, absolute names and links
//! that resolve outside are refused before anything is written for them; files are opened with
//! `O_NOFOLLOW` and no path component under `dest` is ever a symlink when written through;
//! symlinks are created last, once every link in the archive is known. Sizes and entry counts
//! are capped by [`Limits`], counting the bytes actually written, not what headers claim.

mod sink;
mod tgz;
mod zip;

use std::path::{Path, PathBuf};

use crate::ArchiveError;
use crate::format::{self, SourceFormat};

pub(crate) use tgz::strip_first_component;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of all unpacked entries.
    pub max_total_bytes: u64,
    /// Number of entries (files, folders and links).
    pub max_entries: u64,
}

impl Default for Limits {
    /// 32 GiB and 100,000 entries: roomy for real models, small enough to stop a zip bomb.
    fn default() -> Self {
        Limits {
            max_total_bytes: 32 << 30,
            max_entries: 100_000,
        }
    }
}

/// Unpacks a .mar (zip; the format is detected by content, not only by name: a `.mar` is zip,
/// anything else is tried as gzip-tar like TorchServe) into `dest` (created; must be empty or
/// absent). Refuses `..`, absolute paths, links escaping dest, over-limit size/count.
///
/// Returns the model dir. As in TorchServe (`ZipUtils.decompressTarGzipFile`), a tar.gz loses
/// the first path component of every entry (`<model-name>/`), so for every archive format the
/// model dir is `dest` itself. On error, whatever was unpacked is removed again.
pub fn extract(src: &Path, dest: &Path, limits: &Limits) -> Result<PathBuf, ArchiveError> {
    let fmt = format::detect(src)?;
    if fmt == SourceFormat::Dir {
        return Err(ArchiveError::corrupt(
            src,
            "is a folder; it is used in place, not extracted",
        ));
    }
    let created = prepare_dest(dest)?;
    let result = match fmt {
        SourceFormat::Zip => zip::extract(src, dest, limits),
        _ => tgz::extract(src, dest, limits),
    };
    if result.is_err() {
        clean_up(dest, created);
    }
    result.map(|()| dest.to_path_buf())
}

/// Creates `dest` or checks that it is empty; returns whether it was created.
fn prepare_dest(dest: &Path) -> Result<bool, ArchiveError> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            let mut entries = std::fs::read_dir(dest).map_err(|e| ArchiveError::io(dest, e))?;
            if entries.next().is_some() {
                return Err(ArchiveError::DestNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
            Ok(false)
        }
        Ok(_) => Err(ArchiveError::DestNotEmpty {
            path: dest.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dest).map_err(|e| ArchiveError::io(dest, e))?;
            Ok(true)
        }
        Err(e) => Err(ArchiveError::io(dest, e)),
    }
}

/// Best effort: the error being returned matters more than a failed clean-up.
fn clean_up(dest: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dest);
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = std::fs::remove_dir_all(&path);
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}
