//! Management API (contract §4): register from every source and its error texts, list
//! pagination, describe, scale, set-default, unregister, KServe readiness, 404 / 405.

mod common;

use common::file_server::FileServer;
use common::redact::redact;
use common::server::named;
use common::{Api, Reply, ServerOptions, TestServer, wait_for};
use handlers_fixtures::BuildOptions;
use mar::create::ArchiveFormat;
use serde_json::{Value, json};
use std::collections::HashMap;
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

fn check_status(r: &Reply, status: u16, text: &str) {
    assert_eq!(r.status_text(), (status, text.to_string()), "{}", r.what);
}

fn registered(name: &str, version: &str, workers: u32) -> String {
    if workers == 0 {
        format!(
            "Model \"{name}\" Version: {version} registered with 0 initial workers. Use scale workers API to add workers for the model."
        )
    } else {
        format!("Model \"{name}\" Version: {version} registered with {workers} initial workers")
    }
}

fn model_names(s: &TestServer) -> Vec<String> {
    s.mgmt("GET", "/models").json()["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["modelName"].as_str().expect("name").to_string())
        .collect()
}

/// Predicts through the echo fixture and returns what it saw.
fn echo_ok(s: &TestServer, model: &str) -> Value {
    let r = s.predict_json(model, &json!({"ping": model}));
    assert_eq!(r.status, 200, "{model}: {}", r.text());
    r.handler_json()
}

#[test]
fn register_from_every_source_with_its_errors() {
    let s = ServerOptions::default()
        .fixture("echo")
        .fixture("import_error")
        .fixture("yaml_workers")
        .start();

    check_error(
        &s.mgmt("POST", "/models"),
        400,
        "BadRequestException",
        "Parameter url is required.",
    );
    check_error(
        &s.register("url="),
        404,
        "ModelNotFoundException",
        "empty url",
    );
    check_error(
        &s.register("url=missing.mar"),
        404,
        "ModelNotFoundException",
        "Model not found at: missing.mar",
    );
    check_error(
        &s.register("url=../echo.mar"),
        404,
        "ModelNotFoundException",
        "Relative path is not allowed in url: ../echo.mar",
    );
    check_error(
        &s.register("url=sub/..%2Fecho.mar"),
        404,
        "ModelNotFoundException",
        "Relative path is not allowed in url: sub/../echo.mar",
    );
    check_error(
        &s.register("url=echo.mar&runtime=java"),
        400,
        "BadRequestException",
        "Invalid RuntimeType value: java",
    );

    // Store-local archive, default parameters: no workers.
    check_status(
        &s.register("url=echo.mar"),
        200,
        &registered("echo", "1.0", 0),
    );
    check_error(
        &s.register("url=echo.mar"),
        409,
        "ConflictStatusException",
        "Model version 1.0 is already registered for model echo",
    );
    // The same archive under another name, synchronous with a worker.
    check_status(
        &s.register("url=echo.mar&model_name=echo_sync&initial_workers=1&synchronous=true"),
        200,
        &registered("echo_sync", "1.0", 1),
    );
    echo_ok(&s, "echo_sync");
    // `synchronous` defaults to true in TorchServe's code.
    check_status(
        &s.register("url=echo.mar&model_name=echo_default_sync&initial_workers=1"),
        200,
        &registered("echo_default_sync", "1.0", 1),
    );
    // Only a case-insensitive "true" is true: "yes" means asynchronous.
    check_status(
        &s.register("url=echo.mar&model_name=echo_yes&initial_workers=1&synchronous=yes"),
        202,
        "Processing worker updates...",
    );
    // Asynchronous: 202 now, workers later.
    check_status(
        &s.register("url=echo.mar&model_name=echo_async&initial_workers=1&synchronous=false"),
        202,
        "Processing worker updates...",
    );
    wait_for(Duration::from_secs(60), "echo_async's worker", || {
        let d = s.describe("echo_async");
        (d[0]["workers"][0]["status"] == "READY").then_some(())
    });
    echo_ok(&s, "echo_async");

    // Parameters from a JSON body (query ignored), numbers and booleans as JSON values.
    let body = json!({"url": "echo.mar", "model_name": "echo_json", "initial_workers": 1, "synchronous": true,
                      "batch_size": 3, "max_batch_delay": 40, "response_timeout": 7});
    let r = s
        .req(Api::Management, "POST", "/models?model_name=ignored")
        .json(&body)
        .send();
    check_status(&r, 200, &registered("echo_json", "1.0", 1));
    let d = &s.describe("echo_json")[0];
    assert_eq!(
        (d["batchSize"].as_u64(), d["maxBatchDelay"].as_u64()),
        (Some(3), Some(40)),
        "{d}"
    );
    assert_eq!(
        d["responseTimeout"], 60,
        "the yaml responseTimeout wins over the register parameter"
    );
    let r = s
        .req(Api::Management, "POST", "/models")
        .json(&json!({"model_name": "x"}))
        .send();
    check_error(&r, 400, "BadRequestException", "Parameter url is required.");

    // handler and runtime overrides; timeouts from the parameters when no yaml sets them.
    let plain = BuildOptions {
        config: handlers_fixtures::ConfigChoice::None,
        ..named("fn_plain")
    };
    s.add_fixture("fn_entry", plain);
    let q = "url=fn_plain.mar&handler=fn_entry:handle&runtime=python3&response_timeout=5&startup_timeout=7&initial_workers=1";
    check_status(&s.register(q), 200, &registered("fn_plain", "1.0", 1));
    let r = s.predict_json("fn_plain", &json!({}));
    assert_eq!(
        r.handler_json()["entry"],
        "handle",
        "the register handler wins over the manifest's"
    );
    let d = &s.describe("fn_plain")[0];
    let got = (
        d["runtime"].as_str(),
        d["responseTimeout"].as_u64(),
        d["startupTimeout"].as_u64(),
    );
    assert_eq!(got, (Some("python3"), Some(5), Some(7)), "{d}");

    // A folder in the store, an absolute folder, and a .tar.gz with a root folder.
    let folder = BuildOptions {
        format: ArchiveFormat::NoArchive,
        ..named("echo_dir")
    };
    s.add_fixture("echo", folder);
    check_status(
        &s.register("url=echo_dir&initial_workers=1"),
        200,
        &registered("echo_dir", "1.0", 1),
    );
    echo_ok(&s, "echo_dir");
    let outside = s.dir().join("elsewhere");
    let abs = common::server::build_fixture(
        &outside,
        "echo",
        &BuildOptions {
            format: ArchiveFormat::NoArchive,
            ..named("echo_abs")
        },
    );
    check_status(
        &s.register(&format!("url={}&initial_workers=1", abs.display())),
        200,
        &registered("echo_abs", "1.0", 1),
    );
    echo_ok(&s, "echo_abs");
    s.add_fixture(
        "echo",
        BuildOptions {
            format: ArchiveFormat::Tgz,
            ..named("echo_tgz")
        },
    );
    check_status(
        &s.register("url=echo_tgz.tar.gz&initial_workers=1"),
        200,
        &registered("echo_tgz", "1.0", 1),
    );
    echo_ok(&s, "echo_tgz");

    // Downloads: http from a loopback server and file://, into the store.
    let archive =
        common::server::build_fixture(&s.dir().join("served"), "echo", &named("echo_url"));
    let bytes = std::fs::read(&archive).expect("archive bytes");
    let files = HashMap::from([("/dl/echo_url.mar".to_string(), bytes)]);
    let web = FileServer::start(files);
    let url = web.url("/dl/echo_url.mar");
    check_status(
        &s.register(&format!("url={url}&initial_workers=1")),
        200,
        &registered("echo_url", "1.0", 1),
    );
    assert!(
        s.store().join("echo_url.mar").is_file(),
        "downloaded into the store"
    );
    echo_ok(&s, "echo_url");
    let again = s.register(&format!("url={url}&model_name=echo_url2"));
    check_error(
        &again,
        500,
        "InternalServerException",
        "Model file already exists echo_url.mar",
    );
    let missing = web.url("/dl/nothing.mar");
    let r = s.register(&format!("url={missing}"));
    check_error(
        &r,
        400,
        "DownloadArchiveException",
        &format!("Failed to download archive from: {missing}"),
    );
    assert!(
        !s.store().join("nothing.mar").exists(),
        "a failed download leaves nothing behind"
    );
    // Unregistering a downloaded model deletes its archive from the store.
    check_status(
        &s.mgmt("DELETE", "/models/echo_url"),
        200,
        "Model \"echo_url\" unregistered",
    );
    assert!(
        !s.store().join("echo_url.mar").exists(),
        "the downloaded archive is removed"
    );
    let file_url = format!("file://{}", archive.display());
    check_status(
        &s.register(&format!("url={file_url}&model_name=echo_file")),
        200,
        &registered("echo_file", "1.0", 0),
    );
    assert!(
        s.store().join("echo_url.mar").is_file(),
        "file:// copies into the store"
    );

    // model-config.yaml minWorkers/maxWorkers start workers even without initial_workers.
    check_status(
        &s.register("url=yaml_workers.mar"),
        200,
        &registered("yaml_workers", "1.0", 2),
    );
    let d = &s.describe("yaml_workers")[0];
    assert_eq!(d["workers"].as_array().map(Vec::len), Some(2), "{d}");
    assert_eq!(
        (d["minWorkers"].as_u64(), d["maxWorkers"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (d["batchSize"].as_u64(), d["maxBatchDelay"].as_u64()),
        (Some(2), Some(30))
    );

    // A synchronous register whose workers fail is rolled back.
    let r = s.register("url=import_error.mar&initial_workers=1&synchronous=true");
    check_error(
        &r,
        500,
        "InternalServerException",
        "Failed to start workers for model import_error version: 1.0",
    );
    assert!(
        !model_names(&s).contains(&"import_error".to_string()),
        "rolled back"
    );
    check_error(
        &s.mgmt("GET", "/models/import_error"),
        404,
        "ModelNotFoundException",
        "Model not found: import_error",
    );
    // ...and may be registered again (nothing was left behind).
    check_status(
        &s.register("url=import_error.mar"),
        200,
        &registered("import_error", "1.0", 0),
    );

    let mut names = model_names(&s);
    let sorted = {
        let mut n = names.clone();
        n.sort();
        n
    };
    assert_eq!(names, sorted, "list is sorted by name");
    names.retain(|n| n.starts_with("echo"));
    assert_eq!(
        names,
        [
            "echo",
            "echo_abs",
            "echo_async",
            "echo_default_sync",
            "echo_dir",
            "echo_file",
            "echo_json",
            "echo_sync",
            "echo_tgz",
            "echo_yes"
        ]
    );
}

#[test]
fn url_rules_follow_allowed_urls() {
    let s = ServerOptions::default()
        .prop("allowed_urls", "file://.*")
        .fixture("echo")
        .start();
    let r = s.register("url=http://127.0.0.1:9/x.mar");
    check_error(
        &r,
        404,
        "ModelNotFoundException",
        "Given URL http://127.0.0.1:9/x.mar does not match any allowed URL(s)",
    );
    // Not URL-like: a store name.
    check_error(
        &s.register("url=s3://bucket/x.mar"),
        404,
        "ModelNotFoundException",
        "Model not found at: s3://bucket/x.mar",
    );
    let no_store = ServerOptions::default().without_prop("model_store").start();
    check_error(
        &no_store.register("url=echo.mar"),
        404,
        "ModelNotFoundException",
        "Model store has not been configured.",
    );
}

#[test]
fn list_pages_through_sorted_default_versions() {
    let s = TestServer::new();
    assert_eq!(s.mgmt("GET", "/models").json(), json!({"models": []}));
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        s.add_fixture("echo", named(name));
        check_status(
            &s.register(&format!("url={name}.mar")),
            200,
            &registered(name, "1.0", 0),
        );
    }
    // A second version does not add a list entry.
    s.add_fixture(
        "echo",
        BuildOptions {
            version: "2.0".into(),
            file_stem: Some("alpha_v2".into()),
            ..named("alpha")
        },
    );
    check_status(
        &s.register("url=alpha_v2.mar"),
        200,
        &registered("alpha", "2.0", 0),
    );

    let page = |q: &str| s.mgmt("GET", &format!("/models{q}")).json();
    let entry = |n: &str| json!({"modelName": n, "modelUrl": format!("{n}.mar")});
    let all: Vec<Value> = ["alpha", "bravo", "charlie", "delta", "echo"]
        .into_iter()
        .map(entry)
        .collect();
    let cases: &[(&str, Value)] = &[
        ("", json!({"models": all})),
        (
            "?limit=2",
            json!({"nextPageToken": "2", "models": all[0..2]}),
        ),
        (
            "?limit=2&next_page_token=2",
            json!({"nextPageToken": "4", "models": all[2..4]}),
        ),
        ("?limit=2&next_page_token=4", json!({"models": all[4..5]})),
        // The page ends exactly at the end: TorchServe still sends a token.
        ("?limit=5", json!({"nextPageToken": "5", "models": all})),
        (
            "?limit=1&next_page_token=0",
            json!({"nextPageToken": "1", "models": all[0..1]}),
        ),
        ("?limit=500", json!({"models": all})),
        ("?limit=-1", json!({"models": all})),
        ("?limit=abc&next_page_token=xyz", json!({"models": all})),
        (
            "?next_page_token=-3&limit=1",
            json!({"nextPageToken": "1", "models": all[0..1]}),
        ),
        ("?next_page_token=9", json!({"models": []})),
        ("?limit=0", json!({"nextPageToken": "0", "models": []})),
    ];
    for (q, want) in cases {
        assert_eq!(&page(q), want, "GET /models{q}");
    }
}

#[test]
fn describe_scale_set_default_unregister() {
    let s = ServerOptions::default()
        .prop("initial_worker_port", "9300")
        .fixture("echo")
        .start();
    s.add_fixture(
        "echo",
        BuildOptions {
            version: "2.0".into(),
            file_stem: Some("echo_v2".into()),
            ..BuildOptions::default()
        },
    );
    check_status(
        &s.register("url=echo.mar&initial_workers=1"),
        200,
        &registered("echo", "1.0", 1),
    );
    check_status(
        &s.register("url=echo_v2.mar"),
        200,
        &registered("echo", "2.0", 0),
    );

    // Describe: one element for the default version, every version for /all.
    let d = s.describe("echo");
    assert_eq!(d.as_array().map(Vec::len), Some(1));
    let keys: Vec<&str> = d[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "modelName",
            "modelVersion",
            "modelUrl",
            "runtime",
            "minWorkers",
            "maxWorkers",
            "batchSize",
            "maxBatchDelay",
            "responseTimeout",
            "startupTimeout",
            "maxRetryTimeoutInSec",
            "clientTimeoutInMills",
            "parallelType",
            "parallelLevel",
            "deviceType",
            "continuousBatching",
            "useJobTicket",
            "useVenv",
            "stateful",
            "sequenceMaxIdleMSec",
            "sequenceTimeoutMSec",
            "maxNumSequence",
            "maxSequenceJobQueueSize",
            "loadedAtStartup",
            "workers",
            "jobQueueStatus"
        ],
        "describe field order"
    );
    let w = &d[0]["workers"][0];
    assert_eq!(w["id"], "9300", "worker ids count from initial_worker_port");
    assert!(
        w["memoryUsage"].as_u64().is_some_and(|m| m > 1_000_000),
        "real RSS: {w}"
    );
    let pid = w["pid"].as_u64().expect("pid") as u32;
    assert!(
        common::procs::is_worker_of(pid, &s.dir().display().to_string()),
        "pid {pid} is our ts-worker"
    );
    insta::assert_json_snapshot!("describe_echo", redact(&d));
    let all = s.describe("echo/all");
    let versions: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["modelVersion"].as_str().expect("v"))
        .collect();
    assert_eq!(versions, ["1.0", "2.0"]);
    assert_eq!(s.describe("echo/2.0")[0]["workers"], json!([]));
    check_error(
        &s.mgmt("GET", "/models/nope"),
        404,
        "ModelNotFoundException",
        "Model not found: nope",
    );
    check_error(
        &s.mgmt("GET", "/models/echo/9.9"),
        404,
        "ModelVersionNotFoundException",
        "Model version: 9.9 does not exist for model: echo",
    );

    // customized=true asks the handler (header describe: True); with no worker, 503.
    let c = s.mgmt("GET", "/models/echo?customized=true").json();
    let meta = &c[0]["customizedMetadata"];
    assert_eq!(meta["headers"]["describe"], "True", "{meta}");
    assert_eq!(meta["len_data"], 1);
    let mut c = c;
    // The handler's view of the request (client headers, manifest) is the echo snapshot's job.
    for k in [
        "headers",
        "manifest",
        "system_properties",
        "values",
        "keys",
        "types",
        "request_ids",
        "request_id",
    ] {
        c[0]["customizedMetadata"]
            .as_object_mut()
            .expect("metadata")
            .remove(k);
    }
    insta::assert_json_snapshot!("describe_echo_customized", redact(&c));
    let r = s.mgmt("GET", "/models/echo/2.0?customized=true");
    check_error(
        &r,
        503,
        "ServiceUnavailableException",
        "Model \"echo\" has no worker to serve describe request. Please use scale workers API to add workers.",
    );

    // Scale: 400 before anything else, 404s, async default, sync texts, newest removed first.
    let r = s.mgmt("PUT", "/models/echo?min_worker=2&max_worker=1");
    check_error(
        &r,
        400,
        "BadRequestException",
        "max_worker cannot be less than min_worker.",
    );
    check_error(
        &s.mgmt("PUT", "/models/nope?min_worker=1"),
        404,
        "ModelNotFoundException",
        "Model not found: nope",
    );
    check_error(
        &s.mgmt("PUT", "/models/echo/9.9?min_worker=1"),
        404,
        "ModelVersionNotFoundException",
        "Model version: 9.9 does not exist for model: echo",
    );
    check_status(
        &s.mgmt("PUT", "/models/echo?min_worker=3&synchronous=true"),
        200,
        "Workers scaled to 3 for model: echo",
    );
    let ids = |v: &str| -> Vec<String> {
        s.describe(v)[0]["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .map(|w| w["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids("echo"), ["9300", "9301", "9302"]);
    let pids = s.worker_pids("echo");
    let distinct: std::collections::BTreeSet<_> = pids.iter().collect();
    assert_eq!(distinct.len(), 3, "distinct pids {pids:?}");
    check_status(
        &s.mgmt("PUT", "/models/echo/1.0?min_worker=1&synchronous=true"),
        200,
        "Workers scaled to 1 for model: echo, version: 1.0",
    );
    assert_eq!(ids("echo"), ["9300"], "the newest workers go first");
    assert_eq!(s.worker_pids("echo"), [pids[0]]);
    for gone in &pids[1..] {
        assert!(
            !common::procs::alive(*gone),
            "removed worker {gone} still runs"
        );
    }
    // min_worker defaults to 1, synchronous to false; model_version from the query.
    check_status(
        &s.mgmt("PUT", "/models/echo?model_version=2.0"),
        202,
        "Processing worker updates...",
    );
    wait_for(Duration::from_secs(60), "echo 2.0's worker", || {
        (s.describe("echo/2.0")[0]["workers"][0]["status"] == "READY").then_some(())
    });
    assert_eq!(ids("echo/2.0"), ["9303"], "ids are server-wide");
    let d = &s.describe("echo/2.0")[0];
    assert_eq!(
        (d["minWorkers"].as_u64(), d["maxWorkers"].as_u64()),
        (Some(1), Some(1))
    );
    // max > current keeps the workers; max < current removes down to max.
    check_status(
        &s.mgmt(
            "PUT",
            "/models/echo?min_worker=1&max_worker=4&synchronous=true",
        ),
        200,
        "Workers scaled to 1 for model: echo",
    );
    assert_eq!(ids("echo"), ["9300"]);
    // An unparsable number falls back to the default (1).
    check_status(
        &s.mgmt("PUT", "/models/echo?min_worker=lots&synchronous=true"),
        200,
        "Workers scaled to 1 for model: echo",
    );
    // min 0 removes every worker; the model then answers 503.
    check_status(
        &s.mgmt("PUT", "/models/echo/2.0?min_worker=0&synchronous=true"),
        200,
        "Workers scaled to 0 for model: echo, version: 2.0",
    );
    assert_eq!(ids("echo/2.0"), Vec::<String>::new());
    assert_eq!(s.predict_json("echo/2.0", &json!({})).status, 503);

    // KServe v1 readiness on the management port.
    assert_eq!(
        s.mgmt("GET", "/v1/models/echo").json(),
        json!({"name": "echo", "ready": true})
    );
    check_error(
        &s.mgmt("GET", "/v1/models/nope"),
        404,
        "ModelNotFoundException",
        "Model not found: nope",
    );

    // set-default.
    check_status(
        &s.mgmt("PUT", "/models/echo/2.0/set-default"),
        200,
        "Default version successfully updated for model \"echo\" to \"2.0\"",
    );
    assert_eq!(s.describe("echo")[0]["modelVersion"], "2.0");
    assert_eq!(
        s.mgmt("GET", "/v1/models/echo").json(),
        json!({"name": "echo", "ready": false}),
        "2.0 has no worker"
    );
    check_error(
        &s.mgmt("PUT", "/models/echo/9.9/set-default"),
        404,
        "ModelVersionNotFoundException",
        "Model version 9.9 does not exist for model echo",
    );
    check_error(
        &s.mgmt("PUT", "/models/nope/1.0/set-default"),
        404,
        "ModelNotFoundException",
        "Model not found: nope",
    );

    // Unregister: the default version cannot go while another exists.
    check_error(
        &s.mgmt("DELETE", "/models/echo"),
        403,
        "InvalidModelVersionException",
        "Cannot remove default version for model echo",
    );
    let survivor = s.worker_pids("echo/1.0");
    check_status(
        &s.mgmt("DELETE", "/models/echo/1.0"),
        200,
        "Model \"echo\" unregistered",
    );
    assert!(
        survivor.iter().all(|p| !common::procs::alive(*p)),
        "unregister stops the workers"
    );
    check_error(
        &s.mgmt("DELETE", "/models/echo/1.0"),
        404,
        "ModelVersionNotFoundException",
        "Model version: 1.0 does not exist for model: echo",
    );
    check_status(
        &s.mgmt("DELETE", "/models/echo"),
        200,
        "Model \"echo\" unregistered",
    );
    check_error(
        &s.mgmt("DELETE", "/models/echo"),
        404,
        "ModelNotFoundException",
        "Model not found: echo",
    );
    assert!(
        s.worker_processes().is_empty(),
        "no worker left: {:?}",
        s.worker_processes()
    );
}

#[test]
fn management_routing_404_405_and_description() {
    let s = ServerOptions::default().fixture("echo").start();
    s.register_ok("url=echo.mar");
    let not_found = "Requested resource is not found, please refer to API document.";
    let not_allowed = "Requested method is not allowed, please refer to API document.";
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/models/echo/1.0/x/y"),
        ("GET", "/predictions/echo"),
        ("PUT", "/models/echo/1.0/x"),
    ] {
        check_error(
            &s.mgmt(method, path),
            404,
            "ResourceNotFoundException",
            not_found,
        );
    }
    for (method, path) in [
        ("GET", "/"),
        ("DELETE", "/models"),
        ("PUT", "/models"),
        ("POST", "/models/echo"),
        ("PATCH", "/models/echo"),
        ("POST", "/v1/models/echo"),
    ] {
        check_error(
            &s.mgmt(method, path),
            405,
            "MethodNotAllowedException",
            not_allowed,
        );
    }
    let doc = s.req(Api::Management, "OPTIONS", "/").send().json();
    assert_eq!(s.mgmt("GET", "/api-description").json(), doc);
    assert!(doc["paths"].get("/models").is_some(), "{doc}");
    insta::assert_json_snapshot!("openapi_management", doc);
    let per_model = s.req(Api::Management, "OPTIONS", "/models/echo").send();
    assert_eq!(per_model.status, 200);
    let doc = per_model.json();
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
    insta::assert_json_snapshot!("openapi_management_echo", doc);
    let metrics_doc = s.req(Api::Metrics, "OPTIONS", "/").send().json();
    insta::assert_json_snapshot!("openapi_metrics", metrics_doc);
    // Metrics port: only /metrics.
    check_error(
        &s.get(Api::Metrics, "/models"),
        404,
        "ResourceNotFoundException",
        not_found,
    );
}

