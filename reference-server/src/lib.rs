//! torchserve-rs: a TorchServe 0.12 compatible model server.
//!
//! `main.rs` parses flags into a [`config::Config`] and calls [`run`]. The HTTP layer
//! ([`http`]) talks to the lifecycle operations ([`lifecycle`]) on the shared [`server::Server`];
//! jobs wait in per-model queues ([`batching`]) served by worker processes ([`workers`]).

pub mod batching;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dependencies;
pub mod http;
pub mod job;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod properties;
pub mod registry;
pub mod server;
pub mod settings;
pub mod store;
pub mod tokens;
pub mod workers;

use server::{Server, StartError};
use std::time::Duration;

/// Time given to workers to finish what they hold when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Starts the server and serves until SIGINT or SIGTERM; then stops every worker.
pub async fn run(config: config::Config) -> Result<(), StartError> {
    let server = Server::new(config)?;
    let listeners = http::bind(&server).await?;
    server.load_startup_models().await;
    let c = &server.config;
    tracing::info!(
        inference = %c.inference_address,
        management = %c.management_address,
        metrics = %if c.enable_metrics_api { c.metrics_address.to_string() } else { "off".into() },
        "torchserve-rs is ready"
    );
    for mv in server.registry.defaults() {
        let auth = match &server.tokens {
            Some(t) => format!(
                " -H 'Authorization: Bearer {}'",
                t.key(tokens::TokenKind::Inference)
            ),
            None => String::new(),
        };
        println!(
            "Model \"{}\" is ready. Try: curl{auth} -X POST http://{}/predictions/{} -H 'Content-Type: application/json' -d '{{\"hello\": \"world\"}}'",
            mv.name(),
            c.inference_address,
            mv.name()
        );
    }
    if let Some(path) = &c.ready_file {
        write_ready_file(path, &listeners).map_err(StartError::Serve)?;
    }
    // Workers stop first: what they hold is answered (or fails after the grace period), so the
    // HTTP side can then drain quickly instead of waiting on a slow handler.
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(http::serve(server.clone(), listeners, async move {
        let _ = http_stopped.await;
    }));
    shutdown_signal().await;
    tracing::info!("stopping workers");
    server.shutdown(SHUTDOWN_GRACE).await;
    let _ = stop_http.send(());
    match serving.await {
        Ok(served) => served.map_err(StartError::Serve),
        Err(e) => Err(StartError::Serve(std::io::Error::other(e))),
    }
}

/// `{"inference": "127.0.0.1:PORT", "management": ..., "metrics": ..., "pid": N}`, written
/// atomically so a reader never sees half a file.
fn write_ready_file(path: &std::path::Path, l: &http::Listeners) -> std::io::Result<()> {
    let addr =
        |t: &tokio::net::TcpListener| t.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let body = serde_json::json!({
        "inference": addr(&l.inference),
        "management": addr(&l.management),
        "metrics": l.metrics.as_ref().map(addr),
        "pid": std::process::id(),
    });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&body)?)?;
    std::fs::rename(&tmp, path)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
