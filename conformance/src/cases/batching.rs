//! Contract §6.1: batch aggregation. The batch_recorder fixture answers each request with
//! the batch it was part of (len, request ids, call number, pid, its own echoed body).
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::{LocalBoxFuture, join_all};
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::harness::property::for_all;
use crate::harness::{
    CheckResult, CheckSpec, Failure, Group::Batching as G, Session, must, should,
};
use crate::{ensure, fail};

pub const CHECKS: &[CheckSpec] = &[
    must("BAT-6.1-01", G, "Describe shows batchSize and maxBatchDelay from model-config.yaml (4 and 200)"),
    must("BAT-6.1-02", G, "context.system_properties batch_size is the model's batch size"),
    must("BAT-6.1-03", G, "A lone request is answered although its batch never fills (a partial batch leaves)"),
    should("BAT-6.1-04", G, "A lone request waits about maxBatchDelay for company (answered no sooner than 150 ms at 200 ms)"),
    must("BAT-6.1-05", G, "Three concurrent requests with batch size 4 reach the handler as one call with len(data) == 3")
        .note("the burst is retried up to 3 times: a loaded machine may deliver one request after the window"),
    must("BAT-6.1-06", G, "Each client gets its own element of the batch's answer"),
    must("BAT-6.1-07", G, "A batch's request ids are distinct and each equals the x-request-id its client received"),
    must("BAT-6.1-08", G, "A burst of 12 concurrent requests never puts more than batch_size requests in one call"),
    must("BAT-6.1-09", G, "Requests queued behind a busy worker leave in full batches"),
    should("BAT-6.1-10", G, "The answers of one call agree: same request ids, batch_len equal to how many answers it produced"),
    must("BAT-6.1-11", G, "Register batch_size and max_batch_delay override the yaml (describe, context and batches follow)"),
    must("BAT-6.1-12", G, "batch_size=1 sends every request alone"),
    should("BAT-6.1-13", G, "A request arriving 50 ms after another, within the 200 ms window, joins its batch"),
    must("BAT-6.1-14", G, "Property: random concurrent bursts against batch sizes 1, 2 and 4 keep every invariant")
        .note("proptest; --proptest-cases inputs, shrunk on failure"),
];

const REC: &str = "bat_rec";
const TWO: &str = "bat_two";
const ONE: &str = "bat_one";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

/// One answered request of a burst.
#[derive(Debug, Clone)]
struct Answer {
    resp: Resp,
    v: Value,
    tag: String,
}

/// Sends the bodies concurrently and collects the answers in order.
async fn burst(s: &Session, model: &str, bodies: Vec<Value>) -> Result<Vec<Answer>, Failure> {
    let sends = bodies.into_iter().map(|b| async move {
        let tag = b["tag"].as_str().unwrap_or_default().to_owned();
        let resp = infer_json(s, model, &b).await?;
        let v = ok_json(&resp)?;
        Ok::<_, Failure>(Answer { resp, v, tag })
    });
    join_all(sends).await.into_iter().collect()
}

fn tagged(prefix: &str, n: usize, extra: Value) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut b = json!({"tag": format!("{prefix}-{i}")});
            if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            b
        })
        .collect()
}

/// The invariants every burst must keep; `limit` is the batch size.
fn invariants(answers: &[Answer], limit: usize) -> CheckResult {
    let mut calls: BTreeMap<(i64, i64), Vec<&Answer>> = BTreeMap::new();
    for a in answers {
        let v = &a.v;
        ensure!(
            v["echo"]["tag"] == a.tag.as_str(),
            a.resp,
            "client {} got another client's element: {}",
            a.tag,
            v["echo"]
        );
        let len = v["batch_len"].as_u64().unwrap_or(0) as usize;
        ensure!(
            (1..=limit).contains(&len),
            a.resp,
            "a call carried {len} requests; batch size is {limit}"
        );
        let ids = v["request_ids"].as_array().cloned().unwrap_or_default();
        let idx = v["index"].as_u64().unwrap_or(u64::MAX) as usize;
        ensure!(
            ids.len() == len && ids.get(idx) == Some(&v["my_request_id"]),
            a.resp,
            "my_request_id should be request_ids[index]"
        );
        let header = a.resp.header("x-request-id").unwrap_or_default();
        ensure!(
            v["my_request_id"] == header,
            a.resp,
            "the handler's request id {} is not this response's x-request-id {header}",
            v["my_request_id"]
        );
        let mut distinct: Vec<&Value> = ids.iter().collect();
        distinct.sort_by_key(|v| v.to_string());
        distinct.dedup();
        ensure!(
            distinct.len() == ids.len(),
            a.resp,
            "duplicate request ids in one batch: {ids:?}"
        );
        calls
            .entry((
                v["pid"].as_i64().unwrap_or(0),
                v["call_no"].as_i64().unwrap_or(0),
            ))
            .or_default()
            .push(a);
    }
    for members in calls.values() {
        let first = members[0];
        for m in members {
            ensure!(
                m.v["request_ids"] == first.v["request_ids"],
                m.resp,
                "answers of one call disagree on its request ids"
            );
        }
        let len = first.v["batch_len"].as_u64().unwrap_or(0) as usize;
        ensure!(
            members.len() <= len,
            first.resp,
            "{} answers claim a call of {len}",
            members.len()
        );
    }
    Ok(())
}

