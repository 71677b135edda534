//! Inference API (contract §5.1, §5.2): /ping, /predictions, /explanations, the legacy and
//! SageMaker routes, and KServe v1/v2 routes.

use super::error::ApiError;
use super::openapi;
use super::request::{body_params, header_pairs, query_pairs, read_body};
use super::response::json_response;
use crate::job::JobEvent;
use crate::server::Server;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;
use worker_protocol::{BatchKind, Param};

/// Where a prediction goes and what the frontend adds to it.
struct Target<'a> {
    model: &'a str,
    version: Option<&'a str>,
    /// `explain` header value (None on the legacy routes, which send none)
    explain: Option<bool>,
    /// `url_path` header (predictions/explanations only)
    url_path: Option<String>,
    /// legacy and SageMaker routes deliver query parameters to the handler
    with_query: bool,
}

pub async fn handle(
    server: &Arc<Server>,
    req: Request,
    segs: &[&str],
    request_id: &str,
) -> Result<Response, ApiError> {
    match segs[1] {
        "ping" => Ok(ping(server).await),
        "predictions" | "explanations" => {
            if segs.len() < 3 {
                return Err(ApiError::ResourceNotFound);
            }
            let url_path = if segs.len() > 4 {
                segs[4..].join("/")
            } else {
                String::new()
            };
            let t = Target {
                model: segs[2],
                version: segs.get(3).copied(),
                explain: Some(segs[1] == "explanations"),
                url_path: Some(url_path),
                with_query: false,
            };
            predict(server, req, t, request_id).await
        }
        "invocations" | "models" => {
            let ok = (segs.len() == 2 && segs[1] == "invocations")
                || (segs.len() == 4 && segs[3] == "invoke");
            if !ok {
                return Err(ApiError::ResourceNotFound);
            }
            let query = query_pairs(req.uri().query());
            let named = if segs[1] == "invocations" {
                query
                    .iter()
                    .find(|(k, _)| k == "model_name")
                    .map(|(_, v)| v.clone())
            } else {
                Some(segs[2].to_string())
            };
            let name = match named.filter(|n| !n.is_empty()) {
                Some(n) => n,
                None => match startup_single(server) {
                    Some(n) => n,
                    None => {
                        return Err(ApiError::BadRequest(
                            "Parameter model_name is required.".into(),
                        ));
                    }
                },
            };
            let t = Target {
                model: &name,
                version: None,
                explain: None,
                url_path: None,
                with_query: true,
            };
            predict(server, req, t, request_id).await
        }
        "v1" if segs.len() == 4
            && segs[2] == "models"
            && (segs[3].contains(":predict") || segs[3].contains(":explain")) =>
        {
            let model = segs[3].split(':').next().unwrap_or("");
            let t = Target {
                model,
                version: None,
                explain: Some(segs[3].contains(":explain")),
                url_path: None,
                with_query: false,
            };
            predict(server, req, t, request_id).await
        }
        "v2" if segs.len() == 5
            && segs[2] == "models"
            && (segs[4] == "infer" || segs[4] == "explain") =>
        {
            let model = segs[3].split(':').next().unwrap_or("");
            let t = Target {
                model,
                version: None,
                explain: Some(segs[4] == "explain"),
                url_path: None,
                with_query: false,
            };
            predict(server, req, t, request_id).await
        }
        _ => {
            // legacy /{model}/predict and /{model}/{version}/predict
            let (model, version) = match segs.len() {
                3 if segs[2] == "predict" => (segs[1], None),
                4 if segs[3] == "predict" => (segs[1], Some(segs[2])),
                _ => return Err(ApiError::ResourceNotFound),
            };
            let t = Target {
                model,
                version,
                explain: None,
                url_path: None,
                with_query: true,
            };
            predict(server, req, t, request_id).await
        }
    }
}

/// The only model loaded at start-up, for SageMaker routes without a model name.
fn startup_single(server: &Server) -> Option<String> {
    let startup: Vec<_> = server
        .registry
        .defaults()
        .into_iter()
        .filter(|m| m.loaded_at_startup)
        .collect();
    (startup.len() == 1).then(|| startup[0].name().to_string())
}

