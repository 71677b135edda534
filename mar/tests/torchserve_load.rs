//! Real TorchServe 0.12 loads what `mar create` writes: the seed example as .mar, .tar.gz and
//! an unpacked folder, each registered and answering a prediction. Skips with a SKIP line when
//! the venv or java is missing. Everything runs on loopback from private folders and ports.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A started TorchServe; stopped (with its own pid file, in its own TMPDIR) when dropped.
struct TorchServe {
    venv: PathBuf,
    run: PathBuf,
    tmp: PathBuf,
    inference: u16,
    management: u16,
}

impl TorchServe {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.venv.join("bin/torchserve"));
        let path = format!(
            "{}:{}",
            self.venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.args(args)
            .current_dir(&self.run)
            // The worker is started with `python` from PATH; the pid file, the java temp folder
            // and the worker sockets follow TMPDIR/TEMP, so they stay private to this test.
            .env("PATH", path)
            .env("TMPDIR", &self.tmp)
            .env("TEMP", &self.tmp);
        cmd
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for log in ["logs/ts_log.log", "logs/model_log.log", "start.log"] {
            let text = std::fs::read_to_string(self.run.join(log)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!(
                "--- {log}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        out
    }
}

impl Drop for TorchServe {
    fn drop(&mut self) {
        let _ = self
            .command(&["--stop"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A one-shot HTTP/1.1 request; returns (status, body). TorchServe keeps connections alive even
/// when asked to close, so the body is read by its Content-Length, not to EOF.
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(180)))?;
    (&stream).write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    let mut reader = std::io::BufReader::new(&stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut bytes = Vec::new();
    match length {
        Some(n) => {
            bytes.resize(n, 0);
            reader.read_exact(&mut bytes)?;
        }
        None => {
            reader.read_to_end(&mut bytes)?;
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn java_available() -> bool {
    Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn mar_create(inputs: &Path, store: &Path, name: &str, format: &str) {
    let status = Command::new(common::mar_bin())
        .args([
            "create",
            "--model-name",
            name,
            "--version",
            "1.0",
            "--model-file",
            "m.py",
            "--serialized-file",
            "m.pt",
        ])
        .args([
            "--extra-files",
            "index_to_name.json",
            "--handler",
            "model_handler:handle",
            "--runtime",
            "python3",
        ])
        .args(["--archive-format", format, "--export-path"])
        .arg(store)
        .current_dir(inputs)
        .status()
        .unwrap();
    assert!(status.success(), "mar create {name}");
}

#[test]
fn torchserve_loads_what_mar_create_writes() {
    let Some(venv) = common::venv_or_skip("torchserve_loads_what_mar_create_writes") else {
        return;
    };
    if !java_available() {
        eprintln!(
            "SKIP torchserve_loads_what_mar_create_writes: no java on PATH (TorchServe's frontend needs it)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, store, run, private_tmp) = (
        tmp.path().join("inputs"),
        tmp.path().join("store"),
        tmp.path().join("run"),
        tmp.path().join("tmp"),
    );
    for d in [&inputs, &store, &run, &private_tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    common::seed_inputs(&inputs);
    mar_create(&inputs, &store, "seed", "default");
    mar_create(&inputs, &store, "seedtgz", "tgz");
    mar_create(&inputs, &store, "seeddir", "no-archive");

    let ports = free_ports(5);
    let config = run.join("config.properties");
    common::write(
        &config,
        format!(
            "inference_address=http://127.0.0.1:{}\nmanagement_address=http://127.0.0.1:{}\n\
             metrics_address=http://127.0.0.1:{}\ngrpc_inference_port={}\ngrpc_management_port={}\n\
             model_store={}\ndefault_workers_per_model=1\n",
            ports[0],
            ports[1],
            ports[2],
            ports[3],
            ports[4],
            store.display()
        ),
    );
    let ts = TorchServe {
        venv,
        run,
        tmp: private_tmp,
        inference: ports[0],
        management: ports[1],
    };
    // The java frontend outlives the launcher and inherits its output: send that to a file,
    // not to pipes this test would wait on.
    let log = std::fs::File::create(ts.run.join("start.log")).unwrap();
    let started = ts
        .command(&[
            "--start",
            "--ncs",
            "--disable-token-auth",
            "--enable-model-api",
            "--ts-config",
        ])
        .arg(&config)
        .args(["--model-store"])
        .arg(&store)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert!(
        started.success(),
        "torchserve --start failed\n{}",
        ts.logs()
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    while !http(ts.inference, "GET", "/ping", "")
        .is_ok_and(|(s, b)| s == 200 && b.contains("Healthy"))
    {
        assert!(
            Instant::now() < deadline,
            "TorchServe never became healthy\n{}",
            ts.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    for (name, url) in [
        ("seed", "seed.mar"),
        ("seedtgz", "seedtgz.tar.gz"),
        ("seeddir", "seeddir"),
    ] {
        let path = format!("/models?url={url}&initial_workers=1&synchronous=true");
        let (status, body) = http(ts.management, "POST", &path, "").unwrap();
        assert_eq!(status, 200, "register {url}: {body}\n{}", ts.logs());
        let (status, body) = http(
            ts.inference,
            "POST",
            &format!("/predictions/{name}"),
            "hello",
        )
        .unwrap();
        assert_eq!(status, 200, "predict {name}: {body}\n{}", ts.logs());
        let answer: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        assert_eq!(answer, serde_json::json!({"ok": true, "n": 1}), "{name}");
        let (status, body) = http(ts.management, "GET", &format!("/models/{name}"), "").unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"modelVersion\": \"1.0\""), "{body}");
    }
}
