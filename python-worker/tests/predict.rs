//! The predict path: what `data` looks like (contract 2.1), what the handler's output becomes
//! (2.2), the Context per request (3), streaming and metrics.

mod common;

use common::*;
use serde_json::{Value, json};
use worker_protocol::{BatchKind, MetricKind, Param, Request, Response};

fn b64(bytes: &[u8]) -> Value {
    // the echo fixture wraps bytes as {"__bytes_b64__": ...}
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    json!({ "__bytes_b64__": s })
}

/// Sends one request to the echo fixture and returns what the handler saw.
fn echo(w: &mut Worker, request: Request) -> Value {
    let r = w.predict(vec![request]).unwrap();
    assert_eq!(r.code, 200, "{r:?}");
    json_of(&r.responses[0].body)
}

/// (type name, value) the handler saw for parameter `name`
fn seen(v: &Value, name: &str) -> (String, Value) {
    (
        v["types"][name].as_str().unwrap().to_owned(),
        v["values"][name].clone(),
    )
}

#[test]
fn bodies_are_decoded_by_content_type() -> anyhow::Result<()> {
    let mut w = loaded("echo", "echo.py")?;
    let check = |w: &mut Worker, ct: &str, value: &[u8], expected: (&str, Value)| {
        let v = echo(w, body("r", ct, value));
        assert_eq!(v["keys"], json!(["body"]));
        assert_eq!(
            seen(&v, "body"),
            (expected.0.to_owned(), expected.1),
            "content type {ct:?}"
        );
    };
    check(
        &mut w,
        "application/json",
        br#"{"a": [1, 2]}"#,
        ("dict", json!({"a": [1, 2]})),
    );
    check(
        &mut w,
        "application/json",
        b"[1, 2]",
        ("list", json!([1, 2])),
    );
    check(
        &mut w,
        "application/json",
        b"not json",
        ("bytearray", b64(b"not json")),
    );
    check(
        &mut w,
        "application/json",
        b"\xff\xfe",
        ("bytearray", b64(b"\xff\xfe")),
    );
    check(
        &mut w,
        "text/plain",
        "h\u{e9}llo".as_bytes(),
        ("str", json!("h\u{e9}llo")),
    );
    check(&mut w, "text/csv", b"a,b", ("str", json!("a,b")));
    check(&mut w, "text/plain", b"\xff", ("bytearray", b64(b"\xff")));
    check(
        &mut w,
        "application/octet-stream",
        b"\x00\x01",
        ("bytearray", b64(b"\x00\x01")),
    );
    check(&mut w, "", b"raw", ("bytearray", b64(b"raw")));
    // exactly application/json: a vendor JSON type is not parsed
    check(
        &mut w,
        "application/vnd.api+json",
        b"{}",
        ("bytearray", b64(b"{}")),
    );
    Ok(())
}

#[test]
fn decoding_can_be_turned_off() -> anyhow::Result<()> {
    let dir = fixture("echo");
    let mut w = Worker::start(&dir)?;
    let mut req = load_request(&dir, "echo.py");
    req.decode_input_request = false;
    assert_eq!(w.load_with(req)?.code, 200);
    for ct in ["application/json", "text/plain"] {
        let v = echo(&mut w, body("r", ct, b"{}"));
        assert_eq!(
            seen(&v, "body"),
            ("bytearray".to_owned(), b64(b"{}")),
            "{ct}"
        );
    }
    Ok(())
}

