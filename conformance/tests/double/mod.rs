//! A small stand-in for a TorchServe-like server, faithful for a few groups of the suite
//! (ping and routing errors, batching with the batch_recorder fixture, GPU assignment with the
//! gpu probes) and able to break on purpose, so tests can prove the suite notices.
//! It reads the archives the suite copies into its store with the `mar` crate.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// Deliberate deviations from the contract.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Batches carry one request more than batch_size.
    pub oversize_batches: bool,
    /// Predicting an unknown model answers 200 instead of 404.
    pub found_instead_of_404: bool,
    /// The gpu probe reports the GPU after the one the worker was given.
    pub gpu_off_by_one: bool,
}

pub struct Double {
    pub inference: String,
    pub management: String,
    pub metrics: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Double {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Recorder,
    Probe,
    Other,
}

struct Job {
    body: Value,
    request_id: String,
    reply: oneshot::Sender<Value>,
}

struct FakeWorker {
    id: u32,
    pid: i64,
    gpu: Option<u32>,
}

struct Model {
    url: String,
    batch_size: usize,
    max_delay: u64,
    device_ids: Option<Vec<u32>>,
    gpu: bool,
    workers: Vec<FakeWorker>,
    queue: Option<mpsc::UnboundedSender<Job>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Shared {
    store: PathBuf,
    gpus: u32,
    faults: Faults,
    state: Mutex<StateInner>,
}

struct StateInner {
    models: HashMap<String, Model>,
    gpu_counter: u32,
    next_port: u32,
    next_pid: i64,
}

type App = Arc<Shared>;

pub async fn start(store: PathBuf, gpus: u32, faults: Faults) -> Double {
    let shared = Arc::new(Shared {
        store,
        gpus,
        faults,
        state: Mutex::new(StateInner {
            models: HashMap::new(),
            gpu_counter: 0,
            next_port: 9000,
            next_pid: 40_000,
        }),
    });
    let router = Router::new()
        .route("/ping", get(ping))
        .route("/models", post(register))
        .route("/models/{name}", get(describe).delete(unregister))
        .route("/models/{name}/{version}", get(describe_version))
        .route("/predictions/{name}", any(predict))
        .fallback(not_found)
        .with_state(shared);
    let mut tasks = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        urls.push(format!("http://{}", listener.local_addr().expect("addr")));
        let r = router.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, r).await;
        }));
    }
    Double {
        inference: urls[0].clone(),
        management: urls[1].clone(),
        metrics: urls[2].clone(),
        tasks,
    }
}

fn json_reply(status: StatusCode, v: &Value, request_id: Option<&str>) -> Response {
    let body = serde_json::to_string_pretty(v).expect("serialisable") + "\n";
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let id = request_id
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    h.insert("x-request-id", HeaderValue::from_str(&id).expect("ascii"));
    if status.as_u16() >= 400 {
        h.insert("connection", HeaderValue::from_static("close"));
    }
    r
}

fn error(code: u16, ty: &str, message: &str) -> Response {
    json_reply(
        StatusCode::from_u16(code).expect("valid"),
        &json!({"code": code, "type": ty, "message": message}),
        None,
    )
}

async fn ping() -> Response {
    json_reply(StatusCode::OK, &json!({"status": "Healthy"}), None)
}

async fn not_found() -> Response {
    error(
        404,
        "ResourceNotFoundException",
        "Requested resource is not found, please refer to API document.",
    )
}

/// The handler string and model-config.yaml of an archive in the store.
fn read_archive(path: &std::path::Path) -> Option<(String, serde_yaml::Value)> {
    let mut archive = mar::archive::Archive::open(path).ok()?;
    let manifest: Value =
        serde_json::from_slice(&archive.read("MAR-INF/MANIFEST.json").ok()??).ok()?;
    let handler = manifest["model"]["handler"].as_str()?.to_owned();
    let yaml = match manifest["model"]["configFile"].as_str() {
        Some(cfg) => archive
            .read(cfg)
            .ok()
            .flatten()
            .and_then(|b| serde_yaml::from_slice(&b).ok())
            .unwrap_or(serde_yaml::Value::Null),
        None => serde_yaml::Value::Null,
    };
    Some((handler, yaml))
}

