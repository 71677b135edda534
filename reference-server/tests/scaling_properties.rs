//! Property test of random register / scale / unregister sequences against a model of
//! TorchServe's rules (contract §4.2, §4.3, §4.5): after each step describe shows exactly the
//! expected workers (ids kept in order, new ids fresh and increasing, newest removed first),
//! with distinct live pids that are this server's `ts-worker` processes; removed and unregistered
//! workers are gone; the model serves (or answers 503 with no worker). After shutdown no worker
//! process is left (checked in /proc).

mod common;

use common::{Reply, ServerOptions, TestServer, procs, wait_for};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Step {
    Register {
        workers: u32,
        sync: bool,
    },
    Scale {
        min: u32,
        extra: u32,
        sync: bool,
        with_version: bool,
    },
    Unregister,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0u32..=2, any::<bool>()).prop_map(|(workers, sync)| Step::Register { workers, sync }),
        5 => (0u32..=3, 0u32..=1, any::<bool>(), any::<bool>())
            .prop_map(|(min, extra, sync, with_version)| Step::Scale { min, extra, sync, with_version }),
        1 => Just(Step::Unregister),
    ]
}

/// One worker as describe shows it.
#[derive(Debug, Clone, PartialEq)]
struct Worker {
    id: u32,
    pid: u32,
}

/// What the server should hold for the model: None when unregistered.
type Model = Option<(Vec<Worker>, (u32, u32))>;

struct Run<'a> {
    s: &'a TestServer,
    name: String,
    dir: String,
    /// the largest worker id seen so far (ids are server-wide and only grow)
    max_id: u32,
    /// every pid this case saw, to check the removed ones are gone
    retired: Vec<u32>,
}

