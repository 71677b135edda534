//! Reading any model source (zip, tar.gz, folder) without unpacking it: the entry list, small
//! named files, and (zip) a streaming checksum pass. Names are those TorchServe sees once the
//! source is unpacked: a tar.gz entry loses its first component (`<model-name>/`).

mod dir;
mod tgz;
mod zip;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ArchiveError;
use crate::extract::Limits;
use crate::format::{self, SourceFormat};

pub use self::zip::{VerifyIssue, VerifyProblem};

pub(crate) fn verify_problem_is_bomb(p: &VerifyProblem) -> bool {
    matches!(p, VerifyProblem::Bomb(_))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// Devices, fifos and other types TorchServe cannot unpack.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// The path inside the unpacked model folder (`/`-separated).
    pub name: String,
    /// The name as stored, when it differs from `name` (tar.gz: with its first component).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_name: Option<String>,
    pub kind: EntryKind,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_size: Option<u64>,
    /// `stored` or `deflated` (zip only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crc32: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

impl EntryInfo {
    /// The name as written in the archive.
    pub fn raw_name(&self) -> &str {
        self.stored_name.as_deref().unwrap_or(&self.name)
    }
}

enum Inner {
    Zip(::zip::ZipArchive<std::fs::File>),
    /// Small text-like files captured during the one streaming pass, by name.
    TarGz(HashMap<String, Vec<u8>>),
    Dir,
}

/// An opened model source.
pub struct Archive {
    pub path: PathBuf,
    pub format: SourceFormat,
    pub entries: Vec<EntryInfo>,
    /// zip: some bytes belong to more than one entry (the overlapping-entries zip bomb).
    pub overlapping: bool,
    /// zip: the central directory names some entry more than once (only the last is listed).
    pub duplicate_names: bool,
    inner: Inner,
}

/// Largest file [`Archive::read`] returns; larger ones are not text a check needs.
pub const MAX_READ: u64 = 16 << 20;

impl Archive {
    /// Opens with the default [`Limits`].
    pub fn open(path: &Path) -> Result<Archive, ArchiveError> {
        Self::open_with(path, &Limits::default())
    }

    /// Opens and lists. A zip reads only its central directory; a tar.gz is streamed once (and
    /// abandoned with `LimitExceeded` as soon as it passes `limits`); a folder is walked.
    pub fn open_with(path: &Path, limits: &Limits) -> Result<Archive, ArchiveError> {
        let format = format::detect(path)?;
        let mut duplicate_names = false;
        let (entries, overlapping, inner) = match format {
            SourceFormat::Zip => {
                let (archive, entries, overlapping) = zip::open(path)?;
                duplicate_names = archive.has_duplicate_names();
                (entries, overlapping, Inner::Zip(archive))
            }
            SourceFormat::TarGz => {
                let (entries, captured) = tgz::scan(path, limits)?;
                (entries, false, Inner::TarGz(captured))
            }
            SourceFormat::Dir => (dir::walk(path, limits)?, false, Inner::Dir),
        };
        Ok(Archive {
            path: path.to_path_buf(),
            format,
            entries,
            overlapping,
            duplicate_names,
            inner,
        })
    }

    /// The regular-file entry called `name`, if there is one.
    pub fn file(&self, name: &str) -> Option<&EntryInfo> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.name == name && e.kind == EntryKind::File)
    }

    /// Sum of the declared sizes of all entries.
    pub fn total_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.size)
            .fold(0u64, u64::saturating_add)
    }

    /// Reads the file `name` (at most [`MAX_READ`] bytes); `None` when there is no such file.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        if self.file(name).is_none() {
            return Ok(None);
        }
        match &mut self.inner {
            Inner::Zip(archive) => zip::read(&self.path, archive, name),
            Inner::TarGz(captured) => match captured.get(name) {
                Some(bytes) => Ok(Some(bytes.clone())),
                None => tgz::read(&self.path, name),
            },
            Inner::Dir => dir::read(&self.path, name),
        }
    }

    /// zip: decompresses every file entry and checks its CRC-32 and size, streaming. Other
    /// formats have no per-entry checksums (a tar.gz's gzip CRC was checked when it was opened).
    pub fn verify(&mut self) -> Vec<VerifyIssue> {
        match &mut self.inner {
            Inner::Zip(archive) => zip::verify(archive),
            _ => Vec::new(),
        }
    }
}
