//! The three HTTP APIs (inference, management, metrics) on their own listeners.
//!
//! Routing follows TorchServe's handler chain (FE/ServerInitializer.java) rather than a route
//! table: the API description answers first (no token needed), then token authorization, then the
//! API's own handler, and anything left is 404 ResourceNotFoundException. Every request gets a
//! span with its request id, which is also the id the handler sees in `context.request_ids`.

pub mod error;
mod header_case;
mod inference;
mod management;
mod metrics_api;
mod openapi;
mod request;
pub mod response;

use crate::server::{Server, StartError};
use crate::tokens::TokenKind;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use error::ApiError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::Instrument;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Inference,
    Management,
    Metrics,
}

/// The bound listeners (bound before models load, so a port clash fails fast).
pub struct Listeners {
    pub inference: TcpListener,
    pub management: TcpListener,
    pub metrics: Option<TcpListener>,
}

pub async fn bind(server: &Server) -> Result<Listeners, StartError> {
    let c = &server.config;
    let bind = |what: &'static str, addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { what, addr, source })
    };
    Ok(Listeners {
        inference: bind("inference", c.inference_address).await?,
        management: bind("management", c.management_address).await?,
        metrics: if c.enable_metrics_api {
            Some(bind("metrics", c.metrics_address).await?)
        } else {
            None
        },
    })
}

/// The router of one API; all paths go through [`dispatch`].
pub fn router(server: Arc<Server>, api: Api) -> Router {
    Router::new().fallback(dispatch).with_state((server, api))
}

/// Serves the three APIs until `shutdown` resolves.
pub async fn serve(
    server: Arc<Server>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    let mut apis = vec![
        (listeners.inference, Api::Inference),
        (listeners.management, Api::Management),
    ];
    if let Some(m) = listeners.metrics {
        apis.push((m, Api::Metrics));
    }
    for (listener, api) in apis {
        let mut rx = tx.subscribe();
        let app = router(server.clone(), api)
            .into_make_service_with_connect_info::<header_case::ConnNames>();
        tasks.push(tokio::spawn(async move {
            axum::serve(header_case::CaseListener(listener), app)
                .with_graceful_shutdown(async move {
                    let _ = rx.recv().await;
                })
                .await
        }));
    }
    shutdown.await;
    let _ = tx.send(());
    for t in tasks {
        t.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// Splits a path like TorchServe does (`/a/b` → ["", "a", "b"]); empty trailing segments drop.
pub fn segments(path: &str) -> Vec<&str> {
    let mut segs: Vec<&str> = path.split('/').collect();
    while segs.len() > 1 && segs.last() == Some(&"") {
        segs.pop();
    }
    if segs.len() == 1 && segs[0].is_empty() {
        segs.clear();
    }
    segs
}

/// Percent-decodes a URI path as Netty's QueryStringDecoder.path() does for TorchServe ('+'
/// stays a '+'), so `/predictions/my%20model` reaches the model "my model". A malformed escape
/// is kept as written.
pub fn decode_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn dispatch(State((server, api)): State<(Arc<Server>, Api)>, mut req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let names = req
        .extensions()
        .get::<axum::extract::ConnectInfo<header_case::ConnNames>>()
        .and_then(|c| c.0.take_names());
    if let Some(names) = names {
        req.extensions_mut()
            .insert(header_case::OriginalNames(names));
    }
    let span = tracing::info_span!("request", id = %request_id, api = ?api, method = %req.method(), path = %req.uri().path());
    async move {
        let started = std::time::Instant::now();
        let mut resp = route(&server, api, req, &request_id).await;
        response::finish(&mut resp, &request_id);
        let status = resp.status().as_u16();
        server.metrics.http_status(status);
        tracing::debug!(
            status,
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
        resp
    }
    .instrument(span)
    .await
}

async fn route(server: &Arc<Server>, api: Api, req: Request, request_id: &str) -> Response {
    let path = decode_path(req.uri().path());
    let segs = segments(&path);
    // API description first, without a token (ApiDescriptionRequestHandler).
    if segs.is_empty() || (segs.len() == 2 && segs[1] == "api-description") {
        if (segs.is_empty() && req.method() == Method::OPTIONS) || segs.len() == 2 {
            return openapi::describe_api(api);
        }
        return ApiError::MethodNotAllowed.into_response();
    }
    if let Some(tokens) = &server.tokens {
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match api {
            Api::Inference if !tokens.check(header, TokenKind::Inference) => {
                return ApiError::InvalidKey(error::TOKEN_TEXT.into()).into_response();
            }
            Api::Management
                if path.contains("/token")
                    || req.uri().query().is_some_and(|q| q.contains("/token")) =>
            {
                return management::token(server, tokens, header, req.uri().query());
            }
            Api::Management if !tokens.check(header, TokenKind::Management) => {
                return ApiError::InvalidKey(error::TOKEN_TEXT.into()).into_response();
            }
            _ => {}
        }
    }
    let result = match api {
        Api::Inference => inference::handle(server, req, &segs, request_id).await,
        Api::Management => management::handle(server, req, &segs, request_id).await,
        Api::Metrics => metrics_api::handle(server, &req, &segs),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn splits_like_torchserve() {
        assert_eq!(segments("/"), Vec::<&str>::new());
        assert_eq!(segments(""), Vec::<&str>::new());
        assert_eq!(segments("/ping"), ["", "ping"]);
        assert_eq!(segments("/models/"), ["", "models"]);
        assert_eq!(
            segments("/predictions/m/1.0/a/b"),
            ["", "predictions", "m", "1.0", "a", "b"]
        );
    }

    #[test]
    fn paths_are_percent_decoded() {
        use super::decode_path;
        assert_eq!(
            decode_path("/predictions/my%20model"),
            "/predictions/my model"
        );
        assert_eq!(
            decode_path("/predictions/ech%6F/1.0"),
            "/predictions/echo/1.0"
        );
        assert_eq!(decode_path("/a+b/%E2%9C%93"), "/a+b/\u{2713}");
        assert_eq!(decode_path("/bad%zz/%4"), "/bad%zz/%4");
    }
}
