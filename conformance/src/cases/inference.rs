//! Contract §0 conventions and §5: ping, predictions routing, errors, metrics, API docs.
use futures_util::future::LocalBoxFuture;
use reqwest::Method;
use serde_json::{Value, json};

use super::common::*;
use crate::ensure;
use crate::harness::{CheckSpec, Group::Inference as G, Need, Session, may, must, should};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "INF-5.1-01",
        G,
        "GET /ping answers 200 with the pretty-printed {\"status\": \"Healthy\"} and a trailing newline",
    ),
    should(
        "INF-5.1-02",
        G,
        "GET /ping stays Healthy while registered models have their workers",
    ),
    must(
        "GEN-0-01",
        G,
        "Every response carries an x-request-id header holding a UUID",
    ),
    must(
        "GEN-0-02",
        G,
        "Two requests get two different x-request-id values",
    ),
    should(
        "GEN-0-03",
        G,
        "Responses carry Pragma, Cache-Control and Expires no-cache headers with TorchServe's values",
    ),
    must(
        "GEN-0-04",
        G,
        "Error responses (status >= 400) carry Connection: close",
    ),
    must(
        "GEN-0-05",
        G,
        "Status and error bodies are served as application/json",
    ),
    should(
        "GEN-0-06",
        G,
        "JSON bodies are pretty-printed with 2-space indentation and end with one newline",
    ),
    must(
        "GEN-0-07",
        G,
        "An unknown path on the management port answers 404 ResourceNotFoundException",
    ),
    must(
        "GEN-0-08",
        G,
        "GET / on the management port answers 405 MethodNotAllowedException",
    ),
    should(
        "GEN-0-09",
        G,
        "An unsupported method on /models answers 405 MethodNotAllowedException",
    ),
    must(
        "INF-5.2-01",
        G,
        "An unknown path on the inference port answers 404 ResourceNotFoundException",
    ),
    must(
        "INF-5.2-02",
        G,
        "/predictions without a model name answers 404 ResourceNotFoundException",
    ),
    must(
        "INF-5.2-03",
        G,
        "Predicting an unknown model answers 404 ModelNotFoundException \"Model not found: <m>\"",
    ),
    must(
        "INF-5.2-04",
        G,
        "Predicting an unknown version answers 404 ModelVersionNotFoundException",
    ),
    must(
        "INF-5.2-05",
        G,
        "Predicting a model without workers answers 503 ServiceUnavailableException with the exact text",
    ),
    must(
        "INF-5.2-06",
        G,
        "Predicting a version without workers answers 503 with the versioned text, quotes as TorchServe writes them",
    ),
    must(
        "INF-5.2-07",
        G,
        "POST, PUT and GET on /predictions/<m> all reach the handler",
    ),
    must("INF-5.2-08", G, "/predictions/<m>/<v> reaches that version"),
    should(
        "INF-5.2-09",
        G,
        "Path segments after the version reach the handler as the url_path header",
    ),
    must(
        "INF-5.2-10",
        G,
        "/explanations sends header explain=True, /predictions explain=False",
    ),
    must(
        "INF-5.2-11",
        G,
        "A body larger than max_request_size (6553500 bytes) answers 413",
    ),
    should(
        "INF-5.2-12",
        G,
        "The legacy /<m>/predict route delivers query parameters to the handler",
    ),
    should(
        "INF-5.2-13",
        G,
        "KServe v1 POST /v1/models/<m>:predict reaches the handler with the JSON body",
    ),
    should(
        "INF-5.2-14",
        G,
        "KServe v2 POST /v2/models/<m>/infer reaches the handler with the JSON body",
    ),
    should(
        "INF-5.2-15",
        G,
        "OPTIONS / on the inference port answers an OpenAPI document",
    ),
    should(
        "INF-5.2-16",
        G,
        "GET /api-description on the inference port answers an OpenAPI document",
    ),
    may(
        "INF-5.2-17",
        G,
        "OPTIONS /predictions/<m> answers the model's OpenAPI document",
    ),
    must(
        "INF-5.2-18",
        G,
        "The handler's context.get_request_id() equals the response's x-request-id",
    ),
    should(
        "INF-5.2-19",
        G,
        "Query parameters on /predictions are not delivered to the handler",
    ),
    must(
        "INF-5.3-01",
        G,
        "GET /metrics answers 200 in the Prometheus text format 0.0.4",
    )
    .needs(&[]),
    may("INF-5.3-02", G, "GET /metrics accepts a name[] filter").needs(&[]),
    should(
        "MGMT-4.7-01",
        G,
        "KServe readiness GET /v1/models/<m> on the management port answers {name, ready}; unknown → 404",
    ),
    should(
        "MGMT-4.7-02",
        G,
        "OPTIONS / on the management port answers an OpenAPI document",
    ),
];

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

