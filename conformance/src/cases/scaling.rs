//! Contract §4.3 and §6.2: scaling workers up and down, synchronously and not.
use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::{LocalBoxFuture, join_all};
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::ensure;
use crate::harness::property::for_all;
use crate::harness::{CheckResult, CheckSpec, Failure, Group::Scaling as G, Session, must, should};

pub const CHECKS: &[CheckSpec] = &[
    must("SCL-4.3-01", G, "PUT min_worker=3&synchronous=true answers 200 \"Workers scaled to 3 for model: <m>\""),
    must("SCL-4.3-02", G, "After it describe shows 3 READY workers and minWorkers = maxWorkers = 3"),
    must("SCL-4.3-03", G, "Workers are distinct processes with distinct ids"),
    must("SCL-4.3-04", G, "Every worker ran initialize once: all answers report init_calls 1 from a described pid"),
    must("SCL-4.3-05", G, "Scaling down removes the newest workers first"),
    must("SCL-4.3-06", G, "Without synchronous, scaling answers 202 \"Processing worker updates...\" and the workers come up"),
    must("SCL-4.3-07", G, "max_worker below min_worker answers 400 \"max_worker cannot be less than min_worker.\""),
    must("SCL-4.3-08", G, "Scaling an unknown model answers 404 \"Model not found: <m>\""),
    must("SCL-4.3-09", G, "Scaling an unknown version answers 404 \"Model version: <v> does not exist for model: <m>\""),
    must("SCL-4.3-10", G, "A version in the path (or model_version) adds \", version: <v>\" to the answer"),
    must("SCL-4.3-11", G, "min_worker=0 removes every worker and predictions then answer 503"),
    must("SCL-4.3-12", G, "Scaling up again from 0 starts fresh workers, each initialised once"),
    must("SCL-4.3-13", G, "Between min and max nothing is added or removed: min 1/max 3 keeps 2 workers, and keeps 1 (no autoscaling)"),
    should("SCL-4.3-14", G, "min_worker defaults to 1"),
    must("SCL-4.3-15", G, "New workers get new ids: a worker id is never reused within a run"),
    must("SCL-4.3-16", G, "A yaml with minWorkers 2 and maxWorkers 2 starts 2 workers at register, with initial_workers=0"),
    must("SCL-4.3-17", G, "Property: random synchronous scale sequences end with exactly min READY workers, oldest kept")
        .note("proptest; --proptest-cases sequences of 1-3 targets in 0..=3, shrunk on failure"),
];

const M: &str = "scl_counter";
const YAML: &str = "scl_yaml";
const WAIT: Duration = Duration::from_secs(180);

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

async fn scale(s: &Session, path: &str, q: &str) -> Result<Resp, Failure> {
    s.management.put(&format!("/models/{path}{q}")).send().await
}

fn id_num(w: &Worker) -> u64 {
    w.id.parse().unwrap_or(u64::MAX)
}

/// Hits the model with concurrent requests; returns the answers.
async fn answers(s: &Session, n: usize) -> Result<Vec<(Resp, Value)>, Failure> {
    let sends = (0..n).map(|_| async {
        let resp = infer_json(s, M, &json!(1)).await?;
        let v = ok_json(&resp)?;
        Ok::<_, Failure>((resp, v))
    });
    join_all(sends).await.into_iter().collect()
}

fn initialised_once(got: &[(Resp, Value)], workers: &[Worker]) -> CheckResult {
    let pids: BTreeSet<i64> = workers.iter().map(|w| w.pid).collect();
    for (r, v) in got {
        ensure!(
            v["init_calls"] == 1 && v["initialized_before_handle"] == true,
            r,
            "a worker initialised {} times",
            v["init_calls"]
        );
        ensure!(
            v["pid"].as_i64().is_some_and(|p| pids.contains(&p)),
            r,
            "pid {} is not a described worker {pids:?}",
            v["pid"]
        );
    }
    Ok(())
}

