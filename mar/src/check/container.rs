//! Checks on the archive as a container: names, links, sizes, duplicates, checksums.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::{Code, Finding};
use crate::archive::{Archive, EntryKind, VerifyIssue, verify_problem_is_bomb};
use crate::extract::{Limits, strip_first_component};
use crate::format::SourceFormat;
use crate::safe_path;

pub(super) fn check(
    archive: &mut Archive,
    limits: &Limits,
    verify: bool,
    findings: &mut Vec<Finding>,
) {
    let mut links: HashMap<PathBuf, String> = HashMap::new();
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    for entry in &archive.entries {
        let reason = safe_path::unsafe_reason(entry.raw_name())
            .or_else(|| safe_path::unsafe_reason(&entry.name));
        if let Some(reason) = reason {
            findings.push(
                Finding::new(
                    Code::UnsafePath,
                    format!(
                        "entry {:?}: {reason}; it would be written outside the model folder",
                        entry.raw_name()
                    ),
                )
                .entry(entry.raw_name()),
            );
            continue;
        }
        if entry.kind == EntryKind::Other {
            findings.push(
                Finding::new(
                    Code::UnsafePath,
                    format!(
                        "entry {:?} is a device, fifo or other special file",
                        entry.raw_name()
                    ),
                )
                .entry(entry.raw_name()),
            );
        }
        if entry.kind == EntryKind::Symlink {
            let rel = safe_path::relative_path(&entry.name).unwrap_or_default();
            links.insert(rel, entry.link_target.clone().unwrap_or_default());
        }
        if entry.kind != EntryKind::Dir && !seen.insert(entry.name.as_str()) {
            duplicates.push(entry.name.clone());
        }
    }
    for entry in archive
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Symlink | EntryKind::Hardlink))
    {
        let Some(rel) = safe_path::relative_path(&entry.name) else {
            continue;
        };
        let target = entry.link_target.clone().unwrap_or_default();
        let inside = match entry.kind {
            // A hard link names another entry of the same archive.
            EntryKind::Hardlink => {
                let stripped = if archive.format == SourceFormat::TarGz {
                    strip_first_component(&target)
                } else {
                    &target
                };
                safe_path::relative_path(stripped).is_some()
            }
            _ => !rel.as_os_str().is_empty() && safe_path::link_stays_inside(&rel, &target, &links),
        };
        if !inside {
            findings.push(
                Finding::new(
                    Code::LinkEscapes,
                    format!(
                        "link {:?} -> {target:?} resolves outside the model folder",
                        entry.raw_name()
                    ),
                )
                .entry(entry.raw_name()),
            );
        }
    }
    duplicates.dedup();
    if archive.duplicate_names {
        findings.push(Finding::new(
            Code::DuplicateEntry,
            "the zip's central directory lists some names more than once",
        ));
    }
    for name in duplicates {
        findings.push(
            Finding::new(
                Code::DuplicateEntry,
                format!("{name:?} appears more than once"),
            )
            .entry(name),
        );
    }
    let bomb = bomb_findings(archive, limits);
    let is_bomb = !bomb.is_empty();
    findings.extend(bomb);
    // Decompressing a bomb is exactly what must not happen; its verdict is already in.
    if verify && !is_bomb {
        for VerifyIssue { entry, problem } in archive.verify() {
            let code = if verify_problem_is_bomb(&problem) {
                Code::ZipBomb
            } else {
                Code::EntryCorrupt
            };
            findings.push(Finding::new(code, format!("entry {entry:?}: {problem}")).entry(entry));
        }
    }
}

fn bomb_findings(archive: &Archive, limits: &Limits) -> Vec<Finding> {
    let mut out = Vec::new();
    let count = archive.entries.len() as u64;
    if count > limits.max_entries {
        out.push(Finding::new(
            Code::ZipBomb,
            format!(
                "{count} entries, more than the limit of {}",
                limits.max_entries
            ),
        ));
    }
    let total = archive.total_size();
    if total > limits.max_total_bytes {
        out.push(Finding::new(
            Code::ZipBomb,
            format!(
                "unpacks to {total} bytes, more than the limit of {}",
                limits.max_total_bytes
            ),
        ));
    }
    if archive.overlapping {
        out.push(Finding::new(
            Code::ZipBomb,
            "entries share the same compressed data (an overlapping-entries zip bomb)",
        ));
    }
    out
}
