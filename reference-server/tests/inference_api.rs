//! Inference API (contract §5.1, §5.2, §2.2): /ping, predictions with versions and extra path
//! segments, explanations, the legacy, SageMaker and KServe routes, 404 / 503 / 413, handler
//! errors, output types and streaming. One server serves every check.

mod common;

use common::redact::redact;
use common::{Api, Reply, ServerOptions, TestServer};
use serde_json::{Value, json};

const NO_WORKER: &str = "has no worker to serve inference request. Please use scale workers API to add workers. \
                         If this is a sequence inference, please check if it is closed, or expired; or exceeds maxSequenceJobQueueSize";

fn server() -> TestServer {
    let s = ServerOptions::default()
        .prop("max_request_size", "65536")
        .fixture("echo")
        .fixture("errors")
        .fixture("outputs")
        .fixture("streaming")
        .start();
    for m in ["echo", "errors", "outputs", "streaming"] {
        s.register_ok(&format!("url={m}.mar&initial_workers=1&synchronous=true"));
    }
    s.add_fixture("echo", common::server::named("idle"));
    s.register_ok("url=idle.mar");
    s
}

/// What the echo fixture saw for one request.
struct Seen(Value);

impl Seen {
    fn header(&self, k: &str) -> Option<&str> {
        self.0["headers"][k].as_str()
    }
    fn keys(&self) -> Vec<&str> {
        self.0["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k.as_str().expect("key"))
            .collect()
    }
}

fn echo(s: &TestServer, method: &str, path: &str) -> (Reply, Seen) {
    let r = s
        .req(Api::Inference, method, path)
        .json(&json!({"hello": "world"}))
        .send();
    assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    let seen = Seen(r.handler_json());
    assert_eq!(
        seen.0["request_id"].as_str(),
        Some(r.request_id()),
        "{path}: the handler sees the response's request id"
    );
    (r, seen)
}

/// (status, type, message) of an error answer.
fn check_error(r: &Reply, status: u16, kind: &str, message: &str) {
    let (code, t, m) = r.error();
    assert_eq!(
        (code, t.as_str(), m.as_str()),
        (status, kind, message),
        "{}",
        r.what
    );
}

#[test]
fn inference_routes_errors_and_outputs() {
    let s = server();
    ping_and_description(&s);
    prediction_routes(&s);
    not_found_and_no_worker(&s);
    payload_too_large(&s);
    handler_errors(&s);
    output_types(&s);
    streaming(&s);
    echo_snapshot(&s);
    header_spelling(&s);
    error_closes_the_connection(&s);
    encoded_paths(&s);
}

fn ping_and_description(s: &TestServer) {
    let r = s.get(Api::Inference, "/ping");
    assert_eq!(r.status_text(), (200, "Healthy".to_string()));

    let options = s.req(Api::Inference, "OPTIONS", "/").send();
    assert_eq!(options.status, 200);
    let doc = options.json();
    assert_eq!(
        s.get(Api::Inference, "/api-description").json(),
        doc,
        "OPTIONS / and /api-description agree"
    );
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    for path in [
        "/ping",
        "/predictions/{model_name}",
        "/explanations/{model_name}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "inference description lacks {path}"
        );
    }
    insta::assert_json_snapshot!("openapi_inference", doc);
    check_error(
        &s.get(Api::Inference, "/"),
        405,
        "MethodNotAllowedException",
        "Requested method is not allowed, please refer to API document.",
    );

    let per_model = s.req(Api::Inference, "OPTIONS", "/predictions/echo").send();
    assert_eq!(per_model.status, 200, "{}", per_model.text());
    let doc = per_model.json();
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
    insta::assert_json_snapshot!("openapi_inference_echo", doc);
}

