//! `mar inspect`: manifest, model config and file list, read without unpacking (a zip reads only
//! its central directory and the few small entries shown).

use std::path::Path;

use serde::Serialize;

use crate::ArchiveError;
use crate::SourceFormat;
use crate::archive::{Archive, EntryInfo, EntryKind};
use crate::manifest::{MANIFEST_PATH, Manifest};
use crate::model_config::{ConfigWarning, ModelConfig};

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub path: String,
    pub format: SourceFormat,
    pub manifest: Option<Manifest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_error: Option<String>,
    /// The file named by `model.configFile`, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    pub model_config: Option<ModelConfig>,
    pub config_warnings: Vec<ConfigWarning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    pub entries: Vec<EntryInfo>,
    pub total_size: u64,
}

/// Reads what `mar inspect` shows. Problems inside the manifest or config are reported in the
/// result; only an unreadable source is an error.
pub fn inspect_path(path: &Path) -> Result<Inspection, ArchiveError> {
    let mut archive = Archive::open(path)?;
    let mut out = Inspection {
        path: path.display().to_string(),
        format: archive.format,
        manifest: None,
        manifest_error: None,
        config_file: None,
        model_config: None,
        config_warnings: Vec::new(),
        config_error: None,
        entries: archive.entries.clone(),
        total_size: archive.total_size(),
    };
    match archive.read(MANIFEST_PATH) {
        Ok(Some(bytes)) => match Manifest::from_slice(&bytes) {
            Ok(m) => out.manifest = Some(m),
            Err(e) => out.manifest_error = Some(format!("malformed: {e}")),
        },
        Ok(None) => out.manifest_error = Some("missing".into()),
        Err(e) => out.manifest_error = Some(e.to_string()),
    }
    out.config_file = out
        .manifest
        .as_ref()
        .and_then(|m| m.model.as_ref())
        .and_then(|m| m.config_file.clone());
    if let Some(name) = out.config_file.clone() {
        match archive.read(&name) {
            Ok(Some(bytes)) => {
                match ModelConfig::parse_named(&String::from_utf8_lossy(&bytes), &name) {
                    Ok((config, warnings)) => {
                        out.model_config = Some(config);
                        out.config_warnings = warnings;
                    }
                    Err(e) => out.config_error = Some(e.to_string()),
                }
            }
            Ok(None) => out.config_error = Some(format!("{name}: not in the archive")),
            Err(e) => out.config_error = Some(e.to_string()),
        }
    }
    Ok(out)
}

impl Inspection {
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn render_table(&self) -> String {
        let mut out = format!(
            "{} ({}, {} entries, {} bytes unpacked)\n\nManifest\n",
            self.path,
            self.format,
            self.entries.len(),
            self.total_size
        );
        match (&self.manifest, &self.manifest_error) {
            (Some(m), _) => {
                let mut rows = Vec::new();
                flatten("", &serde_json::to_value(m).unwrap_or_default(), &mut rows);
                push_rows(&mut out, &rows);
            }
            (None, Some(e)) => out.push_str(&format!("  ({e})\n")),
            (None, None) => {}
        }
        if let Some(name) = &self.config_file {
            out.push_str(&format!("\nModel config ({name})\n"));
            if let Some(config) = &self.model_config {
                let mut value = serde_json::to_value(config).unwrap_or_default();
                if let Some(map) = value.as_object_mut() {
                    map.remove("raw");
                    map.retain(|_, v| !v.is_null());
                }
                let mut rows = Vec::new();
                flatten("", &value, &mut rows);
                push_rows(&mut out, &rows);
            }
            for w in &self.config_warnings {
                out.push_str(&format!("  warning: {w}\n"));
            }
            if let Some(e) = &self.config_error {
                out.push_str(&format!("  error: {e}\n"));
            }
        }
        out.push_str("\nFiles\n");
        let rows: Vec<[String; 4]> = self
            .entries
            .iter()
            .map(|e| {
                let name = match (&e.kind, &e.link_target) {
                    (EntryKind::Dir, _) => format!("{}/", e.name.trim_end_matches('/')),
                    (_, Some(t)) => format!("{} -> {t}", e.name),
                    _ => e.name.clone(),
                };
                [
                    e.size.to_string(),
                    e.compressed_size.map_or("-".into(), |c| c.to_string()),
                    e.method.clone().unwrap_or_else(|| "-".into()),
                    name,
                ]
            })
            .collect();
        let header = ["SIZE", "PACKED", "METHOD", "NAME"].map(String::from);
        let width = |i: usize| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for r in std::iter::once(&header).chain(rows.iter()) {
            out.push_str(&format!(
                "  {:>w0$}  {:>w1$}  {:<w2$}  {}\n",
                r[0], r[1], r[2], r[3]
            ));
        }
        out
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, rows: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, rows);
            }
        }
        serde_json::Value::String(s) => rows.push((prefix.to_string(), s.clone())),
        other => rows.push((prefix.to_string(), other.to_string())),
    }
}

fn push_rows(out: &mut String, rows: &[(String, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        out.push_str(&format!("  {k:<width$}  {v}\n"));
    }
}
