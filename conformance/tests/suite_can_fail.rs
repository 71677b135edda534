//! The suite can fail: against a test double that breaks one rule at a time, exactly the
//! checks of that rule fail; against the same double without faults, none does.
mod double;

use std::collections::BTreeSet;
use std::sync::Arc;

use conformance::harness::{Quiet, RunOptions, Selection};
use conformance::{Capabilities, DeliveryMode, Report, Target};
use double::Faults;

/// Checks the double implements faithfully.
const SELECTED: &[&str] = &[
    "batching",
    "gpu",
    "INF-5.1-01",
    "INF-5.2-01",
    "INF-5.2-03",
    "GEN-0-01",
    "GEN-0-02",
];

async fn run(faults: Faults) -> Report {
    let store = tempfile::tempdir().expect("temp dir");
    let server = double::start(store.path().to_owned(), 4, faults).await;
    let target = Target {
        inference_url: server.inference.clone(),
        management_url: server.management.clone(),
        metrics_url: server.metrics.clone(),
        keys: None,
        key_file: None,
        delivery: DeliveryMode::ModelStore(store.path().to_owned()),
        caps: Capabilities {
            gpus: 4,
            token_auth: false,
            model_api: true,
        },
    };
    let opts = RunOptions {
        selection: Selection {
            only: SELECTED.iter().map(|s| s.to_string()).collect(),
            skip: Vec::new(),
        },
        // Enough cases that a random burst larger than the batch size is all but certain.
        proptest_cases: 16,
        progress: Arc::new(Quiet),
    };
    conformance::run(target, opts)
        .await
        .expect("the suite runs")
}

fn failed(report: &Report) -> BTreeSet<&'static str> {
    report.failed_ids().into_iter().collect()
}

fn passed(report: &Report) -> usize {
    report.counts().pass
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faithful_double_fails_nothing() {
    let report = run(Faults::default()).await;
    assert!(failed(&report).is_empty(), "{}", report.summary_table());
    assert!(passed(&report) >= 20, "{}", report.summary_table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_batches_fail_exactly_the_batch_size_checks() {
    let report = run(Faults {
        oversize_batches: true,
        ..Faults::default()
    })
    .await;
    let expected = BTreeSet::from([
        "BAT-6.1-08",
        "BAT-6.1-09",
        "BAT-6.1-10",
        "BAT-6.1-11",
        "BAT-6.1-12",
        "BAT-6.1-14",
    ]);
    assert_eq!(failed(&report), expected, "{}", report.summary_table());
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_instead_of_404_fails_exactly_that_check() {
    let report = run(Faults {
        found_instead_of_404: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(
        failed(&report),
        BTreeSet::from(["INF-5.2-03"]),
        "{}",
        report.summary_table()
    );
    let json = report.to_json();
    let result = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "INF-5.2-03")
        .unwrap();
    let exchange = &result["failure"]["exchange"];
    assert!(
        exchange["request"].as_str().unwrap().starts_with("POST "),
        "the failure shows the request: {exchange}"
    );
    assert!(
        exchange["response"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 200"),
        "and the response: {exchange}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_gpu_id_fails_exactly_the_device_ids_check() {
    let report = run(Faults {
        gpu_off_by_one: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(
        failed(&report),
        BTreeSet::from(["GPU-7-06"]),
        "{}",
        report.summary_table()
    );
}
