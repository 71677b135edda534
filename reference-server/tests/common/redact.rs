//! Normalising bodies for snapshots: what changes from run to run (pids, ports, times, uuids,
//! memory, temporary paths) is replaced by a placeholder; everything else stays exact.

use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// Keys whose values vary from run to run, and their placeholders.
const KEYS: &[(&str, &str)] = &[
    ("pid", "[pid]"),
    ("memoryUsage", "[memory]"),
    ("startTime", "[time]"),
    ("model_dir", "[model_dir]"),
    ("cwd", "[model_dir]"),
    ("createdOn", "[created]"),
];

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[uuid]",
        ),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "[time]"),
        (r"/[^\s:]*tsrs-test-[A-Za-z0-9]+[^\s:]*", "[tmp]"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("regex"), to))
    .collect()
});

/// A copy of `v` with the varying parts replaced.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let red = KEYS
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, to)| Value::String((*to).to_string()));
                    (k.clone(), red.unwrap_or_else(|| redact(v)))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        Value::String(s) => Value::String(redact_str(s)),
        other => other.clone(),
    }
}

pub fn redact_str(s: &str) -> String {
    let mut out = s.to_string();
    for (re, to) in PATTERNS.iter() {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}
