//! The unpacked-folder side of [`super::Archive`]. Links are listed, never followed.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::{EntryInfo, EntryKind, MAX_READ};
use crate::ArchiveError;
use crate::extract::Limits;
use crate::safe_path;

pub(super) fn walk(root: &Path, limits: &Limits) -> Result<Vec<EntryInfo>, ArchiveError> {
    let mut entries = Vec::new();
    walk_into(root, root, "", limits, &mut entries)?;
    Ok(entries)
}

fn walk_into(
    root: &Path,
    dir: &Path,
    prefix: &str,
    limits: &Limits,
    out: &mut Vec<EntryInfo>,
) -> Result<(), ArchiveError> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .map_err(|e| ArchiveError::io(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| ArchiveError::io(dir, e))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        if out.len() as u64 >= limits.max_entries {
            return Err(ArchiveError::LimitExceeded {
                path: root.to_path_buf(),
                what: "the number of entries".into(),
                limit: limits.max_entries,
            });
        }
        let name = format!("{prefix}{}", child.file_name().to_string_lossy());
        let path = child.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| ArchiveError::io(&path, e))?;
        let file_type = meta.file_type();
        let (kind, link_target) = if file_type.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| ArchiveError::io(&path, e))?;
            (
                EntryKind::Symlink,
                Some(target.to_string_lossy().into_owned()),
            )
        } else if file_type.is_dir() {
            (EntryKind::Dir, None)
        } else if file_type.is_file() {
            (EntryKind::File, None)
        } else {
            (EntryKind::Other, None)
        };
        out.push(EntryInfo {
            name: name.clone(),
            stored_name: None,
            kind,
            size: if kind == EntryKind::File {
                meta.len()
            } else {
                0
            },
            compressed_size: None,
            method: None,
            crc32: None,
            link_target,
        });
        if kind == EntryKind::Dir {
            walk_into(root, &path, &format!("{name}/"), limits, out)?;
        }
    }
    Ok(())
}

pub(super) fn read(root: &Path, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
    let Some(rel) = safe_path::relative_path(name) else {
        return Ok(None);
    };
    let path = root.join(rel);
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ArchiveError::io(&path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(|e| ArchiveError::io(&path, e))?;
    Ok(Some(bytes))
}
