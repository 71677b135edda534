//! Start-up and shutdown: models loaded at start (--models, load_models, the `models` JSON),
//! config.properties keys and TS_* variables, flags over the file, --start / --stop, and no
//! worker left behind after SIGTERM, SIGINT or --stop.

mod common;

use common::procs;
use common::server::{SERVER_BIN, build_fixture, named, worker_binary};
use common::{Api, ServerOptions, TestServer};
use handlers_fixtures::{BuildOptions, ConfigChoice};
use mar::create::ArchiveFormat;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn names(s: &TestServer) -> Vec<String> {
    let list = s.mgmt("GET", "/models").json();
    list["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["modelName"].as_str().expect("name").to_string())
        .collect()
}

/// The echo fixture without its model-config.yaml (so config values are not overridden by it).
fn plain(model: &str) -> BuildOptions {
    BuildOptions {
        config: ConfigChoice::None,
        ..named(model)
    }
}

#[test]
fn models_flag_loads_at_startup() {
    let s = ServerOptions::default()
        .prop("default_workers_per_model", "1")
        .arg("--models")
        .arg("echo.mar")
        .fixture("echo")
        .start();
    let d = &s.describe("echo")[0];
    assert_eq!(d["loadedAtStartup"], true);
    assert_eq!(d["workers"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(
        d["workers"][0]["status"], "READY",
        "ready before the ready file is written"
    );
    assert_eq!(
        s.get(Api::Inference, "/ping").status_text(),
        (200, "Healthy".to_string())
    );
    // SageMaker routes default to the single start-up model.
    let r = s
        .req(Api::Inference, "POST", "/invocations")
        .json(&json!({"a": 1}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.handler_json()["model_name"], "echo");
    assert!(
        s.log().contains("Model \"echo\" is ready."),
        "start-up banner"
    );
}

#[test]
fn load_models_all_named_and_models_json() {
    let tgz = BuildOptions {
        format: ArchiveFormat::Tgz,
        ..named("tgz_model")
    };
    let folder = BuildOptions {
        format: ArchiveFormat::NoArchive,
        ..named("dir_model")
    };
    let s = ServerOptions::default()
        .prop("default_workers_per_model", "1")
        .prop("load_models", "all")
        .fixture_with("echo", plain("echo"))
        .fixture_with("echo", tgz)
        .fixture_with("echo", folder)
        .fixture_with(
            "echo",
            BuildOptions {
                file_stem: Some(".hidden".into()),
                ..named("hidden")
            },
        )
        .store_file("notes.txt", b"not a model")
        .start();
    // Hidden files and other extensions are not models.
    assert_eq!(names(&s), ["dir_model", "echo", "tgz_model"]);
    for m in ["dir_model", "echo", "tgz_model"] {
        let d = &s.describe(m)[0];
        assert_eq!(
            (
                d["loadedAtStartup"].as_bool(),
                d["workers"].as_array().map(Vec::len)
            ),
            (Some(true), Some(1)),
            "{m}: {d}"
        );
        assert_eq!(s.predict_json(m, &json!({})).status, 200);
    }
    // The SageMaker default needs exactly one start-up model.
    let r = s
        .req(Api::Inference, "POST", "/invocations")
        .json(&json!({}))
        .send();
    assert_eq!(r.error().2, "Parameter model_name is required.");
    drop(s);

    let models = r#"{"fromjson": {"1.0": {"defaultVersion": true, "marName": "plain.mar", "minWorkers": 1, "maxWorkers": 3, "batchSize": 4, "maxBatchDelay": 50, "responseTimeout": 33}}}"#;
    let s = ServerOptions::default()
        .prop("load_models", "alias=echo.mar")
        .prop("default_workers_per_model", "1")
        .prop("models", models)
        .fixture("echo")
        .fixture_with("echo", plain("plain"))
        .start();
    assert_eq!(names(&s), ["alias", "fromjson"]);
    let d = &s.describe("fromjson")[0];
    let got: Vec<_> = [
        "minWorkers",
        "maxWorkers",
        "batchSize",
        "maxBatchDelay",
        "responseTimeout",
    ]
    .iter()
    .map(|k| d[*k].clone())
    .collect();
    assert_eq!(
        got,
        [json!(1), json!(3), json!(4), json!(50), json!(33)],
        "{d}"
    );
    assert_eq!(d["loadedAtStartup"], true);
    assert_eq!(d["workers"].as_array().map(Vec::len), Some(1));
    assert_eq!(s.describe("alias")[0]["modelName"], "alias");
}

#[test]
fn config_keys_env_vars_and_flags() {
    // TS_* variables apply only with enable_envvars_config=true.
    let env = [
        ("TS_JOB_QUEUE_SIZE", "7"),
        ("TS_INITIAL_WORKER_PORT", "9500"),
        ("TS_DEFAULT_RESPONSE_TIMEOUT", "45"),
        ("TS_MAX_REQUEST_SIZE", "1000"),
    ];
    let with_env = |enabled: bool| {
        let mut o = ServerOptions::default().fixture_with("echo", plain("plain"));
        if enabled {
            o = o.prop("enable_envvars_config", "true");
        }
        for (k, v) in env {
            o = o.env(k, v);
        }
        o.start()
    };
    for (enabled, id, timeout, capacity, big_status) in
        [(true, "9500", 45, 7, 413), (false, "9000", 120, 100, 200)]
    {
        let s = with_env(enabled);
        s.register_ok("url=plain.mar&initial_workers=1");
        let d = &s.describe("plain")[0];
        assert_eq!(d["workers"][0]["id"], id, "envvars {enabled}");
        assert_eq!(d["responseTimeout"], timeout, "envvars {enabled}");
        assert_eq!(
            d["jobQueueStatus"]["remainingCapacity"], capacity,
            "envvars {enabled}"
        );
        let r = s
            .req(Api::Inference, "POST", "/predictions/plain")
            .body("application/octet-stream", vec![0u8; 2000])
            .send();
        assert_eq!(r.status, big_status, "envvars {enabled}: {}", r.text());
    }

    // A folder without MANIFEST.json gets default_service_handler; decode_input_request=false
    // hands JSON over as raw bytes; --model-store beats the file's model_store.
    let s = ServerOptions::default()
        .prop("default_service_handler", "echo.py")
        .prop("decode_input_request", "false")
        .prop("model_store", "nowhere")
        .arg("--model-store")
        .arg("store")
        .start();
    handlers_fixtures::get("echo")
        .expect("echo")
        .write_sources(&s.store().join("bare"))
        .expect("sources");
    // Without a manifest the name must come from the request (TorchServe 0.12: no fallback).
    let r = s.mgmt("POST", "/models?url=bare&initial_workers=1");
    assert_eq!(
        r.error(),
        (
            400,
            "InvalidModelException".to_string(),
            "Model name is not defined.".to_string()
        )
    );
    s.register_ok("url=bare&model_name=bare&initial_workers=1");
    let d = &s.describe("bare")[0];
    assert_eq!(
        (d["modelVersion"].as_str(), d["runtime"].as_str()),
        (Some("1.0"), Some("python"))
    );
    let seen = s.predict_json("bare", &json!({"a": 1})).handler_json();
    assert_eq!(seen["types"]["body"], "bytearray", "{seen}");
    assert_eq!(
        seen["manifest"],
        serde_json::Value::Null,
        "no manifest: {seen}"
    );

    // A handler answer above max_response_size: 500 Worker died.; smaller ones still pass.
    let s = ServerOptions::default()
        .prop("max_response_size", "3000")
        .fixture("echo")
        .start();
    s.register_ok("url=echo.mar&initial_workers=1");
    let r = s
        .req(Api::Inference, "POST", "/predictions/echo")
        .body("text/plain", "x".repeat(4000))
        .send();
    assert_eq!(
        r.error(),
        (
            500,
            "InternalServerException".to_string(),
            "Worker died.".to_string()
        )
    );
    assert_eq!(
        s.req(Api::Inference, "POST", "/predictions/echo")
            .body("text/plain", "x")
            .send()
            .status,
        200
    );
}

#[test]
fn no_flags_is_a_usage_error() {
    let out = Command::new(SERVER_BIN).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--start"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_and_sigint_stop_every_worker() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut s = ServerOptions::default()
            .fixture("echo")
            .fixture("slow")
            .start();
        s.register_ok("url=echo.mar&initial_workers=2&synchronous=true");
        s.register_ok("url=slow.mar&initial_workers=1&synchronous=true");
        let mut pids = s.worker_pids("echo");
        pids.extend(s.worker_pids("slow"));
        assert_eq!(pids.len(), 3);
        assert_eq!(s.worker_processes(), {
            let mut p = pids.clone();
            p.sort_unstable();
            p
        });
        // A request in flight when the signal arrives is still answered.
        let base = s.base(Api::Inference);
        let in_flight = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .expect("client")
                .post(format!("{base}/predictions/slow"))
                .json(&json!({"sleep": 1.0}))
                .send()
                .map(|r| r.status().as_u16())
        });
        s.wait_batch_dispatched("slow", "the slow request to reach its worker");
        let status = s.stop_with(sig);
        assert!(status.success(), "signal {sig}: {status}");
        assert_eq!(
            in_flight.join().expect("thread").ok(),
            Some(200),
            "signal {sig}: the in-flight request"
        );
        for p in pids {
            assert!(!procs::alive(p), "signal {sig}: worker {p} survived");
        }
    }
}

/// Kills what a failed daemon test left running (the server from the pid file, its workers).
struct DaemonGuard {
    dir: tempfile::TempDir,
}

impl DaemonGuard {
    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("ts.pid")
    }

    fn run(&self, flag: &str) -> std::process::Output {
        Command::new(SERVER_BIN)
            .arg(flag)
            .arg("--pid-file")
            .arg(self.pid_file())
            .current_dir(self.dir.path())
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("NO_COLOR", "1")
            .env_remove("TS_CONFIG_FILE")
            .output()
            .expect("run torchserve-rs")
    }
}

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            && procs::cmdline(pid).is_some_and(|c| c.contains("torchserve-rs"))
        {
            procs::signal(pid, libc::SIGKILL);
        }
        for pid in procs::live_matching(&self.dir.path().display().to_string()) {
            procs::signal(pid, libc::SIGKILL);
        }
    }
}

