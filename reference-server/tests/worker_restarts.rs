//! Worker failures (contract §6.2, §6.3, §5.1): a response timeout or a crash answers the batch
//! with 500 `Worker died.`, a new process replaces the old one (new pid in describe) and the
//! model serves again; queued requests survive; a worker that keeps failing makes /ping unhealthy.

mod common;

use common::server::named;
use common::{Api, Reply, ServerOptions, TestServer, procs, wait_for};
use handlers_fixtures::{BuildOptions, ConfigChoice};
use serde_json::json;
use std::time::Duration;

fn check_error(r: &Reply, status: u16, kind: &str, message: &str) {
    let (code, t, m) = r.error();
    assert_eq!(
        (code, t.as_str(), m.as_str()),
        (status, kind, message),
        "{}",
        r.what
    );
}

/// Waits until the model has one READY worker whose pid differs from `old`; returns it.
fn replaced(s: &TestServer, model: &str, old: u32) -> u32 {
    wait_for(
        Duration::from_secs(60),
        &format!("{model}'s worker to be replaced"),
        || {
            let d = s.describe(model);
            let w = &d[0]["workers"][0];
            let pid = w["pid"].as_u64().map(|p| p as u32)?;
            (w["status"] == "READY" && pid != old).then_some(pid)
        },
    )
}