fn prediction_routes(s: &TestServer) {
    // (method, path, url_path header, explain header, query delivered)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, bool);
    let cases: &[Case<'_>] = &[
        ("POST", "/predictions/echo", Some(""), Some("False"), false),
        ("PUT", "/predictions/echo", Some(""), Some("False"), false),
        ("GET", "/predictions/echo", Some(""), Some("False"), false),
        (
            "POST",
            "/predictions/echo/1.0",
            Some(""),
            Some("False"),
            false,
        ),
        (
            "POST",
            "/predictions/echo/1.0/a/b/c",
            Some("a/b/c"),
            Some("False"),
            false,
        ),
        (
            "POST",
            "/predictions/echo?q=1",
            Some(""),
            Some("False"),
            false,
        ),
        ("POST", "/explanations/echo", Some(""), Some("True"), false),
        (
            "POST",
            "/explanations/echo/1.0",
            Some(""),
            Some("True"),
            false,
        ),
        (
            "POST",
            "/v1/models/echo:predict",
            None,
            Some("False"),
            false,
        ),
        ("POST", "/v1/models/echo:explain", None, Some("True"), false),
        ("POST", "/v2/models/echo/infer", None, Some("False"), false),
        ("POST", "/v2/models/echo/explain", None, Some("True"), false),
        ("POST", "/echo/predict?q=1", None, None, true),
        ("POST", "/echo/1.0/predict?q=1", None, None, true),
        ("POST", "/models/echo/invoke?q=1", None, None, true),
        ("POST", "/invocations?model_name=echo&q=1", None, None, true),
    ];
    for &(method, path, url_path, explain, query) in cases {
        let (_, seen) = echo(s, method, path);
        assert_eq!(seen.header("url_path"), url_path, "{path}: url_path");
        assert_eq!(seen.header("explain"), explain, "{path}: explain");
        assert_eq!(
            seen.keys().contains(&"q"),
            query,
            "{path}: query parameters delivered? {:?}",
            seen.keys()
        );
        assert_eq!(
            seen.0["values"]["body"],
            json!({"hello": "world"}),
            "{path}: JSON body decoded"
        );
    }
    // No model name and no single start-up model.
    let r = s
        .req(Api::Inference, "POST", "/invocations")
        .json(&json!({}))
        .send();
    check_error(
        &r,
        400,
        "BadRequestException",
        "Parameter model_name is required.",
    );
}

fn not_found_and_no_worker(s: &TestServer) {
    let not_found = "Requested resource is not found, please refer to API document.";
    for path in [
        "/predictions",
        "/nope",
        "/predictions/",
        "/v1/models/echo",
        "/v2/models/echo/other",
        "/echo/1.0/2.0/predict",
    ] {
        check_error(
            &s.get(Api::Inference, path),
            404,
            "ResourceNotFoundException",
            not_found,
        );
    }
    let r = s.predict_json("missing", &json!({}));
    check_error(
        &r,
        404,
        "ModelNotFoundException",
        "Model not found: missing",
    );
    let r = s.predict_json("echo/9.9", &json!({}));
    check_error(
        &r,
        404,
        "ModelVersionNotFoundException",
        "Model version: 9.9 does not exist for model: echo",
    );
    let r = s
        .req(Api::Inference, "POST", "/v1/models/missing:predict")
        .json(&json!({}))
        .send();
    check_error(
        &r,
        404,
        "ModelNotFoundException",
        "Model not found: missing",
    );

    let r = s.predict_json("idle", &json!({}));
    check_error(
        &r,
        503,
        "ServiceUnavailableException",
        &format!("Model \"idle\" {NO_WORKER}"),
    );
    let r = s.predict_json("idle/1.0", &json!({}));
    check_error(
        &r,
        503,
        "ServiceUnavailableException",
        &format!("Model \"idle\" Version 1.0\" {NO_WORKER}"),
    );
}

fn payload_too_large(s: &TestServer) {
    let r = s
        .req(Api::Inference, "POST", "/predictions/echo")
        .body("application/octet-stream", vec![b'x'; 100_000])
        .send();
    assert_eq!(r.status, 413, "{}", r.text());
    // Just below the limit is served.
    let r = s
        .req(Api::Inference, "POST", "/predictions/echo")
        .body("application/octet-stream", vec![b'x'; 60_000])
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
}

fn handler_errors(s: &TestServer) {
    let cases: &[(Value, u16, &str)] = &[
        (json!({"mode": "plain"}), 503, "Prediction failed"),
        (
            json!({"mode": "prediction", "code": 418, "message": "teapot"}),
            418,
            "teapot",
        ),
        (
            json!({"mode": "prediction", "code": 413, "message": "too big"}),
            507,
            "too big",
        ),
        (json!({"mode": "memory"}), 507, "Out of resources"),
        (json!({"mode": "cuda"}), 507, "Out of resources"),
        (
            json!({"mode": "wrong_length"}),
            503,
            "number of batch response mismatched",
        ),
        (
            json!({"mode": "not_list"}),
            503,
            "Invalid model predict output",
        ),
        (
            json!({"mode": "unserializable"}),
            503,
            "Unsupported model output data type.",
        ),
    ];
    for (body, status, message) in cases {
        let r = s.predict_json("errors", body);
        check_error(&r, *status, "InternalServerException", message);
    }
    // The worker survived all of that.
    let r = s.predict_json("errors", &json!({"mode": "ok"}));
    assert_eq!((r.status, r.text()), (200, "ok".to_string()));
}

