//! Contract §7: GPU assignment. Checks needing GPUs are skipped on CPU-only targets; the
//! CPU-only ones are skipped on GPU targets.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::{LocalBoxFuture, join_all};
use handlers_fixtures::{BuildOptions, ConfigChoice};
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::ensure;
use crate::harness::{CheckSpec, Failure, Group::Gpu as G, Need, Session, must, should};

pub const CHECKS: &[CheckSpec] = &[
    must("GPU-7-01", G, "On a CPU-only target context.system_properties gpu_id is None").needs(&[Need::ModelApi, Need::NoGpus]),
    must("GPU-7-02", G, "On a CPU-only target describe shows deviceType cpu and workers with gpu false, gpuUsage N/A")
        .needs(&[Need::ModelApi, Need::NoGpus]),
    must("GPU-7-03", G, "N workers of one model get N consecutive GPU ids, round-robin over all GPUs").needs(&[Need::ModelApi, Need::Gpus(2)]),
    must("GPU-7-04", G, "GPU workers show gpu true in describe and the model deviceType gpu").needs(&[Need::ModelApi, Need::Gpus(1)]),
    must("GPU-7-05", G, "The round-robin counter is shared across models").needs(&[Need::ModelApi, Need::Gpus(2)]),
    must("GPU-7-06", G, "yaml deviceIds [2, 3] gives workers 2, 3, 2 (a per-model counter)").needs(&[Need::ModelApi, Need::Gpus(4)]),
    must("GPU-7-07", G, "Describe shows the yaml deviceIds").needs(&[Need::ModelApi, Need::Gpus(4)]),
    must("GPU-7-08", G, "yaml deviceType cpu gives gpu_id None even on a GPU target").needs(&[Need::ModelApi, Need::Gpus(1)]),
    must("GPU-7-09", G, "gpu_id is an int in [0, number of GPUs)").needs(&[Need::ModelApi, Need::Gpus(1)]),
    should("GPU-7-10", G, "With torch and CUDA on the target, a tensor put on cuda:<gpu_id> lands there")
        .needs(&[Need::ModelApi, Need::Gpus(1)])
        .note("skipped at run time when the target's Python has no CUDA"),
];

const PROBE: &str = "gpu_probe_rr";
const OTHER: &str = "gpu_probe_other";
const IDS: &str = "gpu_probe_ids";
const CPU: &str = "gpu_probe_cpu";
const PLAIN: &str = "gpu_probe_plain";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

/// Maps each worker (by describe order of ids) to the gpu_id its process reports, by
/// keeping every worker busy at once until each has answered.
async fn gpu_ids(
    s: &Session,
    model: &str,
    n: usize,
) -> Result<(Vec<Worker>, BTreeMap<i64, Value>), Failure> {
    let mut ws = wait_ready(s, model, n, Duration::from_secs(180)).await?;
    ws.sort_by_key(|w| w.id.parse::<u64>().unwrap_or(u64::MAX));
    let mut by_pid: BTreeMap<i64, Value> = BTreeMap::new();
    for _round in 0..10 {
        let sends = (0..n * 2).map(|_| async {
            let resp = infer_json(s, model, &json!({"sleep": 0.3})).await?;
            ok_json(&resp)
        });
        for v in join_all(sends).await {
            let v = v?;
            by_pid.insert(v["pid"].as_i64().unwrap_or(-1), v);
        }
        if ws.iter().all(|w| by_pid.contains_key(&w.pid)) {
            return Ok((ws, by_pid));
        }
    }
    Err(Failure::new(format!(
        "could not reach every worker of {model}: {ws:?}, answers from {:?}",
        by_pid.keys()
    )))
}

