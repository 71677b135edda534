//! Contract §2.2: what the handler returns, the response metadata it sets, and its errors.
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::harness::{CheckResult, CheckSpec, Failure, Group::Outputs as G, Session, must, should};
use crate::{ensure, raw};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "OUT-2.2-01",
        G,
        "A handler raising a plain exception answers 503 InternalServerException \"Prediction failed\"",
    ),
    must(
        "OUT-2.2-02",
        G,
        "PredictionException(message, 418) answers 418 with that message",
    ),
    must(
        "OUT-2.2-03",
        G,
        "PredictionException with code 413 answers 507",
    ),
    must(
        "OUT-2.2-04",
        G,
        "MemoryError answers 507 \"Out of resources\"",
    ),
    must(
        "OUT-2.2-05",
        G,
        "An exception whose text contains CUDA answers 507 \"Out of resources\"",
    ),
    must(
        "OUT-2.2-06",
        G,
        "A list of the wrong length answers 503 \"number of batch response mismatched\"",
    ),
    must(
        "OUT-2.2-07",
        G,
        "A non-list answers 503 \"Invalid model predict output\"",
    ),
    must(
        "OUT-2.2-08",
        G,
        "An element that is not JSON-serialisable answers 503 \"Unsupported model output data type.\"",
    ),
    must(
        "OUT-2.2-09",
        G,
        "The worker survives handler errors: same pid, still READY, answers the next request",
    ),
    must(
        "OUT-2.2-10",
        G,
        "A str element is sent UTF-8 encoded, with no Content-Type header",
    ),
    must("OUT-2.2-11", G, "A bytes element is sent as the raw bytes"),
    must(
        "OUT-2.2-12",
        G,
        "A bytearray element is sent as the raw bytes",
    ),
    must(
        "OUT-2.2-13",
        G,
        "A dict element is sent as json.dumps(v, indent=2), key order kept",
    ),
    must(
        "OUT-2.2-14",
        G,
        "A list element is sent as json.dumps(v, indent=2)",
    ),
    must(
        "OUT-2.2-15",
        G,
        "An int element is sent as 42 and None as null",
    ),
    must(
        "OUT-2.2-16",
        G,
        "set_response_status(201, \"Made\") gives status 201 with reason phrase Made",
    ),
    must(
        "OUT-2.2-17",
        G,
        "set_response_content_type sets the Content-Type header",
    ),
    must(
        "OUT-2.2-18",
        G,
        "set_response_header adds that header to the response",
    ),
    must(
        "OUT-2.2-19",
        G,
        "Without set_response_status the answer is 200",
    ),
    should(
        "OUT-2.2-20",
        G,
        "A streaming handler's intermediate responses arrive as one chunked response, in order",
    ),
];

const ERRORS: &str = "out_errors";
const OUTPUTS: &str = "out_outputs";
const STREAM: &str = "out_stream";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

async fn misbehave(s: &Session, request: Value) -> Result<Resp, Failure> {
    infer_json(s, ERRORS, &request).await
}

async fn output(s: &Session, request: Value) -> Result<Resp, Failure> {
    let resp = infer_json(s, OUTPUTS, &request).await?;
    Ok(resp)
}