async fn ping(server: &Server) -> Response {
    let mut healthy = true;
    for mv in server.registry.defaults() {
        if !mv.is_healthy().await {
            healthy = false;
            break;
        }
    }
    let (code, text) = if healthy {
        (200, "Healthy")
    } else {
        (500, "Unhealthy")
    };
    json_response(code, &serde_json::json!({ "status": text }))
}

async fn predict(
    server: &Arc<Server>,
    req: Request,
    t: Target<'_>,
    request_id: &str,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = read_body(body, server.config.max_request_size).await?;
    if parts.method == Method::OPTIONS {
        let mv = server.registry.get(t.model, t.version)?;
        return Ok(json_response(200, &openapi::model_inference_api(&mv)));
    }
    let mut headers = header_pairs(&parts.headers, &parts.extensions);
    if let Some(p) = &t.url_path {
        headers.push(("url_path".into(), p.clone()));
    }
    if let Some(e) = t.explain {
        headers.push(("explain".into(), if e { "True" } else { "False" }.into()));
    }
    let mut params: Vec<Param> = Vec::new();
    if t.with_query {
        for (k, v) in query_pairs(parts.uri.query()) {
            params.push(Param {
                name: k,
                content_type: String::new(),
                value: v.into_bytes(),
            });
        }
    }
    params.extend(body_params(&parts.headers, body).await?);
    let request = worker_protocol::Request {
        request_id: request_id.to_string(),
        headers,
        params,
    };

    let (_mv, mut rx) = server.submit(t.model, t.version, BatchKind::Predict, request)?;
    let first = rx.recv().await;
    let resp = match first {
        Some(JobEvent::Done(Ok(r))) => Ok(worker_response(r, None)),
        Some(JobEvent::Chunk(r)) => Ok(worker_response(r, Some(rx))),
        Some(JobEvent::Done(Err(e))) => Err(ApiError::from_job(e, t.model, t.version)),
        None => Err(ApiError::internal(500, "Worker died.")),
    };
    let status = match &resp {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.status(),
    };
    server
        .metrics
        .inference_done(t.model, t.version, status, started.elapsed());
    resp
}

/// Turns a handler's response into HTTP. With `stream`, more chunks follow (chunked encoding).
fn worker_response(
    r: worker_protocol::Response,
    stream: Option<tokio::sync::mpsc::UnboundedReceiver<JobEvent>>,
) -> Response {
    let body = match stream {
        None => Body::from(r.body),
        Some(rx) => {
            let first = Some(bytes::Bytes::from(r.body));
            let chunks =
                futures_util::stream::unfold((Some(rx), first), |(rx, first)| async move {
                    if let Some(b) = first {
                        return Some((Ok::<_, std::io::Error>(b), (rx, None)));
                    }
                    let mut rx = rx?;
                    match rx.recv().await? {
                        JobEvent::Chunk(c) => {
                            Some((Ok(bytes::Bytes::from(c.body)), (Some(rx), None)))
                        }
                        JobEvent::Done(Ok(c)) => {
                            Some((Ok(bytes::Bytes::from(c.body)), (None, None)))
                        }
                        JobEvent::Done(Err(e)) => {
                            tracing::error!("streamed response ended early: {e}");
                            None
                        }
                    }
                });
            Body::from_stream(chunks)
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    if !r.phrase.is_empty()
        && let Ok(p) = hyper::ext::ReasonPhrase::try_from(r.phrase.clone().into_bytes())
    {
        resp.extensions_mut().insert(p);
    }
    let h = resp.headers_mut();
    if let Some(ct) = r.content_type
        && let Ok(v) = HeaderValue::from_str(&ct)
    {
        h.insert(header::CONTENT_TYPE, v);
    }
    for (k, v) in r.headers {
        if k.eq_ignore_ascii_case("ts_stream_next") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(name, value);
        }
    }
    resp
}
