//! [`TestServer`]: the `torchserve-rs` binary in a temporary folder (its cwd, model store and
//! TMPDIR), bound to port 0 on loopback, found through its ready file, stopped in `Drop`.
//!
//! TMPDIR points inside the folder, so every worker's command line (its socket path) names the
//! folder: [`TestServer::worker_processes`] finds them all in `/proc`, even ones describe never
//! showed, which is how the tests prove no worker outlives its server.

use super::client::{Api, Client, Reply};
use super::procs;
use super::wait_for;
use handlers_fixtures::BuildOptions;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The server binary under test.
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_torchserve-rs");

/// Bounds the wait for the ready file (start-up models load before it is written).
const READY_LIMIT: Duration = Duration::from_secs(120);

/// How a [`TestServer`] is configured before it starts.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    props: Vec<(String, String)>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    fixtures: Vec<(String, BuildOptions)>,
    files: Vec<(String, Vec<u8>)>,
    config_file: bool,
}

impl Default for ServerOptions {
    /// Token authorization off and the model API on, as the conformance suite runs TorchServe.
    fn default() -> Self {
        ServerOptions::secure_defaults()
            .prop("disable_token_authorization", "true")
            .prop("enable_model_api", "true")
    }
}

impl ServerOptions {
    /// TorchServe 0.12's defaults: token authorization on, model API off.
    pub fn secure_defaults() -> Self {
        let props = [
            ("inference_address", "http://127.0.0.1:0"),
            ("management_address", "http://127.0.0.1:0"),
            ("metrics_address", "http://127.0.0.1:0"),
            ("ready_file", "ready.json"),
            ("model_store", "store"),
        ];
        let props = props
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerOptions {
            props,
            args: Vec::new(),
            env: Vec::new(),
            fixtures: Vec::new(),
            files: Vec::new(),
            config_file: true,
        }
        .prop("worker_binary", &worker_binary().display().to_string())
    }

    /// A config.properties line (a later value for the same key replaces an earlier one).
    pub fn prop(mut self, key: &str, value: &str) -> Self {
        self.props.retain(|(k, _)| k != key);
        self.props.push((key.to_string(), value.to_string()));
        self
    }

    /// Removes a config.properties line set by the defaults.
    pub fn without_prop(mut self, key: &str) -> Self {
        self.props.retain(|(k, _)| k != key);
        self
    }

    /// A command-line flag after `--foreground`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// An environment variable of the server process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Builds this fixture's default `.mar` (model name = fixture name) into the store first.
    pub fn fixture(self, name: &str) -> Self {
        self.fixture_with(name, BuildOptions::default())
    }

    pub fn fixture_with(mut self, name: &str, opts: BuildOptions) -> Self {
        self.fixtures.push((name.to_string(), opts));
        self
    }

    /// Any other file in the store.
    pub fn store_file(mut self, name: &str, bytes: &[u8]) -> Self {
        self.files.push((name.to_string(), bytes.to_vec()));
        self
    }

    pub fn start(self) -> TestServer {
        TestServer::start(self)
    }

    /// For configurations the server must refuse: its exit status and log.
    pub fn start_failure(self) -> (ExitStatus, String) {
        TestServer::start_failure(self)
    }
}

pub struct TestServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub pid: u32,
    pub inference: String,
    pub management: String,
    pub metrics: Option<String>,
    client: Client,
    /// Authorization header value sent with every request (token auth tests)
    bearer: Option<String>,
}

impl TestServer {
    /// A server with the default options and no fixtures in its store.
    pub fn new() -> TestServer {
        ServerOptions::default().start()
    }

    fn start(opts: ServerOptions) -> TestServer {
        let mut server = Self::spawn(opts);
        let ready = server.wait_ready();
        server.inference = ready["inference"]
            .as_str()
            .expect("inference address")
            .to_string();
        server.management = ready["management"]
            .as_str()
            .expect("management address")
            .to_string();
        server.metrics = ready["metrics"].as_str().map(String::from);
        assert_eq!(
            ready["pid"].as_u64(),
            Some(u64::from(server.pid)),
            "ready file pid"
        );
        server
    }