fn gpu_of(by_pid: &BTreeMap<i64, Value>, w: &Worker) -> Option<i64> {
    by_pid.get(&w.pid).and_then(|v| v["gpu_id"].as_i64())
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let gpus = s.target.caps.gpus as usize;
    if gpus == 0 {
        setup_model(s, "gpu_probe", PLAIN, 1, &[]).await?;
        let resp = infer_json(s, PLAIN, &json!({})).await?;
        s.check("GPU-7-01", async {
            let v = ok_json(&resp)?;
            ensure!(
                v["gpu_id"].is_null(),
                resp,
                "gpu_id should be None, got {}",
                v["gpu_id"]
            );
            Ok(())
        })
        .await;
        s.check("GPU-7-02", async {
            let d = describe(s, PLAIN).await?;
            ensure!(
                d[0]["deviceType"] == "cpu",
                resp,
                "deviceType should be cpu, got {}",
                d[0]["deviceType"]
            );
            for w in d[0]["workers"].as_array().into_iter().flatten() {
                ensure!(
                    w["gpu"] == false && w["gpuUsage"] == "N/A",
                    resp,
                    "CPU worker shows {w}"
                );
            }
            Ok(())
        })
        .await;
        return Ok(());
    }

    let url = s.fixture_url("gpu_probe", &Default::default(), "gpu_probe_rr.mar")?;
    let n = gpus.to_string();
    register_ok(
        s,
        &url,
        &[
            ("model_name", PROBE),
            ("initial_workers", n.as_str()),
            ("synchronous", "true"),
        ],
    )
    .await?;
    let mapped = gpu_ids(s, PROBE, gpus).await;
    s.check("GPU-7-09", async {
        let (ws, by_pid) = mapped.clone()?;
        for w in &ws {
            let g = gpu_of(&by_pid, w);
            if !g.is_some_and(|g| (0..gpus as i64).contains(&g)) {
                crate::fail!(
                    "worker {} reports gpu_id {g:?}; expected an int in [0, {gpus})",
                    w.id
                );
            }
        }
        Ok(())
    })
    .await;
    s.check("GPU-7-03", async {
        let (ws, by_pid) = mapped.clone()?;
        let ids: Vec<Option<i64>> = ws.iter().map(|w| gpu_of(&by_pid, w)).collect();
        let first = ids[0].unwrap_or(-1);
        let want: Vec<Option<i64>> = (0..gpus as i64).map(|i| Some((first + i).rem_euclid(gpus as i64))).collect();
        if ids != want {
            crate::fail!("workers in creation order got GPUs {ids:?}; round-robin from {first} gives {want:?}");
        }
        let distinct: BTreeSet<_> = ids.iter().collect();
        if distinct.len() != gpus {
            crate::fail!("{gpus} workers should cover all {gpus} GPUs once: {ids:?}");
        }
        Ok(())
    })
    .await;
    s.check("GPU-7-04", async {
        let d = describe(s, PROBE).await?;
        if d[0]["deviceType"] != "gpu" {
            crate::fail!("deviceType should be gpu, got {}", d[0]["deviceType"]);
        }
        for w in d[0]["workers"].as_array().into_iter().flatten() {
            if w["gpu"] != true {
                crate::fail!("a GPU worker shows gpu {}", w["gpu"]);
            }
        }
        Ok(())
    })
    .await;
    s.check("GPU-7-05", async {
        let (ws, by_pid) = mapped.clone()?;
        let last = ws.last().and_then(|w| gpu_of(&by_pid, w)).unwrap_or(-1);
        let url = s.fixture_url("gpu_probe", &Default::default(), "gpu_probe_other.mar")?;
        register(
            s,
            &url,
            &[
                ("model_name", OTHER),
                ("initial_workers", "1"),
                ("synchronous", "true"),
            ],
        )
        .await?
        .expect_status(200)?;
        let resp = infer_json(s, OTHER, &json!({})).await?;
        let v = ok_json(&resp)?;
        let want = (last + 1).rem_euclid(gpus as i64);
        ensure!(
            v["gpu_id"] == want,
            resp,
            "the next model's first worker should get GPU {want} (after {last}), got {}",
            v["gpu_id"]
        );
        Ok(())
    })
    .await;
    s.check("GPU-7-10", async {
        let (_, by_pid) = mapped.clone()?;
        let Some(v) = by_pid.values().next() else {
            crate::fail!("no answers")
        };
        if v["cuda_available"] != true {
            return Err(Failure::skip("the target's Python has no torch with CUDA"));
        }
        let want = format!("cuda:{}", v["gpu_id"]);
        if v["tensor_device"] != want.as_str() {
            crate::fail!("tensor landed on {}, expected {want}", v["tensor_device"]);
        }
        Ok(())
    })
    .await;

    if s.wants("GPU-7-06") || s.wants("GPU-7-07") {
        let url = s.fixture_url("gpu_probe_ids", &Default::default(), "gpu_probe_ids.mar")?;
        register_ok(
            s,
            &url,
            &[
                ("model_name", IDS),
                ("initial_workers", "3"),
                ("synchronous", "true"),
            ],
        )
        .await?;
        let mapped = gpu_ids(s, IDS, 3).await;
        s.check("GPU-7-06", async {
            let (ws, by_pid) = mapped?;
            let ids: Vec<Option<i64>> = ws.iter().map(|w| gpu_of(&by_pid, w)).collect();
            if ids != [Some(2), Some(3), Some(2)] {
                crate::fail!("workers in creation order got GPUs {ids:?}, expected [2, 3, 2]");
            }
            Ok(())
        })
        .await;
        s.check("GPU-7-07", async {
            let d = describe(s, IDS).await?;
            if d[0]["deviceIds"] != json!([2, 3]) {
                crate::fail!("deviceIds should be [2, 3], got {}", d[0]["deviceIds"]);
            }
            Ok(())
        })
        .await;
    }

    let cpu = BuildOptions {
        config: ConfigChoice::Yaml("deviceType: cpu\n".into()),
        ..Default::default()
    };
    let url = s.fixture_url("gpu_probe", &cpu, "gpu_probe_cpu.mar")?;
    let r = register(
        s,
        &url,
        &[
            ("model_name", CPU),
            ("initial_workers", "1"),
            ("synchronous", "true"),
        ],
    )
    .await;
    s.check("GPU-7-08", async {
        r?.expect_status(200)?;
        let resp: Resp = infer_json(s, CPU, &json!({})).await?;
        let v = ok_json(&resp)?;
        ensure!(
            v["gpu_id"].is_null(),
            resp,
            "deviceType cpu should give gpu_id None, got {}",
            v["gpu_id"]
        );
        Ok(())
    })
    .await;
    Ok(())
}