async fn register(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(url) = q.get("url") else {
        return error(400, "BadRequestException", "Parameter url is required.");
    };
    let Some((handler, yaml)) = read_archive(&app.store.join(url)) else {
        return error(
            404,
            "ModelNotFoundException",
            &format!("Model not found at: {url}"),
        );
    };
    let name = q
        .get("model_name")
        .cloned()
        .unwrap_or_else(|| url.trim_end_matches(".mar").to_owned());
    let kind = if handler.starts_with("batch_recorder") {
        Kind::Recorder
    } else if handler.starts_with("gpu_probe") {
        Kind::Probe
    } else {
        Kind::Other
    };
    let int = |key: &str| yaml.get(key).and_then(serde_yaml::Value::as_u64);
    let batch_size = q
        .get("batch_size")
        .and_then(|v| v.parse().ok())
        .or(int("batchSize"))
        .unwrap_or(1) as usize;
    let max_delay = q
        .get("max_batch_delay")
        .and_then(|v| v.parse().ok())
        .or(int("maxBatchDelay"))
        .unwrap_or(100);
    let device_ids: Option<Vec<u32>> =
        yaml.get("deviceIds")
            .and_then(|v| v.as_sequence())
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_u64().map(|n| n as u32))
                    .collect()
            });
    let cpu_only = yaml.get("deviceType").and_then(|v| v.as_str()) == Some("cpu");
    let n: u32 = q
        .get("initial_workers")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);

    let mut st = app.state.lock().expect("not poisoned");
    if st.models.contains_key(&name) {
        return error(
            409,
            "ConflictStatusException",
            &format!("Model version 1.0 is already registered for model {name}"),
        );
    }
    let gpu = app.gpus > 0 && !cpu_only;
    let (tx, rx) = mpsc::unbounded_channel::<Job>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut model = Model {
        url: url.clone(),
        batch_size,
        max_delay,
        device_ids: device_ids.clone(),
        gpu,
        workers: Vec::new(),
        queue: Some(tx),
        tasks: Vec::new(),
    };
    for i in 0..n {
        let gpu_id = if !gpu {
            None
        } else if let Some(ids) = &device_ids {
            Some(ids[i as usize % ids.len()])
        } else {
            st.gpu_counter = (st.gpu_counter + 1) % app.gpus;
            Some(st.gpu_counter)
        };
        let w = FakeWorker {
            id: st.next_port,
            pid: st.next_pid,
            gpu: gpu_id,
        };
        st.next_port += 1;
        st.next_pid += 1;
        let limit = batch_size + usize::from(app.faults.oversize_batches);
        let reported_gpu = gpu_id.map(|g| {
            if app.faults.gpu_off_by_one {
                (g + 1) % app.gpus
            } else {
                g
            }
        });
        model.tasks.push(tokio::spawn(worker_loop(
            rx.clone(),
            kind,
            limit,
            batch_size,
            max_delay,
            w.pid,
            reported_gpu,
        )));
        model.workers.push(w);
    }
    st.models.insert(name.clone(), model);
    let text = if n == 0 {
        format!(
            "Model \"{name}\" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model."
        )
    } else {
        format!("Model \"{name}\" Version: 1.0 registered with {n} initial workers")
    };
    json_reply(StatusCode::OK, &json!({"status": text}), None)
}

