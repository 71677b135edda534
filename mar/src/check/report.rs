//! What `mar check` found, as data (JSON for tools) and as text (for people).

use serde::Serialize;

use super::Code;
use crate::SourceFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
    /// The archive entry concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// 1-based line in `entry`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl Finding {
    pub fn new(code: Code, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.default_severity(),
            message: message.into(),
            fix: code.fix().to_string(),
            entry: None,
            line: None,
        }
    }

    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    pub fn entry(mut self, entry: impl Into<String>) -> Finding {
        self.entry = Some(entry.into());
        self
    }

    pub fn line(mut self, line: Option<u32>) -> Finding {
        self.line = line;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub path: String,
    /// None when the file could not be recognised at all.
    pub format: Option<SourceFormat>,
    pub entries: usize,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    pub(super) fn new(
        path: String,
        format: Option<SourceFormat>,
        entries: usize,
        findings: Vec<Finding>,
    ) -> Report {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let summary = Summary {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
        };
        Report {
            path,
            format,
            entries,
            findings,
            summary,
        }
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    /// The codes found, in order (handy for tests and scripts).
    pub fn codes(&self) -> Vec<&'static str> {
        self.findings.iter().map(|f| f.code.as_str()).collect()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// One block per finding: `SEVERITY CODE [entry:line] message` then `  fix: ...`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let format = self
            .format
            .map_or("unrecognised".to_string(), |f| f.to_string());
        out.push_str(&format!(
            "{} ({format}, {} entries)\n",
            self.path, self.entries
        ));
        for f in &self.findings {
            let place = match (&f.entry, f.line) {
                (Some(e), Some(l)) => format!(" {e}:{l}"),
                (Some(e), None) => format!(" {e}"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "{:<7} {}{place}: {}\n",
                f.severity, f.code, f.message
            ));
            out.push_str(&format!("        fix: {}\n", f.fix));
        }
        let s = &self.summary;
        if self.findings.is_empty() {
            out.push_str("ok: no problems found\n");
        } else {
            out.push_str(&format!(
                "{} error(s), {} warning(s), {} info\n",
                s.errors, s.warnings, s.infos
            ));
        }
        out
    }
}
