//! Unpacking a `.mar` (zip).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::Limits;
use super::sink::Sink;
use crate::ArchiveError;
use crate::zip_entry::VerifyingReader;

/// Longest symlink target read from an entry.
const MAX_LINK_TARGET: u64 = 4096;

pub(super) fn extract(src: &Path, dest: &Path, limits: &Limits) -> Result<(), ArchiveError> {
    let file = File::open(src).map_err(|e| ArchiveError::io(src, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| ArchiveError::corrupt(src, format!("not a readable zip archive: {e}")))?;
    let mut sink = Sink::new(src, dest, limits);
    // Refuse on what the central directory declares before writing anything; the bytes actually
    // written are counted again as they stream, since headers can lie.
    let declared = (0..archive.len())
        .filter_map(|i| archive.by_index_data(i).ok().map(|e| u128::from(e.size())))
        .sum::<u128>();
    if declared > u128::from(sink.limits().max_total_bytes) {
        return Err(sink.too_large());
    }
    for index in 0..archive.len() {
        sink.count_entry()?;
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| ArchiveError::corrupt(src, format!("entry #{index}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| ArchiveError::corrupt(src, format!("entry #{index}: {e}")))?
            .into_owned();
        let rel = sink.relative(&name)?;
        if entry.is_dir() {
            sink.dir(&rel)?;
            continue;
        }
        let is_link = entry.is_symlink();
        let mode = entry.unix_mode();
        let mut reader = VerifyingReader::new(entry)
            .map_err(|e| ArchiveError::corrupt(src, format!("entry {name:?}: {e}")))?;
        if is_link {
            let mut target = String::new();
            reader
                .by_ref()
                .take(MAX_LINK_TARGET)
                .read_to_string(&mut target)
                .map_err(|e| ArchiveError::corrupt(src, format!("link {name:?}: {e}")))?;
            sink.symlink(&rel, &name, &target);
        } else {
            sink.file(&rel, &mut reader, mode)?;
        }
    }
    sink.finish()
}