/// One worker: forms a batch (first job, then more until the delay runs out or the batch
/// is full), answers it, repeats.
async fn worker_loop(
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    kind: Kind,
    limit: usize,
    batch_size: usize,
    max_delay: u64,
    pid: i64,
    gpu: Option<u32>,
) {
    let mut call_no = 0;
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            batch.push(first);
            let deadline = tokio::time::Instant::now() + Duration::from_millis(max_delay);
            while batch.len() < limit {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => batch.push(job),
                    _ => break,
                }
            }
        }
        call_no += 1;
        let sleep = batch
            .iter()
            .filter_map(|j| j.body["sleep"].as_f64())
            .fold(0.0, f64::max);
        tokio::time::sleep(Duration::from_secs_f64(sleep)).await;
        let ids: Vec<String> = batch.iter().map(|j| j.request_id.clone()).collect();
        for (i, job) in batch.into_iter().enumerate() {
            let answer = match kind {
                Kind::Recorder => {
                    json!({"batch_len": ids.len(), "request_ids": ids, "my_request_id": ids[i], "index": i,
                    "echo": job.body, "call_no": call_no, "pid": pid, "batch_size": batch_size, "started": 0})
                }
                Kind::Probe => {
                    json!({"gpu_id": gpu, "torch": false, "cuda_available": false, "device_count": 0,
                    "tensor_device": null, "cuda_visible_devices": null, "pid": pid})
                }
                Kind::Other => json!({}),
            };
            let _ = job.reply.send(answer);
        }
    }
}

fn describe_model(name: &str, m: &Model) -> Value {
    let workers: Vec<Value> = m
        .workers
        .iter()
        .map(|w| json!({"id": w.id.to_string(), "startTime": "2026-01-01T00:00:00.000Z", "status": "READY", "memoryUsage": 0,
            "pid": w.pid, "gpu": w.gpu.is_some(), "gpuUsage": "N/A"}))
        .collect();
    let mut v = json!({"modelName": name, "modelVersion": "1.0", "modelUrl": m.url, "runtime": "python",
        "minWorkers": m.workers.len(), "maxWorkers": m.workers.len(), "batchSize": m.batch_size, "maxBatchDelay": m.max_delay,
        "deviceType": if m.gpu { "gpu" } else { "cpu" }});
    if let Some(ids) = &m.device_ids {
        v["deviceIds"] = json!(ids);
    }
    v["workers"] = json!(workers);
    v["jobQueueStatus"] = json!({"remainingCapacity": 100, "pendingRequests": 0});
    v
}

async fn describe(State(app): State<App>, Path(name): Path<String>) -> Response {
    let st = app.state.lock().expect("not poisoned");
    match st.models.get(&name) {
        Some(m) => json_reply(StatusCode::OK, &json!([describe_model(&name, m)]), None),
        None => error(
            404,
            "ModelNotFoundException",
            &format!("Model not found: {name}"),
        ),
    }
}

async fn describe_version(
    state: State<App>,
    Path((name, _version)): Path<(String, String)>,
) -> Response {
    describe(state, Path(name)).await
}

async fn unregister(State(app): State<App>, Path(name): Path<String>) -> Response {
    let removed = app.state.lock().expect("not poisoned").models.remove(&name);
    match removed {
        Some(m) => {
            for t in m.tasks {
                t.abort();
            }
            json_reply(
                StatusCode::OK,
                &json!({"status": format!("Model \"{name}\" unregistered")}),
                None,
            )
        }
        None => error(
            404,
            "ModelNotFoundException",
            &format!("Model not found: {name}"),
        ),
    }
}

async fn predict(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let queue = app
        .state
        .lock()
        .expect("not poisoned")
        .models
        .get(&name)
        .map(|m| m.queue.clone());
    let Some(queue) = queue else {
        if app.faults.found_instead_of_404 {
            return json_reply(StatusCode::OK, &json!({}), None);
        }
        return error(
            404,
            "ModelNotFoundException",
            &format!("Model not found: {name}"),
        );
    };
    let Some(queue) = queue else {
        return error(503, "ServiceUnavailableException", "no worker");
    };
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let value = if json_body {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = oneshot::channel();
    if queue
        .send(Job {
            body: value,
            request_id: request_id.clone(),
            reply: tx,
        })
        .is_err()
    {
        return error(503, "ServiceUnavailableException", "no worker");
    }
    match rx.await {
        Ok(answer) => json_reply(StatusCode::OK, &answer, Some(&request_id)),
        Err(_) => error(500, "InternalServerException", "Worker died."),
    }
}
