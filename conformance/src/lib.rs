//! A conformance suite for TorchServe 0.12's custom-service contract.
//!
//! It talks to the server under test over HTTP only (it never links a server), publishes
//! the `handlers-fixtures` archives to it, and reports each check as pass, fail (with the
//! request and response that broke it), skipped (the target lacks a capability) or disabled
//! (by the user). [`run`] is the library entry point; `tsconform` is the CLI.

pub mod cases;
pub mod catalogue;
pub mod cli;
pub mod client;
mod delivery;
pub mod harness;
pub mod raw;
pub mod target;

pub use harness::{Report, RunOptions};
pub use target::{Capabilities, DeliveryMode, Keys, Target};

/// Runs the whole suite (restricted by `opts.selection`) against `target`.
pub async fn run(target: Target, opts: RunOptions) -> anyhow::Result<Report> {
    harness::run_groups(target, opts, &cases::groups()).await
}