    /// Starts a server that must refuse to start: returns its exit status and log.
    fn start_failure(opts: ServerOptions) -> (ExitStatus, String) {
        let mut server = Self::spawn(opts);
        let mut child = server.child.take().expect("child");
        let ready = server.dir.path().join("ready.json");
        let status = wait_for(Duration::from_secs(60), "the server to give up", || {
            assert!(
                !ready.exists(),
                "the server started; log:\n{}",
                server.log()
            );
            child.try_wait().expect("try_wait")
        });
        (status, server.log())
    }

    fn spawn(opts: ServerOptions) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("tsrs-test-")
            .tempdir()
            .expect("temp dir");
        let store = dir.path().join("store");
        fs::create_dir_all(&store).expect("store dir");
        fs::create_dir_all(dir.path().join("tmp")).expect("tmp dir");
        for (name, o) in &opts.fixtures {
            build_fixture(&store, name, o);
        }
        for (name, bytes) in &opts.files {
            fs::write(store.join(name), bytes).expect("store file");
        }
        if opts.config_file {
            let text: String = opts
                .props
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            fs::write(dir.path().join("config.properties"), text).expect("write config.properties");
        }
        let log_path = dir.path().join("server.log");
        let log = fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(SERVER_BIN);
        cmd.arg("--foreground")
            .args(&opts.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .env("TMPDIR", dir.path().join("tmp"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("TS_CONFIG_FILE")
            .env_remove("CUDA_VISIBLE_DEVICES");
        for var in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start torchserve-rs");
        let pid = child.id();
        TestServer {
            child: Some(child),
            dir,
            pid,
            inference: String::new(),
            management: String::new(),
            metrics: None,
            client: Client::new(),
            bearer: None,
        }
    }

    /// Polls for the ready file while checking the child is alive.
    fn wait_ready(&mut self) -> Value {
        let path = self.dir.path().join("ready.json");
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Ok(text) = fs::read_to_string(&path)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                return v;
            }
            let child = self.child.as_mut().expect("child");
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "torchserve-rs exited during start-up ({status}); log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no ready file after {READY_LIMIT:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Builds a fixture archive into the store of the running server; returns its file name.
    pub fn add_fixture(&self, name: &str, opts: BuildOptions) -> String {
        let path = build_fixture(&self.store(), name, &opts);
        path.file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned()
    }

    /// Sends `Authorization: Bearer <key>` with every later request (None: no header).
    pub fn set_bearer(&mut self, key: Option<&str>) {
        self.bearer = key.map(|k| format!("Bearer {k}"));
    }

    pub fn base(&self, api: Api) -> String {
        let addr = match api {
            Api::Inference => &self.inference,
            Api::Management => &self.management,
            Api::Metrics => self.metrics.as_ref().expect("metrics API enabled"),
        };
        format!("http://{addr}")
    }

    /// A request to one of the APIs; `send` checks the conventions every answer must follow.
    pub fn req(&self, api: Api, method: &str, path: &str) -> super::client::Req<'_> {
        let url = format!("{}{path}", self.base(api));
        let mut r = self.client.request(method, &url);
        if let Some(b) = &self.bearer {
            r = r.header("Authorization", b);
        }
        r
    }

    pub fn get(&self, api: Api, path: &str) -> Reply {
        self.req(api, "GET", path).send()
    }

    pub fn mgmt(&self, method: &str, path: &str) -> Reply {
        self.req(Api::Management, method, path).send()
    }

    /// `POST /models?<query>` and the reply.
    pub fn register(&self, query: &str) -> Reply {
        self.mgmt("POST", &format!("/models?{query}"))
    }

    /// Registers and insists on success (200 or 202).
    pub fn register_ok(&self, query: &str) -> Reply {
        let r = self.register(query);
        assert!(
            r.status == 200 || r.status == 202,
            "register {query}: {} {}\n{}",
            r.status,
            r.text(),
            self.log()
        );
        r
    }

    /// Synchronous scale, insisting on 200.
    pub fn scale_ok(&self, model: &str, min: u32) {
        let r = self.mgmt(
            "PUT",
            &format!("/models/{model}?min_worker={min}&synchronous=true"),
        );
        assert_eq!(r.status, 200, "scale {model} to {min}: {}", r.text());
    }

    /// The describe array of a model (`/models/{m}` or `/models/{m}/{v}`).
    pub fn describe(&self, path: &str) -> Value {
        let r = self.mgmt("GET", &format!("/models/{path}"));
        assert_eq!(r.status, 200, "describe {path}: {}", r.text());
        r.json()
    }

    /// Worker pids of a model's default version, in describe order.
    /// Waits until a batch of `model` has reached a worker (the batch-size histogram counts
    /// it): the request sent before is in the handler, later ones will queue behind it.
    pub fn wait_batch_dispatched(&self, model: &str, what: &str) {
        let prefix = format!("ts_batch_size_count{{model_name=\"{model}\"");
        wait_for(Duration::from_secs(30), what, || {
            let m = self.get(Api::Metrics, "/metrics").text();
            m.lines().any(|l| l.starts_with(&prefix)).then_some(())
        });
    }

    pub fn worker_pids(&self, model: &str) -> Vec<u32> {
        self.describe(model)[0]["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .map(|w| w["pid"].as_u64().expect("pid") as u32)
            .collect()
    }

    /// `POST /predictions/{path}` with a JSON body.
    pub fn predict_json(&self, path: &str, body: &Value) -> Reply {
        self.req(Api::Inference, "POST", &format!("/predictions/{path}"))
            .json(body)
            .send()
    }

    /// Live processes started for this server (their command line names its folder).
    pub fn worker_processes(&self) -> Vec<u32> {
        procs::live_matching(&self.dir.path().display().to_string())
    }

    /// Sends `signal` and waits for the server to exit; returns its status. The workers must be
    /// gone by the time the server has exited.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("server still running");
        procs::signal(child.id(), signal);
        let status = wait_for(Duration::from_secs(60), "the server to exit", || {
            child.try_wait().expect("try_wait")
        });
        let left = self.worker_processes();
        assert!(
            left.is_empty(),
            "workers outlived the server: {left:?}\nlog:\n{}",
            self.log()
        );
        status
    }

    /// Waits for the server process to exit by itself (it was stopped from outside).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("server still running");
        wait_for(limit, "the server to exit", || {
            child.try_wait().expect("try_wait")
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            procs::signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Whatever is left was started by this server (it names our folder): end it.
        for pid in self.worker_processes() {
            procs::signal(pid, libc::SIGKILL);
        }
        if std::thread::panicking() {
            eprintln!(
                "----- torchserve-rs log ({}) -----\n{}\n----- end of log -----",
                self.dir.path().display(),
                self.log()
            );
        }
    }
}

/// Builds a fixture into `store`.
pub fn build_fixture(store: &Path, name: &str, opts: &BuildOptions) -> PathBuf {
    let fixture = handlers_fixtures::get(name).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    fixture
        .build(store, opts)
        .unwrap_or_else(|e| panic!("building fixture {name}: {e}"))
}

/// `BuildOptions` for a fixture packaged under another model name (and file stem).
pub fn named(model: &str) -> BuildOptions {
    BuildOptions {
        model_name: Some(model.to_string()),
        file_stem: Some(model.to_string()),
        ..BuildOptions::default()
    }
}

/// `ts-worker` beside the server binary, built once per test binary when missing.
pub fn worker_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let server = Path::new(SERVER_BIN);
        let dir = server.parent().expect("binary folder");
        let worker = dir.join("ts-worker");
        if !worker.is_file() {
            build_worker(dir);
        }
        assert!(
            worker.is_file(),
            "ts-worker still missing at {}",
            worker.display()
        );
        worker
    })
    .clone()
}

/// `cargo build -p python-worker` with the profile and target folder the server was built with.
fn build_worker(profile_dir: &Path) {
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let target_dir = profile_dir.parent().expect("target folder");
    eprintln!(
        "ts-worker is missing beside {}: building it (cargo build -p python-worker)",
        profile_dir.display()
    );
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-p", "python-worker", "--bin", "ts-worker"])
        .env("CARGO_TARGET_DIR", target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().expect("run cargo");
    assert!(status.success(), "building ts-worker failed: {status}");
}
