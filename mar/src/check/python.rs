//! Python's own `ast`, run in a `python3` subprocess (`MAR_PYTHON` overrides the interpreter),
//! answers what a handler module defines. Nothing in the module is imported or executed.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Deserialize;

const PROBE: &str = include_str!("ast_probe.py");

/// The interpreter `mar check` uses: `$MAR_PYTHON`, else `python3` from PATH.
pub fn interpreter() -> PathBuf {
    std::env::var_os("MAR_PYTHON")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Probe {
    pub syntax_error: Option<SyntaxErrorInfo>,
    #[serde(default)]
    pub star_import: bool,
    #[serde(default)]
    pub bindings: HashMap<String, Binding>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SyntaxErrorInfo {
    pub line: Option<u32>,
    pub offset: Option<u32>,
    pub msg: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Binding {
    Function { function: Signature },
    Class { class: ClassFacts },
    Other { line: Option<u32> },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Signature {
    pub line: u32,
    pub positional: u32,
    pub defaults: u32,
    pub vararg: bool,
    pub kwonly_required: u32,
}

impl Signature {
    /// Whether `f(a, b)` binds: two positional slots (or *args), at most two required,
    /// no required keyword-only parameter. `skip` leading parameters are bound already (self).
    pub fn accepts_positional(&self, count: u32, skip: u32) -> bool {
        let positional = self.positional.saturating_sub(skip);
        let required = self
            .positional
            .saturating_sub(self.defaults)
            .saturating_sub(skip);
        self.kwonly_required == 0 && (positional >= count || self.vararg) && required <= count
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClassFacts {
    pub line: u32,
    pub bases: Vec<String>,
    pub members: Vec<String>,
    /// Members defined with `def`, with their signatures.
    #[serde(default)]
    pub methods: HashMap<String, Signature>,
}

/// Runs the probe over `source`. Err carries why Python could not be used.
pub fn probe(source: &[u8]) -> Result<Probe, String> {
    let python = interpreter();
    let mut child = Command::new(&python)
        .arg("-I") // isolated: no user site, no PYTHON* variables, no cwd on sys.path
        .arg("-c")
        .arg(PROBE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let source = source.to_vec();
    // Write from another thread so a large source cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&source));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            python.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{} gave unexpected output: {e}", python.display()))
}
