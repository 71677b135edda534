//! The worker process: crashes, hangs, exits, output channels, and never outliving the server.

mod common;

use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::*;
use python_worker::LogLine;

#[test]
fn a_handler_that_calls_os_exit_ends_the_process() -> anyhow::Result<()> {
    let mut w = loaded("errors", "errors")?;
    w.send(&worker_protocol::Frame::Predict(
        worker_protocol::PredictRequest {
            batch_id: 1,
            kind: worker_protocol::BatchKind::Predict,
            requests: vec![body("x", "text/plain", b"exit")],
        },
    ))?;
    assert!(
        w.recv(TIMEOUT)?.is_none(),
        "the socket closes without a reply"
    );
    assert_eq!(w.wait_exit(TIMEOUT)?.code(), Some(3), "os._exit(3)");
    Ok(())
}

#[test]
fn a_handler_that_calls_sys_exit_ends_the_process_with_its_code() -> anyhow::Result<()> {
    let mut w = loaded("chatty", "chatty")?;
    w.send(&worker_protocol::Frame::Predict(
        worker_protocol::PredictRequest {
            batch_id: 1,
            kind: worker_protocol::BatchKind::Predict,
            requests: vec![body("x", "text/plain", b"sys_exit")],
        },
    ))?;
    assert!(w.recv(TIMEOUT)?.is_none());
    assert_eq!(w.wait_exit(TIMEOUT)?.code(), Some(7));
    Ok(())
}

#[test]
fn a_handler_that_never_returns_is_stopped_when_the_server_hangs_up() -> anyhow::Result<()> {
    let mut w = loaded("slow", "slow")?;
    w.send(&worker_protocol::Frame::Predict(
        worker_protocol::PredictRequest {
            batch_id: 1,
            kind: worker_protocol::BatchKind::Predict,
            requests: vec![json_body("x", serde_json::json!({"sleep": 3600}))],
        },
    ))?;
    // no answer while the handler sleeps; the read times out instead
    let err = w.recv(Duration::from_millis(500)).unwrap_err();
    assert!(err.to_string().contains("I/O"), "{err}");
    assert!(w.is_running());
    // the server gives up on it and closes the socket: the worker must not linger
    w.close();
    let status = w.wait_exit(TIMEOUT)?;
    assert_eq!(status.code(), Some(0), "{status}");
    Ok(())
}

#[test]
fn the_worker_exits_cleanly_when_the_server_closes_the_socket() -> anyhow::Result<()> {
    let mut w = loaded("echo", "echo.py")?;
    assert_eq!(w.predict(vec![body("a", "", b"")])?.code, 200);
    w.close();
    assert_eq!(w.wait_exit(TIMEOUT)?.code(), Some(0));
    // also before any load
    let mut w = Worker::start(&fixture("echo"))?;
    w.close();
    assert_eq!(w.wait_exit(TIMEOUT)?.code(), Some(0));
    Ok(())
}

#[test]
fn prints_stay_plain_and_logging_is_structured() -> anyhow::Result<()> {
    let mut w = loaded("chatty", "chatty")?;
    assert_eq!(w.predict(vec![body("a", "", b"")])?.code, 200);
    let plain = |stream: &'static str, text: &'static str| {
        move |s: &str, l: &LogLine| s == stream && *l == LogLine::Plain(text.into())
    };
    w.wait_for_line(plain("stdout", "chatty stdout at load"))?;
    w.wait_for_line(plain("stdout", "chatty stdout line"))?;
    w.wait_for_line(plain("stderr", "chatty stderr line"))?;
    let structured = |level: &'static str, logger: &'static str, start: &'static str| {
        move |s: &str, l: &LogLine| {
            s == "stderr"
                && matches!(l, LogLine::Structured { level: lv, logger: lg, message } if lv == level && lg == logger && message.starts_with(start))
        }
    };
    w.wait_for_line(structured("INFO", "chatty", "chatty logging at load"))?;
    w.wait_for_line(structured(
        "WARNING",
        "chatty",
        "chatty warning\nsecond line",
    ))?;
    let LogLine::Structured { message, .. } =
        w.wait_for_line(structured("ERROR", "chatty", "chatty caught an error"))?
    else {
        unreachable!()
    };
    assert!(
        message.contains("Traceback (most recent call last):")
            && message.contains("KeyError: 'chatty key'"),
        "{message}"
    );
    w.wait_for_line(structured("WARNING", "py.warnings", ""))?;
    // the worker's own lines carry its tag
    w.wait_for_line(|_, l| {
        matches!(l, LogLine::Structured { logger, message, .. }
        if logger == "ts_worker" && message == "[test worker 9000] loaded model test")
    })?;
    Ok(())
}

#[test]
fn the_worker_dies_with_its_parent() -> anyhow::Result<()> {
    // a shell plays the server process: it starts the worker, reports its pid, and is killed
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("s");
    let listener = std::os::unix::net::UnixListener::bind(&socket)?;
    let script = format!(
        "{} --socket {} & echo $!; wait",
        env!("CARGO_BIN_EXE_ts-worker"),
        socket.display()
    );
    let mut parent = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(parent.stdout.take().unwrap()).read_line(&mut line)?;
    let worker_pid: i32 = line.trim().parse()?;
    let (_conn, _) = listener.accept()?; // the worker is up and connected
    parent.kill()?;
    parent.wait()?;
    // the worker is not our child: poll its /proc entry until it is gone (or a zombie)
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{worker_pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("gone");
        if state == "gone" || state == "Z" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker {worker_pid} outlived its parent (state {state})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn the_worker_stops_when_the_socket_is_missing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ts-worker"))
        .arg("--socket")
        .arg(dir.path().join("absent.sock"))
        .output()?;
    assert!(!out.status.success());
    assert!(out.status.signal().is_none());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(python_worker::parse_log_line(stderr.lines().last().unwrap_or_default()),
        LogLine::Structured { level, message, .. } if level == "ERROR" && message.contains("absent.sock")),
        "{stderr}"
    );
    Ok(())
}