/// Groups answers by handler call: sizes of each call, sorted.
fn call_sizes(answers: &[Answer]) -> Vec<usize> {
    let mut calls: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for a in answers {
        *calls
            .entry((
                a.v["pid"].as_i64().unwrap_or(0),
                a.v["call_no"].as_i64().unwrap_or(0),
            ))
            .or_default() += 1;
    }
    let mut sizes: Vec<usize> = calls.into_values().collect();
    sizes.sort_unstable();
    sizes
}

async fn body(s: &Session) -> anyhow::Result<()> {
    // One file per registration: a target that downloads URLs refuses the same URL twice.
    let url = |model: &str| {
        s.fixture_url(
            "batch_recorder",
            &Default::default(),
            &format!("{model}.mar"),
        )
    };
    let (rec_url, two_url, one_url) = (url(REC)?, url(TWO)?, url(ONE)?);
    let (a, b, c) = tokio::join!(
        register_ok(
            s,
            &rec_url,
            &[
                ("model_name", REC),
                ("initial_workers", "1"),
                ("synchronous", "true")
            ]
        ),
        register_ok(
            s,
            &two_url,
            &[
                ("model_name", TWO),
                ("batch_size", "2"),
                ("max_batch_delay", "50"),
                ("initial_workers", "1"),
                ("synchronous", "true")
            ]
        ),
        register_ok(
            s,
            &one_url,
            &[
                ("model_name", ONE),
                ("batch_size", "1"),
                ("initial_workers", "1"),
                ("synchronous", "true")
            ]
        ),
    );
    a?;
    b?;
    c?;

    s.check("BAT-6.1-01", async {
        let d = describe(s, REC).await?;
        if d[0]["batchSize"] != 4 || d[0]["maxBatchDelay"] != 200 {
            fail!(
                "describe shows batchSize {} and maxBatchDelay {}; the yaml says 4 and 200",
                d[0]["batchSize"],
                d[0]["maxBatchDelay"]
            );
        }
        Ok(())
    })
    .await;

    let started = Instant::now();
    let lone = burst(s, REC, tagged("lone", 1, json!({}))).await;
    let lone_elapsed = started.elapsed();
    s.check("BAT-6.1-02", async {
        let a = &lone.clone()?[0];
        ensure!(
            a.v["batch_size"] == 4,
            a.resp,
            "system_properties batch_size should be 4, got {}",
            a.v["batch_size"]
        );
        Ok(())
    })
    .await;
    s.check("BAT-6.1-03", async {
        let a = &lone.clone()?[0];
        ensure!(
            a.v["batch_len"] == 1,
            a.resp,
            "a lone request should be a batch of 1"
        );
        Ok(())
    })
    .await;
    s.check("BAT-6.1-04", async {
        let a = &lone.clone()?[0];
        ensure!(
            lone_elapsed >= Duration::from_millis(150),
            a.resp,
            "answered after {} ms: the server did not wait for more requests",
            lone_elapsed.as_millis()
        );
        Ok(())
    })
    .await;

    let mut trio = Err(Failure::new("not run"));
    for attempt in 0..3 {
        trio = burst(s, REC, tagged(&format!("trio{attempt}"), 3, json!({}))).await;
        if matches!(&trio, Ok(answers) if call_sizes(answers) == [3]) {
            break;
        }
    }
    s.check("BAT-6.1-05", async {
        let answers = trio.clone()?;
        let sizes = call_sizes(&answers);
        ensure!(
            sizes == [3],
            answers[0].resp,
            "three concurrent requests made calls of sizes {sizes:?}, expected one call of 3"
        );
        Ok(())
    })
    .await;
    s.check("BAT-6.1-06", async {
        for a in trio.clone()? {
            ensure!(
                a.v["echo"]["tag"] == a.tag.as_str(),
                a.resp,
                "client {} got element {}",
                a.tag,
                a.v["echo"]
            );
        }
        Ok(())
    })
    .await;
    s.check("BAT-6.1-07", async { invariants(&trio.clone()?, 4) })
        .await;

    let twelve = burst(s, REC, tagged("twelve", 12, json!({}))).await;
    s.check("BAT-6.1-08", async { invariants(&twelve.clone()?, 4) })
        .await;
    s.check("BAT-6.1-10", async {
        let answers = twelve.clone()?;
        invariants(&answers, 4)?;
        let mut calls: BTreeMap<(i64, i64), usize> = BTreeMap::new();
        for a in &answers {
            *calls
                .entry((
                    a.v["pid"].as_i64().unwrap_or(0),
                    a.v["call_no"].as_i64().unwrap_or(0),
                ))
                .or_default() += 1;
        }
        for a in &answers {
            let key = (
                a.v["pid"].as_i64().unwrap_or(0),
                a.v["call_no"].as_i64().unwrap_or(0),
            );
            ensure!(
                a.v["batch_len"] == calls[&key],
                a.resp,
                "batch_len {} but {} answers came from that call",
                a.v["batch_len"],
                calls[&key]
            );
        }
        Ok(())
    })
    .await;

    s.check("BAT-6.1-09", async {
        // Keep the worker busy, let its batch of one close (200 ms window), then queue 8.
        let busy = async { burst(s, REC, vec![json!({"tag": "busy", "sleep": 1.0})]).await };
        let queued = async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            burst(s, REC, tagged("queued", 8, json!({}))).await
        };
        let (busy, queued) = tokio::join!(busy, queued);
        let busy = busy?;
        let queued = queued?;
        ensure!(
            busy[0].v["batch_len"] == 1,
            busy[0].resp,
            "the busy request should have been alone"
        );
        invariants(&queued, 4)?;
        let sizes = call_sizes(&queued);
        ensure!(
            sizes == [4, 4],
            queued[0].resp,
            "8 requests queued behind a busy worker made calls of sizes {sizes:?}, expected [4, 4]"
        );
        Ok(())
    })
    .await;

    s.check("BAT-6.1-11", async {
        let d = describe(s, TWO).await?;
        if d[0]["batchSize"] != 2 || d[0]["maxBatchDelay"] != 50 {
            fail!("register batch_size=2&max_batch_delay=50 should win over the yaml; describe shows {} and {}", d[0]["batchSize"], d[0]["maxBatchDelay"]);
        }
        let answers = burst(s, TWO, tagged("two", 6, json!({}))).await?;
        invariants(&answers, 2)?;
        ensure!(answers[0].v["batch_size"] == 2, answers[0].resp, "context batch_size should be 2");
        Ok(())
    })
    .await;
    s.check("BAT-6.1-12", async {
        let answers = burst(s, ONE, tagged("one", 5, json!({}))).await?;
        invariants(&answers, 1)
    })
    .await;
    s.check("BAT-6.1-13", async {
        let first = async { burst(s, REC, vec![json!({"tag": "early"})]).await };
        let second = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            burst(s, REC, vec![json!({"tag": "late"})]).await
        };
        let (a, b) = tokio::join!(first, second);
        let (a, b) = (a?, b?);
        let all = [a[0].clone(), b[0].clone()];
        invariants(&all, 4)?;
        ensure!(
            call_sizes(&all) == [2],
            b[0].resp,
            "a request 50 ms behind another should share its batch"
        );
        Ok(())
    })
    .await;

    s.check("BAT-6.1-14", async {
        let models = [(ONE, 1usize), (TWO, 2), (REC, 4)];
        let strategy = (0..models.len(), 1usize..=12, proptest::collection::vec(0u32..40, 1..=12));
        for_all(s.proptest_cases, strategy, |(m, n, sleeps)| async move {
            let (model, limit) = models[m];
            let bodies: Vec<Value> = (0..n)
                .map(|i| json!({"tag": format!("p{i}"), "sleep": f64::from(sleeps[i % sleeps.len()]) / 1000.0}))
                .collect();
            let answers = burst(s, model, bodies).await?;
            invariants(&answers, limit)
        })
        .await
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(tag: &str, pid: i64, call: i64, ids: &[&str], idx: usize) -> Answer {
        let v = json!({"echo": {"tag": tag}, "batch_len": ids.len(), "request_ids": ids, "index": idx,
            "my_request_id": ids[idx], "pid": pid, "call_no": call});
        Answer {
            resp: fake_resp(ids[idx]),
            v,
            tag: tag.to_owned(),
        }
    }

    fn fake_resp(request_id: &str) -> Resp {
        Resp::for_tests(
            200,
            vec![("x-request-id".into(), request_id.into())],
            Vec::new(),
        )
    }

    #[test]
    fn invariants_accept_a_good_batch_and_catch_violations() {
        let good = [
            answer("a", 1, 1, &["r1", "r2"], 0),
            answer("b", 1, 1, &["r1", "r2"], 1),
        ];
        assert!(invariants(&good, 2).is_ok());
        assert_eq!(call_sizes(&good), vec![2]);
        assert!(invariants(&good, 1).is_err(), "2 > batch size 1");
        let mut swapped = good.clone();
        swapped[0].tag = "b".into();
        assert!(invariants(&swapped, 2).is_err(), "wrong element");
        let dup = [answer("a", 1, 1, &["r1", "r1"], 0)];
        assert!(invariants(&dup, 2).is_err(), "duplicate ids");
    }
}