/// Unregister with one request in the worker and one waiting: the first is finished, the second
/// is answered (503) instead of being left without an answer.
#[test]
fn unregister_answers_in_flight_and_queued_requests() {
    let slow = BuildOptions {
        config: handlers_fixtures::ConfigChoice::Yaml("responseTimeout: 60\n".into()),
        ..BuildOptions::default()
    };
    let s = ServerOptions::default().fixture_with("slow", slow).start();
    s.register_ok("url=slow.mar&initial_workers=1&synchronous=true");
    let send = |sleep: f64| {
        let url = format!("{}/predictions/slow", s.base(Api::Inference));
        std::thread::spawn(move || {
            let c = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let r = c
                .post(url)
                .json(&json!({"sleep": sleep}))
                .send()
                .expect("an answer");
            (r.status().as_u16(), r.text().unwrap_or_default())
        })
    };
    // Long enough for the queued request and the DELETE to arrive while it runs.
    let in_flight = send(4.0);
    s.wait_batch_dispatched("slow", "the first request to reach the worker");
    let queued = send(0.0);
    wait_for(
        Duration::from_secs(30),
        "the second request to queue",
        || (s.describe("slow")[0]["jobQueueStatus"]["pendingRequests"] == 1).then_some(()),
    );
    check_status(
        &s.mgmt("DELETE", "/models/slow"),
        200,
        "Model \"slow\" unregistered",
    );
    let (status, body) = in_flight.join().expect("thread");
    assert_eq!(status, 200, "the batch in the worker is finished: {body}");
    let (status, body) = queued.join().expect("thread");
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).expect("error body");
    assert_eq!(v["type"], "ServiceUnavailableException", "{v}");
    assert!(s.worker_processes().is_empty());
}
