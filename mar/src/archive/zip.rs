//! The zip side of [`super::Archive`].

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zip::ZipArchive;

use super::{EntryInfo, EntryKind, MAX_READ};
use crate::ArchiveError;
use crate::zip_entry::{self, EntryProblem, VerifyingReader};

/// A problem found while verifying one entry's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyIssue {
    pub entry: String,
    pub problem: VerifyProblem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyProblem {
    /// The data inflates past the declared size.
    Bomb(String),
    /// Checksum, truncation, undecodable data.
    Corrupt(String),
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyProblem::Bomb(s) | VerifyProblem::Corrupt(s) => f.write_str(s),
        }
    }
}

type Opened = (ZipArchive<File>, Vec<EntryInfo>, bool);

pub(super) fn open(path: &Path) -> Result<Opened, ArchiveError> {
    let file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let mut archive = ZipArchive::new(file)
        .map_err(|e| ArchiveError::corrupt(path, format!("not a readable zip archive: {e}")))?;
    let mut entries = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|e| ArchiveError::corrupt(path, format!("entry #{index}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| ArchiveError::corrupt(path, format!("entry #{index}: {e}")))?
            .into_owned();
        let kind = if entry.is_dir() {
            EntryKind::Dir
        } else if entry.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::File
        };
        let method = match entry.compression() {
            zip::CompressionMethod::Stored => "stored".to_string(),
            zip::CompressionMethod::Deflated => "deflated".to_string(),
            other => format!("{other:?}").to_lowercase(),
        };
        entries.push(EntryInfo {
            name,
            stored_name: None,
            kind,
            size: entry.size(),
            compressed_size: Some(entry.compressed_size()),
            method: Some(method),
            crc32: Some(entry.crc32()),
            link_target: None,
        });
    }
    // Link targets are the entries' contents; they are tiny.
    for (index, info) in entries.iter_mut().enumerate() {
        if info.kind == EntryKind::Symlink {
            let raw = archive
                .by_index_raw(index)
                .map_err(|e| ArchiveError::corrupt(path, format!("entry {:?}: {e}", info.name)))?;
            let mut target = String::new();
            if let Ok(reader) = VerifyingReader::new(raw) {
                // An unreadable link is reported by `verify`; the target then stays empty.
                let _ = reader.take(4096).read_to_string(&mut target);
            }
            info.link_target = Some(target);
        }
    }
    let overlapping = archive.has_overlapping_files().unwrap_or(false);
    Ok((archive, entries, overlapping))
}

pub(super) fn read(
    path: &Path,
    archive: &mut ZipArchive<File>,
    name: &str,
) -> Result<Option<Vec<u8>>, ArchiveError> {
    let Some(index) = archive.index_for_name(name) else {
        return Ok(None);
    };
    let raw = archive
        .by_index_raw(index)
        .map_err(|e| ArchiveError::corrupt(path, format!("entry {name:?}: {e}")))?;
    let reader = VerifyingReader::new(raw)
        .map_err(|e| ArchiveError::corrupt(path, format!("entry {name:?}: {e}")))?;
    let mut bytes = Vec::new();
    reader
        .take(MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(|e| ArchiveError::corrupt(path, format!("entry {name:?}: {e}")))?;
    Ok(Some(bytes))
}

pub(super) fn verify(archive: &mut ZipArchive<File>) -> Vec<VerifyIssue> {
    let mut issues = Vec::new();
    for index in 0..archive.len() {
        let raw = match archive.by_index_raw(index) {
            Ok(raw) => raw,
            Err(e) => {
                issues.push(VerifyIssue {
                    entry: format!("#{index}"),
                    problem: VerifyProblem::Corrupt(e.to_string()),
                });
                continue;
            }
        };
        let name = raw
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("#{index}"));
        if raw.is_dir() && raw.size() == 0 {
            continue;
        }
        let outcome = VerifyingReader::new(raw).and_then(|mut r| zip_entry::verify(&mut r));
        if let Err(e) = outcome {
            let problem = match zip_entry::problem_of(&e) {
                Some(p @ EntryProblem::LongerThanDeclared { .. }) => {
                    VerifyProblem::Bomb(p.to_string())
                }
                Some(p) => VerifyProblem::Corrupt(p.to_string()),
                None => VerifyProblem::Corrupt(e.to_string()),
            };
            issues.push(VerifyIssue {
                entry: name,
                problem,
            });
        }
    }
    issues
}
