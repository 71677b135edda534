//! The only code that writes unpacked entries; it enforces the invariants of `extract`.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Limits;
use crate::ArchiveError;
use crate::safe_path;

pub(super) struct Sink<'a> {
    src: &'a Path,
    root: &'a Path,
    limits: Limits,
    bytes: u64,
    entries: u64,
    /// relative path -> target, created at the end.
    links: Vec<(PathBuf, String, String)>,
}

impl<'a> Sink<'a> {
    pub(super) fn new(src: &'a Path, root: &'a Path, limits: &Limits) -> Self {
        Sink {
            src,
            root,
            limits: *limits,
            bytes: 0,
            entries: 0,
            links: Vec::new(),
        }
    }

    /// The safe relative path of `name`, or the error that refuses it.
    pub(super) fn relative(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        match safe_path::unsafe_reason(name) {
            Some(reason) => Err(ArchiveError::UnsafeEntry {
                path: self.src.to_path_buf(),
                entry: name.to_string(),
                reason: reason.to_string(),
            }),
            None => Ok(safe_path::relative_path(name).unwrap_or_default()),
        }
    }

    pub(super) fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::LimitExceeded {
                path: self.src.to_path_buf(),
                what: "the number of entries".into(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    pub(super) fn too_large(&self) -> ArchiveError {
        ArchiveError::LimitExceeded {
            path: self.src.to_path_buf(),
            what: "the unpacked size".into(),
            limit: self.limits.max_total_bytes,
        }
    }

    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Creates `rel` and its parents as real folders (never through a symlink).
    pub(super) fn dir(&mut self, rel: &Path) -> Result<(), ArchiveError> {
        let mut here = self.root.to_path_buf();
        for comp in rel.components() {
            here.push(comp);
            match fs::symlink_metadata(&here) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(
                        self.unsafe_entry(rel, "a parent of this entry is a file or a link")
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&here).map_err(|e| ArchiveError::io(&here, e))?;
                }
                Err(e) => return Err(ArchiveError::io(&here, e)),
            }
        }
        Ok(())
    }

    /// Writes one regular file from `data`, counting its bytes against the limit. A later entry
    /// with the same name replaces an earlier file, as when TorchServe unzips.
    pub(super) fn file(
        &mut self,
        rel: &Path,
        data: &mut dyn Read,
        mode: Option<u32>,
    ) -> Result<u64, ArchiveError> {
        let Some(parent) = rel.parent().filter(|_| rel.file_name().is_some()) else {
            return Err(self.unsafe_entry(rel, "a file entry needs a name"));
        };
        self.dir(parent)?;
        let target = self.root.join(rel);
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_file() => {
                fs::remove_file(&target).map_err(|e| ArchiveError::io(&target, e))?
            }
            Ok(_) => return Err(self.unsafe_entry(rel, "a folder or link of the same name exists")),
            Err(_) => {}
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o644)
            .open(&target)
            .map_err(|e| ArchiveError::io(&target, e))?;
        let written = self.copy_capped(data, &mut out, &target)?;
        if let Some(mode) = mode {
            // Keep the permission bits (e.g. executables) but never drop owner read/write.
            let perms = fs::Permissions::from_mode((mode & 0o777) | 0o600);
            fs::set_permissions(&target, perms).map_err(|e| ArchiveError::io(&target, e))?;
        }
        Ok(written)
    }

    fn copy_capped(
        &mut self,
        data: &mut dyn Read,
        out: &mut fs::File,
        target: &Path,
    ) -> Result<u64, ArchiveError> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(target, e)),
            };
            self.bytes += n as u64;
            if self.bytes > self.limits.max_total_bytes {
                return Err(self.too_large());
            }
            out.write_all(&buf[..n])
                .map_err(|e| ArchiveError::io(target, e))?;
            written += n as u64;
        }
        Ok(written)
    }

    fn read_error(&self, target: &Path, e: io::Error) -> ArchiveError {
        let entry = target
            .strip_prefix(self.root)
            .unwrap_or(target)
            .display()
            .to_string();
        match crate::zip_entry::problem_of(&e) {
            Some(crate::zip_entry::EntryProblem::Checksum { expected, actual }) => {
                ArchiveError::ChecksumMismatch {
                    path: self.src.to_path_buf(),
                    entry,
                    expected: *expected,
                    actual: *actual,
                }
            }
            Some(p @ crate::zip_entry::EntryProblem::LongerThanDeclared { .. }) => {
                ArchiveError::LimitExceeded {
                    path: self.src.to_path_buf(),
                    what: format!("entry {entry:?}, which {p},"),
                    limit: self.limits.max_total_bytes,
                }
            }
            _ => ArchiveError::corrupt(self.src, format!("entry {entry:?}: {e}")),
        }
    }

    /// Records a symlink; it is checked and created in [`Sink::finish`].
    pub(super) fn symlink(&mut self, rel: &Path, name: &str, target: &str) {
        self.links
            .push((rel.to_path_buf(), name.to_string(), target.to_string()));
    }

    /// A tar hard link: a copy of an already unpacked regular file inside the root.
    pub(super) fn hard_link(
        &mut self,
        rel: &Path,
        name: &str,
        target_rel: &Path,
    ) -> Result<(), ArchiveError> {
        let source = self.root.join(target_rel);
        let is_plain_file = fs::symlink_metadata(&source).is_ok_and(|m| m.is_file())
            && no_link_between(self.root, target_rel);
        if !is_plain_file {
            return Err(ArchiveError::LinkEscapes {
                path: self.src.to_path_buf(),
                entry: name.to_string(),
                target: target_rel.display().to_string(),
            });
        }
        let mut input = fs::File::open(&source).map_err(|e| ArchiveError::io(&source, e))?;
        self.file(rel, &mut input, None).map(|_| ())
    }

    /// Creates the recorded symlinks once every one is known and judged.
    pub(super) fn finish(self) -> Result<(), ArchiveError> {
        let map: HashMap<PathBuf, String> = self
            .links
            .iter()
            .map(|(rel, _, target)| (rel.clone(), target.clone()))
            .collect();
        for (rel, name, target) in &self.links {
            if rel.as_os_str().is_empty() || !safe_path::link_stays_inside(rel, target, &map) {
                return Err(ArchiveError::LinkEscapes {
                    path: self.src.to_path_buf(),
                    entry: name.clone(),
                    target: target.clone(),
                });
            }
        }
        for (rel, name, target) in &self.links {
            if let Some(parent) = rel.parent() {
                let mut sink = Sink::new(self.src, self.root, &self.limits);
                sink.dir(parent)?;
            }
            let at = self.root.join(rel);
            if fs::symlink_metadata(&at).is_ok() {
                return Err(ArchiveError::UnsafeEntry {
                    path: self.src.to_path_buf(),
                    entry: name.clone(),
                    reason: "a link would replace another entry of the same name".into(),
                });
            }
            std::os::unix::fs::symlink(target, &at).map_err(|e| ArchiveError::io(&at, e))?;
        }
        Ok(())
    }

    fn unsafe_entry(&self, rel: &Path, reason: &str) -> ArchiveError {
        ArchiveError::UnsafeEntry {
            path: self.src.to_path_buf(),
            entry: rel.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

fn no_link_between(root: &Path, rel: &Path) -> bool {
    let mut here = root.to_path_buf();
    rel.components().all(|c| {
        here.push(c);
        fs::symlink_metadata(&here).is_ok_and(|m| !m.file_type().is_symlink())
    })
}