const ECHO: &str = "inf_echo";
const IDLE: &str = "inf_idle";

async fn body(s: &Session) -> anyhow::Result<()> {
    // Before any model exists: the ping text.
    let ping = s.inference.get("/ping").send().await?;
    s.check("INF-5.1-01", async {
        ping.expect_status(200)?;
        ensure!(
            ping.body == b"{\n  \"status\": \"Healthy\"\n}\n",
            ping,
            "body should be exactly {{\\n  \"status\": \"Healthy\"\\n}}\\n"
        );
        Ok(())
    })
    .await;

    let mut needs_model = false;
    for spec in CHECKS {
        needs_model |= s.wants(spec.id) && spec.needs.contains(&Need::ModelApi);
    }
    if needs_model {
        setup_model(s, "echo", ECHO, 1, &[]).await?;
        let idle = s.fixture_url("echo", &Default::default(), "inf_idle.mar")?;
        register_ok(s, &idle, &[("model_name", IDLE), ("initial_workers", "0")]).await?;
    }

    tokio::join!(
        conventions(s, &ping),
        routing(s),
        handler_routes(s),
        docs_and_metrics(s)
    );
    Ok(())
}

async fn conventions(s: &Session, ping: &crate::client::Resp) {
    let err = s.inference.get("/no/such/path").send().await;
    let mgmt_err = s.management.get("/nosuch").send().await;
    let desc = s.management.get(&format!("/models/{ECHO}")).send().await;

    s.check("GEN-0-01", async {
        for r in [
            ping,
            err.as_ref().map_err(Clone::clone)?,
            mgmt_err.as_ref().map_err(Clone::clone)?,
        ] {
            let id = r.header("x-request-id").unwrap_or_default();
            ensure!(is_uuid(id), r, "x-request-id should be a UUID, got {id:?}");
        }
        Ok(())
    })
    .await;
    s.check("GEN-0-02", async {
        let again = s.inference.get("/ping").send().await?;
        ensure!(
            again.header("x-request-id") != ping.header("x-request-id"),
            again,
            "x-request-id repeated across requests"
        );
        Ok(())
    })
    .await;
    s.check("GEN-0-03", async {
        for r in [ping, err.as_ref().map_err(Clone::clone)?] {
            ensure!(r.header("pragma") == Some("no-cache"), r, "Pragma should be no-cache");
            ensure!(
                r.header("cache-control") == Some("no-cache; no-store, must-revalidate, private"),
                r,
                "Cache-Control should be TorchServe's \"no-cache; no-store, must-revalidate, private\""
            );
            ensure!(r.header("expires") == Some("Thu, 01 Jan 1970 00:00:00 UTC"), r, "Expires should be the epoch");
        }
        Ok(())
    })
    .await;
    s.check("GEN-0-04", async {
        for r in [
            err.as_ref().map_err(Clone::clone)?,
            mgmt_err.as_ref().map_err(Clone::clone)?,
        ] {
            ensure!(
                r.header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close")),
                r,
                "error response without Connection: close"
            );
        }
        Ok(())
    })
    .await;
    s.check("GEN-0-05", async {
        for r in [ping, err.as_ref().map_err(Clone::clone)?] {
            let ct = r.header("content-type").unwrap_or_default();
            ensure!(
                ct.starts_with("application/json"),
                r,
                "Content-Type should be application/json, got {ct:?}"
            );
        }
        Ok(())
    })
    .await;
    s.check("GEN-0-06", async {
        let desc = desc.as_ref().map_err(Clone::clone)?;
        for r in [ping, err.as_ref().map_err(Clone::clone)?, desc] {
            let v = r.json()?;
            let pretty =
                serde_json::to_string_pretty(&v).map_err(|e| r.fail(e.to_string()))? + "\n";
            ensure!(
                r.body == pretty.as_bytes(),
                r,
                "body is not 2-space pretty JSON plus one newline"
            );
        }
        Ok(())
    })
    .await;
    s.check("GEN-0-07", async {
        mgmt_err.as_ref().map_err(Clone::clone)?.expect_error(
            404,
            "ResourceNotFoundException",
            NOT_FOUND_MSG,
        )
    })
    .await;
    s.check("GEN-0-08", async {
        s.management.get("/").send().await?.expect_error(
            405,
            "MethodNotAllowedException",
            NOT_ALLOWED_MSG,
        )
    })
    .await;
    s.check("GEN-0-09", async {
        s.management
            .request(Method::PATCH, "/models")
            .send()
            .await?
            .expect_error(405, "MethodNotAllowedException", NOT_ALLOWED_MSG)
    })
    .await;
    s.check("INF-5.2-01", async {
        err.as_ref().map_err(Clone::clone)?.expect_error(
            404,
            "ResourceNotFoundException",
            NOT_FOUND_MSG,
        )
    })
    .await;
}

