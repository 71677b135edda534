//! The conformance suite (crate `conformance`, the same checks `tsconform` runs against real
//! TorchServe 0.12 in CI) against our server:
//! - the main run: token auth off, model API on, 4 simulated GPUs (ids 0..3), fixtures
//!   copied into the server's model store;
//! - the security group against a second server left at TorchServe's defaults.
//!
//! The lifecycle transcript must match `conformance/snapshots/lifecycle.snap`, the snapshot
//! recorded against TorchServe 0.12 (so both servers answer the same, byte for byte after
//! redacting pids, ports and times).
mod common;

use std::sync::Arc;

use common::{ServerOptions, TestServer};
use conformance::harness::{Console, RunOptions, Selection};
use conformance::{Capabilities, DeliveryMode, Keys, Report, Target};

const GPUS: u32 = 4;

fn http(addr: &str) -> String {
    if addr.starts_with("http") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

fn target(
    server: &TestServer,
    caps: Capabilities,
    keys: Option<Keys>,
    key_file: Option<std::path::PathBuf>,
) -> Target {
    Target {
        inference_url: http(&server.inference),
        management_url: http(&server.management),
        metrics_url: http(
            server
                .metrics
                .as_deref()
                .expect("metrics address in the ready file"),
        ),
        keys,
        key_file,
        delivery: DeliveryMode::ModelStore(server.dir().join("store")),
        caps,
    }
}

fn run(target: Target, only: &[&str]) -> Report {
    let opts = RunOptions {
        selection: Selection {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: Vec::new(),
        },
        progress: Arc::new(Console::new(false)),
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime
        .block_on(conformance::run(target, opts))
        .expect("the suite runs");
    eprintln!("{}", report.summary_table());
    report
}

#[test]
fn conformance_suite_passes_against_the_reference_server() {
    let server = ServerOptions::default()
        .prop("simulated_gpus", &GPUS.to_string())
        .start();
    let caps = Capabilities {
        gpus: GPUS,
        token_auth: false,
        model_api: true,
    };
    let report = run(target(&server, caps, None, None), &[]);
    assert!(
        report.failed_ids().is_empty(),
        "checks failed: {:?}\n{}",
        report.failed_ids(),
        report.summary_table()
    );
    assert!(
        report.counts().pass >= 200,
        "too few checks ran:\n{}",
        report.summary_table()
    );

    let transcript = report.artifacts[conformance::cases::lifecycle::TRANSCRIPT]
        .trim_end()
        .to_owned();
    insta::with_settings!({snapshot_path => "../../conformance/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("lifecycle", transcript);
    });
}

#[test]
fn security_gates_pass_against_a_server_with_defaults() {
    let server = ServerOptions::secure_defaults().start();
    let key_file = server.dir().join("key_file.json");
    let keys =
        Keys::from_key_file(&key_file).expect("the server writes key_file.json into its cwd");
    let caps = Capabilities {
        gpus: 0,
        token_auth: true,
        model_api: false,
    };
    let report = run(
        target(&server, caps, Some(keys), Some(key_file)),
        &["security"],
    );
    assert!(
        report.failed_ids().is_empty(),
        "checks failed: {:?}\n{}",
        report.failed_ids(),
        report.summary_table()
    );
    let security = conformance::cases::catalogue()
        .iter()
        .filter(|c| c.group == conformance::harness::Group::Security)
        .count();
    assert_eq!(
        report.counts().pass,
        security,
        "every security check should run and pass:\n{}",
        report.summary_table()
    );
}