impl Run<'_> {
    fn status(&self, r: &Reply, code: u16, text: &str) {
        assert_eq!(r.status_text(), (code, text.to_string()), "{}", r.what);
    }

    fn not_found(&self, r: &Reply) {
        let (code, kind, message) = r.error();
        assert_eq!(
            (code, kind.as_str(), message),
            (
                404,
                "ModelNotFoundException",
                format!("Model not found: {}", self.name)
            )
        );
    }

    /// Describe once every worker is READY (async steps need the wait; sync ones must already be).
    fn workers(&self, want: usize, sync: bool) -> (Vec<Worker>, (u32, u32)) {
        let read = || {
            let d = &self.s.describe(&self.name)[0];
            let ws = d["workers"].as_array().expect("workers").clone();
            let all_ready = ws.iter().all(|w| w["status"] == "READY");
            let parsed: Vec<Worker> = ws
                .iter()
                .filter_map(|w| {
                    Some(Worker {
                        id: w["id"].as_str()?.parse().ok()?,
                        pid: w["pid"].as_u64()? as u32,
                    })
                })
                .collect();
            let mm = (
                d["minWorkers"].as_u64().expect("min") as u32,
                d["maxWorkers"].as_u64().expect("max") as u32,
            );
            (all_ready && parsed.len() == ws.len() && ws.len() == want).then_some((parsed, mm))
        };
        if sync {
            read().unwrap_or_else(|| {
                panic!("after a synchronous step: {}", self.s.describe(&self.name))
            })
        } else {
            wait_for(
                Duration::from_secs(60),
                "asynchronous workers to be READY",
                read,
            )
        }
    }

    /// Applies one step to the server and to the model, then compares them.
    fn apply(&mut self, model: &mut Model, step: &Step) {
        let sync_of = |s: &Step| match s {
            Step::Register { sync, .. } | Step::Scale { sync, .. } => *sync,
            Step::Unregister => true,
        };
        match (step, model.as_ref()) {
            (Step::Register { .. }, Some(_)) => {
                let r = self
                    .s
                    .register(&format!("url=echo.mar&model_name={}", self.name));
                let (code, kind, message) = r.error();
                assert_eq!((code, kind.as_str()), (409, "ConflictStatusException"));
                assert_eq!(
                    message,
                    format!(
                        "Model version 1.0 is already registered for model {}",
                        self.name
                    )
                );
            }
            (Step::Register { workers, sync }, None) => {
                let r = self.s.register(&format!(
                    "url=echo.mar&model_name={}&initial_workers={workers}&synchronous={sync}",
                    self.name
                ));
                let n = &self.name;
                match (workers, sync) {
                    (0, _) => self.status(&r, 200, &format!("Model \"{n}\" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model.")),
                    (w, true) => self.status(&r, 200, &format!("Model \"{n}\" Version: 1.0 registered with {w} initial workers")),
                    (_, false) => self.status(&r, 202, "Processing worker updates..."),
                }
                *model = Some((Vec::new(), (*workers, *workers)));
            }
            (Step::Scale { .. }, None) => {
                let r = self
                    .s
                    .mgmt("PUT", &format!("/models/{}?min_worker=1", self.name));
                self.not_found(&r);
            }
            (
                Step::Scale {
                    min,
                    extra,
                    sync,
                    with_version,
                },
                Some(_),
            ) => {
                let path = if *with_version {
                    format!("{}/1.0", self.name)
                } else {
                    self.name.clone()
                };
                let max = min + extra;
                let r = self.s.mgmt(
                    "PUT",
                    &format!("/models/{path}?min_worker={min}&max_worker={max}&synchronous={sync}"),
                );
                if *sync {
                    let version = if *with_version { ", version: 1.0" } else { "" };
                    self.status(
                        &r,
                        200,
                        &format!("Workers scaled to {min} for model: {}{version}", self.name),
                    );
                } else {
                    self.status(&r, 202, "Processing worker updates...");
                }
                let (ws, _) = model.as_mut().expect("registered");
                if (ws.len() as u32) > max {
                    // Newest first: the tail goes.
                    let dropped = ws.split_off(max as usize);
                    self.retired.extend(dropped.iter().map(|w| w.pid));
                }
                model.as_mut().expect("registered").1 = (*min, max);
            }
            (Step::Unregister, None) => {
                self.not_found(&self.s.mgmt("DELETE", &format!("/models/{}", self.name)))
            }
            (Step::Unregister, Some((ws, _))) => {
                let pids: Vec<u32> = ws.iter().map(|w| w.pid).collect();
                let r = self.s.mgmt("DELETE", &format!("/models/{}", self.name));
                self.status(&r, 200, &format!("Model \"{}\" unregistered", self.name));
                self.retired.extend(pids);
                *model = None;
            }
        }
        self.compare(model, sync_of(step));
    }

    /// Checks the server against the model (new workers are learnt here: their ids must be
    /// fresh and increasing, their pids new).
    fn compare(&mut self, model: &mut Model, sync: bool) {
        for pid in &self.retired {
            assert!(!procs::alive(*pid), "removed worker {pid} still runs");
        }
        let Some((kept, (min, max))) = model.as_mut() else {
            self.not_found(&self.s.mgmt("GET", &format!("/models/{}", self.name)));
            return;
        };
        let want = kept.len().max(*min as usize);
        let (got, mm) = self.workers(want, sync);
        assert_eq!(mm, (*min, *max), "minWorkers/maxWorkers");
        assert_eq!(
            &got[..kept.len()],
            &kept[..],
            "kept workers keep their ids, pids and order"
        );
        let mut last = self.max_id;
        for w in &got[kept.len()..] {
            assert!(w.id > last, "new worker id {} after {last}: {got:?}", w.id);
            last = w.id;
        }
        self.max_id = self.max_id.max(last);
        let mut pids: Vec<u32> = got.iter().map(|w| w.pid).collect();
        for pid in &pids {
            assert!(
                procs::is_worker_of(*pid, &self.dir),
                "pid {pid} is not a live ts-worker of this server"
            );
            assert!(!self.retired.contains(pid), "pid {pid} was retired");
        }
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), got.len(), "distinct pids: {got:?}");
        *kept = got;
        // Serving: a worker answers, or 503 with none.
        let r = self.s.predict_json(&self.name, &json!({"probe": true}));
        if kept.is_empty() {
            assert_eq!(r.status, 503, "{}", r.text());
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
            let pid = r.handler_json()["pid"].as_u64().expect("pid") as u32;
            assert!(
                kept.iter().any(|w| w.pid == pid),
                "served by {pid}, not one of {kept:?}"
            );
        }
    }
}

