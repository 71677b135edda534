//! Contract §4.1, 4.2, 4.4, 4.5, 4.6: register, list, describe, versions, set-default,
//! unregister. The normalised responses form a transcript that must match the golden
//! snapshot `conformance/snapshots/lifecycle.snap`, shared by every target.
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use handlers_fixtures::{BuildOptions, ConfigChoice};
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::ensure;
use crate::harness::{
    CheckResult, CheckSpec, Failure, Group::Lifecycle as G, Session, may, must, should,
};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "MGMT-4.2-01",
        G,
        "POST /models without url answers 400 BadRequestException \"Parameter url is required.\"",
    ),
    must(
        "MGMT-4.2-02",
        G,
        "Registering a missing store file answers 404 ModelNotFoundException \"Model not found at: <url>\"",
    ),
    must(
        "MGMT-4.2-03",
        G,
        "A url containing .. answers 404 \"Relative path is not allowed in url: <url>\"",
    ),
    must(
        "MGMT-4.2-04",
        G,
        "An unknown runtime answers 400 \"Invalid RuntimeType value: <v>\"",
    ),
    must(
        "MGMT-4.2-05",
        G,
        "Registering with default parameters answers 200 \"... registered with 0 initial workers. Use scale workers API ...\"",
    ),
    must(
        "MGMT-4.2-06",
        G,
        "Registering the same name and version again answers 409 ConflictStatusException",
    ),
    must(
        "MGMT-4.2-07",
        G,
        "initial_workers=1&synchronous=true answers 200 \"... registered with 1 initial workers\" and the worker is READY",
    ),
    must(
        "MGMT-4.2-08",
        G,
        "synchronous=false answers 202 \"Processing worker updates...\" and the workers come up later",
    ),
    should(
        "MGMT-4.2-09",
        G,
        "synchronous defaults to true: without it the register waits for the workers",
    )
    .note("the code's default; docs/management_api.md says false"),
    must(
        "MGMT-4.2-10",
        G,
        "Register parameters may come as a JSON body (Content-Type: application/json)",
    ),
    must(
        "MGMT-4.2-11",
        G,
        "The model_name parameter overrides the manifest's modelName",
    ),
    must(
        "MGMT-4.2-12",
        G,
        "modelUrl in list and describe is the url as registered",
    ),
    must(
        "MGMT-4.1-01",
        G,
        "GET /models lists model names sorted, each with modelName and modelUrl",
    ),
    must(
        "MGMT-4.1-02",
        G,
        "limit=1&next_page_token=0 answers one model and nextPageToken \"1\"",
    ),
    must(
        "MGMT-4.1-03",
        G,
        "A page that ends past the last model has no nextPageToken",
    ),
    must(
        "MGMT-4.1-04",
        G,
        "limit above 100 or negative behaves as 100",
    ),
    should(
        "MGMT-4.1-05",
        G,
        "Unparsable or negative paging values fall back silently to the defaults",
    ),
    must(
        "MGMT-4.1-06",
        G,
        "The list shows one entry per model (its default version), even with several versions",
    ),
    may(
        "MGMT-4.1-07",
        G,
        "A page that ends exactly at the last model: nextPageToken is absent or equals the total",
    )
    .note("TorchServe sends a token equal to the total; a server may omit it"),
    must(
        "MGMT-4.4-01",
        G,
        "Describe answers a JSON array with one element for the default version",
    ),
    must(
        "MGMT-4.4-02",
        G,
        "Describe elements have TorchServe's field names, in order, with their JSON types",
    ),
    must(
        "MGMT-4.4-03",
        G,
        "Describe workers have id (port string), startTime, status READY, memoryUsage, pid, gpu false and gpuUsage N/A on CPU",
    ),
    must("MGMT-4.4-04", G, "GET /models/<m>/all lists every version"),
    must(
        "MGMT-4.4-05",
        G,
        "Describing an unknown model answers 404 \"Model not found: <m>\"",
    ),
    must(
        "MGMT-4.4-06",
        G,
        "Describing an unknown version answers 404 \"Model version: <v> does not exist for model: <m>\"",
    ),
    must(
        "MGMT-4.4-07",
        G,
        "GET /models/<m>/<v> describes that version",
    ),
    must(
        "MGMT-4.4-08",
        G,
        "Describe shows the defaults: batchSize 1, maxBatchDelay 100, timeouts 120, retry 300, loadedAtStartup false",
    ),
    should(
        "MGMT-4.4-09",
        G,
        "customized=true returns the handler's answer to a describe request as customizedMetadata",
    ),
    must(
        "MGMT-4.4-10",
        G,
        "customized=true without workers answers 503 with the exact text",
    ),
    should(
        "MGMT-4.4-11",
        G,
        "jobQueueStatus shows remainingCapacity 100 and pendingRequests 0 when idle",
    ),
    must(
        "MGMT-4.6-01",
        G,
        "PUT /models/<m>/<v>/set-default answers 200 with the exact text and describe follows",
    ),
    must(
        "MGMT-4.6-02",
        G,
        "set-default to an unknown version answers 404 \"Model version <v> does not exist for model <m>\" (no colons)",
    ),
    must(
        "MGMT-4.6-03",
        G,
        "set-default on an unknown model answers 404 \"Model not found: <m>\"",
    ),
    must(
        "MGMT-4.6-04",
        G,
        "The first registered version is the default",
    ),
    must(
        "MGMT-4.6-05",
        G,
        "Predictions without a version go to the new default",
    ),
    must(
        "MGMT-4.5-01",
        G,
        "Deleting the default version while others exist answers 403 InvalidModelVersionException",
    ),
    must(
        "MGMT-4.5-02",
        G,
        "Deleting a non-default version answers 200 \"Model \\\"<m>\\\" unregistered\"",
    ),
    must(
        "MGMT-4.5-03",
        G,
        "Deleting an unknown version answers 404 ModelVersionNotFoundException",
    ),
    must(
        "MGMT-4.5-04",
        G,
        "Deleting the model answers 200; deleting it again answers 404 \"Model not found: <m>\"",
    ),
    must(
        "MGMT-4.5-05",
        G,
        "After unregister, predict and describe answer 404 and the list omits the model",
    ),
    should(
        "MGMT-4.5-06",
        G,
        "A model can be registered again after it was unregistered",
    ),
    must(
        "MGMT-4.0-01",
        G,
        "The normalised lifecycle transcript matches the golden snapshot shared with TorchServe",
    ),
];

