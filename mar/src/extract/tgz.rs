//! Unpacking a `.tar.gz`: every entry loses its first path component, as in TorchServe.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use tar::EntryType;

use super::Limits;
use super::sink::Sink;
use crate::ArchiveError;

/// TorchServe's rule: `name.substring(name.indexOf('/') + 1)`, so `m/x` -> `x` and `x` -> `x`.
pub(crate) fn strip_first_component(name: &str) -> &str {
    match name.find('/') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

pub(super) fn extract(src: &Path, dest: &Path, limits: &Limits) -> Result<(), ArchiveError> {
    let file = File::open(src).map_err(|e| ArchiveError::io(src, e))?;
    let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file));
    let mut archive = tar::Archive::new(gz);
    let mut sink = Sink::new(src, dest, limits);
    let damaged = |e: io::Error| ArchiveError::corrupt(src, format!("damaged tar.gz: {e}"));
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        sink.count_entry()?;
        let full = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        sink.relative(&full)?;
        let rel = sink.relative(strip_first_component(&full))?;
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                if entry.size() > sink.limits().max_total_bytes {
                    return Err(sink.too_large());
                }
                let mode = entry.header().mode().ok();
                sink.file(&rel, &mut entry, mode)?;
            }
            EntryType::Directory => sink.dir(&rel)?,
            EntryType::Symlink => {
                let target = link_name(&entry);
                sink.symlink(&rel, &full, &target);
            }
            EntryType::Link => {
                let target = link_name(&entry);
                let target_rel = sink.relative(strip_first_component(&target)).map_err(|_| {
                    ArchiveError::LinkEscapes {
                        path: src.to_path_buf(),
                        entry: full.clone(),
                        target: target.clone(),
                    }
                })?;
                sink.hard_link(&rel, &full, &target_rel)?;
            }
            other => {
                return Err(ArchiveError::UnsafeEntry {
                    path: src.to_path_buf(),
                    entry: full,
                    reason: format!("unsupported entry type {other:?}"),
                });
            }
        }
    }
    // Read to the end so the gzip trailer's CRC and length are checked too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(damaged)?;
    sink.finish()
}

fn link_name(entry: &tar::Entry<'_, impl io::Read>) -> String {
    entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