fn output_types(s: &TestServer) {
    let out = |body: Value| s.predict_json("outputs", &body);
    let r = out(json!({"type": "str"}));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "h\u{e9}llo \u{2713} text")
    );
    assert_eq!(
        r.header("content-type"),
        None,
        "no Content-Type unless the handler sets one"
    );
    let r = out(json!({"type": "bytes"}));
    assert_eq!(r.body, b"\x00\x01\x02\xffraw-bytes");
    let r = out(json!({"type": "bytearray"}));
    assert_eq!(r.body, b"\xfe\xfdbytearray");
    let r = out(json!({"type": "dict"}));
    assert_eq!(
        r.text(),
        "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ],\n  \"nested\": {\n    \"ok\": true\n  }\n}"
    );
    let r = out(json!({"type": "int"}));
    assert_eq!(r.text(), "42");
    let r = out(
        json!({"type": "dict", "status": 201, "phrase": "Made", "content_type": "application/x-made",
                       "headers": {"X-Custom": "yes"}}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/x-made"));
    assert_eq!(r.header("x-custom"), Some("yes"));
    // The reason phrase the handler set is on the status line.
    let body = r#"{"type": "str", "status": 299, "phrase": "Custom Phrase"}"#;
    let request = format!(
        "POST /predictions/outputs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = common::client::raw_exchange(&s.inference, &request);
    assert!(
        raw.starts_with(b"HTTP/1.1 299 Custom Phrase\r\n"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

/// After an error the server closes the connection (it said `Connection: close`).
fn error_closes_the_connection(s: &TestServer) {
    // No `Connection: close` from the client: only the server can end this exchange, and
    // reading to the end returns only when it does.
    let raw = common::client::raw_exchange(&s.inference, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    let responses = common::client::split_responses(&raw);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].0, 404);
    // A success keeps it open: the second request on the connection is answered too.
    let request = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let responses =
        common::client::split_responses(&common::client::raw_exchange(&s.inference, request));
    assert_eq!(
        responses.iter().map(|r| r.0).collect::<Vec<_>>(),
        [200, 200]
    );
}

fn streaming(s: &TestServer) {
    let r = s.predict_json("streaming", &json!({"chunks": 4}));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "chunk0;chunk1;chunk2;chunk3;");
    assert_eq!(
        r.header("ts_stream_next"),
        None,
        "the streaming marker is not an HTTP header"
    );
}

fn echo_snapshot(s: &TestServer) {
    let r = s
        .req(Api::Inference, "POST", "/predictions/echo/1.0/extra")
        .header("X-Mixed-Case", "Value")
        .body("text/plain; charset=utf-8", "hi")
        .send();
    assert_eq!(r.status, 200);
    let mut seen = r.handler_json();
    // Client-dependent headers go; the rest is sorted (a dict's order is not the contract).
    let headers = seen["headers"].as_object().expect("headers");
    let mut sorted: Vec<(String, Value)> = headers
        .iter()
        .filter(|(k, _)| !["user-agent", "accept"].contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    seen["headers"] = Value::Object(sorted.into_iter().collect());
    insta::assert_json_snapshot!("echo_sees", redact(&seen));
}

/// Handlers look headers up as the client spelled them (a case-sensitive dict).
fn header_spelling(s: &TestServer) {
    let body = r#"{"a": 1}"#;
    let request = format!(
        "POST /predictions/echo HTTP/1.1\r\nHost: x\r\nX-Mixed-Case: Value\r\nlower-case: v2\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, headers, body) = common::client::raw_http(&s.inference, &request);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers.iter().any(
            |(k, v)| k.eq_ignore_ascii_case("x-request-id") && common::client::UUID.is_match(v)
        )
    );
    let seen: Value = serde_json::from_slice(&body).expect("echo JSON");
    assert_eq!(
        seen["headers"]["X-Mixed-Case"], "Value",
        "{}",
        seen["headers"]
    );
    assert_eq!(seen["headers"]["lower-case"], "v2");
    assert_eq!(seen["headers"]["Content-Type"], "application/json");
    assert!(
        seen["headers"].get("x-mixed-case").is_none(),
        "only the spelling sent: {}",
        seen["headers"]
    );

    // Two pipelined requests on one connection, the first with a chunked body that looks like
    // headers: each handler call sees its own request's names, spelled as sent.
    let fake = "X-Fake: no\r\n\r\nGET / HTTP/1.1\r\n";
    let request = format!(
        "POST /predictions/echo HTTP/1.1\r\nHost: x\r\nX-First: 1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{fake}\r\n0\r\n\r\n\
         POST /predictions/echo HTTP/1.1\r\nHost: x\r\nX-Second-Header: yes\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        fake.len()
    );
    let responses =
        common::client::split_responses(&common::client::raw_exchange(&s.inference, &request));
    assert_eq!(responses.len(), 2, "two answers on one connection");
    let first: Value = serde_json::from_slice(&responses[0].2).expect("echo JSON");
    let second: Value = serde_json::from_slice(&responses[1].2).expect("echo JSON");
    assert_eq!((responses[0].0, responses[1].0), (200, 200));
    assert_eq!(
        first["values"]["body"], fake,
        "the chunked body arrives whole"
    );
    assert_eq!(first["headers"]["X-First"], "1", "{}", first["headers"]);
    assert!(
        first["headers"].get("X-Fake").is_none()
            && first["headers"].get("X-Second-Header").is_none(),
        "{}",
        first["headers"]
    );
    assert_eq!(
        second["headers"]["X-Second-Header"], "yes",
        "{}",
        second["headers"]
    );
    assert!(
        second["headers"].get("X-First").is_none(),
        "{}",
        second["headers"]
    );
}

/// A full job queue answers 503 with the same text as "no worker" (contract §5.2).
#[test]
fn full_queue_answers_503() {
    let yaml =
        handlers_fixtures::ConfigChoice::Yaml("responseTimeout: 60\njobQueueSize: 1\n".into());
    let s = ServerOptions::default()
        .fixture_with(
            "slow",
            handlers_fixtures::BuildOptions {
                config: yaml,
                ..Default::default()
            },
        )
        .start();
    s.register_ok("url=slow.mar&initial_workers=1&synchronous=true");
    assert_eq!(
        s.describe("slow")[0]["jobQueueStatus"],
        json!({"remainingCapacity": 1, "pendingRequests": 0})
    );
    let send = |sleep: f64| {
        let url = format!("{}/predictions/slow", s.base(Api::Inference));
        std::thread::spawn(move || {
            let c = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            c.post(url)
                .json(&json!({"sleep": sleep}))
                .send()
                .expect("an answer")
                .status()
                .as_u16()
        })
    };
    // Long enough for the next two requests to arrive while it runs, even on a loaded machine.
    let busy = send(5.0);
    s.wait_batch_dispatched("slow", "the first request to reach the worker");
    let waiting = send(0.0);
    common::wait_for(
        std::time::Duration::from_secs(30),
        "the second request to queue",
        || {
            (s.describe("slow")[0]["jobQueueStatus"]
                == json!({"remainingCapacity": 0, "pendingRequests": 1}))
            .then_some(())
        },
    );
    let r = s.predict_json("slow", &json!({"sleep": 0}));
    check_error(
        &r,
        503,
        "ServiceUnavailableException",
        &format!("Model \"slow\" {NO_WORKER}"),
    );
    assert_eq!(
        (
            busy.join().expect("thread"),
            waiting.join().expect("thread")
        ),
        (200, 200)
    );
}

/// Paths are percent-decoded before routing, as Netty decodes them for TorchServe.
fn encoded_paths(s: &TestServer) {
    s.register_ok("url=echo.mar&model_name=my%20model&initial_workers=1&synchronous=true");
    let r = s
        .req(Api::Inference, "POST", "/predictions/my%20model")
        .json(&json!({}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.handler_json()["model_name"], "my model");
    let r = s
        .req(Api::Inference, "POST", "/predictions/ech%6F/1.0")
        .json(&json!({}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.describe("my%20model")[0]["modelName"], "my model");
    assert_eq!(s.mgmt("DELETE", "/models/my%20model").status, 200);
}
