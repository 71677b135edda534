//! Live progress on the console while the suite runs.
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use super::report::CheckRecord;
use super::spec::Group;

pub trait Progress: Send + Sync {
    fn group_started(&self, _group: Group, _runnable: usize) {}
    fn check_finished(&self, _record: &CheckRecord) {}
    fn group_finished(&self, _group: Group, _elapsed: Duration) {}
    /// A group none of whose checks runs (all skipped or disabled).
    fn group_skipped(&self, _group: Group, _checks: usize) {}
}

/// Prints nothing (library use, tests).
pub struct Quiet;
impl Progress for Quiet {}

/// One line per check on stderr; colours when stderr is a terminal.
pub struct Console {
    color: bool,
    /// Also print passing checks.
    pub verbose: bool,
}

impl Console {
    pub fn new(verbose: bool) -> Self {
        Self {
            color: std::io::stderr().is_terminal(),
            verbose,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

impl Progress for Console {
    fn group_started(&self, group: Group, runnable: usize) {
        eprintln!(
            "{} {} ({} checks to run)",
            self.paint("1", "==>"),
            group.as_str(),
            runnable
        );
    }

    fn check_finished(&self, r: &CheckRecord) {
        let tag = match r.outcome.as_str() {
            "pass" => self.paint("32", "PASS"),
            "fail" => self.paint("31", "FAIL"),
            "skipped" => self.paint("33", "SKIP"),
            _ => self.paint("90", "OFF "),
        };
        if r.outcome.is_fail() || self.verbose {
            if !self.verbose {
                eprintln!();
            }
            eprintln!(
                "  {tag} {:<14} {:<6} {} ({} ms)",
                r.spec.id,
                r.spec.level.as_str(),
                r.spec.title,
                r.duration.as_millis()
            );
            if let super::Outcome::Fail { failure } = &r.outcome {
                for line in failure.to_string().lines().take(40) {
                    eprintln!("         {line}");
                }
            }
        } else if r.outcome.as_str() != "disabled" {
            eprint!(
                "{}",
                if r.outcome.as_str() == "pass" {
                    "."
                } else {
                    "s"
                }
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn group_skipped(&self, group: Group, checks: usize) {
        if self.verbose {
            eprintln!(
                "{} {} ({checks} checks, none to run)",
                self.paint("90", "==>"),
                group.as_str()
            );
        }
    }

    fn group_finished(&self, group: Group, elapsed: Duration) {
        if !self.verbose {
            eprintln!();
        }
        eprintln!(
            "    {} done in {:.1} s",
            group.as_str(),
            elapsed.as_secs_f64()
        );
    }
}
