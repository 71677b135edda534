//! Batch aggregation (contract §6.1) through the batch_recorder fixture, which reports for every
//! request the batch it was part of. Properties, under random arrival times, concurrency and
//! batch settings, and again while workers are killed at random moments:
//! - every handler call gets 1..=batch_size requests, and every member of a call agrees on it;
//! - every request gets exactly one answer, and it is its own (its body echoed, its request id);
//! - no request is handled twice;
//! - a partial batch leaves no later than max_batch_delay (plus generous slack) after its first
//!   request was sent.

mod common;

use common::{ServerOptions, TestServer, wait_for};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Slack on the partial-batch deadline: this bounds a wait on a loaded 2-core machine, it is
/// not a latency claim.
const SLACK_S: f64 = 5.0;

/// One request of a plan and what came back.
#[derive(Debug, Clone)]
struct Sent {
    tag: String,
    /// seconds since the epoch, just before sending
    sent_at: f64,
    status: u16,
    request_id: String,
    body: String,
}

impl Sent {
    fn report(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.tag, self.body))
    }
}

fn epoch_s(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Sends each `(delay_ms, sleep_s)` request from its own thread `delay_ms` after a common start.
fn send_all(
    s: &TestServer,
    model: &str,
    tag: &str,
    plan: &[(u64, f64)],
    timeout: Duration,
) -> Vec<Sent> {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("client");
    let url = format!("{}/predictions/{model}", s.base(common::Api::Inference));
    let start = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(i, &(delay, sleep))| {
            let (client, url, tag) = (client.clone(), url.clone(), format!("{tag}-{i}"));
            std::thread::spawn(move || {
                let at = start + Duration::from_millis(delay);
                // Arrival times are the input of the property, not synchronisation.
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                let sent_at = epoch_s(SystemTime::now());
                let resp = client
                    .post(&url)
                    .json(&json!({"tag": tag, "sleep": sleep}))
                    .send();
                let resp = resp.unwrap_or_else(|e| panic!("{tag}: no answer: {e}"));
                let status = resp.status().as_u16();
                let request_id = resp
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body = resp.text().unwrap_or_default();
                Sent {
                    tag,
                    sent_at,
                    status,
                    request_id,
                    body,
                }
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect()
}

/// The batch invariants over every successful answer; returns the batches (request ids) seen.
fn check_batches(
    ok: &[&Sent],
    batch_size: u64,
    max_delay_ms: u64,
    busy_s: f64,
) -> Vec<Vec<String>> {
    // (pid, call number) → (the batch's request ids, the members that answered)
    type Batches<'a> = BTreeMap<(u64, u64), (Vec<String>, Vec<&'a Sent>)>;
    let mut batches: Batches<'_> = BTreeMap::new();
    for sent in ok {
        let r = sent.report();
        assert_eq!(
            r["echo"]["tag"],
            sent.tag.as_str(),
            "{}: got someone else's answer: {r}",
            sent.tag
        );
        assert_eq!(
            r["my_request_id"],
            sent.request_id.as_str(),
            "{}: request id",
            sent.tag
        );
        assert_eq!(
            r["batch_size"].as_u64(),
            Some(batch_size),
            "{}: context batch_size",
            sent.tag
        );
        let len = r["batch_len"].as_u64().expect("batch_len");
        assert!(
            (1..=batch_size).contains(&len),
            "{}: batch of {len} with batch_size {batch_size}",
            sent.tag
        );
        let ids: Vec<String> = r["request_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().expect("id").into())
            .collect();
        assert_eq!(
            ids.len() as u64,
            len,
            "{}: request_ids vs len(data)",
            sent.tag
        );
        let key = (
            r["pid"].as_u64().expect("pid"),
            r["call_no"].as_u64().expect("call_no"),
        );
        let entry = batches
            .entry(key)
            .or_insert_with(|| (ids.clone(), Vec::new()));
        assert_eq!(
            entry.0, ids,
            "members of one handler call disagree on its batch"
        );
        entry.1.push(sent);
    }
    let mut handled = BTreeSet::new();
    for (ids, members) in batches.values() {
        for id in ids {
            assert!(handled.insert(id.clone()), "request {id} handled twice");
        }
        let first = members
            .iter()
            .map(|m| m.sent_at)
            .fold(f64::INFINITY, f64::min);
        let started = members[0].report()["started"].as_f64().expect("started");
        if (ids.len() as u64) < batch_size {
            let waited = started - first;
            let bound = max_delay_ms as f64 / 1000.0 + busy_s + SLACK_S;
            assert!(
                waited <= bound,
                "partial batch {ids:?} started {waited:.3} s after its first request (bound {bound:.3} s)"
            );
        }
    }
    batches.into_values().map(|(ids, _)| ids).collect()
}

#[derive(Debug, Clone)]
struct Case {
    batch_size: u64,
    max_delay_ms: u64,
    workers: u32,
    /// (arrival delay in ms, handler sleep in s) per request
    plan: Vec<(u64, f64)>,
}

fn case() -> impl Strategy<Value = Case> {
    let request = (0u64..=250, prop_oneof![3 => Just(0.0), 1 => Just(0.05)]);
    (
        1u64..=5,
        1u64..=300,
        1u32..=2,
        proptest::collection::vec(request, 1..=10),
    )
        .prop_map(|(batch_size, max_delay_ms, workers, plan)| Case {
            batch_size,
            max_delay_ms,
            workers,
            plan,
        })
}

#[test]
fn batches_respect_size_delay_and_ownership() {
    let s = ServerOptions::default().fixture("batch_recorder").start();
    let n = AtomicUsize::new(0);
    let config = Config {
        cases: 8,
        max_shrink_iters: 8,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&case(), |c| {
        let model = format!("b{}", n.fetch_add(1, Ordering::SeqCst));
        let q = format!(
            "url=batch_recorder.mar&model_name={model}&batch_size={}&max_batch_delay={}&initial_workers={}&synchronous=true",
            c.batch_size, c.max_delay_ms, c.workers
        );
        s.register_ok(&q);
        let d = &s.describe(&model)[0];
        assert_eq!((d["batchSize"].as_u64(), d["maxBatchDelay"].as_u64()), (Some(c.batch_size), Some(c.max_delay_ms)));
        let results = send_all(&s, &model, &model, &c.plan, Duration::from_secs(120));
        for r in &results {
            assert_eq!(r.status, 200, "{}: {}", r.tag, r.body);
        }
        let busy: f64 = c.plan.iter().map(|(_, sleep)| sleep).sum();
        let ok: Vec<&Sent> = results.iter().collect();
        let batches = check_batches(&ok, c.batch_size, c.max_delay_ms, busy);
        let answered: BTreeSet<&str> = results.iter().map(|r| r.request_id.as_str()).collect();
        let handled: BTreeSet<&str> = batches.iter().flatten().map(String::as_str).collect();
        assert_eq!(answered, handled, "every request handled once and answered once");
        assert_eq!(s.mgmt("DELETE", &format!("/models/{model}")).status, 200);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn full_batches_leave_together_in_arrival_order() {
    let s = ServerOptions::default().fixture("batch_recorder").start();
    // A long delay: only a full batch (or the arrival of all of them) releases the call.
    s.register_ok("url=batch_recorder.mar&model_name=full&batch_size=4&max_batch_delay=60000&initial_workers=1");
    let results = send_all(&s, "full", "full", &[(0, 0.0); 4], Duration::from_secs(120));
    let reports: Vec<Value> = results.iter().map(Sent::report).collect();
    assert!(
        reports.iter().all(|r| r["batch_len"] == 4),
        "one call with all four: {reports:?}"
    );
    let ids: BTreeSet<&str> = results.iter().map(|r| r.request_id.as_str()).collect();
    let in_batch: BTreeSet<&str> = reports[0]["request_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    assert_eq!(ids, in_batch);

    // batch_size 4 with 3 requests: one call with len(data) == 3 once the delay has passed
    // (a long delay, so that all three arrive within it even on a loaded machine).
    s.register_ok("url=batch_recorder.mar&model_name=three&batch_size=4&max_batch_delay=4000&initial_workers=1");
    let results = send_all(
        &s,
        "three",
        "three",
        &[(0, 0.0); 3],
        Duration::from_secs(120),
    );
    assert!(
        results.iter().all(|r| r.report()["batch_len"] == 3),
        "{results:?}"
    );

    // FIFO: requests queued one after another behind a busy worker keep their order in batches.
    s.register_ok(
        "url=batch_recorder.mar&model_name=fifo&batch_size=3&max_batch_delay=50&initial_workers=1",
    );
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("{}/predictions/fifo", s.base(common::Api::Inference));
    let busy = {
        let (client, url) = (client.clone(), url.clone());
        std::thread::spawn(move || {
            client
                .post(url)
                .json(&json!({"tag": "busy", "sleep": 3.0}))
                .send()
                .map(|r| r.status().as_u16())
        })
    };
    s.wait_batch_dispatched("fifo", "the busy request to reach the worker");
    let mut threads = Vec::new();
    // How many requests are known to have queued, in order, while the worker was busy.
    let mut queued_in_order = 0;
    for i in 0..5 {
        let (client, url) = (client.clone(), url.clone());
        threads.push(std::thread::spawn(move || {
            let r = client
                .post(url)
                .json(&json!({"tag": format!("f{i}")}))
                .send()
                .expect("send");
            let id = r.headers()["x-request-id"]
                .to_str()
                .expect("id")
                .to_string();
            (id, r.json::<Value>().expect("json"))
        }));
        // The next request is sent once this one waits in the queue; if the busy call ended
        // first, the order of what follows is no longer known.
        let queued = wait_for(
            Duration::from_secs(30),
            "the request to queue (or the worker to free)",
            || {
                let pending =
                    s.describe("fifo")[0]["jobQueueStatus"]["pendingRequests"].as_u64()?;
                if pending == i + 1 {
                    Some(true)
                } else {
                    busy.is_finished().then_some(false)
                }
            },
        );
        if !queued {
            break;
        }
        queued_in_order += 1;
    }
    assert_eq!(busy.join().expect("thread").ok(), Some(200));
    let answers: Vec<(String, Value)> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let rank: BTreeMap<&str, usize> = answers
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    for (_, report) in &answers {
        let ids: Vec<usize> = report["request_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| rank[v.as_str().expect("id")])
            .filter(|&r| r < queued_in_order)
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "a batch keeps arrival order: {report}");
    }
    if queued_in_order == 5 {
        // All five waited: two batches, [f0 f1 f2] and [f3 f4].
        let lens: Vec<u64> = answers
            .iter()
            .map(|(_, r)| r["batch_len"].as_u64().expect("len"))
            .collect();
        assert_eq!(lens, [3, 3, 3, 2, 2], "{answers:?}");
    } else {
        eprintln!(
            "note: the busy call ended after {queued_in_order} of 5 requests queued (loaded machine); order checked for those"
        );
    }
}

#[test]
fn killed_workers_under_load_still_answer_every_request_once() {
    let s = ServerOptions::default().fixture("batch_recorder").start();
    s.register_ok("url=batch_recorder.mar&model_name=victim&batch_size=3&max_batch_delay=20&initial_workers=2&synchronous=true");
    let dir = s.dir().display().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mgmt = s.base(common::Api::Management);
    // The killer: at pseudo-random moments, SIGKILL one of the model's workers.
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut next = move |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            let mut kills = 0;
            while !stop.load(Ordering::SeqCst) && kills < 8 {
                std::thread::sleep(Duration::from_millis(100 + next(300)));
                let Ok(d) = client
                    .get(format!("{mgmt}/models/victim"))
                    .send()
                    .and_then(|r| r.json::<Value>())
                else {
                    continue;
                };
                let pids: Vec<u32> = d[0]["workers"]
                    .as_array()
                    .map(|ws| {
                        ws.iter()
                            .filter_map(|w| w["pid"].as_u64())
                            .map(|p| p as u32)
                            .collect()
                    })
                    .unwrap_or_default();
                if pids.is_empty() {
                    continue;
                }
                let pid = pids[next(pids.len() as u64) as usize];
                if common::procs::is_worker_of(pid, &dir)
                    && common::procs::signal(pid, libc::SIGKILL)
                {
                    kills += 1;
                }
            }
            kills
        })
    };
    // Load: 4 clients, each sending 12 requests one after another.
    let mut results = Vec::new();
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|c| {
                let s = &s;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for i in 0..12 {
                        let plan = [(0u64, 0.1)];
                        out.extend(send_all(
                            s,
                            "victim",
                            &format!("c{c}-{i}"),
                            &plan,
                            Duration::from_secs(120),
                        ));
                    }
                    out
                })
            })
            .collect();
        for c in clients {
            results.extend(c.join().expect("client"));
        }
    });
    stop.store(true, Ordering::SeqCst);
    let kills = killer.join().expect("killer");
    assert!(kills > 0, "the killer never found a worker to kill");

    let died = json!({"code": 500, "type": "InternalServerException", "message": "Worker died."});
    let mut ok = Vec::new();
    for r in &results {
        match r.status {
            200 => ok.push(r),
            500 => assert_eq!(
                serde_json::from_str::<Value>(&r.body).ok(),
                Some(died.clone()),
                "{}",
                r.tag
            ),
            other => panic!("{}: unexpected {other}: {}", r.tag, r.body),
        }
    }
    assert!(!ok.is_empty(), "nothing succeeded under faults");
    eprintln!(
        "fault test: {kills} kills, {} answered 200, {} answered 500 Worker died.",
        ok.len(),
        results.len() - ok.len()
    );
    let batches = check_batches(&ok, 3, 20, 48.0 * 0.1 + 30.0);
    let handled: BTreeSet<&str> = batches.iter().flatten().map(String::as_str).collect();
    for r in &ok {
        assert!(handled.contains(r.request_id.as_str()));
    }
    // Once the killing stops, both workers come back and serve.
    wait_for(Duration::from_secs(60), "two READY workers again", || {
        let d = s.describe("victim");
        let ws = d[0]["workers"].as_array()?.clone();
        (ws.len() == 2 && ws.iter().all(|w| w["status"] == "READY")).then_some(())
    });
    let again = send_all(
        &s,
        "victim",
        "after",
        &[(0, 0.0), (0, 0.0)],
        Duration::from_secs(60),
    );
    assert!(again.iter().all(|r| r.status == 200), "{again:?}");
    assert_eq!(
        s.worker_processes().len(),
        2,
        "killed workers left no process behind: {:?}",
        s.worker_processes()
    );
}