const GOLDEN: &str = include_str!("../../snapshots/lifecycle.snap");
/// Name of the transcript in the report's artifacts.
pub const TRANSCRIPT: &str = "lifecycle-transcript";

const ALPHA: &str = "lc_alpha";
const BETA: &str = "lc_beta";
const GAMMA: &str = "lc_gamma";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

/// The snapshot file's text in insta's format for `transcript`.
pub fn snapshot_file(transcript: &str) -> String {
    format!(
        "---\nsource: reference-server/tests/conformance_suite.rs\nexpression: transcript\n---\n{}\n",
        transcript.trim_end()
    )
}

/// The golden transcript: the snapshot file without insta's header.
pub fn golden() -> &'static str {
    match GOLDEN
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
    {
        Some((_, body)) => body,
        None => GOLDEN,
    }
}

/// Records each step's normalised response; independent of delivery mode, ports and pids.
struct Transcript<'s> {
    s: &'s Session,
    text: String,
}

impl Transcript<'_> {
    fn step(&mut self, label: &str, request: &str, resp: &Resp) {
        let body = match resp.json() {
            Ok(mut v) => {
                // Versions in /all come in no promised order.
                if let Value::Array(items) = &mut v {
                    items.sort_by(|a, b| {
                        a["modelVersion"].as_str().cmp(&b["modelVersion"].as_str())
                    });
                }
                serde_json::to_string_pretty(&normalise(self.s, v)).unwrap_or_default()
            }
            Err(_) => resp.text(),
        };
        self.text.push_str(&format!(
            "== {label}\n{request}\n-> {}\n{body}\n\n",
            resp.status
        ));
    }
}

