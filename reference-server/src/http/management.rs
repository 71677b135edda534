//! Management API (contract §4): list, register, describe, scale, set-default, unregister,
//! KServe v1 readiness, and `/token` when token authorization is on.

use super::error::ApiError;
use super::openapi;
use super::request::{header_pairs, mime_type, query_pairs, read_body};
use super::response::{json_response, status_response};
use crate::config::parse_bool;
use crate::job::JobEvent;
use crate::lifecycle::RegisterParams;
use crate::model::ModelVersion;
use crate::server::Server;
use crate::settings::Requested;
use crate::store::Overrides;
use crate::tokens::{TokenKind, Tokens};
use crate::workers::process::rss_bytes;
use crate::workers::slot::State;
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use worker_protocol::BatchKind;

pub async fn handle(
    server: &Arc<Server>,
    req: Request,
    segs: &[&str],
    request_id: &str,
) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let model_api = server.config.enable_model_api;
    // /v1/models/{m}: KServe v1 readiness
    if segs.len() == 4 && segs[1] == "v1" && segs[2] == "models" {
        if method != Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        let name = segs[3].split(':').next().unwrap_or("");
        let mv = server.registry.get(name, None)?;
        return Ok(json_response(
            200,
            &json!({ "name": name, "ready": mv.has_workers() }),
        ));
    }
    let is_models = (2..=4).contains(&segs.len()) && segs[1] == "models";
    let is_set_default = segs.len() == 5 && segs[4] == "set-default";
    if !is_models && !is_set_default {
        return Err(ApiError::ResourceNotFound);
    }
    if segs[1] != "models" {
        return Err(ApiError::ResourceNotFound);
    }
    let query = query_pairs(req.uri().query());
    let q = |k: &str| {
        query
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    if segs.len() < 3 {
        return match method {
            Method::GET => Ok(list(server, q("limit"), q("next_page_token"))),
            Method::POST if model_api => register(server, req, &query).await,
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    let name = segs[2];
    let version = if segs.len() == 4 { Some(segs[3]) } else { None };
    match method {
        Method::GET => {
            let customized = parse_bool(q("customized"));
            if version == Some("all") || !customized {
                describe(server, name, version).await
            } else {
                describe_customized(server, req, name, version, request_id).await
            }
        }
        Method::PUT if is_set_default => Ok(status_response(&server.set_default(name, segs[3])?)),
        Method::PUT => {
            let min = int_param(q("min_worker"));
            let min = Some(min.unwrap_or(1));
            let max = int_param(q("max_worker")).or(min);
            let version = version.or_else(|| q("model_version"));
            let sync = parse_bool(q("synchronous"));
            Ok(status_response(
                &server.scale(name, version, min, max, sync).await?,
            ))
        }
        Method::DELETE if model_api => {
            Ok(status_response(&server.unregister(name, version).await?))
        }
        Method::OPTIONS => {
            let mv = server.registry.get(name, version)?;
            Ok(json_response(200, &openapi::model_management_api(&mv)))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// TorchServe's getIntParameter: a value that does not parse counts as absent.
fn int_param(v: Option<&str>) -> Option<i64> {
    v.and_then(|s| s.trim().parse().ok())
}

fn list(server: &Server, limit: Option<&str>, token: Option<&str>) -> Response {
    let mut limit = int_param(limit).unwrap_or(100);
    if !(0..=100).contains(&limit) {
        limit = 100;
    }
    let start = int_param(token).unwrap_or(0).max(0) as usize;
    let defaults = server.registry.defaults();
    let total = defaults.len();
    let mut last = start + limit as usize;
    let mut body = serde_json::Map::new();
    if last > total {
        last = total;
    } else {
        body.insert("nextPageToken".into(), Value::String(last.to_string()));
    }
    let models: Vec<Value> = defaults
        .get(start.min(total)..last.max(start.min(total)))
        .unwrap_or(&[])
        .iter()
        .map(|m| json!({ "modelName": m.name(), "modelUrl": m.url }))
        .collect();
    body.insert("models".into(), Value::Array(models));
    json_response(200, &Value::Object(body))
}

async fn register(
    server: &Arc<Server>,
    req: Request,
    query: &[(String, String)],
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let fields: Vec<(String, Value)> =
        if mime_type(&parts.headers).eq_ignore_ascii_case("application/json") {
            let body = read_body(body, server.config.max_request_size).await?;
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(m)) => m.into_iter().collect(),
                Ok(_) | Err(_) => {
                    return Err(ApiError::BadRequest(
                        "Invalid JSON in the register request body".into(),
                    ));
                }
            }
        } else {
            query
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        };
    let get = |k: &str| {
        fields
            .iter()
            .rev()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v)
    };
    let text = |k: &str| {
        get(k).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    };
    let int = |k: &str| text(k).and_then(|s| s.trim().parse::<i64>().ok());
    let Some(url) = text("url") else {
        return Err(ApiError::BadRequest("Parameter url is required.".into()));
    };
    // `synchronous` defaults to true in TorchServe's code (its docs say false).
    let synchronous = match get("synchronous") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => parse_bool(text("synchronous").as_deref()),
    };
    let params = RegisterParams {
        url,
        overrides: Overrides {
            model_name: text("model_name"),
            runtime: text("runtime"),
            handler: text("handler"),
            default_name: None,
        },
        requested: Requested {
            batch_size: int("batch_size"),
            max_batch_delay: int("max_batch_delay"),
            response_timeout: int("response_timeout"),
            startup_timeout: int("startup_timeout"),
            initial_workers: int("initial_workers"),
        },
        synchronous,
    };
    Ok(status_response(&server.register(params, false).await?))
}

async fn describe(
    server: &Server,
    name: &str,
    version: Option<&str>,
) -> Result<Response, ApiError> {
    let versions = if version == Some("all") {
        server.registry.versions(name)?
    } else {
        vec![server.registry.get(name, version)?]
    };
    let mut out = Vec::with_capacity(versions.len());
    for mv in versions {
        out.push(describe_one(server, &mv, None).await);
    }
    Ok(json_response(200, &Value::Array(out)))
}

/// `?customized=true`: the handler is asked (header `describe: True`) and its JSON answer goes
/// into `customizedMetadata`.
async fn describe_customized(
    server: &Arc<Server>,
    req: Request,
    name: &str,
    version: Option<&str>,
    request_id: &str,
) -> Result<Response, ApiError> {
    let mut headers = header_pairs(req.headers(), req.extensions());
    headers.push(("describe".into(), "True".into()));
    let request = worker_protocol::Request {
        request_id: request_id.to_string(),
        headers,
        params: Vec::new(),
    };
    let (mv, mut rx) = match server.submit(name, version, BatchKind::Describe, request) {
        Ok(ok) => ok,
        Err(crate::lifecycle::SubmitError::NoWorker { .. }) => {
            return Err(ApiError::no_worker_describe(name));
        }
        Err(e) => return Err(e.into()),
    };
    let mut last = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            JobEvent::Chunk(_) => {}
            JobEvent::Done(r) => {
                last = Some(r);
                break;
            }
        }
    }
    let resp = match last {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(ApiError::from_job(e, name, version)),
        None => return Err(ApiError::internal(500, "Worker died.")),
    };
    let meta = match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v @ Value::Object(_)) => v,
        _ if resp.body.is_empty() => Value::Null,
        _ => {
            tracing::warn!(model = %name, "Customized metadata should be a dictionary.");
            json!({})
        }
    };
    let described = describe_one(server, &mv, (!meta.is_null()).then_some(meta)).await;
    Ok(json_response(200, &Value::Array(vec![described])))
}

