//! Checks on MAR-INF/MANIFEST.json and the files and config it names.

use super::{Code, Finding, Severity, entry_point};
use crate::archive::Archive;
use crate::manifest::{MANIFEST_PATH, Manifest, RUNTIMES, is_valid_model_name};
use crate::model_config::{ModelConfig, WarningKind};

pub(super) fn check(archive: &mut Archive, findings: &mut Vec<Finding>) {
    let Some(manifest) = read_manifest(archive, findings) else {
        return;
    };
    if let Some(runtime) = &manifest.runtime
        && !RUNTIMES.contains(&runtime.as_str())
    {
        findings.push(
                Finding::new(Code::BadRuntime, format!("runtime {runtime:?} is not python, python3 or LSP; TorchServe refuses the model"))
                    .entry(MANIFEST_PATH),
            );
    }
    let missing: Vec<&str> = [
        ("createdOn", &manifest.created_on),
        ("archiverVersion", &manifest.archiver_version),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(k, _)| k)
    .collect();
    if !missing.is_empty() {
        findings.push(
            Finding::new(
                Code::ArchiverFieldsMissing,
                format!("the manifest lacks {}", missing.join(" and ")),
            )
            .entry(MANIFEST_PATH),
        );
    }
    let Some(model) = &manifest.model else {
        findings.push(
            Finding::new(
                Code::ModelEntryMissing,
                "the manifest has no \"model\" object; TorchServe refuses the model",
            )
            .entry(MANIFEST_PATH),
        );
        return;
    };
    match model.model_name.as_deref() {
        None => findings.push(
            Finding::new(
                Code::ModelEntryMissing,
                "model.modelName is missing; TorchServe needs it (or a name at registration)",
            )
            .entry(MANIFEST_PATH),
        ),
        Some(name) if !is_valid_model_name(name) => findings.push(
            Finding::new(
                Code::BadModelName,
                format!("model name {name:?} does not match ^[A-Za-z0-9][A-Za-z0-9_\\-.]*$"),
            )
            .entry(MANIFEST_PATH),
        ),
        Some(_) => {}
    }
    match model.model_version.as_deref() {
        None => findings.push(
            Finding::new(Code::BadModelVersion, "model.modelVersion is missing; TorchServe will use 1.0")
                .severity(Severity::Warning)
                .entry(MANIFEST_PATH),
        ),
        Some(v) if v.trim().is_empty() || v.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control()) => {
            findings.push(
                Finding::new(Code::BadModelVersion, format!("model version {v:?} is empty or holds spaces or slashes, so it cannot be used in a URL"))
                    .entry(MANIFEST_PATH),
            )
        }
        Some(_) => {}
    }
    entry_point::check(archive, &manifest, findings);
    for (field, value) in [
        ("serializedFile", &model.serialized_file),
        ("modelFile", &model.model_file),
    ] {
        if let Some(name) = value.as_deref().filter(|n| archive.file(n).is_none()) {
            findings.push(
                Finding::new(
                    Code::ModelFileMissing,
                    format!(
                        "{field} {name:?} is not in the archive; handlers that read it will fail"
                    ),
                )
                .entry(name),
            );
        }
    }
    if let Some(name) = model
        .requirements_file
        .as_deref()
        .filter(|n| archive.file(n).is_none())
    {
        findings.push(
            Finding::new(
                Code::RequirementsFileMissing,
                format!("requirementsFile {name:?} is not in the archive"),
            )
            .entry(name),
        );
    }
    if let Some(name) = model.config_file.as_deref() {
        check_config(archive, name, findings);
    }
}

fn read_manifest(archive: &mut Archive, findings: &mut Vec<Finding>) -> Option<Manifest> {
    let bytes = match archive.read(MANIFEST_PATH) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let nested = archive
                .entries
                .iter()
                .find(|e| e.name.ends_with(&format!("/{MANIFEST_PATH}")))
                .map(|e| {
                    format!(
                        " (found {:?}: the archive has an extra top-level folder)",
                        e.name
                    )
                })
                .unwrap_or_default();
            findings.push(Finding::new(
                Code::ManifestMissing,
                format!("{MANIFEST_PATH} is missing{nested}"),
            ));
            return None;
        }
        Err(e) => {
            findings.push(Finding::new(Code::EntryCorrupt, e.to_string()).entry(MANIFEST_PATH));
            return None;
        }
    };
    match Manifest::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            findings.push(
                Finding::new(
                    Code::ManifestMalformed,
                    format!("not a valid manifest: {e}"),
                )
                .entry(MANIFEST_PATH)
                .line(u32::try_from(e.line()).ok().filter(|l| *l > 0)),
            );
            None
        }
    }
}

fn check_config(archive: &mut Archive, name: &str, findings: &mut Vec<Finding>) {
    let bytes = match archive.read(name) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            findings.push(
                Finding::new(
                    Code::ConfigFileMissing,
                    format!("configFile {name:?} is not in the archive"),
                )
                .entry(name),
            );
            return;
        }
        Err(e) => {
            findings.push(Finding::new(Code::EntryCorrupt, e.to_string()).entry(name));
            return;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    match ModelConfig::parse_named(&text, name) {
        Err(e) => findings.push(
            Finding::new(Code::ConfigInvalid, e.to_string())
                .entry(name)
                .line(yaml_error_line(&text)),
        ),
        Ok((_, warnings)) => {
            for w in warnings {
                let code = match w.kind {
                    WarningKind::UnknownKey => Code::ConfigUnknownKey,
                    WarningKind::Document => Code::ConfigInvalid,
                    WarningKind::WrongType | WarningKind::InvalidValue => Code::ConfigValueIgnored,
                };
                findings.push(Finding::new(code, w.to_string()).entry(name));
            }
        }
    }
}

/// serde_yaml puts the position in its message; re-parse to get it as a number.
fn yaml_error_line(text: &str) -> Option<u32> {
    let err = serde_yaml::from_str::<serde_yaml::Value>(text).err()?;
    err.location().and_then(|l| u32::try_from(l.line()).ok())
}
