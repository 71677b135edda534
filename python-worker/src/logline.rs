//! The worker's stderr line format, shared by both ends.
//!
//! Python `logging` records (and the worker's own messages) are written as ONE line each: the
//! byte 0x1E (ASCII record separator), then a JSON object `{"level", "logger", "message"}`; a
//! traceback stays on that line because JSON escapes its newlines. Anything else on stdout or
//! stderr (a handler's `print`, a C library's output) is a plain line.

use std::io::Write;

/// Marks a structured line. Chosen because no ordinary text starts with it.
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// One line of worker output, as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// A logging record. `level` is Python's level name: DEBUG, INFO, WARNING, ERROR, CRITICAL
    /// (or a custom level's name).
    Structured {
        level: String,
        logger: String,
        message: String,
    },
    /// Anything else, without its line terminator.
    Plain(String),
}

/// Parses one line of worker stdout or stderr (with or without its trailing newline). A line
/// that starts with 0x1E but does not hold a valid record is returned as `Plain`, unchanged, so
/// nothing a handler prints is ever lost.
pub fn parse_log_line(line: &str) -> LogLine {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if let Some(json) = line.strip_prefix(RECORD_SEPARATOR)
        && let Ok(serde_json::Value::Object(mut record)) = serde_json::from_str(json)
    {
        let mut field = |name: &str| match record.remove(name) {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        if let (Some(level), Some(logger), Some(message)) =
            (field("level"), field("logger"), field("message"))
        {
            return LogLine::Structured {
                level,
                logger,
                message,
            };
        }
    }
    LogLine::Plain(line.to_owned())
}

/// Formats a structured record as one line, newline included.
pub fn format_log_line(level: &str, logger: &str, message: &str) -> String {
    let record = serde_json::json!({ "level": level, "logger": logger, "message": message });
    format!("{RECORD_SEPARATOR}{record}\n")
}

/// Writes one of the worker's own (Rust side) messages to stderr in the structured format.
pub(crate) fn emit(level: &str, message: &str) {
    let line = format_log_line(level, "ts_worker", message);
    // stderr is the server's pipe; if it is gone there is nobody left to tell
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structured(level: &str, logger: &str, message: &str) -> LogLine {
        LogLine::Structured {
            level: level.into(),
            logger: logger.into(),
            message: message.into(),
        }
    }

    #[test]
    fn structured_lines_round_trip() {
        let msg = "Traceback (most recent call last):\n  File \"h.py\", line 1\nValueError: \"x\"\t\u{e9}";
        let line = format_log_line("ERROR", "ts.service", msg);
        assert!(
            line.ends_with('\n') && !line[..line.len() - 1].contains('\n'),
            "one line: {line:?}"
        );
        assert_eq!(
            parse_log_line(&line),
            structured("ERROR", "ts.service", msg)
        );
    }

    #[test]
    fn plain_lines_stay_plain() {
        assert_eq!(
            parse_log_line("hello world\n"),
            LogLine::Plain("hello world".into())
        );
        assert_eq!(parse_log_line("crlf\r\n"), LogLine::Plain("crlf".into()));
        assert_eq!(parse_log_line(""), LogLine::Plain(String::new()));
        // JSON without the separator is something a handler printed
        let printed = r#"{"level":"INFO","logger":"x","message":"m"}"#;
        assert_eq!(parse_log_line(printed), LogLine::Plain(printed.into()));
    }

    #[test]
    fn broken_records_are_kept_verbatim() {
        for line in [
            "\u{1e}not json",
            "\u{1e}[1,2]",
            "\u{1e}{\"level\":\"INFO\",\"logger\":\"x\"}",
            "\u{1e}{\"level\":1,\"logger\":\"x\",\"message\":\"m\"}",
        ] {
            assert_eq!(parse_log_line(line), LogLine::Plain(line.into()));
        }
    }

    #[test]
    fn extra_fields_are_ignored() {
        let line =
            "\u{1e}{\"level\":\"WARNING\",\"logger\":\"a.b\",\"message\":\"m\",\"extra\":[1]}";
        assert_eq!(parse_log_line(line), structured("WARNING", "a.b", "m"));
    }

    proptest::proptest! {
        #[test]
        fn any_record_round_trips(level in "[A-Z]{1,8}", logger in ".{0,20}", message in "(?s).{0,200}") {
            let line = format_log_line(&level, &logger, &message);
            proptest::prop_assert_eq!(parse_log_line(&line), structured(&level, &logger, &message));
        }

        #[test]
        fn any_text_parses_without_panic(line in "(?s).{0,200}") {
            let _ = parse_log_line(&line);
        }
    }
}