async fn describe_one(server: &Server, mv: &Arc<ModelVersion>, customized: Option<Value>) -> Value {
    let s = &mv.settings;
    let (min, max) = mv.min_max();
    let mut workers = Vec::new();
    for v in mv.views().await {
        let mut w = serde_json::Map::new();
        w.insert("id".into(), Value::String(v.id.to_string()));
        w.insert(
            "startTime".into(),
            Value::String(v.start_time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        );
        w.insert(
            "status".into(),
            Value::String(
                if v.state == State::Ready {
                    "READY"
                } else {
                    "UNLOADING"
                }
                .into(),
            ),
        );
        w.insert("memoryUsage".into(), json!(v.pid.map_or(0, rss_bytes)));
        if let Some(pid) = v.pid {
            w.insert("pid".into(), json!(pid));
        }
        w.insert("gpu".into(), Value::Bool(v.gpu_id.is_some()));
        w.insert(
            "gpuUsage".into(),
            Value::String(server.gpus.usage(v.gpu_id)),
        );
        workers.push(Value::Object(w));
    }
    let mut d = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        d.insert(k.to_string(), v);
    };
    put("modelName", json!(mv.name()));
    put("modelVersion", json!(mv.version()));
    put("modelUrl", json!(mv.url));
    put("runtime", json!(mv.runtime));
    put("minWorkers", json!(min));
    put("maxWorkers", json!(max));
    put("batchSize", json!(s.batch_size));
    put("maxBatchDelay", json!(s.max_batch_delay));
    put("responseTimeout", json!(s.response_timeout));
    put("startupTimeout", json!(s.startup_timeout));
    put("maxRetryTimeoutInSec", json!(s.max_retry_timeout));
    put("clientTimeoutInMills", json!(s.client_timeout));
    put("parallelType", json!(s.parallel_type));
    put("parallelLevel", json!(s.parallel_level));
    put("deviceType", json!(if mv.uses_gpu { "gpu" } else { "cpu" }));
    if let Some(ids) = &mv.device_ids {
        put("deviceIds", json!(ids));
    }
    put("continuousBatching", json!(s.continuous_batching));
    put("useJobTicket", json!(s.use_job_ticket));
    put("useVenv", json!(s.use_venv));
    put("stateful", json!(s.stateful));
    put("sequenceMaxIdleMSec", json!(s.sequence_max_idle_msec));
    put("sequenceTimeoutMSec", json!(s.sequence_timeout_msec));
    put("maxNumSequence", json!(s.max_num_sequence));
    put(
        "maxSequenceJobQueueSize",
        json!(s.max_sequence_job_queue_size),
    );
    put("loadedAtStartup", json!(mv.loaded_at_startup));
    put("workers", Value::Array(workers));
    let queue = &mv.spec.queue;
    put(
        "jobQueueStatus",
        json!({ "remainingCapacity": queue.remaining_capacity(), "pendingRequests": queue.len() }),
    );
    if let Some(c) = customized {
        put("customizedMetadata", c);
    }
    Value::Object(d)
}

/// `/token?type=management|inference`: rotates a key, authorized by the API key.
pub fn token(
    _server: &Server,
    tokens: &Tokens,
    header: Option<&str>,
    query: Option<&str>,
) -> Response {
    let failed = || {
        ApiError::InvalidKey(
            "Token Authentication failed. Token either incorrect, expired, or not provided correctly".into(),
        )
        .into_response()
    };
    // TorchServe rethrows every failure here with "Authentication" in the text.
    if !tokens.check(header, TokenKind::Api) {
        return failed();
    }
    let kind = match query_pairs(query)
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
    {
        Some("management") => TokenKind::Management,
        Some("inference") => TokenKind::Inference,
        _ => return failed(),
    };
    match tokens.rotate(kind) {
        Ok(()) => {
            let mut resp = Response::new(axum::body::Body::from("\n"));
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => {
            tracing::error!("cannot rewrite the key file: {e}");
            failed()
        }
    }
}