/// A job that waited longer than clientTimeoutInMills is not run. TorchServe drops it without an
/// answer; this server answers 408 so the client is not left waiting.
#[test]
fn expired_jobs_are_answered_and_not_run() {
    let yaml =
        handlers_fixtures::ConfigChoice::Yaml("batchSize: 1\nclientTimeoutInMills: 200\n".into());
    let opts = handlers_fixtures::BuildOptions {
        config: yaml,
        ..Default::default()
    };
    let s = ServerOptions::default()
        .fixture_with("batch_recorder", opts)
        .start();
    s.register_ok("url=batch_recorder.mar&initial_workers=1&synchronous=true");
    assert_eq!(s.describe("batch_recorder")[0]["clientTimeoutInMills"], 200);
    let url = format!(
        "{}/predictions/batch_recorder",
        s.base(common::Api::Inference)
    );
    let send = |tag: &'static str, sleep: f64| {
        let url = url.clone();
        std::thread::spawn(move || {
            let c = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let r = c
                .post(url)
                .json(&json!({"tag": tag, "sleep": sleep}))
                .send()
                .expect("an answer");
            (r.status().as_u16(), r.text().unwrap_or_default())
        })
    };
    let busy = send("busy", 3.0);
    s.wait_batch_dispatched("batch_recorder", "the first request to reach the worker");
    let expired = send("expired", 0.0);
    let (status, body) = expired.join().expect("thread");
    assert_eq!(status, 408, "{body}");
    let v: Value = serde_json::from_str(&body).expect("error body");
    assert_eq!(v["type"], "RequestTimeoutException", "{v}");
    let (status, body) = busy.join().expect("thread");
    assert_eq!(status, 200, "{body}");
    // The next call is the handler's second: the expired request never ran.
    let r = s.predict_json("batch_recorder", &json!({"tag": "after"}));
    assert_eq!(r.handler_json()["call_no"], 2);
}
