//! The tar.gz side of [`super::Archive`]: one streaming pass lists the entries and keeps small
//! text-like files, so a check rarely has to decompress the archive twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use tar::EntryType;

use super::{EntryInfo, EntryKind, MAX_READ};
use crate::ArchiveError;
use crate::extract::{Limits, strip_first_component};

/// Files kept from the pass: at most this size each and this much in all.
const CAPTURE_EACH: u64 = 1 << 20;
const CAPTURE_TOTAL: u64 = 64 << 20;

fn worth_capturing(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".py", ".json", ".yaml", ".yml", ".txt"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

type Scanned = (Vec<EntryInfo>, HashMap<String, Vec<u8>>);

pub(super) fn scan(path: &Path, limits: &Limits) -> Result<Scanned, ArchiveError> {
    let mut entries = Vec::new();
    let mut captured = HashMap::new();
    let mut captured_bytes = 0u64;
    let mut declared = 0u64;
    for_each_entry(path, |full, entry| {
        let kind = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => EntryKind::File,
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink => EntryKind::Symlink,
            EntryType::Link => EntryKind::Hardlink,
            _ => EntryKind::Other,
        };
        let size = entry.size();
        declared = declared.saturating_add(size);
        if declared > limits.max_total_bytes {
            return Err(ArchiveError::LimitExceeded {
                path: path.to_path_buf(),
                what: "the unpacked size".into(),
                limit: limits.max_total_bytes,
            });
        }
        if entries.len() as u64 >= limits.max_entries {
            return Err(ArchiveError::LimitExceeded {
                path: path.to_path_buf(),
                what: "the number of entries".into(),
                limit: limits.max_entries,
            });
        }
        let name = strip_first_component(full).to_string();
        let link_target = matches!(kind, EntryKind::Symlink | EntryKind::Hardlink).then(|| {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        });
        if kind == EntryKind::File
            && size <= CAPTURE_EACH
            && captured_bytes + size <= CAPTURE_TOTAL
            && worth_capturing(&name)
        {
            let mut bytes = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| damaged(path, e))?;
            captured_bytes += size;
            captured.insert(name.clone(), bytes);
        }
        entries.push(EntryInfo {
            stored_name: (name != full).then(|| full.to_string()),
            name,
            kind,
            size,
            compressed_size: None,
            method: None,
            crc32: None,
            link_target,
        });
        Ok(true)
    })?;
    Ok((entries, captured))
}

/// A second pass for a file that was not captured in the first.
pub(super) fn read(path: &Path, wanted: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
    let mut found = None;
    for_each_entry(path, |full, entry| {
        let kind = entry.header().entry_type();
        if strip_first_component(full) == wanted
            && matches!(kind, EntryType::Regular | EntryType::Continuous)
        {
            let mut bytes = Vec::new();
            entry
                .take(MAX_READ)
                .read_to_end(&mut bytes)
                .map_err(|e| damaged(path, e))?;
            found = Some(bytes);
        }
        Ok(true)
    })?;
    Ok(found)
}

/// Streams every entry to `visit(full_name, entry)`; `visit` returns false to stop early.
/// When it never stops, the stream is read to its end so the gzip CRC is checked too.
fn for_each_entry(
    path: &Path,
    mut visit: impl FnMut(
        &str,
        &mut tar::Entry<'_, flate2::read::MultiGzDecoder<BufReader<File>>>,
    ) -> Result<bool, ArchiveError>,
) -> Result<(), ArchiveError> {
    let file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file));
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries().map_err(|e| damaged(path, e))? {
        let mut entry = entry.map_err(|e| damaged(path, e))?;
        if matches!(
            entry.header().entry_type(),
            EntryType::XGlobalHeader | EntryType::XHeader
        ) {
            continue;
        }
        let full = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !visit(&full, &mut entry)? {
            return Ok(());
        }
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| damaged(path, e))?;
    Ok(())
}

fn damaged(path: &Path, e: io::Error) -> ArchiveError {
    ArchiveError::corrupt(path, format!("damaged tar.gz: {e}"))
}
