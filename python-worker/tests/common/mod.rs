//! Test harness: plays the server for one `ts-worker` process. Binds a private socket, spawns
//! the worker binary, reads its Hello, then sends Load / Predict frames with timeouts. The child
//! is killed in Drop; its output is kept and printed when a test fails.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use python_worker::{LogLine, parse_log_line};
use worker_protocol::{
    BatchKind, DEFAULT_MAX_FRAME, Frame, Hello, LoadReply, LoadRequest, Param, PredictReply,
    PredictRequest, Request, read_frame, write_frame,
};

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// `handlers-fixtures/handlers/<name>`
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../handlers-fixtures/handlers")
        .join(name)
        .canonicalize()
        .unwrap()
}

/// `python-worker/tests/handlers/<name>`: handlers only these tests need
pub fn own_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/handlers")
        .join(name)
        .canonicalize()
        .unwrap()
}

/// The TorchServe venv (torch, real `ts`), if installed.
pub fn torchserve_venv() -> Option<PathBuf> {
    let venv = std::env::var_os("TORCHSERVE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/torchserve-0.12/venv")
        });
    if venv.join("bin/python").exists() {
        Some(venv)
    } else {
        None
    }
}

pub fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why}");
}

pub struct Worker {
    child: Child,
    conn: UnixStream,
    pub hello: Hello,
    lines: Arc<Mutex<Vec<(&'static str, String)>>>,
    _dir: tempfile::TempDir,
    next_batch: u64,
}

pub struct Spawn<'a> {
    pub cwd: &'a Path,
    pub env: Vec<(&'a str, String)>,
}

impl Worker {
    pub fn start(cwd: &Path) -> Result<Worker> {
        Self::spawn(Spawn { cwd, env: vec![] })
    }

    pub fn spawn(opts: Spawn<'_>) -> Result<Worker> {
        let dir = tempfile::Builder::new().prefix("tsw-test").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let socket = dir.path().join("w.sock");
        let listener = UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ts-worker"));
        cmd.arg("--socket")
            .arg(&socket)
            .arg("--model-name")
            .arg("test")
            .arg("--worker-id")
            .arg("9000");
        cmd.current_dir(opts.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env_remove("VIRTUAL_ENV")
            .env_remove("TS_DECODE_INPUT_REQUEST")
            .env_remove("PYTHONPATH");
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("spawn ts-worker")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        for (name, pipe) in [
            (
                "stdout",
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            ),
            ("stderr", Box::new(child.stderr.take().unwrap())),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push((name, line));
                }
            });
        }

