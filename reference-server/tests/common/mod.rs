//! Shared harness of the server's integration tests: a [`TestServer`] guard that runs the real
//! `torchserve-rs` binary in a private temporary folder, an HTTP client that checks TorchServe's
//! response conventions on every answer, `/proc` helpers and snapshot redactions.
//!
//! Each test binary uses a part of this module.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod file_server;
pub mod procs;
pub mod prometheus;
pub mod redact;
pub mod server;

pub use client::{Api, Reply};
pub use server::{ServerOptions, TestServer};

use std::time::{Duration, Instant};

/// Polls `probe` every 50 ms until it returns `Some`, panicking with `what` after `limit`.
/// The deadline bounds a wait; it is never an assertion about speed.
pub fn wait_for<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