#[test]
fn form_fields_are_keyed_by_name_and_later_duplicates_win() -> anyhow::Result<()> {
    let mut w = loaded("echo", "echo.py")?;
    let param = |name: &str, ct: &str, value: &[u8]| Param {
        name: name.into(),
        content_type: ct.into(),
        value: value.to_vec(),
    };
    let v = echo(
        &mut w,
        Request {
            request_id: "form".into(),
            headers: vec![(
                "Content-Type".into(),
                "multipart/form-data; boundary=x".into(),
            )],
            params: vec![
                param("data", "image/png", b"\x89PNG"),
                param("label", "", b"cat"),
                param("meta", "application/json", br#"{"k": 1}"#),
                param("label", "", b"dog"),
            ],
        },
    );
    assert_eq!(v["keys"], json!(["data", "label", "meta"]));
    assert_eq!(seen(&v, "data"), ("bytearray".to_owned(), b64(b"\x89PNG")));
    assert_eq!(seen(&v, "label"), ("bytearray".to_owned(), b64(b"dog")));
    assert_eq!(seen(&v, "meta"), ("dict".to_owned(), json!({"k": 1})));
    // each parameter has a {"content-type": ...} entry in the header map, headers as spelled
    assert_eq!(v["headers"]["data"], json!({"content-type": "image/png"}));
    assert_eq!(v["headers"]["label"], json!({"content-type": ""}));
    assert_eq!(
        v["headers"]["Content-Type"],
        "multipart/form-data; boundary=x"
    );
    Ok(())
}

#[test]
fn batches_keep_order_ids_and_headers() -> anyhow::Result<()> {
    let mut w = loaded("echo", "echo.py")?;
    let mut requests = Vec::new();
    for i in 0..3 {
        let mut r = body(&format!("id-{i}"), "text/plain", format!("b{i}").as_bytes());
        r.headers = vec![
            ("X-Custom".into(), format!("v{i}")),
            ("explain".into(), "False".into()),
            ("url_path".into(), "/predictions/test".into()),
        ];
        requests.push(r);
    }
    let r = w.predict(requests)?;
    assert_eq!(r.code, 200);
    assert_eq!(r.responses.len(), 3);
    for (i, resp) in r.responses.iter().enumerate() {
        assert_eq!(resp.request_id, format!("id-{i}"));
        let v = json_of(&resp.body);
        assert_eq!(v["index"], i);
        assert_eq!(v["len_data"], 3);
        assert_eq!(v["request_id"], format!("id-{i}"));
        assert_eq!(
            v["request_ids"],
            json!({"0": "id-0", "1": "id-1", "2": "id-2"})
        );
        assert_eq!(v["values"]["body"], format!("b{i}"));
        assert_eq!(
            v["headers"],
            json!({
                "body": {"content-type": "text/plain"},
                "X-Custom": format!("v{i}"),
                "explain": "False",
                "url_path": "/predictions/test",
            })
        );
    }
    Ok(())
}

#[test]
fn describe_batches_carry_the_describe_header() -> anyhow::Result<()> {
    let mut w = loaded("echo", "echo.py")?;
    let (intermediate, r) = w.batch(BatchKind::Describe, vec![body("d", "", b"")])?;
    assert!(intermediate.is_empty());
    assert_eq!(r.code, 200);
    assert_eq!(json_of(&r.responses[0].body)["headers"]["describe"], "True");
    let v = echo(&mut w, body("p", "", b""));
    assert_eq!(v["headers"].get("describe"), None, "only describe batches");
    Ok(())
}

fn outputs(w: &mut Worker, spec: Value) -> Response {
    let r = w.predict(vec![json_body("o", spec.clone())]).unwrap();
    assert_eq!(r.code, 200, "{spec}: {r:?}");
    r.responses.into_iter().next().unwrap()
}

#[test]
fn each_return_type_is_encoded() -> anyhow::Result<()> {
    let mut w = loaded("outputs", "outputs")?;
    let check = |w: &mut Worker, ty: &str, expected: &[u8]| {
        let resp = outputs(w, json!({"type": ty}));
        assert_eq!(
            resp.body,
            expected,
            "{ty}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        assert_eq!(
            (resp.status, resp.phrase.as_str(), &resp.content_type),
            (200, "", &None),
            "{ty}"
        );
        assert!(resp.headers.is_empty(), "{ty}: {:?}", resp.headers);
    };
    check(&mut w, "str", "h\u{e9}llo \u{2713} text".as_bytes());
    check(&mut w, "bytes", b"\x00\x01\x02\xffraw-bytes");
    check(&mut w, "bytearray", b"\xfe\xfdbytearray");
    // json.dumps(indent=2), keys in insertion order, ASCII escapes
    check(&mut w, "dict", b"{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ],\n  \"nested\": {\n    \"ok\": true\n  }\n}");
    check(
        &mut w,
        "list",
        b"[\n  1,\n  \"two\",\n  {\n    \"three\": 3\n  }\n]",
    );
    check(&mut w, "int", b"42");
    check(&mut w, "none", b"null");
    Ok(())
}

#[test]
fn status_phrase_content_type_and_headers_per_request() -> anyhow::Result<()> {
    let mut w = loaded("outputs", "outputs")?;
    let resp = outputs(
        &mut w,
        json!({"type": "str", "status": 418, "phrase": "Teapot", "content_type": "text/x-tea", "headers": {"X-One": "1", "x-Two": "2"}}),
    );
    assert_eq!(resp.status, 418);
    assert_eq!(resp.phrase, "Teapot");
    assert_eq!(resp.content_type.as_deref(), Some("text/x-tea"));
    assert_eq!(
        resp.headers,
        vec![
            ("X-One".to_owned(), "1".to_owned()),
            ("x-Two".to_owned(), "2".to_owned())
        ]
    );

    // two requests of one batch keep their own settings
    let r = w.predict(vec![
        json_body("a", json!({"status": 201})),
        json_body("b", json!({"type": "int"})),
    ])?;
    assert_eq!((r.responses[0].status, r.responses[1].status), (201, 200));
    assert_eq!(r.responses[1].body, b"42");
    Ok(())
}

#[test]
fn context_api_matches_torchserve() -> anyhow::Result<()> {
    let mut w = loaded("context_api", "context_api")?;
    let mut a = body("req-a", "text/plain", b"x");
    a.headers = vec![
        ("X-Custom".into(), "yes".into()),
        ("explain".into(), "True".into()),
    ];
    let b = body("req-b", "", b"y");
    let r = w.predict(vec![a, b])?;
    assert_eq!(r.code, 200);
    let (ra, rb) = (&r.responses[0], &r.responses[1]);
    assert_eq!((ra.status, ra.phrase.as_str()), (201, "Made 0"));
    assert_eq!((rb.status, rb.phrase.as_str()), (202, "Made 1"));
    assert_eq!(ra.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(
        ra.headers,
        vec![("X-Index".to_owned(), "0".to_owned())],
        "content-type travels on its own"
    );
    let v = json_of(&ra.body);
    assert_eq!(v["x_custom"], "yes");
    assert_eq!(
        v["x_custom_lower"],
        Value::Null,
        "header lookup is case-sensitive"
    );
    assert_eq!(v["body_entry"], json!({"content-type": "text/plain"}));
    assert_eq!(v["explain"], "True");
    assert_eq!(v["request_id"], "req-a");
    assert_eq!(v["status"], json!([201, "Made 0"]));
    assert_eq!(v["content_type"], "application/x-test");
    assert_eq!(
        v["headers"],
        json!({"content-type": "application/x-test", "X-Index": "0"})
    );
    assert_eq!(v["sequence_id"], Value::Null);
    assert_eq!(
        v["system_property_keys"],
        json!([
            "batch_size",
            "gpu_id",
            "limit_max_image_pixels",
            "model_dir",
            "server_name",
            "server_version"
        ])
    );
    assert_eq!(v["context_module"], "ts.context");
    assert_eq!(v["metrics_has_add_counter"], true);
    assert_eq!(
        v["bundled_ts"], true,
        "no real ts package in the test environment"
    );
    assert_eq!(json_of(&rb.body)["x_custom"], Value::Null);

    // set_all_response_status applies to every request of the batch
    let r = w.predict(vec![
        body("c", "text/plain", b"all"),
        body("d", "text/plain", b"z"),
    ])?;
    // request d's own set_response_status ran after "all": d is 202, c stays 299
    assert_eq!(
        (r.responses[0].status, r.responses[0].phrase.as_str()),
        (299, "All Set")
    );
    assert_eq!(r.responses[1].status, 202);
    Ok(())
}

/// The errors fixture fails as the body says; returns the batch reply.
fn error_case(w: &mut Worker, mode: Value, n: usize) -> worker_protocol::PredictReply {
    let mut requests = vec![json_body("e0", mode)];
    for i in 1..n {
        requests.push(body(&format!("e{i}"), "", b""));
    }
    w.predict(requests).unwrap()
}

#[test]
fn each_error_rule() -> anyhow::Result<()> {
    let mut w = loaded("errors", "errors")?;
    let check = |w: &mut Worker, mode: Value, code: u16, message: &str, traceback: Option<&str>| {
        let r = error_case(w, mode.clone(), 2);
        assert_eq!((r.code, r.message.as_str()), (code, message), "{mode}");
        assert!(
            r.responses.is_empty(),
            "{mode}: no per-request responses on a batch error"
        );
        match traceback {
            Some(needle) => assert!(
                r.detail.starts_with("Traceback (most recent call last):")
                    && r.detail.contains(needle),
                "{mode}: {}",
                r.detail
            ),
            None => assert_eq!(r.detail, "", "{mode}"),
        }
    };
    check(
        &mut w,
        json!({"mode": "plain"}),
        503,
        "Prediction failed",
        Some("ValueError: plain failure"),
    );
    check(
        &mut w,
        json!({"mode": "prediction", "code": 404, "message": "no such thing"}),
        404,
        "no such thing",
        Some("PredictionException"),
    );
    check(
        &mut w,
        json!({"mode": "prediction", "code": 413, "message": "too big"}),
        413,
        "too big",
        Some("PredictionException"),
    );
    check(
        &mut w,
        json!({"mode": "memory"}),
        507,
        "Out of resources",
        Some("MemoryError"),
    );
    check(
        &mut w,
        json!({"mode": "cuda"}),
        507,
        "Out of resources",
        Some("CUDA error"),
    );
    check(
        &mut w,
        json!({"mode": "wrong_length"}),
        503,
        "number of batch response mismatched",
        None,
    );
    check(
        &mut w,
        json!({"mode": "not_list"}),
        503,
        "Invalid model predict output",
        None,
    );
    check(
        &mut w,
        json!({"mode": "unserializable"}),
        503,
        "Unsupported model output data type.",
        Some("TypeError"),
    );
    // after every failure the worker still serves
    let r = error_case(&mut w, json!({"mode": "ok"}), 2);
    assert_eq!(r.code, 200);
    assert_eq!(
        r.responses
            .iter()
            .map(|r| r.body.as_slice())
            .collect::<Vec<_>>(),
        vec![b"ok", b"ok"]
    );
    // the failure's traceback is in the log too
    w.wait_for_line(|_, l| matches!(l, python_worker::LogLine::Structured { level, message, .. }
        if level == "WARNING" && message.starts_with("Invoking custom service failed.") && message.contains("ValueError: plain failure")))?;
    Ok(())
}

#[test]
fn streaming_sends_intermediate_replies_before_the_final_one() -> anyhow::Result<()> {
    let mut w = loaded("streaming", "streaming")?;
    let (intermediate, last) = w.batch(
        BatchKind::Predict,
        vec![json_body("s1", json!({"chunks": 4})), body("s2", "", b"")],
    )?;
    assert_eq!(intermediate.len(), 3);
    for (i, chunk) in intermediate.iter().enumerate() {
        assert_eq!(
            (chunk.code, chunk.message.as_str()),
            (200, "Intermediate Prediction success")
        );
        let bodies: Vec<_> = chunk
            .responses
            .iter()
            .map(|r| (r.request_id.as_str(), r.body.clone()))
            .collect();
        let expected = format!("chunk{i};").into_bytes();
        assert_eq!(bodies, vec![("s1", expected.clone()), ("s2", expected)]);
        for r in &chunk.responses {
            assert_eq!(
                r.headers,
                vec![("ts_stream_next".to_owned(), "true".to_owned())]
            );
        }
    }
    assert_eq!(last.code, 200);
    for r in &last.responses {
        assert_eq!(r.body, b"chunk3;");
        assert_eq!(
            r.headers,
            vec![("ts_stream_next".to_owned(), "false".to_owned())],
            "the final reply ends the stream"
        );
    }
    // a non-streaming batch afterwards carries no stream header
    let (intermediate, last) = w.batch(
        BatchKind::Predict,
        vec![json_body("s3", json!({"chunks": 1}))],
    )?;
    assert!(intermediate.is_empty());
    assert!(
        last.responses[0].headers.is_empty(),
        "{:?}",
        last.responses[0].headers
    );
    Ok(())
}

#[test]
fn handler_metrics_come_with_each_reply() -> anyhow::Result<()> {
    let mut w = loaded("metrics_emitter", "metrics_emitter")?;
    for _ in 0..2 {
        let r = w.predict(vec![body("m1", "", b""), body("m2", "", b"")])?;
        assert_eq!(r.code, 200);
        let summary: Vec<_> = r
            .metrics
            .iter()
            .map(|m| (m.name.as_str(), m.unit.as_str(), m.kind, m.value))
            .collect();
        assert_eq!(
            summary[..6],
            [
                ("Requests", "Count", MetricKind::Counter, 2.0),
                ("HandlerMs", "Milliseconds", MetricKind::Gauge, 12.5),
                ("PayloadSize", "Kilobytes", MetricKind::Gauge, 3.0),
                ("Utilisation", "Percent", MetricKind::Gauge, 75.0),
                ("Latency", "Milliseconds", MetricKind::Histogram, 7.0),
                ("Custom", "Count", MetricKind::Counter, 2.0),
            ]
        );
        let model_dims = vec![
            ("ModelName".to_owned(), "test".to_owned()),
            ("Level".to_owned(), "Model".to_owned()),
        ];
        assert_eq!(
            r.metrics[0].dimensions[0],
            ("Route".to_owned(), "predict".to_owned())
        );
        assert_eq!(r.metrics[0].dimensions[1..], model_dims[..]);
        assert_eq!(r.metrics[1].dimensions, model_dims);
        assert_eq!(
            r.metrics[5].dimensions,
            vec![("Color".to_owned(), "red".to_owned())]
        );
        // and the worker's own per-batch PredictionTime gauge, last
        let last = r.metrics.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.unit.as_str(), last.kind),
            ("PredictionTime", "Milliseconds", MetricKind::Gauge)
        );
        assert_eq!(last.dimensions, model_dims);
        assert_eq!(
            r.metrics.len(),
            7,
            "each batch reports only its own metrics"
        );
    }
    Ok(())
}