fn exact(resp: &Resp, want: &[u8]) -> CheckResult {
    resp.expect_status(200)?;
    ensure!(
        resp.body == want,
        resp,
        "body should be exactly {:?}",
        String::from_utf8_lossy(want)
    );
    Ok(())
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let (e, o, st) = tokio::join!(
        setup_model(s, "errors", ERRORS, 1, &[]),
        setup_model(s, "outputs", OUTPUTS, 1, &[]),
        setup_model(s, "streaming", STREAM, 1, &[]),
    );
    e?;
    o?;
    st?;
    let before = workers(s, ERRORS).await?;
    let ise = "InternalServerException";

    tokio::join!(
        s.check("OUT-2.2-01", async { misbehave(s, json!({"mode": "plain"})).await?.expect_error(503, ise, "Prediction failed") }),
        s.check("OUT-2.2-02", async {
            misbehave(s, json!({"mode": "prediction", "code": 418, "message": "short and stout"})).await?.expect_error(418, ise, "short and stout")
        }),
        s.check("OUT-2.2-03", async {
            misbehave(s, json!({"mode": "prediction", "code": 413, "message": "too big"})).await?.expect_error(507, ise, "too big")
        }),
        s.check("OUT-2.2-04", async { misbehave(s, json!({"mode": "memory"})).await?.expect_error(507, ise, "Out of resources") }),
        s.check("OUT-2.2-05", async { misbehave(s, json!({"mode": "cuda"})).await?.expect_error(507, ise, "Out of resources") }),
        s.check("OUT-2.2-06", async {
            misbehave(s, json!({"mode": "wrong_length"})).await?.expect_error(503, ise, "number of batch response mismatched")
        }),
        s.check("OUT-2.2-07", async { misbehave(s, json!({"mode": "not_list"})).await?.expect_error(503, ise, "Invalid model predict output") }),
        s.check("OUT-2.2-08", async {
            misbehave(s, json!({"mode": "unserializable"})).await?.expect_error(503, ise, "Unsupported model output data type.")
        }),
        s.check("OUT-2.2-10", async {
            let resp = output(s, json!({"type": "str"})).await?;
            exact(&resp, "h\u{e9}llo \u{2713} text".as_bytes())?;
            ensure!(resp.header("content-type").is_none(), resp, "no Content-Type header expected on a plain success");
            Ok(())
        }),
        s.check("OUT-2.2-11", async { exact(&output(s, json!({"type": "bytes"})).await?, b"\x00\x01\x02\xffraw-bytes") }),
        s.check("OUT-2.2-12", async { exact(&output(s, json!({"type": "bytearray"})).await?, b"\xfe\xfdbytearray") }),
        s.check("OUT-2.2-13", async {
            let want = "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ],\n  \"nested\": {\n    \"ok\": true\n  }\n}";
            exact(&output(s, json!({"type": "dict"})).await?, want.as_bytes())
        }),
        s.check("OUT-2.2-14", async {
            let want = "[\n  1,\n  \"two\",\n  {\n    \"three\": 3\n  }\n]";
            exact(&output(s, json!({"type": "list"})).await?, want.as_bytes())
        }),
        s.check("OUT-2.2-15", async {
            exact(&output(s, json!({"type": "int"})).await?, b"42")?;
            exact(&output(s, json!({"type": "none"})).await?, b"null")
        }),
        s.check("OUT-2.2-16", async {
            let body = json!({"type": "str", "status": 201, "phrase": "Made"}).to_string();
            let request = format!(
                "POST /predictions/{OUTPUTS} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n{body}",
                s.inference.authority(),
                s.inference.key().map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default(),
                body.len()
            );
            let raw = raw::send(s.inference.authority(), request.as_bytes()).await?;
            ensure!(raw.status == 201, raw, "status should be 201");
            ensure!(raw.reason == "Made", raw, "reason phrase should be \"Made\", got {:?}", raw.reason);
            Ok(())
        }),
        s.check("OUT-2.2-17", async {
            let resp = output(s, json!({"type": "bytes", "content_type": "application/x-tsconform"})).await?;
            resp.expect_status(200)?;
            ensure!(resp.header("content-type") == Some("application/x-tsconform"), resp, "Content-Type should be application/x-tsconform");
            Ok(())
        }),
        s.check("OUT-2.2-18", async {
            let resp = output(s, json!({"type": "str", "headers": {"X-Fixture": "yes", "X-Second": "2"}})).await?;
            resp.expect_status(200)?;
            ensure!(resp.header("x-fixture") == Some("yes") && resp.header("x-second") == Some("2"), resp, "headers X-Fixture and X-Second missing");
            Ok(())
        }),
        s.check("OUT-2.2-19", async { output(s, json!({"type": "int"})).await?.expect_status(200) }),
        s.check("OUT-2.2-20", async {
            let resp = infer_json(s, STREAM, &json!({"chunks": 4})).await?;
            exact(&resp, b"chunk0;chunk1;chunk2;chunk3;")?;
            ensure!(
                resp.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")),
                resp,
                "a streamed answer should use chunked transfer encoding"
            );
            Ok(())
        }),
    );

    s.check("OUT-2.2-09", async {
        let resp = misbehave(s, json!({"mode": "ok"})).await?;
        exact(&resp, b"ok")?;
        let after = workers(s, ERRORS).await?;
        ensure!(
            after.len() == 1 && after[0].status == "READY",
            resp,
            "the worker should still be READY: {after:?}"
        );
        ensure!(
            before.first().map(|w| w.pid) == Some(after[0].pid),
            resp,
            "the worker was replaced: {before:?} → {after:?}"
        );
        Ok(())
    })
    .await;
    Ok(())
}
