//! `mar check`: the validator handler authors run before they deploy. Every problem is a
//! [`Finding`] with a stable code (MAR001...), a severity and a one-line fix. Nothing is
//! unpacked: a zip's entries are streamed once through inflate + CRC-32.

mod codes;
mod container;
mod entry_point;
mod manifest_rules;
pub mod python;
mod report;

use std::path::Path;

pub use codes::Code;
pub use report::{Finding, Report, Severity, Summary};

use crate::ArchiveError;
use crate::archive::Archive;
use crate::extract::Limits;
use crate::format;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub limits: Limits,
    /// Decompress every zip entry and compare its CRC-32 (on by default).
    pub verify_checksums: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            limits: Limits::default(),
            verify_checksums: true,
        }
    }
}

/// Checks a `.mar`, `.tar.gz` or model folder with the default options.
pub fn check_path(path: &Path) -> Report {
    check_path_with(path, &CheckOptions::default())
}

pub fn check_path_with(path: &Path, opts: &CheckOptions) -> Report {
    let shown = path.display().to_string();
    let mut findings = Vec::new();
    let mut archive = match Archive::open_with(path, &opts.limits) {
        Ok(a) => a,
        Err(e) => {
            let code = match e {
                ArchiveError::LimitExceeded { .. } => Code::ZipBomb,
                _ => Code::ArchiveUnreadable,
            };
            findings.push(Finding::new(code, e.to_string()));
            let format = format::detect(path).ok();
            return Report::new(shown, format, 0, findings);
        }
    };
    container::check(
        &mut archive,
        &opts.limits,
        opts.verify_checksums,
        &mut findings,
    );
    manifest_rules::check(&mut archive, &mut findings);
    Report::new(shown, Some(archive.format), archive.entries.len(), findings)
}