async fn routing(s: &Session) {
    s.check("INF-5.2-02", async {
        for path in ["/predictions", "/predictions/"] {
            s.inference.post(path).send().await?.expect_error(
                404,
                "ResourceNotFoundException",
                NOT_FOUND_MSG,
            )?;
        }
        Ok(())
    })
    .await;
    s.check("INF-5.2-03", async {
        infer_json(s, "tsc_nope", &json!(1)).await?.expect_error(
            404,
            "ModelNotFoundException",
            "Model not found: tsc_nope",
        )
    })
    .await;
    s.check("INF-5.2-04", async {
        infer_json(s, &format!("{ECHO}/9.9"), &json!(1))
            .await?
            .expect_error(
                404,
                "ModelVersionNotFoundException",
                &format!("Model version: 9.9 does not exist for model: {ECHO}"),
            )
    })
    .await;
    s.check("INF-5.2-05", async {
        infer_json(s, IDLE, &json!(1)).await?.expect_error(
            503,
            "ServiceUnavailableException",
            &no_worker_msg(IDLE),
        )
    })
    .await;
    s.check("INF-5.2-06", async {
        let resp = infer_json(s, &format!("{IDLE}/1.0"), &json!(1)).await?;
        let expected = no_worker_msg(IDLE).replace(
            &format!("Model \"{IDLE}\""),
            &format!("Model \"{IDLE}\" Version 1.0\""),
        );
        resp.expect_error(503, "ServiceUnavailableException", &expected)
    })
    .await;
    s.check("INF-5.2-11", async {
        let big = vec![b'x'; 6_553_501];
        let resp = s
            .inference
            .post(&format!("/predictions/{ECHO}"))
            .body(Some("application/octet-stream"), big)
            .send()
            .await?;
        resp.expect_status(413)
    })
    .await;
    s.check("INF-5.1-02", async {
        let resp = s.inference.get("/ping").send().await?;
        resp.expect_status_message(200, "Healthy")
    })
    .await;
}

/// The echo fixture's answer for one request.
async fn echo(
    s: &Session,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(crate::client::Resp, Value), crate::harness::Failure> {
    let mut req = s.inference.request(method, path);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await?;
    let v = ok_json(&resp)?;
    Ok((resp, v))
}

async fn handler_routes(s: &Session) {
    s.check("INF-5.2-07", async {
        for method in [Method::POST, Method::PUT, Method::GET] {
            let (resp, v) = echo(
                s,
                method.clone(),
                &format!("/predictions/{ECHO}"),
                Some(&json!({"m": method.as_str()})),
            )
            .await?;
            ensure!(
                v["model_name"] == ECHO && v["values"]["body"]["m"] == method.as_str(),
                resp,
                "{method} did not reach the handler with its body"
            );
        }
        Ok(())
    })
    .await;
    s.check("INF-5.2-08", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/predictions/{ECHO}/1.0"),
            Some(&json!(1)),
        )
        .await?;
        ensure!(
            v["manifest"]["model"]["modelVersion"] == "1.0",
            resp,
            "version 1.0 should have answered"
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-09", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/predictions/{ECHO}/1.0/a/b"),
            Some(&json!(1)),
        )
        .await?;
        ensure!(
            v["headers"]["url_path"] == "a/b",
            resp,
            "url_path should be \"a/b\""
        );
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/predictions/{ECHO}"),
            Some(&json!(1)),
        )
        .await?;
        ensure!(
            v["headers"]["url_path"] == "",
            resp,
            "url_path should be \"\" without extra segments"
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-10", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/explanations/{ECHO}"),
            Some(&json!(1)),
        )
        .await?;
        ensure!(
            v["headers"]["explain"] == "True",
            resp,
            "explain should be \"True\" on /explanations"
        );
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/predictions/{ECHO}"),
            Some(&json!(1)),
        )
        .await?;
        ensure!(
            v["headers"]["explain"] == "False",
            resp,
            "explain should be \"False\" on /predictions"
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-12", async {
        let resp = s
            .inference
            .post(&format!("/{ECHO}/predict?q=1&r=two"))
            .text("x")
            .send()
            .await?;
        let v = ok_json(&resp)?;
        ensure!(
            echo_bytes(&v["values"]["q"]).as_deref() == Some(b"1".as_slice())
                && echo_bytes(&v["values"]["r"]).as_deref() == Some(b"two".as_slice())
                && v["values"]["body"] == "x",
            resp,
            "the handler should see q=1 and r=two as byte parameters beside the body"
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-13", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/v1/models/{ECHO}:predict"),
            Some(&json!({"instances": [1, 2]})),
        )
        .await?;
        ensure!(
            v["values"]["body"] == json!({"instances": [1, 2]}),
            resp,
            "the JSON body should reach the handler as data[0][\"body\"]"
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-14", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/v2/models/{ECHO}/infer"),
            Some(&json!({"inputs": []})),
        )
        .await?;
        ensure!(
            v["values"]["body"] == json!({"inputs": []}),
            resp,
            "the JSON body should reach the handler as data[0][\"body\"]"
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-18", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/predictions/{ECHO}"),
            Some(&json!(1)),
        )
        .await?;
        let header = resp.header("x-request-id").unwrap_or_default();
        ensure!(
            v["request_id"] == header,
            resp,
            "context request id {} differs from x-request-id {header:?}",
            v["request_id"]
        );
        Ok(())
    })
    .await;
    s.check("INF-5.2-19", async {
        let (resp, v) = echo(
            s,
            Method::POST,
            &format!("/predictions/{ECHO}?q=1"),
            Some(&json!(1)),
        )
        .await?;
        ensure!(
            v["keys"] == json!(["body"]),
            resp,
            "only \"body\" should reach the handler, got {}",
            v["keys"]
        );
        Ok(())
    })
    .await;
}

