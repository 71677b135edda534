//! Contract §6.2 and §6.3: responseTimeout, crashes, restarts and a full job queue.
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use handlers_fixtures::{BuildOptions, ConfigChoice};
use serde_json::json;

use super::common::*;
use crate::ensure;
use crate::harness::{CheckSpec, Failure, Group::Timeouts as G, Session, must, should};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "TMO-6.3-01",
        G,
        "Describe shows the yaml responseTimeout (2), even when register passes response_timeout",
    ),
    must(
        "TMO-6.3-02",
        G,
        "A request finishing within responseTimeout succeeds",
    ),
    must(
        "TMO-6.3-03",
        G,
        "A handler running past responseTimeout answers 500 InternalServerException \"Worker died.\"",
    ),
    should(
        "TMO-6.3-04",
        G,
        "The timeout answer comes after about responseTimeout, not after the handler finishes",
    ),
    must(
        "TMO-6.2-01",
        G,
        "After a timeout the worker is replaced by a new process that becomes READY",
    ),
    must("TMO-6.2-02", G, "After a timeout the model serves again"),
    must(
        "TMO-6.2-03",
        G,
        "A worker process that exits mid-request makes that request answer 500 \"Worker died.\"",
    ),
    must(
        "TMO-6.2-04",
        G,
        "After a crash a new worker process becomes READY and serves",
    ),
    should(
        "TMO-6.2-05",
        G,
        "/ping stays Healthy through worker restarts",
    ),
    must(
        "TMO-5.2-01",
        G,
        "With the job queue full (yaml jobQueueSize 1) a request answers 503 with the no-worker text",
    ),
    should(
        "TMO-5.2-02",
        G,
        "Describe's jobQueueStatus shows the queued request while the worker is busy",
    ),
];

const SLOW: &str = "tmo_slow";
const CRASH: &str = "tmo_crash";
const QUEUE: &str = "tmo_queue";
const RESTART: Duration = Duration::from_secs(90);

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let slow_url = s.fixture_url("slow", &Default::default(), "tmo_slow.mar")?;
    let queue_opts = BuildOptions {
        config: ConfigChoice::Yaml("responseTimeout: 20\njobQueueSize: 1\n".into()),
        ..Default::default()
    };
    let queue_url = s.fixture_url("slow", &queue_opts, "tmo_queue.mar")?;
    let (a, b, c) = tokio::join!(
        register_ok(
            s,
            &slow_url,
            &[
                ("model_name", SLOW),
                ("response_timeout", "100"),
                ("initial_workers", "1"),
                ("synchronous", "true")
            ]
        ),
        setup_model(s, "errors", CRASH, 1, &[]),
        register_ok(
            s,
            &queue_url,
            &[
                ("model_name", QUEUE),
                ("initial_workers", "1"),
                ("synchronous", "true")
            ]
        ),
    );
    a?;
    b?;
    c?;

    s.check("TMO-6.3-01", async {
        let d = describe(s, SLOW).await?;
        if d[0]["responseTimeout"] != 2 {
            crate::fail!(
                "responseTimeout should be the yaml's 2 (over response_timeout=100), got {}",
                d[0]["responseTimeout"]
            );
        }
        Ok(())
    })
    .await;
    s.check("TMO-6.3-02", async {
        let r = infer_json(s, SLOW, &json!({"sleep": 0.3})).await?;
        let v = ok_json(&r)?;
        ensure!(v["slept"] == 0.3, r, "expected the handler's answer");
        Ok(())
    })
    .await;

    let before = workers(s, SLOW).await?;
    let started = Instant::now();
    let timed_out = infer_json(s, SLOW, &json!({"sleep": 6})).await;
    let elapsed = started.elapsed();
    s.check("TMO-6.3-03", async {
        timed_out
            .clone()?
            .expect_error(500, "InternalServerException", "Worker died.")
    })
    .await;
    s.check("TMO-6.3-04", async {
        let r = timed_out.clone()?;
        ensure!(
            elapsed < Duration::from_millis(5500),
            r,
            "answered after {} ms, the handler's full 6 s sleep",
            elapsed.as_millis()
        );
        Ok(())
    })
    .await;
    let old_pid = before.first().map(|w| w.pid);
    let replaced = wait_workers(s, SLOW, RESTART, "a new READY worker", |ws| {
        ws.len() == 1 && ws[0].status == "READY" && Some(ws[0].pid) != old_pid
    })
    .await;
    s.check("TMO-6.2-01", async { replaced.clone().map(|_| ()) })
        .await;
    s.check("TMO-6.2-02", async {
        let r = infer_json(s, SLOW, &json!({"sleep": 0})).await?;
        ok_json(&r).map(|_| ())
    })
    .await;

    let before = workers(s, CRASH).await?;
    let crashed = infer_json(s, CRASH, &json!({"mode": "exit"})).await;
    s.check("TMO-6.2-03", async {
        crashed?.expect_error(500, "InternalServerException", "Worker died.")
    })
    .await;
    let old_pid = before.first().map(|w| w.pid);
    let back = wait_workers(s, CRASH, RESTART, "a new READY worker", |ws| {
        ws.len() == 1 && ws[0].status == "READY" && Some(ws[0].pid) != old_pid
    })
    .await;
    s.check("TMO-6.2-04", async {
        back.clone()?;
        let r = infer_json(s, CRASH, &json!({"mode": "ok"})).await?;
        r.expect_status(200)
    })
    .await;
    s.check("TMO-6.2-05", async {
        s.inference
            .get("/ping")
            .send()
            .await?
            .expect_status_message(200, "Healthy")
    })
    .await;

    // Queue: A occupies the worker, B waits in the one-slot queue, C finds it full.
    let a = async { infer_json(s, QUEUE, &json!({"sleep": 3})).await };
    let rest = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let b = async { infer_json(s, QUEUE, &json!({"sleep": 0})).await };
        let c = async {
            let queued = wait_for_queue(s).await;
            let c = infer_json(s, QUEUE, &json!({"sleep": 0})).await;
            (queued, c)
        };
        tokio::join!(b, c)
    };
    let (a, (b, (queued, c))) = tokio::join!(a, rest);
    s.check("TMO-5.2-02", async { queued.clone().map(|_| ()) })
        .await;
    s.check("TMO-5.2-01", async {
        queued?;
        c?.expect_error(503, "ServiceUnavailableException", &no_worker_msg(QUEUE))?;
        a?.expect_status(200)?;
        b?.expect_status(200)
    })
    .await;
    Ok(())
}

/// Waits until describe shows one pending request and no remaining capacity.
async fn wait_for_queue(s: &Session) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let d = describe(s, QUEUE).await?;
        let q = &d[0]["jobQueueStatus"];
        if q["pendingRequests"] == 1 && q["remainingCapacity"] == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Failure::new(format!(
                "the second request never showed as queued; jobQueueStatus {q}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
