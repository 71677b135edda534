//! GPU assignment (contract §7) on simulated GPUs (`simulated_gpus=N`): the server-wide round
//! robin across models (this server gives the first worker GPU 0, TorchServe gives 1), per-model
//! deviceIds, deviceType cpu, invalid deviceIds, number_of_gpu as a cap, a CUDA_VISIBLE_DEVICES
//! subset, the start-up worker count, and no GPU at all. Each worker's id is read from describe
//! and from the handler (`context.system_properties["gpu_id"]`), and the two must agree.

mod common;

use common::server::named;
use common::{ServerOptions, TestServer, wait_for};
use handlers_fixtures::{BuildOptions, ConfigChoice};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The gpu_probe fixture under another name with this model-config.yaml.
fn probe(model: &str, yaml: &str) -> BuildOptions {
    BuildOptions {
        config: ConfigChoice::Yaml(yaml.into()),
        ..named(model)
    }
}

/// GPU of each worker in describe order (None = no GPU), checked against `gpu` and `gpuUsage`.
fn describe_gpus(s: &TestServer, model: &str) -> Vec<Option<u64>> {
    let d = s.describe(model);
    d[0]["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            let usage = w["gpuUsage"].as_str().expect("gpuUsage");
            let id = usage.strip_prefix("gpuId::").map(|rest| {
                rest.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .expect("gpu id in gpuUsage")
            });
            assert_eq!(
                w["gpu"].as_bool(),
                Some(id.is_some()),
                "{model}: gpu flag vs gpuUsage {usage:?}"
            );
            if id.is_none() {
                assert_eq!(usage, "N/A");
            }
            id
        })
        .collect()
}

/// What each worker's handler sees, by pid: asks until every worker of the model has answered.
fn handler_gpus(s: &TestServer, model: &str) -> BTreeMap<u64, Value> {
    let pids: Vec<u64> = s.worker_pids(model).into_iter().map(u64::from).collect();
    let mut seen = BTreeMap::new();
    let mut asked = 0;
    wait_for(
        Duration::from_secs(60),
        &format!("every worker of {model} to answer"),
        || {
            let r = s.predict_json(model, &json!({"n": asked}));
            asked += 1;
            assert_eq!(r.status, 200, "{}", r.text());
            let v = r.handler_json();
            seen.insert(v["pid"].as_u64().expect("pid"), v);
            pids.iter().all(|p| seen.contains_key(p)).then_some(())
        },
    );
    seen
}

/// Asserts the GPUs of a model's workers, in describe order, from both sides.
fn check(s: &TestServer, model: &str, want: &[Option<u64>]) -> BTreeMap<u64, Value> {
    let got = describe_gpus(s, model);
    assert_eq!(got, want, "{model}: GPUs in describe");
    let by_pid = handler_gpus(s, model);
    for (pid, gpu) in s.worker_pids(model).into_iter().zip(want) {
        let report = &by_pid[&u64::from(pid)];
        assert_eq!(
            report["gpu_id"].as_u64(),
            *gpu,
            "{model}: worker {pid} sees {report}"
        );
        if gpu.is_none() {
            assert_eq!(
                report["gpu_id"],
                Value::Null,
                "on CPU gpu_id is None, not -1"
            );
        }
    }
    by_pid
}

fn register(s: &TestServer, model: &str, workers: u32) {
    s.register_ok(&format!(
        "url={model}.mar&initial_workers={workers}&synchronous=true"
    ));
}

#[test]
fn round_robin_device_ids_and_cpu_models() {
    let s = ServerOptions::default()
        .prop("simulated_gpus", "4")
        .fixture_with("gpu_probe", named("a"))
        .fixture("gpu_probe_ids")
        .fixture_with("gpu_probe", probe("cpu_only", "deviceType: cpu\n"))
        .fixture_with("gpu_probe", named("d"))
        .fixture_with("gpu_probe", probe("bad_ids", "deviceIds: [1, 7]\n"))
        .start();
    register(&s, "a", 2);
    check(&s, "a", &[Some(0), Some(1)]);
    // deviceIds [2, 3]: a per-model counter that leaves the global one alone.
    register(&s, "gpu_probe_ids", 3);
    check(&s, "gpu_probe_ids", &[Some(2), Some(3), Some(2)]);
    let d = &s.describe("gpu_probe_ids")[0];
    assert_eq!(
        (d["deviceType"].clone(), d["deviceIds"].clone()),
        (json!("gpu"), json!([2, 3]))
    );
    register(&s, "cpu_only", 1);
    check(&s, "cpu_only", &[None]);
    assert_eq!(s.describe("cpu_only")[0]["deviceType"], "cpu");
    // The global counter continues across models.
    register(&s, "d", 3);
    check(&s, "d", &[Some(2), Some(3), Some(0)]);
    // An id outside 0..number_of_gpu drops the whole list: the global counter is used.
    register(&s, "bad_ids", 1);
    check(&s, "bad_ids", &[Some(1)]);
    assert!(
        s.describe("bad_ids")[0].get("deviceIds").is_none(),
        "invalid deviceIds are not shown"
    );
    // Scaling up takes the next global id; scaling down and up again takes later ones.
    s.scale_ok("a", 3);
    check(&s, "a", &[Some(0), Some(1), Some(2)]);
    s.scale_ok("a", 1);
    s.scale_ok("a", 2);
    check(&s, "a", &[Some(0), Some(3)]);
}

#[test]
fn number_of_gpu_caps_visible_devices_and_sets_startup_workers() {
    // 4 GPUs, CUDA_VISIBLE_DEVICES shows 3 of them, number_of_gpu caps at 2.
    let s = ServerOptions::default()
        .prop("simulated_gpus", "4")
        .prop("number_of_gpu", "2")
        .prop("load_models", "gpu_probe.mar")
        .env("CUDA_VISIBLE_DEVICES", "3,1,2")
        .fixture("gpu_probe")
        .fixture_with("gpu_probe", named("more"))
        .fixture_with("gpu_probe", probe("id_one", "deviceIds: [1]\n"))
        .fixture_with("gpu_probe", probe("id_two", "deviceIds: [2]\n"))
        .start();
    // default_workers_per_model is 0: start-up models get one worker per GPU.
    let seen = check(&s, "gpu_probe", &[Some(0), Some(1)]);
    for report in seen.values() {
        assert_eq!(
            report["cuda_visible_devices"], "3,1,2",
            "the handler sees the server's CUDA_VISIBLE_DEVICES"
        );
    }
    register(&s, "more", 3);
    check(&s, "more", &[Some(0), Some(1), Some(0)]);
    register(&s, "id_one", 2);
    check(&s, "id_one", &[Some(1), Some(1)]);
    register(&s, "id_two", 1);
    check(&s, "id_two", &[Some(1)]);
}

#[test]
fn no_gpus_means_cpu_everywhere() {
    let s = ServerOptions::default()
        .prop("simulated_gpus", "0")
        .fixture("gpu_probe")
        .fixture_with(
            "gpu_probe",
            probe("wants_gpu", "deviceType: gpu\ndeviceIds: [0]\n"),
        )
        .start();
    register(&s, "gpu_probe", 2);
    check(&s, "gpu_probe", &[None, None]);
    register(&s, "wants_gpu", 1);
    check(&s, "wants_gpu", &[None]);
    let d = &s.describe("wants_gpu")[0];
    assert_eq!(
        d["deviceType"], "cpu",
        "deviceType gpu with no GPU resolves to cpu"
    );
    assert!(d.get("deviceIds").is_none());
}
