//! Response conventions shared by every API (contract: serialisation conventions): JSON
//! pretty-printed with a 2-space indent plus a trailing newline, `{"status": ...}` bodies, and the
//! headers every answer carries (added by [`finish`]).

use crate::lifecycle::StatusReply;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

pub fn json_response(code: u16, value: &serde_json::Value) -> Response {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn status_response(reply: &StatusReply) -> Response {
    json_response(reply.code, &serde_json::json!({ "status": reply.status }))
}

/// Adds the headers TorchServe puts on every response: the request id, the no-cache trio, and
/// `Connection: close` after an error (the connection is then closed).
pub fn finish(resp: &mut Response, request_id: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache; no-store, must-revalidate, private"),
    );
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 UTC"),
    );
    let close = resp.status().as_u16() >= 400;
    resp.headers_mut().insert(
        header::CONNECTION,
        HeaderValue::from_static(if close { "close" } else { "keep-alive" }),
    );
}
