//! Starting one worker process: a private socket, the child, its log lines, the handshake.
//!
//! The server listens and the worker connects, so there is no polling for a socket file to
//! appear; while waiting we also watch the child, and an early exit is reported with the last
//! lines it wrote to stderr (a missing libpython, a bad interpreter...).

use super::WorkerError;
use super::connection::Connection;
use super::logs;
use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use worker_protocol::{Frame, Hello, PROTOCOL_VERSION};

/// What a worker process needs to start.
pub struct SpawnSpec<'a> {
    pub binary: &'a Path,
    pub run_dir: &'a Path,
    pub model_dir: &'a Path,
    /// folder of the handler file when the handler string has a `/`
    pub handler_dir: Option<PathBuf>,
    pub model_name: &'a str,
    pub version: &'a str,
    pub worker_id: u32,
    pub generation: u64,
    pub decode_input_request: bool,
    pub max_frame: u32,
}

/// A started, connected worker process.
pub struct WorkerProcess {
    pub child: Child,
    pub pid: u32,
    pub conn: Connection,
    pub hello: Hello,
    pub stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// the cgroup's OOM-kill count when the process started
    pub oom_kills_at_start: Option<u64>,
}

impl WorkerProcess {
    pub async fn start(
        spec: &SpawnSpec<'_>,
        timeout: Duration,
    ) -> Result<WorkerProcess, WorkerError> {
        let sock = spec
            .run_dir
            .join(format!("w{}-{}.sock", spec.worker_id, spec.generation));
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).map_err(WorkerError::Socket)?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
            .map_err(WorkerError::Socket)?;
        let result = Self::spawn_and_connect(spec, &sock, listener, timeout).await;
        // Connected (or failed): the path is no longer needed.
        let _ = std::fs::remove_file(&sock);
        result
    }

    async fn spawn_and_connect(
        spec: &SpawnSpec<'_>,
        sock: &Path,
        listener: UnixListener,
        timeout: Duration,
    ) -> Result<WorkerProcess, WorkerError> {
        let mut python_path = vec![spec.model_dir.display().to_string()];
        if let Some(dir) = &spec.handler_dir {
            python_path.push(dir.display().to_string());
        }
        if let Ok(existing) = std::env::var("PYTHONPATH") {
            python_path.push(existing);
        }
        let mut cmd = Command::new(spec.binary);
        cmd.arg("--socket")
            .arg(sock)
            .arg("--model-name")
            .arg(spec.model_name)
            .arg("--worker-id")
            .arg(spec.worker_id.to_string())
            .current_dir(spec.model_dir)
            .env("PYTHONPATH", python_path.join(":"))
            .env("PYTHONUNBUFFERED", "1")
            .env(
                "TS_DECODE_INPUT_REQUEST",
                if spec.decode_input_request {
                    "true"
                } else {
                    "false"
                },
            )
            .env("TSRS_WORKER_ID", spec.worker_id.to_string())
            .env("TSRS_MODEL_NAME", spec.model_name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group: a Ctrl-C in the terminal reaches the server, which then stops
            // its workers in order, instead of interrupting handlers mid-request.
            .process_group(0)
            .kill_on_drop(true);
        let oom_kills_at_start = oom_kill_count();
        let mut child = cmd.spawn().map_err(|source| WorkerError::Spawn {
            binary: spec.binary.to_path_buf(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tags = logs::Tags {
            model: spec.model_name.to_string(),
            version: spec.version.to_string(),
            worker: spec.worker_id,
            pid,
        };
        if let Some(out) = child.stdout.take() {
            tokio::spawn(logs::forward(out, logs::Stream::Stdout, tags.clone(), None));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(logs::forward(
                err,
                logs::Stream::Stderr,
                tags,
                Some(stderr_tail.clone()),
            ));
        }

        let deadline = tokio::time::Instant::now() + timeout;
        let stream = tokio::select! {
            accepted = listener.accept() => accepted.map_err(WorkerError::Socket)?.0,
            status = child.wait() => {
                return Err(early_exit(status, &stderr_tail).await);
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(WorkerError::StartupTimeout { secs: timeout.as_secs() });
            }
        };
        let mut conn = Connection::new(stream, spec.max_frame);
        let first = tokio::select! {
            f = conn.recv() => f,
            status = child.wait() => return Err(early_exit(status, &stderr_tail).await),
            () = tokio::time::sleep_until(deadline) => {
                return Err(WorkerError::StartupTimeout { secs: timeout.as_secs() });
            }
        };
        let hello = match first {
            Ok(Frame::Hello(h)) => h,
            Ok(other) => {
                return Err(WorkerError::Unexpected(
                    format!("{other:?}").chars().take(200).collect(),
                ));
            }
            Err(e) => return Err(WorkerError::Protocol(e)),
        };
        if hello.version != PROTOCOL_VERSION {
            return Err(WorkerError::Protocol(
                worker_protocol::ProtocolError::VersionMismatch {
                    worker: hello.version,
                    server: PROTOCOL_VERSION,
                },
            ));
        }
        Ok(WorkerProcess {
            child,
            pid,
            conn,
            hello,
            stderr_tail,
            oom_kills_at_start,
        })
    }
}

async fn early_exit(
    status: std::io::Result<std::process::ExitStatus>,
    tail: &Arc<Mutex<VecDeque<String>>>,
) -> WorkerError {
    // Give the stderr reader a moment to drain what the process wrote just before exiting.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let lines: Vec<String> = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    WorkerError::ExitedEarly {
        status: status
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string()),
        stderr_tail: lines.join("\n"),
    }
}

/// The memory cgroup's OOM-kill count, to tell a kill for memory from another SIGKILL.
pub fn oom_kill_count() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let events = std::fs::read_to_string(format!(
        "/sys/fs/cgroup{}/memory.events",
        path.trim_end_matches('/')
    ))
    .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/memory.events"))
    .ok()?;
    events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

/// Resident memory of a process in bytes (what describe reports as memoryUsage).
pub fn rss_bytes(pid: u32) -> u64 {
    let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    #[allow(unsafe_code)]
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}
