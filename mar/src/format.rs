//! Which kind of model source a path is, judged by content (magic bytes), not only by name.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::ArchiveError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// `.mar`: a zip archive, deflated or stored.
    Zip,
    /// `.tar.gz`: gzip-compressed tar, entries under `<model-name>/`.
    TarGz,
    /// An unpacked model folder (`no-archive`).
    Dir,
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceFormat::Zip => "zip",
            SourceFormat::TarGz => "tar.gz",
            SourceFormat::Dir => "directory",
        })
    }
}

/// Detects the format. A file that is neither zip nor gzip is still treated as zip when it is
/// named `.mar` (so the error says what TorchServe would have tried), otherwise refused.
pub fn detect(path: &Path) -> Result<SourceFormat, ArchiveError> {
    let meta = std::fs::metadata(path).map_err(|e| ArchiveError::io(path, e))?;
    if meta.is_dir() {
        return Ok(SourceFormat::Dir);
    }
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ArchiveError::io(path, e)),
        }
    }
    let magic = &magic[..filled];
    if magic.starts_with(b"PK\x03\x04")
        || magic.starts_with(b"PK\x05\x06")
        || magic.starts_with(b"PK\x07\x08")
    {
        Ok(SourceFormat::Zip)
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(SourceFormat::TarGz)
    } else if path.extension().is_some_and(|e| e == "mar") {
        Ok(SourceFormat::Zip)
    } else {
        Err(ArchiveError::UnknownFormat {
            path: path.to_path_buf(),
        })
    }
}
