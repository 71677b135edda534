//! Metrics API (contract §5.3): `GET /metrics` in Prometheus text format, `name[]` filter.

use super::error::ApiError;
use super::request::query_pairs;
use crate::metrics::Family;
use crate::server::Server;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;

pub fn handle(server: &Server, req: &Request, segs: &[&str]) -> Result<Response, ApiError> {
    if segs.len() < 2 || segs[1] != "metrics" {
        return Err(ApiError::ResourceNotFound);
    }
    let names: Vec<String> = query_pairs(req.uri().query())
        .into_iter()
        .filter(|(k, _)| k == "name[]")
        .map(|(_, v)| v)
        .collect();
    let depth: Vec<_> = server
        .registry
        .all()
        .iter()
        .map(|mv| {
            let labels = vec![
                ("model_name".to_string(), mv.name().to_string()),
                ("model_version".to_string(), mv.version().to_string()),
            ];
            (labels, mv.spec.queue.len() as f64)
        })
        .collect();
    let extra = vec![(
        "ts_queue_depth".to_string(),
        Family::gauge("Requests waiting in a model's queue", depth),
    )];
    let mut resp = Response::new(axum::body::Body::from(server.metrics.render(&names, extra)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}