fn is_openapi(resp: &crate::client::Resp) -> crate::harness::CheckResult {
    let v = ok_json(resp)?;
    ensure!(
        v["openapi"].as_str().is_some_and(|o| o.starts_with("3.")),
        resp,
        "no \"openapi\": \"3.x\" key"
    );
    ensure!(v["paths"].is_object(), resp, "no paths object");
    Ok(())
}

async fn docs_and_metrics(s: &Session) {
    s.check("INF-5.2-15", async {
        is_openapi(&s.inference.request(Method::OPTIONS, "/").send().await?)
    })
    .await;
    s.check("INF-5.2-16", async {
        is_openapi(&s.inference.get("/api-description").send().await?)
    })
    .await;
    s.check("INF-5.2-17", async {
        is_openapi(
            &s.inference
                .request(Method::OPTIONS, &format!("/predictions/{ECHO}"))
                .send()
                .await?,
        )
    })
    .await;
    s.check("MGMT-4.7-02", async {
        is_openapi(&s.management.request(Method::OPTIONS, "/").send().await?)
    })
    .await;
    s.check("INF-5.3-01", async {
        let resp = s.metrics.get("/metrics").send().await?;
        resp.expect_status(200)?;
        let ct = resp.header("content-type").unwrap_or_default();
        ensure!(
            ct.starts_with("text/plain") && ct.contains("version=0.0.4"),
            resp,
            "Content-Type should be text/plain; version=0.0.4, got {ct:?}"
        );
        for line in resp
            .text()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            ensure!(
                line.split_whitespace().count() >= 2,
                resp,
                "not an exposition-format sample line: {line:?}"
            );
        }
        Ok(())
    })
    .await;
    s.check("INF-5.3-02", async {
        let resp = s
            .metrics
            .get("/metrics?name[]=ts_inference_requests_total")
            .send()
            .await?;
        resp.expect_status(200)?;
        for line in resp
            .text()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            ensure!(
                line.starts_with("ts_inference_requests_total"),
                resp,
                "the filter let through {line:?}"
            );
        }
        Ok(())
    })
    .await;
    s.check("MGMT-4.7-01", async {
        let resp = s
            .management
            .get(&format!("/v1/models/{ECHO}"))
            .send()
            .await?;
        let v = ok_json(&resp)?;
        ensure!(
            v == json!({"name": ECHO, "ready": true}),
            resp,
            "expected {{\"name\": \"{ECHO}\", \"ready\": true}}"
        );
        let resp = s.management.get("/v1/models/tsc_nope").send().await?;
        resp.expect_error(404, "ModelNotFoundException", "Model not found: tsc_nope")?;
        Ok(())
    })
    .await;
}