#[test]
fn register_scale_unregister_sequences_match_the_model() {
    let mut s = ServerOptions::default().fixture("echo").start();
    let dir = s.dir().display().to_string();
    let cases = AtomicUsize::new(0);
    let max_id = std::sync::Mutex::new(8999u32);
    let config = Config {
        cases: 16,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // A register first (steps on an unknown model are cheap 404s and also occur later).
    let first =
        (0u32..=2, any::<bool>()).prop_map(|(workers, sync)| Step::Register { workers, sync });
    let sequences = (first, proptest::collection::vec(step(), 1..=7)).prop_map(|(f, mut rest)| {
        rest.insert(0, f);
        rest
    });
    let result = runner.run(&sequences, |steps| {
        let n = cases.fetch_add(1, Ordering::SeqCst);
        let mut max = max_id.lock().unwrap_or_else(|p| p.into_inner());
        let mut run = Run {
            s: &s,
            name: format!("m{n}"),
            dir: dir.clone(),
            max_id: *max,
            retired: Vec::new(),
        };
        let mut model: Model = None;
        for step in &steps {
            run.apply(&mut model, step);
        }
        if model.is_some() {
            run.apply(&mut model, &Step::Unregister);
        }
        *max = run.max_id;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        s.worker_processes().is_empty(),
        "every case unregistered its model: {:?}",
        s.worker_processes()
    );
    // Shutdown with workers running: none may outlive the server.
    s.register_ok("url=echo.mar&model_name=last&initial_workers=2&synchronous=true");
    assert_eq!(s.worker_processes().len(), 2);
    assert!(s.stop_with(libc::SIGTERM).success());
}

/// Scaling while clients keep sending: every request gets exactly one answer, which is its own
/// 200, `Worker died.` (a batch on a removed worker may end either way, contract §6.2) or the
/// no-worker 503 while the model has no worker; afterwards only the wanted workers run.
#[test]
fn scaling_under_load_answers_every_request_once() {
    use std::sync::atomic::AtomicBool;
    let s = ServerOptions::default().fixture("batch_recorder").start();
    s.register_ok("url=batch_recorder.mar&model_name=busy&batch_size=2&max_batch_delay=10&initial_workers=3&synchronous=true");
    let url = format!("{}/predictions/busy", s.base(common::Api::Inference));
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let no_worker = "Model \"busy\" has no worker to serve inference request. Please use scale workers API to add workers. \
                     If this is a sequence inference, please check if it is closed, or expired; or exceeds maxSequenceJobQueueSize";
    let answers: Vec<(String, u16, String, String)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let (url, done, stop) = (&url, &done, &stop);
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .no_proxy()
                        .timeout(Duration::from_secs(120))
                        .build()
                        .expect("client");
                    let mut out = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let tag = format!("c{c}-{i}");
                        i += 1;
                        let r = client
                            .post(url)
                            .json(&json!({"tag": tag, "sleep": 0.05}))
                            .send()
                            .expect("an answer");
                        let id = r
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        out.push((tag, r.status().as_u16(), id, r.text().unwrap_or_default()));
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    out
                })
            })
            .collect();
        let progress = |n: usize| {
            let target = done.load(Ordering::SeqCst) + n;
            wait_for(Duration::from_secs(60), "requests to complete", || {
                (done.load(Ordering::SeqCst) >= target).then_some(())
            });
        };
        progress(6);
        for min in [1, 2, 0, 3, 1] {
            s.scale_ok("busy", min);
            progress(6);
        }
        stop.store(true, Ordering::SeqCst);
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client"))
            .collect()
    });
    let mut seen_ids = std::collections::BTreeSet::new();
    let (mut ok, mut died, mut none) = (0, 0, 0);
    for (tag, status, id, body) in &answers {
        assert!(
            seen_ids.insert(id.clone()),
            "request id {id} answered twice"
        );
        match status {
            200 => {
                let v: serde_json::Value = serde_json::from_str(body).expect("report");
                assert_eq!(v["echo"]["tag"], tag.as_str(), "someone else's answer");
                assert_eq!(v["my_request_id"], id.as_str());
                ok += 1;
            }
            500 => {
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(body).ok(),
                    Some(
                        json!({"code": 500, "type": "InternalServerException", "message": "Worker died."})
                    )
                );
                died += 1;
            }
            503 => {
                let v: serde_json::Value = serde_json::from_str(body).expect("error");
                assert_eq!(v["message"], no_worker, "{body}");
                none += 1;
            }
            other => panic!("{tag}: unexpected {other}: {body}"),
        }
    }
    eprintln!("scaling under load: {ok} served, {died} worker died, {none} no worker");
    assert!(ok > 0 && none > 0, "the load spanned the 0-worker phase");
    assert_eq!(s.worker_pids("busy").len(), 1);
    assert_eq!(s.worker_processes().len(), 1, "{:?}", s.worker_processes());
}
