//! Worker output re-emitted as tracing events tagged with model, version, worker id and pid.
//!
//! The worker writes Python `logging` records to stderr as one line each: the byte 0x1E, then a
//! JSON object `{"level", "logger", "message"}`. Anything else (print, C libraries) is a plain line.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

const TAIL_LINES: usize = 40;

#[derive(Debug, Clone)]
pub struct Tags {
    pub model: String,
    pub version: String,
    pub worker: u32,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A parsed worker output line.
#[derive(Debug, PartialEq)]
pub enum LogLine {
    Structured {
        level: String,
        logger: String,
        message: String,
    },
    Plain(String),
}

pub fn parse_line(line: &str) -> LogLine {
    #[derive(serde::Deserialize)]
    struct Record {
        level: String,
        #[serde(default)]
        logger: String,
        message: String,
    }
    if let Some(json) = line.strip_prefix('\u{1e}')
        && let Ok(r) = serde_json::from_str::<Record>(json)
    {
        return LogLine::Structured {
            level: r.level,
            logger: r.logger,
            message: r.message,
        };
    }
    LogLine::Plain(line.to_string())
}

/// Reads lines until EOF and emits one event per line. `tail` keeps the last stderr lines for
/// error reports.
pub async fn forward<R: AsyncRead + Unpin>(
    reader: R,
    stream: Stream,
    tags: Tags,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let parsed = parse_line(&line);
        if let Some(tail) = &tail
            && let Ok(mut t) = tail.lock()
        {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(match &parsed {
                LogLine::Structured { message, .. } => message.clone(),
                LogLine::Plain(s) => s.clone(),
            });
        }
        emit(&parsed, stream, &tags);
    }
}

fn emit(line: &LogLine, stream: Stream, t: &Tags) {
    let (model, version, worker, pid) = (&t.model, &t.version, t.worker, t.pid);
    match line {
        LogLine::Structured {
            level,
            logger,
            message,
        } => match level.as_str() {
            "CRITICAL" | "ERROR" => {
                tracing::error!(target: "worker", model, version, worker, pid, logger, "{message}")
            }
            "WARNING" | "WARN" => {
                tracing::warn!(target: "worker", model, version, worker, pid, logger, "{message}")
            }
            "DEBUG" => {
                tracing::debug!(target: "worker", model, version, worker, pid, logger, "{message}")
            }
            _ => tracing::info!(target: "worker", model, version, worker, pid, logger, "{message}"),
        },
        LogLine::Plain(text) => match stream {
            Stream::Stdout => {
                tracing::info!(target: "worker", model, version, worker, pid, stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "worker", model, version, worker, pid, stream = "stderr", "{text}")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_and_plain_lines() {
        assert_eq!(
            parse_line("\u{1e}{\"level\":\"INFO\",\"logger\":\"h\",\"message\":\"a\\nb\"}"),
            LogLine::Structured {
                level: "INFO".into(),
                logger: "h".into(),
                message: "a\nb".into()
            }
        );
        assert_eq!(parse_line("hello"), LogLine::Plain("hello".into()));
        assert_eq!(
            parse_line("\u{1e}{broken"),
            LogLine::Plain("\u{1e}{broken".into())
        );
    }
}