        // accept on a thread so a worker that dies before connecting fails the test quickly
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(listener.accept().map(|(s, _)| s));
        });
        let deadline = Instant::now() + TIMEOUT;
        let conn = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(conn) => break conn?,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = child.try_wait()? {
                        bail!("worker exited before connecting: {status}");
                    }
                    if Instant::now() > deadline {
                        bail!("worker did not connect");
                    }
                }
                Err(e) => bail!("accept thread: {e}"),
            }
        };
        let mut worker = Worker {
            child,
            conn,
            hello: Hello {
                version: 0,
                pid: 0,
                python_version: String::new(),
                worker_version: String::new(),
            },
            lines,
            _dir: dir,
            next_batch: 1,
        };
        match worker.recv(TIMEOUT)? {
            Some(Frame::Hello(h)) => worker.hello = h,
            other => bail!("expected Hello, got {other:?}"),
        }
        Ok(worker)
    }

    pub fn send(&mut self, frame: &Frame) -> Result<()> {
        write_frame(&mut self.conn, frame)?;
        Ok(())
    }

    /// Next frame, `None` when the worker closed the socket.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Frame>> {
        self.conn.set_read_timeout(Some(timeout))?;
        Ok(read_frame(&mut self.conn, DEFAULT_MAX_FRAME)?)
    }

    pub fn load(&mut self, model_dir: &Path, handler: &str) -> Result<LoadReply> {
        self.load_with(load_request(model_dir, handler))
    }

    pub fn load_with(&mut self, req: LoadRequest) -> Result<LoadReply> {
        self.send(&Frame::Load(req))?;
        match self.recv(TIMEOUT)? {
            Some(Frame::LoadReply(r)) => Ok(r),
            other => bail!("expected LoadReply, got {other:?}\n{}", self.output()),
        }
    }

    /// Sends one batch, returns the intermediate replies and the final one.
    pub fn batch(
        &mut self,
        kind: BatchKind,
        requests: Vec<Request>,
    ) -> Result<(Vec<PredictReply>, PredictReply)> {
        let batch_id = self.next_batch;
        self.next_batch += 1;
        self.send(&Frame::Predict(PredictRequest {
            batch_id,
            kind,
            requests,
        }))?;
        let mut intermediate = Vec::new();
        loop {
            match self.recv(TIMEOUT)? {
                Some(Frame::Intermediate(r)) if r.batch_id == batch_id => intermediate.push(r),
                Some(Frame::PredictReply(r)) if r.batch_id == batch_id => {
                    return Ok((intermediate, r));
                }
                other => bail!(
                    "expected a reply to batch {batch_id}, got {other:?}\n{}",
                    self.output()
                ),
            }
        }
    }

    pub fn predict(&mut self, requests: Vec<Request>) -> Result<PredictReply> {
        let (intermediate, last) = self.batch(BatchKind::Predict, requests)?;
        assert!(
            intermediate.is_empty(),
            "unexpected intermediate replies: {intermediate:?}"
        );
        Ok(last)
    }

    /// Waits for the process to end on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("worker still running after {timeout:?}\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes the server's end, as the server does to stop a worker.
    pub fn close(&mut self) {
        let _ = self.conn.shutdown(std::net::Shutdown::Both);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line the worker wrote so far, parsed.
    pub fn log_lines(&self) -> Vec<(&'static str, LogLine)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|(s, l)| (*s, parse_log_line(l)))
            .collect()
    }

    /// Waits until a line matching `pred` has been written (output travels through pipes and
    /// reader threads, so it may trail the socket reply).
    pub fn wait_for_line(&self, pred: impl Fn(&str, &LogLine) -> bool) -> Result<LogLine> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some((_, l)) = self.log_lines().into_iter().find(|(s, l)| pred(s, l)) {
                return Ok(l);
            }
            if Instant::now() > deadline {
                bail!("no matching output line\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        let mut out = String::from("--- worker output ---\n");
        for (stream, line) in lines.iter() {
            out.push_str(&format!("[{stream}] {}\n", line.replace('\u{1e}', "<RS>")));
        }
        out
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
    }
}

pub fn load_request(model_dir: &Path, handler: &str) -> LoadRequest {
    LoadRequest {
        model_name: "test".into(),
        model_dir: model_dir.display().to_string(),
        handler: handler.into(),
        envelope: String::new(),
        batch_size: 4,
        gpu_id: None,
        limit_max_image_pixels: true,
        decode_input_request: true,
        server_version: "0.12.0".into(),
        model_yaml_config: "{}".into(),
    }
}

/// A request with a raw body of the given content type.
pub fn body(id: &str, content_type: &str, value: &[u8]) -> Request {
    Request {
        request_id: id.into(),
        headers: vec![],
        params: vec![Param {
            name: "body".into(),
            content_type: content_type.into(),
            value: value.to_vec(),
        }],
    }
}

pub fn json_body(id: &str, value: serde_json::Value) -> Request {
    body(id, "application/json", value.to_string().as_bytes())
}

/// A response body parsed as JSON.
pub fn json_of(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Loads fixture `name` (with its own handler string) in a fresh worker.
pub fn loaded(name: &str, handler: &str) -> Result<Worker> {
    let dir = fixture(name);
    let mut w = Worker::start(&dir)?;
    let reply = w.load(&dir, handler)?;
    if reply.code != 200 {
        bail!("load of {name} failed: {reply:?}\n{}", w.output());
    }
    Ok(w)
}
