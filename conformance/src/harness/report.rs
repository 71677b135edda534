//! Results: the summary table, JUnit XML and JSON.
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::outcome::Outcome;
use super::spec::{CheckSpec, Group, Level};

/// One check's result.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    pub spec: CheckSpec,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skipped: usize,
    pub disabled: usize,
    pub must_failures: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    /// The target's settings, secrets redacted.
    pub target: Value,
    /// In catalogue order.
    pub records: Vec<CheckRecord>,
    /// Named texts the groups produced (e.g. `lifecycle-transcript`).
    pub artifacts: std::collections::BTreeMap<String, String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.records {
            match r.outcome {
                Outcome::Pass => c.pass += 1,
                Outcome::Fail { .. } => {
                    c.fail += 1;
                    if r.spec.level == Level::Must {
                        c.must_failures += 1;
                    }
                }
                Outcome::Skipped { .. } => c.skipped += 1,
                Outcome::Disabled => c.disabled += 1,
            }
        }
        c
    }

    /// 0 only when no MUST check failed.
    pub fn exit_code(&self) -> i32 {
        if self.counts().must_failures == 0 {
            0
        } else {
            1
        }
    }

    pub fn failed_ids(&self) -> Vec<&'static str> {
        self.records
            .iter()
            .filter(|r| r.outcome.is_fail())
            .map(|r| r.spec.id)
            .collect()
    }

    pub fn outcome_of(&self, id: &str) -> Option<&Outcome> {
        self.records
            .iter()
            .find(|r| r.spec.id == id)
            .map(|r| &r.outcome)
    }

    /// Per-group counts, then every failure with its exchange.
    pub fn summary_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<14} {:>5} {:>5} {:>5} {:>5} {:>9}",
            "group", "pass", "fail", "skip", "off", "MUST fail"
        );
        for g in Group::ALL {
            let rs: Vec<&CheckRecord> = self.records.iter().filter(|r| r.spec.group == g).collect();
            let n = |k: &str| rs.iter().filter(|r| r.outcome.as_str() == k).count();
            let must = rs
                .iter()
                .filter(|r| r.outcome.is_fail() && r.spec.level == Level::Must)
                .count();
            let _ = writeln!(
                out,
                "{:<14} {:>5} {:>5} {:>5} {:>5} {:>9}",
                g.as_str(),
                n("pass"),
                n("fail"),
                n("skipped"),
                n("disabled"),
                must
            );
        }
        let c = self.counts();
        let _ = writeln!(
            out,
            "{:<14} {:>5} {:>5} {:>5} {:>5} {:>9}   ({} checks in {:.1} s)",
            "total",
            c.pass,
            c.fail,
            c.skipped,
            c.disabled,
            c.must_failures,
            self.records.len(),
            self.elapsed.as_secs_f64()
        );
        for r in self.records.iter().filter(|r| r.outcome.is_fail()) {
            if let Outcome::Fail { failure } = &r.outcome {
                let _ = writeln!(
                    out,
                    "\nFAIL {} {}: {}\n{failure}",
                    r.spec.label(),
                    r.spec.group.as_str(),
                    r.spec.title
                );
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let c = self.counts();
        json!({
            "target": self.target,
            "artifacts": self.artifacts,
            "summary": {
                "total": self.records.len(),
                "pass": c.pass,
                "fail": c.fail,
                "skipped": c.skipped,
                "disabled": c.disabled,
                "must_failures": c.must_failures,
                "elapsed_ms": self.elapsed.as_millis() as u64,
            },
            "results": self.records.iter().map(|r| {
                let mut v = json!({
                    "id": r.spec.id,
                    "level": r.spec.level,
                    "group": r.spec.group,
                    "title": r.spec.title,
                    "duration_ms": r.duration.as_millis() as u64,
                });
                if let (Some(o), Ok(Value::Object(extra))) = (v.as_object_mut(), serde_json::to_value(&r.outcome)) {
                    o.extend(extra);
                }
                v
            }).collect::<Vec<_>>(),
        })
    }

    /// One `<testsuite>` per group, one `<testcase>` per check.
    pub fn to_junit(&self) -> String {
        let c = self.counts();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"tsconform\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            self.records.len(),
            c.fail,
            c.skipped + c.disabled,
            self.elapsed.as_secs_f64()
        );
        for g in Group::ALL {
            let rs: Vec<&CheckRecord> = self.records.iter().filter(|r| r.spec.group == g).collect();
            let fails = rs.iter().filter(|r| r.outcome.is_fail()).count();
            let skips = rs
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Skipped { .. } | Outcome::Disabled))
                .count();
            let time: f64 = rs.iter().map(|r| r.duration.as_secs_f64()).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skips}\" time=\"{time:.3}\">",
                g.as_str(),
                rs.len()
            );
            for r in rs {
                let _ = write!(
                    out,
                    "    <testcase classname=\"tsconform.{}\" name=\"{}\" time=\"{:.3}\"",
                    g.as_str(),
                    xml_escape(&format!("{} {}", r.spec.label(), r.spec.title)),
                    r.duration.as_secs_f64()
                );
                match &r.outcome {
                    Outcome::Pass => out.push_str("/>\n"),
                    Outcome::Fail { failure } => {
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                            xml_escape(&failure.message),
                            r.spec.level.as_str(),
                            xml_escape(&failure.to_string())
                        );
                    }
                    Outcome::Skipped { reason } => {
                        let _ = writeln!(
                            out,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            xml_escape(reason)
                        );
                    }
                    Outcome::Disabled => out.push_str(
                        ">\n      <skipped message=\"disabled by the user\"/>\n    </testcase>\n",
                    ),
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 forbids.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Failure;
    use crate::harness::spec::{must, should};

    fn report() -> Report {
        let rec = |spec, outcome| CheckRecord {
            spec,
            outcome,
            duration: Duration::from_millis(5),
        };
        Report {
            target: json!({"inference_url": "http://x"}),
            records: vec![
                rec(must("A-1-01", Group::Inference, "passes"), Outcome::Pass),
                rec(
                    should("A-1-02", Group::Inference, "fails <softly>"),
                    Outcome::Fail {
                        failure: Failure::new("bad & worse"),
                    },
                ),
                rec(
                    must("B-2-01", Group::Gpu, "skipped"),
                    Outcome::Skipped {
                        reason: "no GPUs".into(),
                    },
                ),
                rec(must("B-2-02", Group::Gpu, "off"), Outcome::Disabled),
            ],
            artifacts: Default::default(),
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn exit_code_counts_only_must_failures() {
        let mut r = report();
        assert_eq!(r.exit_code(), 0, "a SHOULD failure does not fail the run");
        r.records[0].outcome = Outcome::Fail {
            failure: Failure::new("x"),
        };
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.failed_ids(), vec!["A-1-01", "A-1-02"]);
    }

    #[test]
    fn junit_is_escaped_and_complete() {
        let xml = report().to_junit();
        assert!(
            xml.contains("tests=\"4\" failures=\"1\" skipped=\"2\""),
            "{xml}"
        );
        assert!(xml.contains("fails &lt;softly&gt;"), "{xml}");
        assert!(xml.contains("message=\"bad &amp; worse\""), "{xml}");
        assert!(!xml.contains("fails <softly>"));
        assert_eq!(xml.matches("<testcase").count(), 4);
    }

    #[test]
    fn json_has_results_and_summary() {
        let v = report().to_json();
        assert_eq!(v["summary"]["fail"], 1);
        assert_eq!(v["summary"]["must_failures"], 0);
        assert_eq!(v["results"][1]["outcome"], "fail");
        assert_eq!(v["results"][1]["failure"]["message"], "bad & worse");
        assert_eq!(v["results"][2]["reason"], "no GPUs");
        assert_eq!(v["results"][0]["level"], "MUST");
        assert_eq!(v["results"][2]["group"], "gpu");
    }
}