async fn body(s: &Session) -> anyhow::Result<()> {
    setup_model(s, "init_counter", M, 1, &[]).await?;
    let original = workers(s, M).await?;
    let mut seen_ids: BTreeSet<String> = original.iter().map(|w| w.id.clone()).collect();

    let r = scale(s, M, "?min_worker=3&synchronous=true").await?;
    s.check("SCL-4.3-01", async {
        r.expect_status_message(200, &format!("Workers scaled to 3 for model: {M}"))
    })
    .await;
    // TorchServe 0.12 can flip the last new worker to READY a moment after its synchronous
    // answer (seen in CI: one worker still UNLOADING); allow a few seconds for that.
    let ws3 = match wait_ready(s, M, 3, Duration::from_secs(10)).await {
        Ok(ws) => ws,
        Err(_) => workers(s, M).await?,
    };
    let three = describe(s, M).await?;
    seen_ids.extend(ws3.iter().map(|w| w.id.clone()));
    s.check("SCL-4.3-02", async {
        ensure!(
            ws3.len() == 3 && ws3.iter().all(|w| w.status == "READY"),
            r,
            "expected 3 READY workers: {ws3:?}"
        );
        ensure!(
            three[0]["minWorkers"] == 3 && three[0]["maxWorkers"] == 3,
            r,
            "minWorkers/maxWorkers should be 3/3"
        );
        Ok(())
    })
    .await;
    s.check("SCL-4.3-03", async {
        let pids: BTreeSet<i64> = ws3.iter().map(|w| w.pid).collect();
        let ids: BTreeSet<&str> = ws3.iter().map(|w| w.id.as_str()).collect();
        ensure!(
            pids.len() == 3 && ids.len() == 3,
            r,
            "workers should have distinct pids and ids: {ws3:?}"
        );
        Ok(())
    })
    .await;
    s.check("SCL-4.3-04", async {
        initialised_once(&answers(s, 12).await?, &ws3)
    })
    .await;

    let r = scale(s, M, "?min_worker=1&synchronous=true").await?;
    s.check("SCL-4.3-05", async {
        r.expect_status_message(200, &format!("Workers scaled to 1 for model: {M}"))?;
        let left = workers(s, M).await?;
        ensure!(left.len() == 1, r, "expected 1 worker: {left:?}");
        let oldest = ws3.iter().min_by_key(|w| id_num(w)).cloned();
        ensure!(
            Some(&left[0]) == oldest.as_ref()
                || original.first().is_some_and(|o| o.pid == left[0].pid),
            r,
            "the oldest worker {oldest:?} should remain, not {:?}",
            left[0]
        );
        Ok(())
    })
    .await;

    let r = scale(s, M, "?min_worker=2").await?;
    let two = wait_ready(s, M, 2, WAIT).await;
    s.check("SCL-4.3-06", async {
        r.expect_status_message(202, "Processing worker updates...")?;
        two.clone().map(|_| ())
    })
    .await;
    if let Ok(ws) = &two {
        seen_ids.extend(ws.iter().map(|w| w.id.clone()));
    }
    tokio::join!(
        s.check("SCL-4.3-07", async {
            scale(s, M, "?min_worker=2&max_worker=1")
                .await?
                .expect_error(
                    400,
                    "BadRequestException",
                    "max_worker cannot be less than min_worker.",
                )
        }),
        s.check("SCL-4.3-08", async {
            scale(s, "tsc_nope", "?min_worker=1").await?.expect_error(
                404,
                "ModelNotFoundException",
                "Model not found: tsc_nope",
            )
        }),
        s.check("SCL-4.3-09", async {
            scale(s, &format!("{M}/9.9"), "?min_worker=1")
                .await?
                .expect_error(
                    404,
                    "ModelVersionNotFoundException",
                    &format!("Model version: 9.9 does not exist for model: {M}"),
                )
        }),
    );
    s.check("SCL-4.3-10", async {
        let r = scale(s, &format!("{M}/1.0"), "?min_worker=2&synchronous=true").await?;
        r.expect_status_message(
            200,
            &format!("Workers scaled to 2 for model: {M}, version: 1.0"),
        )?;
        let r = scale(s, M, "?model_version=1.0&min_worker=2&synchronous=true").await?;
        r.expect_status_message(
            200,
            &format!("Workers scaled to 2 for model: {M}, version: 1.0"),
        )
    })
    .await;
    s.check("SCL-4.3-14", async {
        let r = scale(s, M, "?synchronous=true").await?;
        r.expect_status_message(200, &format!("Workers scaled to 1 for model: {M}"))?;
        let ws = workers(s, M).await?;
        ensure!(ws.len() == 1, r, "min_worker should default to 1: {ws:?}");
        Ok(())
    })
    .await;

    let r = scale(s, M, "?min_worker=0&synchronous=true").await?;
    s.check("SCL-4.3-11", async {
        r.expect_status_message(200, &format!("Workers scaled to 0 for model: {M}"))?;
        let ws = workers(s, M).await?;
        ensure!(ws.is_empty(), r, "no worker should remain: {ws:?}");
        infer_json(s, M, &json!(1)).await?.expect_error(
            503,
            "ServiceUnavailableException",
            &no_worker_msg(M),
        )
    })
    .await;
    let r = scale(s, M, "?min_worker=2&synchronous=true").await?;
    let fresh = workers(s, M).await?;
    s.check("SCL-4.3-12", async {
        r.expect_status(200)?;
        ensure!(fresh.len() == 2, r, "expected 2 workers: {fresh:?}");
        initialised_once(&answers(s, 8).await?, &fresh)
    })
    .await;
    s.check("SCL-4.3-15", async {
        for w in &fresh {
            ensure!(
                !seen_ids.contains(&w.id),
                r,
                "worker id {} was used before in this run ({seen_ids:?})",
                w.id
            );
        }
        Ok(())
    })
    .await;
    s.check("SCL-4.3-13", async {
        let before = workers(s, M).await?;
        let r = scale(s, M, "?min_worker=1&max_worker=3&synchronous=true").await?;
        r.expect_status(200)?;
        let d = describe(s, M).await?;
        let ws = workers_of(&d[0]);
        ensure!(
            ws.len() == before.len(),
            r,
            "{} workers within [1, 3] should stay: {ws:?}",
            before.len()
        );
        ensure!(
            d[0]["minWorkers"] == 1 && d[0]["maxWorkers"] == 3,
            r,
            "describe should show minWorkers 1, maxWorkers 3"
        );
        scale(s, M, "?min_worker=1&max_worker=1&synchronous=true")
            .await?
            .expect_status(200)?;
        let r = scale(s, M, "?min_worker=1&max_worker=3&synchronous=true").await?;
        r.expect_status(200)?;
        let ws = workers(s, M).await?;
        ensure!(
            ws.len() == 1,
            r,
            "one worker at min 1/max 3 should stay one (no autoscaling): {ws:?}"
        );
        Ok(())
    })
    .await;

    s.check("SCL-4.3-16", async {
        let url = s.fixture_url("yaml_workers", &Default::default(), "scl_yaml.mar")?;
        let r = register(
            s,
            &url,
            &[
                ("model_name", YAML),
                ("initial_workers", "0"),
                ("synchronous", "true"),
            ],
        )
        .await?;
        r.expect_status_message(
            200,
            &format!("Model \"{YAML}\" Version: 1.0 registered with 2 initial workers"),
        )?;
        let d = describe(s, YAML).await?;
        ensure!(workers_of(&d[0]).len() == 2, r, "2 workers expected");
        let want = json!({"minWorkers": 2, "maxWorkers": 2, "batchSize": 2, "maxBatchDelay": 30});
        for (k, v) in want.as_object().into_iter().flatten() {
            ensure!(d[0][k] == *v, r, "{k} should be {v}, got {}", d[0][k]);
        }
        Ok(())
    })
    .await;

    s.check("SCL-4.3-17", async {
        // Start each sequence from one worker.
        scale(s, M, "?min_worker=1&synchronous=true")
            .await?
            .expect_status(200)?;
        let strategy = proptest::collection::vec(0u32..=3, 1..=3);
        for_all(s.proptest_cases, strategy, |targets| async move {
            for n in targets {
                let before = workers(s, M).await?;
                let r = scale(s, M, &format!("?min_worker={n}&synchronous=true")).await?;
                r.expect_status_message(200, &format!("Workers scaled to {n} for model: {M}"))?;
                let after = wait_ready(s, M, n as usize, WAIT).await?;
                let pids: BTreeSet<i64> = after.iter().map(|w| w.pid).collect();
                ensure!(pids.len() == after.len(), r, "duplicate pids: {after:?}");
                if (n as usize) <= before.len() {
                    let mut oldest = before.clone();
                    oldest.sort_by_key(id_num);
                    oldest.truncate(n as usize);
                    let mut kept = after.clone();
                    kept.sort_by_key(id_num);
                    ensure!(
                        kept == oldest,
                        r,
                        "scaling {} → {n} should keep the oldest {oldest:?}, kept {kept:?}",
                        before.len()
                    );
                }
            }
            Ok(())
        })
        .await
    })
    .await;
    Ok(())
}