#[test]
fn response_timeout_kills_the_worker_and_a_new_one_serves() {
    let s = ServerOptions::default().fixture("slow").start();
    s.register_ok("url=slow.mar&initial_workers=1&synchronous=true");
    assert_eq!(s.describe("slow")[0]["responseTimeout"], 2);
    let old = s.worker_pids("slow")[0];

    // The request that times out, and one queued behind it: one dies with the worker, the
    // other is served by the replacement.
    let send = |sleep: u32| {
        let base = s.base(Api::Inference);
        std::thread::spawn(move || {
            let c = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let r = c
                .post(format!("{base}/predictions/slow"))
                .json(&json!({"sleep": sleep}))
                .send()
                .expect("send");
            (r.status().as_u16(), r.text().unwrap_or_default())
        })
    };
    let doomed = send(6);
    s.wait_batch_dispatched("slow", "the slow request to reach the worker");
    let queued = send(0);
    // Normally it waits behind the doomed one; on a very loaded machine it may only arrive
    // after the restart, which the checks below accept as well.
    wait_for(
        Duration::from_secs(30),
        "the second request to wait in the queue",
        || {
            (s.describe("slow")[0]["jobQueueStatus"]["pendingRequests"] == 1
                || doomed.is_finished())
            .then_some(())
        },
    );
    let (status, body) = doomed.join().expect("thread");
    assert_eq!(status, 500, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("error JSON");
    assert_eq!(
        v,
        json!({"code": 500, "type": "InternalServerException", "message": "Worker died."})
    );
    let new = replaced(&s, "slow", old);
    assert!(!procs::alive(old), "the timed-out process {old} was killed");
    assert_eq!(
        queued.join().expect("thread").0,
        200,
        "the queued request is answered by the new worker"
    );
    let r = s.predict_json("slow", &json!({"sleep": 0}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.handler_json()["pid"], new);
}

#[test]
fn crashed_or_killed_workers_are_replaced() {
    let s = ServerOptions::default().fixture("errors").start();
    s.register_ok("url=errors.mar&initial_workers=1&synchronous=true");
    let first = s.worker_pids("errors")[0];
    // The handler exits the process mid-batch.
    let r = s.predict_json("errors", &json!({"mode": "exit"}));
    check_error(&r, 500, "InternalServerException", "Worker died.");
    let second = replaced(&s, "errors", first);
    assert_eq!(s.predict_json("errors", &json!({"mode": "ok"})).status, 200);

    // Killed from outside while idle. /ping stays healthy: a failing worker counts as healthy
    // within maxRetryTimeoutInSec.
    procs::signal(second, libc::SIGKILL);
    assert_eq!(
        s.get(Api::Inference, "/ping").status_text(),
        (200, "Healthy".to_string())
    );
    let third = replaced(&s, "errors", second);
    let r = s.predict_json("errors", &json!({"mode": "ok"}));
    assert_eq!((r.status, r.text()), (200, "ok".to_string()));
    assert!(s.worker_processes().contains(&third));
    assert_eq!(
        s.worker_processes().len(),
        1,
        "exactly one worker process: {:?}",
        s.worker_processes()
    );
}

#[test]
fn failing_loads_fail_scale_and_end_in_unhealthy() {
    // maxRetryTimeoutInSec 1: the second failure in a row ends the retries.
    let opts = BuildOptions {
        config: ConfigChoice::Yaml("maxRetryTimeoutInSec: 1\n".into()),
        ..named("init_error")
    };
    let s = ServerOptions::default()
        .fixture_with("init_error", opts)
        .fixture("echo")
        .start();
    s.register_ok("url=echo.mar&initial_workers=1");
    s.register_ok("url=init_error.mar");
    assert_eq!(
        s.get(Api::Inference, "/ping").status,
        200,
        "0 workers wanted, 0 healthy"
    );
    let r = s.mgmt("PUT", "/models/init_error?min_worker=1&synchronous=true");
    check_error(
        &r,
        500,
        "InternalServerException",
        "Failed to start workers for model init_error version: null",
    );
    // Nothing to add (the slot exists) but nothing runs: 206.
    let r = s.mgmt(
        "PUT",
        "/models/init_error/1.0?min_worker=1&synchronous=true",
    );
    assert_eq!(
        r.status_text(),
        (206, "Workers scaling in progress...".to_string())
    );
    let d = &s.describe("init_error")[0];
    assert_eq!(
        d["minWorkers"], 1,
        "min is set even though the worker failed: {d}"
    );
    assert_ne!(d["workers"][0]["status"], "READY");
    let r = wait_for(
        Duration::from_secs(60),
        "/ping to report the model unhealthy",
        || {
            let r = s.get(Api::Inference, "/ping");
            (r.status == 500).then_some(r)
        },
    );
    assert_eq!(r.status_text(), (500, "Unhealthy".to_string()));
    // Once every worker has given up, a request is answered (503), never left waiting.
    let r = s.predict_json("init_error", &json!({}));
    check_error(
        &r,
        503,
        "ServiceUnavailableException",
        "Model \"init_error\" has no worker to serve inference request. Please use scale workers API to add workers. \
         If this is a sequence inference, please check if it is closed, or expired; or exceeds maxSequenceJobQueueSize",
    );
    // Scaling to 0 restores health.
    assert_eq!(
        s.mgmt("PUT", "/models/init_error?min_worker=0&synchronous=true")
            .status,
        200
    );
    assert_eq!(
        s.get(Api::Inference, "/ping").status_text(),
        (200, "Healthy".to_string())
    );
    assert_eq!(
        s.predict_json("echo", &json!({})).status,
        200,
        "the other model was never affected"
    );
}

/// Stopping a worker on purpose (unregister, scale-down) is not a failure: no restart is
/// counted and nothing is logged as a failed worker.
#[test]
fn unregister_and_scale_down_are_not_failures() {
    let s = ServerOptions::default().fixture("echo").start();
    for round in 0..4 {
        let name = format!("e{round}");
        s.register_ok(&format!(
            "url=echo.mar&model_name={name}&initial_workers=3&synchronous=true"
        ));
        s.scale_ok(&name, 2);
        assert_eq!(s.mgmt("DELETE", &format!("/models/{name}")).status, 200);
    }
    let metrics = s.get(Api::Metrics, "/metrics").text();
    assert!(
        !metrics.contains("ts_worker_restarts_total{"),
        "restarts counted:\n{metrics}"
    );
    assert!(
        !s.log().contains("worker failed"),
        "a stop logged as a failure:\n{}",
        s.log()
    );
}