fn write_config(dir: &Path) {
    std::fs::create_dir_all(dir.join("tmp")).expect("tmp");
    build_fixture(&dir.join("store"), "echo", &BuildOptions::default());
    let config = format!(
        "inference_address=http://127.0.0.1:0\nmanagement_address=http://127.0.0.1:0\nmetrics_address=http://127.0.0.1:0\n\
         ready_file=ready.json\nmodel_store=store\nload_models=echo.mar\ndefault_workers_per_model=2\n\
         disable_token_authorization=true\nworker_binary={}\n",
        worker_binary().display()
    );
    std::fs::write(dir.join("config.properties"), config).expect("config");
}

#[test]
fn start_and_stop_run_the_server_in_the_background() {
    let g = DaemonGuard {
        dir: tempfile::Builder::new()
            .prefix("tsrs-test-")
            .tempdir()
            .expect("dir"),
    };
    write_config(g.dir.path());
    let out = g.run("--start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log =
        || std::fs::read_to_string(g.dir.path().join("logs/torchserve-rs.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "--start: {stdout}{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    assert!(stdout.contains("torchserve-rs started"), "{stdout}");
    let ready: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(g.dir.path().join("ready.json")).expect("ready file"),
    )
    .expect("json");
    let pid = ready["pid"].as_u64().expect("pid") as u32;
    let pid_file: u32 = std::fs::read_to_string(g.pid_file())
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(pid, pid_file);
    assert!(
        stdout.contains(ready["inference"].as_str().expect("address")),
        "--start prints the bound address: {stdout}"
    );
    let ping = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let r = ping
        .get(format!(
            "http://{}/ping",
            ready["inference"].as_str().expect("address")
        ))
        .send()
        .expect("ping");
    assert_eq!(r.status().as_u16(), 200);
    let workers = procs::live_matching(&g.dir.path().join("tmp").display().to_string());
    assert_eq!(workers.len(), 2, "two start-up workers: {workers:?}");

    let again = g.run("--start");
    assert!(!again.status.success(), "a second --start is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let out = g.run("--stop");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("torchserve-rs has stopped."));
    assert!(
        !procs::alive(pid),
        "server {pid} still running after --stop"
    );
    assert_eq!(
        procs::live_matching(&g.dir.path().display().to_string()),
        Vec::<u32>::new(),
        "workers outlived --stop"
    );
    assert!(!g.pid_file().exists(), "--stop removes the pid file");
    let out = g.run("--stop");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("torchserve-rs is not currently running.")
    );
    assert!(
        log().contains("stopping workers"),
        "the log went to logs/torchserve-rs.log"
    );
}

#[test]
fn bad_configurations_stop_the_start_with_a_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cases: Vec<(ServerOptions, &str)> = vec![
        (
            ServerOptions::default().prop("job_queue_size", "${TSRS_TEST_UNSET_VAR}"),
            "TSRS_TEST_UNSET_VAR",
        ),
        (
            ServerOptions::default().prop("job_queue_size", "lots"),
            "job_queue_size",
        ),
        (
            ServerOptions::default().prop("inference_address", &format!("http://127.0.0.1:{port}")),
            "cannot bind inference address",
        ),
        (
            ServerOptions::default().prop("worker_binary", "/nonexistent/ts-worker"),
            "/nonexistent/ts-worker",
        ),
        (
            ServerOptions::default()
                .arg("--ts-config")
                .arg("missing.properties"),
            "missing.properties",
        ),
    ];
    for (opts, needle) in cases {
        let (status, log) = opts.start_failure();
        assert!(!status.success(), "{needle}: exit {status}");
        assert!(log.contains(needle), "the reason names {needle:?}:\n{log}");
    }
    drop(taken);
    // ${VAR} placeholders are expanded from the environment.
    let s = ServerOptions::default()
        .prop("initial_worker_port", "${TSRS_TEST_PORT}")
        .env("TSRS_TEST_PORT", "9700")
        .fixture("echo")
        .start();
    s.register_ok("url=echo.mar&initial_workers=1");
    assert_eq!(s.describe("echo")[0]["workers"][0]["id"], "9700");
}