/// Replaces what differs between runs and targets by placeholders.
fn normalise(s: &Session, v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "pid" => json!("<pid>"),
                        "id" => json!("<port>"),
                        "startTime" => json!("<time>"),
                        "memoryUsage" => json!("<bytes>"),
                        "modelUrl" => {
                            json!(s.delivery.normalize_url(v.as_str().unwrap_or_default()))
                        }
                        _ => normalise(s, v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| normalise(s, i)).collect()),
        other => other,
    }
}

fn build(model: &str, version: &str, stem: &str) -> (BuildOptions, String) {
    let opts = BuildOptions {
        model_name: Some(model.to_owned()),
        version: version.to_owned(),
        // CPU keeps describe identical on GPU and CPU targets.
        config: ConfigChoice::Yaml("deviceType: cpu\n".into()),
        ..Default::default()
    };
    (opts, format!("{stem}.mar"))
}

const FIELDS: &[(&str, &str)] = &[
    ("modelName", "string"),
    ("modelVersion", "string"),
    ("modelUrl", "string"),
    ("runtime", "string"),
    ("minWorkers", "number"),
    ("maxWorkers", "number"),
    ("batchSize", "number"),
    ("maxBatchDelay", "number"),
    ("responseTimeout", "number"),
    ("startupTimeout", "number"),
    ("maxRetryTimeoutInSec", "number"),
    ("clientTimeoutInMills", "number"),
    ("parallelType", "string"),
    ("parallelLevel", "number"),
    ("deviceType", "string"),
    ("continuousBatching", "boolean"),
    ("useJobTicket", "boolean"),
    ("useVenv", "boolean"),
    ("stateful", "boolean"),
    ("sequenceMaxIdleMSec", "number"),
    ("sequenceTimeoutMSec", "number"),
    ("maxNumSequence", "number"),
    ("maxSequenceJobQueueSize", "number"),
    ("loadedAtStartup", "boolean"),
    ("workers", "array"),
    ("jobQueueStatus", "object"),
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_fields(resp: &Resp, model: &Value) -> CheckResult {
    let keys: Vec<&str> = model
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let expected: Vec<&str> = FIELDS.iter().map(|(k, _)| *k).collect();
    ensure!(
        keys == expected,
        resp,
        "describe fields should be {expected:?}, got {keys:?}"
    );
    for (k, ty) in FIELDS {
        ensure!(
            json_type(&model[*k]) == *ty,
            resp,
            "{k} should be a JSON {ty}"
        );
    }
    Ok(())
}

fn list_names(v: &Value) -> Vec<String> {
    v["models"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|e| e["modelName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn list(s: &Session, q: &str) -> Result<(Resp, Value), Failure> {
    let resp = s.management.get(&format!("/models{q}")).send().await?;
    let v = ok_json(&resp)?;
    Ok((resp, v))
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let m = &s.management;
    let mut t = Transcript {
        s,
        text: String::new(),
    };

    let (o, f) = build(ALPHA, "1.0", "lc_alpha_v1");
    let alpha1 = s.fixture_url("init_counter", &o, &f)?;
    // The same name and version in another file: registering the same URL twice would
    // answer 500 "Model file already exists" on a target that downloads URLs into its store.
    let (o, f) = build(ALPHA, "1.0", "lc_alpha_v1_again");
    let alpha1_again = s.fixture_url("init_counter", &o, &f)?;
    let (o, f) = build(ALPHA, "2.0", "lc_alpha_v2");
    let alpha2 = s.fixture_url("init_counter", &o, &f)?;
    let (o, f) = build(BETA, "1.0", "lc_beta");
    let beta = s.fixture_url("init_counter", &o, &f)?;
    let (o, f) = build("lc_gamma_in_manifest", "1.0", "lc_gamma");
    let gamma = s.fixture_url("init_counter", &o, &f)?;

    // --- register: errors
    let r = m.post("/models").send().await?;
    t.step("register without url", "POST /models", &r);
    s.check("MGMT-4.2-01", async {
        r.expect_error(400, "BadRequestException", "Parameter url is required.")
    })
    .await;
    let r = register(s, "tsc_missing.mar", &[]).await?;
    t.step(
        "register a missing file",
        "POST /models?url=tsc_missing.mar",
        &r,
    );
    s.check("MGMT-4.2-02", async {
        r.expect_error(
            404,
            "ModelNotFoundException",
            "Model not found at: tsc_missing.mar",
        )
    })
    .await;
    let r = register(s, "../tsc_x.mar", &[]).await?;
    t.step(
        "register a relative path",
        "POST /models?url=../tsc_x.mar",
        &r,
    );
    s.check("MGMT-4.2-03", async {
        r.expect_error(
            404,
            "ModelNotFoundException",
            "Relative path is not allowed in url: ../tsc_x.mar",
        )
    })
    .await;
    let r = register(s, &alpha1, &[("runtime", "java")]).await?;
    t.step(
        "register with runtime=java",
        "POST /models?url=lc_alpha_v1.mar&runtime=java",
        &r,
    );
    s.check("MGMT-4.2-04", async {
        r.expect_error(
            400,
            "BadRequestException",
            "Invalid RuntimeType value: java",
        )
    })
    .await;

    // --- register: successes
    let r = register(s, &alpha1, &[]).await?;
    t.step(
        "register alpha 1.0 with defaults",
        "POST /models?url=lc_alpha_v1.mar",
        &r,
    );
    s.check("MGMT-4.2-05", async {
        r.expect_status_message(
            200,
            &format!("Model \"{ALPHA}\" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model."),
        )
    })
    .await;
    let r = register(s, &alpha1_again, &[]).await?;
    t.step(
        "register alpha 1.0 again from another file",
        "POST /models?url=lc_alpha_v1_again.mar",
        &r,
    );
    s.check("MGMT-4.2-06", async {
        r.expect_error(
            409,
            "ConflictStatusException",
            &format!("Model version 1.0 is already registered for model {ALPHA}"),
        )
    })
    .await;
    let r = register(
        s,
        &alpha2,
        &[("initial_workers", "1"), ("synchronous", "true")],
    )
    .await?;
    t.step(
        "register alpha 2.0 with one worker, synchronously",
        "POST /models?url=lc_alpha_v2.mar&initial_workers=1&synchronous=true",
        &r,
    );
    s.check("MGMT-4.2-07", async {
        r.expect_status_message(
            200,
            &format!("Model \"{ALPHA}\" Version: 2.0 registered with 1 initial workers"),
        )?;
        let ws = workers(s, &format!("{ALPHA}/2.0")).await?;
        ensure!(
            ws.len() == 1 && ws[0].status == "READY",
            r,
            "right after a synchronous register the worker should be READY: {ws:?}"
        );
        Ok(())
    })
    .await;
    // A JSON body without synchronous: waits (default true). batch values given so the
    // no-arg request's -10000 maxBatchDelay quirk stays out of the snapshot.
    let r = m
        .post("/models")
        .json(&json!({"url": beta, "initial_workers": 1, "batch_size": 1, "max_batch_delay": 100}))
        .send()
        .await?;
    track_from(s, &r, &[("model_name", BETA)]);
    t.step(
        "register beta by JSON body, one worker, no synchronous",
        "POST /models {url: lc_beta.mar, initial_workers: 1}",
        &r,
    );
    s.check("MGMT-4.2-10", async {
        r.expect_status_message(
            200,
            &format!("Model \"{BETA}\" Version: 1.0 registered with 1 initial workers"),
        )
    })
    .await;
    s.check("MGMT-4.2-09", async {
        r.expect_status(200)?;
        let ws = workers(s, BETA).await?;
        ensure!(
            ws.len() == 1 && ws[0].status == "READY",
            r,
            "the worker should be READY when the default (synchronous) register returns: {ws:?}"
        );
        Ok(())
    })
    .await;
    let r = register(
        s,
        &gamma,
        &[
            ("model_name", GAMMA),
            ("initial_workers", "1"),
            ("synchronous", "false"),
        ],
    )
    .await?;
    t.step(
        "register gamma asynchronously under another name",
        "POST /models?url=lc_gamma.mar&model_name=lc_gamma&initial_workers=1&synchronous=false",
        &r,
    );
    s.check("MGMT-4.2-08", async {
        r.expect_status_message(202, "Processing worker updates...")?;
        wait_ready(s, GAMMA, 1, Duration::from_secs(120)).await?;
        Ok(())
    })
    .await;
    s.check("MGMT-4.2-11", async {
        let d = describe(s, GAMMA).await?;
        ensure!(
            d[0]["modelName"] == GAMMA,
            r,
            "describe should show the model_name parameter, not the manifest's name"
        );
        let resp = s
            .management
            .get("/models/lc_gamma_in_manifest")
            .send()
            .await?;
        resp.expect_status(404)
    })
    .await;

    // --- list
    let (full_resp, full) = list(s, "").await?;
    let ours: Vec<Value> = full["models"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e["modelName"]
                .as_str()
                .is_some_and(|n| n.starts_with("lc_"))
        })
        .collect();
    t.text.push_str(&format!(
        "== list (lc_ models only)\nGET /models\n-> {}\n{}\n\n",
        full_resp.status,
        serde_json::to_string_pretty(&normalise(s, json!(ours))).unwrap_or_default()
    ));
    let names = list_names(&full);
    let total = names.len();
    s.check("MGMT-4.1-01", async {
        let mut sorted = names.clone();
        sorted.sort();
        ensure!(
            names == sorted,
            full_resp,
            "names are not sorted: {names:?}"
        );
        for e in full["models"].as_array().into_iter().flatten() {
            let keys: Vec<&str> = e
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            ensure!(
                keys == ["modelName", "modelUrl"],
                full_resp,
                "entries should have exactly modelName, modelUrl: {keys:?}"
            );
        }
        for n in [ALPHA, BETA, GAMMA] {
            ensure!(
                names.iter().any(|x| x == n),
                full_resp,
                "{n} missing from the list"
            );
        }
        Ok(())
    })
    .await;
    s.check("MGMT-4.1-06", async {
        let alphas = names.iter().filter(|n| *n == ALPHA).count();
        ensure!(
            alphas == 1,
            full_resp,
            "{ALPHA} (two versions) should be listed once, found {alphas}"
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.2-12", async {
        let entry = full["models"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["modelName"] == BETA)
            .cloned()
            .unwrap_or_default();
        ensure!(
            entry["modelUrl"] == beta.as_str(),
            full_resp,
            "modelUrl should be {beta:?}"
        );
        let d = describe(s, BETA).await?;
        ensure!(
            d[0]["modelUrl"] == beta.as_str(),
            full_resp,
            "describe modelUrl should be {beta:?}, got {}",
            d[0]["modelUrl"]
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.1-02", async {
        let (resp, v) = list(s, "?limit=1&next_page_token=0").await?;
        ensure!(
            list_names(&v) == names[..1],
            resp,
            "expected just {:?}",
            &names[..1]
        );
        ensure!(
            v["nextPageToken"] == "1",
            resp,
            "nextPageToken should be \"1\""
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.1-03", async {
        let (resp, v) = list(s, &format!("?limit=2&next_page_token={}", total - 1)).await?;
        ensure!(
            list_names(&v) == names[total - 1..],
            resp,
            "expected the last model only"
        );
        ensure!(
            v.get("nextPageToken").is_none(),
            resp,
            "the last page should have no nextPageToken"
        );
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        ensure!(
            keys == ["models"],
            resp,
            "only \"models\" expected, got {keys:?}"
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.1-04", async {
        for q in ["?limit=500", "?limit=-1"] {
            let (resp, v) = list(s, q).await?;
            ensure!(
                list_names(&v) == names,
                resp,
                "{q} should list every model (up to 100)"
            );
        }
        Ok(())
    })
    .await;
    s.check("MGMT-4.1-05", async {
        for q in [
            "?limit=abc",
            "?next_page_token=-4",
            "?limit=1.5&next_page_token=x",
        ] {
            let (resp, v) = list(s, q).await?;
            ensure!(
                list_names(&v) == names,
                resp,
                "{q} should fall back to the defaults and list every model"
            );
        }
        Ok(())
    })
    .await;
    s.check("MGMT-4.1-07", async {
        let (resp, v) = list(s, &format!("?limit={total}")).await?;
        ensure!(
            list_names(&v) == names,
            resp,
            "limit={total} should list every model"
        );
        match v.get("nextPageToken") {
            None => Ok(()),
            Some(tok) => {
                ensure!(
                    tok.as_str() == Some(total.to_string().as_str()),
                    resp,
                    "a token here should equal the total {total}"
                );
                Ok(())
            }
        }
    })
    .await;

    // --- describe
    let r = m.get(&format!("/models/{ALPHA}")).send().await?;
    t.step(
        "describe alpha (default version)",
        "GET /models/lc_alpha",
        &r,
    );
    s.check("MGMT-4.4-01", async {
        let v = ok_json(&r)?;
        ensure!(
            v.as_array().is_some_and(|a| a.len() == 1),
            r,
            "expected an array of one element"
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.6-04", async {
        let v = ok_json(&r)?;
        ensure!(
            v[0]["modelVersion"] == "1.0",
            r,
            "the first registered version (1.0) should be the default"
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.4-02", async { check_fields(&r, &ok_json(&r)?[0]) })
        .await;
    let r2 = m.get(&format!("/models/{ALPHA}/2.0")).send().await?;
    t.step("describe alpha 2.0", "GET /models/lc_alpha/2.0", &r2);
    s.check("MGMT-4.4-07", async {
        let v = ok_json(&r2)?;
        ensure!(
            v.as_array().is_some_and(|a| a.len() == 1) && v[0]["modelVersion"] == "2.0",
            r2,
            "expected version 2.0 alone"
        );
        check_fields(&r2, &v[0])
    })
    .await;
    s.check("MGMT-4.4-03", async {
        let v = ok_json(&r2)?;
        let ws = v[0]["workers"].as_array().cloned().unwrap_or_default();
        ensure!(ws.len() == 1, r2, "expected one worker");
        let w = &ws[0];
        let keys: Vec<&str> = w
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        ensure!(
            keys == [
                "id",
                "startTime",
                "status",
                "memoryUsage",
                "pid",
                "gpu",
                "gpuUsage"
            ],
            r2,
            "worker fields: {keys:?}"
        );
        ensure!(
            w["id"].as_str().is_some_and(|id| id.parse::<u16>().is_ok()),
            r2,
            "id should be a port number as a string"
        );
        let time_re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
            .expect("valid regex");
        ensure!(
            w["startTime"].as_str().is_some_and(|t| time_re.is_match(t)),
            r2,
            "startTime should look like 2026-01-31T12:00:00.000Z"
        );
        ensure!(w["status"] == "READY", r2, "status should be READY");
        ensure!(
            w["memoryUsage"].is_i64() || w["memoryUsage"].is_u64(),
            r2,
            "memoryUsage should be an integer"
        );
        ensure!(
            w["pid"].as_i64().is_some_and(|p| p > 0),
            r2,
            "pid should be a positive integer"
        );
        ensure!(
            w["gpu"] == false && w["gpuUsage"] == "N/A",
            r2,
            "a CPU worker should show gpu false and gpuUsage N/A"
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.4-08", async {
        let v = &ok_json(&r2)?[0];
        let expect = json!({"minWorkers": 1, "maxWorkers": 1, "batchSize": 1, "maxBatchDelay": 100, "responseTimeout": 120,
            "startupTimeout": 120, "maxRetryTimeoutInSec": 300, "clientTimeoutInMills": 0, "loadedAtStartup": false,
            "runtime": "python", "deviceType": "cpu", "parallelType": "", "parallelLevel": 0});
        for (k, want) in expect.as_object().into_iter().flatten() {
            ensure!(v[k] == *want, r2, "{k} should be {want}, got {}", v[k]);
        }
        Ok(())
    })
    .await;
    s.check("MGMT-4.4-11", async {
        let v = &ok_json(&r2)?[0];
        ensure!(
            v["jobQueueStatus"] == json!({"remainingCapacity": 100, "pendingRequests": 0}),
            r2,
            "idle queue status expected"
        );
        Ok(())
    })
    .await;
    let r = m.get(&format!("/models/{ALPHA}/all")).send().await?;
    t.step(
        "describe alpha, all versions",
        "GET /models/lc_alpha/all",
        &r,
    );
    s.check("MGMT-4.4-04", async {
        let v = ok_json(&r)?;
        let mut versions: Vec<&str> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["modelVersion"].as_str())
            .collect();
        versions.sort();
        ensure!(
            versions == ["1.0", "2.0"],
            r,
            "expected versions 1.0 and 2.0, got {versions:?}"
        );
        Ok(())
    })
    .await;
    let r = m.get("/models/tsc_nope").send().await?;
    t.step("describe an unknown model", "GET /models/tsc_nope", &r);
    s.check("MGMT-4.4-05", async {
        r.expect_error(404, "ModelNotFoundException", "Model not found: tsc_nope")
    })
    .await;
    let r = m.get(&format!("/models/{ALPHA}/9.9")).send().await?;
    t.step(
        "describe an unknown version",
        "GET /models/lc_alpha/9.9",
        &r,
    );
    s.check("MGMT-4.4-06", async {
        r.expect_error(
            404,
            "ModelVersionNotFoundException",
            &format!("Model version: 9.9 does not exist for model: {ALPHA}"),
        )
    })
    .await;
    let r = m
        .get(&format!("/models/{ALPHA}?customized=true"))
        .send()
        .await?;
    t.step(
        "customized describe without workers",
        "GET /models/lc_alpha?customized=true",
        &r,
    );
    s.check("MGMT-4.4-10", async {
        r.expect_error(
            503,
            "ServiceUnavailableException",
            &format!("Model \"{ALPHA}\" has no worker to serve describe request. Please use scale workers API to add workers."),
        )
    })
    .await;
    s.check("MGMT-4.4-09", async {
        let resp = m
            .get(&format!("/models/{ALPHA}/2.0?customized=true"))
            .send()
            .await?;
        let v = ok_json(&resp)?;
        let meta = &v[0]["customizedMetadata"];
        // init_counter answers {"pid": .., "init_calls": ..}; TorchServe parses it into an object.
        let meta = match meta {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        ensure!(
            meta["init_calls"] == 1 && meta["pid"].is_i64(),
            resp,
            "customizedMetadata should hold the handler's answer"
        );
        Ok(())
    })
    .await;

    // --- set-default
    let before = infer_json(s, ALPHA, &json!(1)).await?;
    let r = m
        .put(&format!("/models/{ALPHA}/2.0/set-default"))
        .send()
        .await?;
    t.step(
        "set-default alpha 2.0",
        "PUT /models/lc_alpha/2.0/set-default",
        &r,
    );
    s.check("MGMT-4.6-01", async {
        r.expect_status_message(
            200,
            &format!("Default version successfully updated for model \"{ALPHA}\" to \"2.0\""),
        )?;
        let d = describe(s, ALPHA).await?;
        ensure!(
            d[0]["modelVersion"] == "2.0",
            r,
            "describe should now show 2.0"
        );
        Ok(())
    })
    .await;
    s.check("MGMT-4.6-05", async {
        ensure!(
            before.status == 503,
            before,
            "before set-default, version 1.0 (no workers) should have answered 503"
        );
        let after = infer_json(s, ALPHA, &json!(1)).await?;
        let v = ok_json(&after)?;
        ensure!(
            v["init_calls"] == 1,
            after,
            "version 2.0's worker should answer"
        );
        Ok(())
    })
    .await;
    let r = m
        .put(&format!("/models/{ALPHA}/9.9/set-default"))
        .send()
        .await?;
    t.step(
        "set-default to an unknown version",
        "PUT /models/lc_alpha/9.9/set-default",
        &r,
    );
    s.check("MGMT-4.6-02", async {
        r.expect_error(
            404,
            "ModelVersionNotFoundException",
            &format!("Model version 9.9 does not exist for model {ALPHA}"),
        )
    })
    .await;
    let r = m.put("/models/tsc_nope/1.0/set-default").send().await?;
    t.step(
        "set-default on an unknown model",
        "PUT /models/tsc_nope/1.0/set-default",
        &r,
    );
    s.check("MGMT-4.6-03", async {
        r.expect_error(404, "ModelNotFoundException", "Model not found: tsc_nope")
    })
    .await;

    // --- unregister
    let r = unregister(s, ALPHA).await?;
    t.step(
        "delete alpha's default version while 1.0 exists",
        "DELETE /models/lc_alpha",
        &r,
    );
    s.check("MGMT-4.5-01", async {
        r.expect_error(
            403,
            "InvalidModelVersionException",
            &format!("Cannot remove default version for model {ALPHA}"),
        )
    })
    .await;
    let r = unregister(s, &format!("{ALPHA}/9.9")).await?;
    t.step(
        "delete an unknown version",
        "DELETE /models/lc_alpha/9.9",
        &r,
    );
    s.check("MGMT-4.5-03", async {
        r.expect_error(
            404,
            "ModelVersionNotFoundException",
            &format!("Model version: 9.9 does not exist for model: {ALPHA}"),
        )
    })
    .await;
    let r = unregister(s, &format!("{ALPHA}/1.0")).await?;
    t.step("delete alpha 1.0", "DELETE /models/lc_alpha/1.0", &r);
    s.check("MGMT-4.5-02", async {
        r.expect_status_message(200, &format!("Model \"{ALPHA}\" unregistered"))
    })
    .await;
    let r = unregister(s, ALPHA).await?;
    t.step("delete alpha", "DELETE /models/lc_alpha", &r);
    let again = unregister(s, ALPHA).await?;
    t.step("delete alpha again", "DELETE /models/lc_alpha", &again);
    s.check("MGMT-4.5-04", async {
        r.expect_status_message(200, &format!("Model \"{ALPHA}\" unregistered"))?;
        again.expect_error(
            404,
            "ModelNotFoundException",
            &format!("Model not found: {ALPHA}"),
        )
    })
    .await;
    s.check("MGMT-4.5-05", async {
        infer_json(s, ALPHA, &json!(1)).await?.expect_error(
            404,
            "ModelNotFoundException",
            &format!("Model not found: {ALPHA}"),
        )?;
        s.management
            .get(&format!("/models/{ALPHA}"))
            .send()
            .await?
            .expect_status(404)?;
        let (resp, v) = list(s, "").await?;
        ensure!(
            !list_names(&v).iter().any(|n| n == ALPHA),
            resp,
            "{ALPHA} still listed"
        );
        Ok(())
    })
    .await;
    let r = register(s, &alpha1, &[]).await?;
    t.step(
        "register alpha 1.0 again after unregister",
        "POST /models?url=lc_alpha_v1.mar",
        &r,
    );
    s.check("MGMT-4.5-06", async { r.expect_status(200) }).await;

    let transcript = t.text;
    s.set_artifact(TRANSCRIPT, transcript.clone());
    s.check("MGMT-4.0-01", async {
        let golden = golden();
        if transcript.trim_end() == golden.trim_end() {
            return Ok(());
        }
        let (line, want, got) = first_difference(golden, &transcript);
        Err(Failure::new(format!(
            "transcript differs from snapshots/lifecycle.snap at line {line}:\n  expected: {want}\n  actual:   {got}\n(the full transcript is the {TRANSCRIPT} artifact in --json)"
        )))
    })
    .await;
    Ok(())
}

fn first_difference<'a>(want: &'a str, got: &'a str) -> (usize, &'a str, &'a str) {
    let mut w = want.lines();
    let mut g = got.lines();
    let mut n = 1;
    loop {
        match (w.next(), g.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (a, b) => return (n, a.unwrap_or("<end>"), b.unwrap_or("<end>")),
        }
    }
}
