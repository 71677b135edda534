//! `--start` and `--stop`: run the server in the background with a pid file, as `torchserve`
//! does. `--start` returns once the inference API answers (or reports why the server died).

use crate::cli::Args;
use crate::config::Config;
use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pid_file(args: &Args) -> PathBuf {
    args.pid_file
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(".torchserve-rs.pid"))
}

fn read_pid(path: &PathBuf) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[allow(unsafe_code)]
fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) with a plain pid and signal number has no memory effects.
    unsafe { libc::kill(pid, sig) == 0 }
}

fn alive(pid: i32) -> bool {
    signal(pid, 0)
}

/// Starts `<this binary> --foreground <same flags>` detached, logging to `logs/torchserve-rs.log`.
pub fn start(args: &Args) -> anyhow::Result<()> {
    let pid_path = pid_file(args);
    if let Some(pid) = read_pid(&pid_path)
        && alive(pid)
    {
        bail!("torchserve-rs is already running (pid {pid}); stop it with --stop first");
    }
    let config = Config::resolve(args)?;
    std::fs::create_dir_all("logs").context("cannot create ./logs")?;
    let log_path = std::env::current_dir()?.join("logs/torchserve-rs.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    // A stale ready file would announce this start before it happened.
    if let Some(ready) = &config.ready_file {
        let _ = std::fs::remove_file(ready);
    }
    let exe = std::env::current_exe()?;
    let forwarded: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--start")
        .collect();
    let mut child = Command::new(exe)
        .args(&forwarded)
        .arg("--foreground")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the server process")?;
    std::fs::write(&pid_path, child.id().to_string())?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let _ = std::fs::remove_file(&pid_path);
            bail!(
                "the server exited during start-up ({status}); see {}",
                log_path.display()
            );
        }
        // With a ready file the bound addresses are known from it (ports may be 0 in the config,
        // and then there is nothing to probe).
        let up = match &config.ready_file {
            Some(path) => ready_addresses(path),
            None => answers(config.inference_address).then(|| {
                (
                    config.inference_address.to_string(),
                    config.management_address.to_string(),
                )
            }),
        };
        if let Some((inference, management)) = up {
            println!(
                "torchserve-rs started (pid {}); inference on http://{inference}, management on http://{management}; logs in {}",
                child.id(),
                log_path.display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "the server did not answer within 10 minutes; see {}",
        log_path.display()
    )
}

/// The inference and management addresses from a complete ready file.
fn ready_addresses(path: &std::path::Path) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some((
        v["inference"].as_str()?.to_string(),
        v["management"].as_str()?.to_string(),
    ))
}

/// Whether something answers HTTP on `addr` (any status: token auth may refuse /ping).
fn answers(addr: std::net::SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(s.read(&mut buf), Ok(n) if n >= 5 && buf.starts_with(b"HTTP/"))
}

/// Sends SIGTERM to the server of the pid file and waits for it to stop (SIGKILL after 60 s).
pub fn stop(args: &Args) -> anyhow::Result<()> {
    let pid_path = pid_file(args);
    let Some(pid) = read_pid(&pid_path).filter(|&p| alive(p)) else {
        let _ = std::fs::remove_file(&pid_path);
        println!("torchserve-rs is not currently running.");
        return Ok(());
    };
    signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        signal(pid, libc::SIGKILL);
    }
    let _ = std::fs::remove_file(&pid_path);
    println!("torchserve-rs has stopped.");
    Ok(())
}
