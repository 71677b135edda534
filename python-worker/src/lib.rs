//! The Python worker: one process per model worker, embedding CPython with pyo3.
//!
//! The server listens on a private Unix socket and spawns `ts-worker --socket <path>` with the
//! model folder as cwd. The worker connects, says [`worker_protocol::Hello`], loads the handler
//! by TorchServe's rules when asked, then answers batches until the server closes the socket.
//! See `worker_protocol` for the frames, and the contract sections 1.4, 2 and 3 for what a
//! handler sees.
//!
//! Module map: [`worker`] (the conversation), `runtime` (interpreter setup, cached Python
//! objects), `service` (a loaded handler and the predict path), `data` (requests → `data`),
//! `reply` (handler output → responses), `channel` (socket writes, streaming), `bundle` (the
//! embedded Python sources: the `ts` compatibility package and `_tsrs_worker`), `process`
//! (never outliving the server), [`logline`] (the stderr line format, shared with the server).

mod bundle;
mod channel;
mod data;
mod error;
pub mod logline;
mod process;
mod reply;
mod runtime;
mod service;
mod tsframe;
pub mod worker;

pub use error::WorkerError;
pub use logline::{LogLine, format_log_line, parse_log_line};
pub use worker::{Config, Exit, run};
