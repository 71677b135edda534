//! Contract §3: the Context object as the handler sees it.
use futures_util::future::LocalBoxFuture;
use handlers_fixtures::{BuildOptions, ConfigChoice};
use serde_json::{Value, json};

use super::common::*;
use crate::client::Resp;
use crate::harness::{CheckSpec, Failure, Group::Context as G, Session, must, should};
use crate::{ensure, raw};

pub const CHECKS: &[CheckSpec] = &[
    must(
        "CTX-3-01",
        G,
        "system_properties has exactly model_dir, gpu_id, batch_size, server_name, server_version, limit_max_image_pixels",
    ),
    must("CTX-3-02", G, "system_properties server_name is \"MMS\""),
    must(
        "CTX-3-03",
        G,
        "system_properties batch_size is an int equal to describe's batchSize",
    ),
    must(
        "CTX-3-04",
        G,
        "model_dir is an absolute path and the worker's current directory",
    ),
    must("CTX-3-05", G, "limit_max_image_pixels is true by default"),
    should("CTX-3-06", G, "server_version is a non-empty string"),
    must(
        "CTX-3-07",
        G,
        "context.manifest is the archive's MANIFEST.json",
    ),
    must(
        "CTX-3-08",
        G,
        "context.model_yaml_config is the model-config.yaml as a dict",
    ),
    must(
        "CTX-3-09",
        G,
        "context.model_yaml_config is {} when the archive has no config file",
    ),
    must(
        "CTX-3-10",
        G,
        "context.model_name is the registered name, even when it overrides the manifest's",
    ),
    must(
        "CTX-3-11",
        G,
        "Request header names reach get_request_header spelled exactly as the client sent them",
    ),
    must(
        "CTX-3-12",
        G,
        "The header map holds each parameter's {\"content-type\": ...} and the explain and url_path entries",
    ),
    must("CTX-3-13", G, "The model dir is on sys.path"),
    must(
        "CTX-3-14",
        G,
        "request_ids maps batch index 0 to the request id for a single request",
    ),
    must("CTX-3-15", G, "Each request gets its own request id"),
    should(
        "CTX-3-16",
        G,
        "A customized describe reaches the handler with header describe=True and one empty request",
    ),
];

const ECHO: &str = "ctx_echo";
const PLAIN: &str = "ctx_plain";

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

async fn echo(s: &Session, model: &str) -> Result<(Resp, Value), Failure> {
    let resp = infer_json(s, model, &json!({"x": 1})).await?;
    let v = ok_json(&resp)?;
    Ok((resp, v))
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let built = s.build(
        "echo",
        &BuildOptions {
            model_name: Some(ECHO.into()),
            ..Default::default()
        },
    )?;
    let mut archive = mar::archive::Archive::open(&built)?;
    let manifest: Value =
        serde_json::from_slice(&archive.read("MAR-INF/MANIFEST.json")?.unwrap_or_default())?;
    let url = s.publish(&built, "ctx_echo.mar")?;
    register_ok(
        s,
        &url,
        &[
            ("model_name", ECHO),
            ("initial_workers", "1"),
            ("synchronous", "true"),
        ],
    )
    .await?;
    let plain = BuildOptions {
        model_name: Some("ctx_plain_in_manifest".into()),
        config: ConfigChoice::None,
        ..Default::default()
    };
    let plain_url = s.fixture_url("echo", &plain, "ctx_plain.mar")?;
    register_ok(
        s,
        &plain_url,
        &[
            ("model_name", PLAIN),
            ("initial_workers", "1"),
            ("synchronous", "true"),
        ],
    )
    .await?;

    let (r, v) = echo(s, ECHO).await?;
    let sp = &v["system_properties"];
    s.check("CTX-3-01", async {
        let mut keys: Vec<&str> = sp
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort();
        ensure!(
            keys == [
                "batch_size",
                "gpu_id",
                "limit_max_image_pixels",
                "model_dir",
                "server_name",
                "server_version"
            ],
            r,
            "system_properties keys: {keys:?}"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-02", async {
        ensure!(
            sp["server_name"] == "MMS",
            r,
            "server_name should be \"MMS\""
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-03", async {
        let d = describe(s, ECHO).await?;
        ensure!(
            sp["batch_size"].is_i64() && sp["batch_size"] == d[0]["batchSize"],
            r,
            "batch_size {} vs describe {}",
            sp["batch_size"],
            d[0]["batchSize"]
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-04", async {
        let dir = sp["model_dir"].as_str().unwrap_or_default();
        ensure!(
            dir.starts_with('/'),
            r,
            "model_dir should be absolute: {dir:?}"
        );
        ensure!(
            v["cwd"] == dir
                || v["cwd"]
                    .as_str()
                    .is_some_and(|c| std::path::Path::new(c) == std::path::Path::new(dir)),
            r,
            "cwd {} is not model_dir",
            v["cwd"]
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-05", async {
        ensure!(
            sp["limit_max_image_pixels"] == true,
            r,
            "limit_max_image_pixels should be true"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-06", async {
        ensure!(
            sp["server_version"].as_str().is_some_and(|t| !t.is_empty()),
            r,
            "server_version should be a non-empty string"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-07", async {
        ensure!(
            v["manifest"] == manifest,
            r,
            "context.manifest should equal the archive's MANIFEST.json {manifest}"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-08", async {
        let want =
            json!({"responseTimeout": 60, "handler": {"greeting": "hello", "numbers": [1, 2, 3]}});
        ensure!(
            v["model_yaml_config"] == want,
            r,
            "model_yaml_config should be {want}"
        );
        Ok(())
    })
    .await;
    let plain = echo(s, PLAIN).await;
    s.check("CTX-3-09", async {
        let (r, v) = plain.clone()?;
        ensure!(
            v["model_yaml_config"] == json!({}),
            r,
            "model_yaml_config should be {{}}, got {}",
            v["model_yaml_config"]
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-10", async {
        let (r, v) = plain.clone()?;
        ensure!(
            v["model_name"] == PLAIN,
            r,
            "model_name should be {PLAIN}, got {}",
            v["model_name"]
        );
        ensure!(
            v["manifest"]["model"]["modelName"] == "ctx_plain_in_manifest",
            r,
            "the manifest itself keeps its name"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-11", async {
        let request = format!(
            "POST /predictions/{ECHO} HTTP/1.1\r\nHost: {}\r\nX-MiXeD-Case: Value-1\r\nx-lower: v2\r\n{}Content-Length: 0\r\n\r\n",
            s.inference.authority(),
            s.inference.key().map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default()
        );
        let raw = raw::send(s.inference.authority(), request.as_bytes()).await?;
        ensure!(raw.status == 200, raw, "expected 200");
        let v: Value = serde_json::from_slice(&raw.body).map_err(|e| Failure::with_exchange(format!("not JSON: {e}"), raw.exchange()))?;
        ensure!(v["headers"]["X-MiXeD-Case"] == "Value-1", raw, "header X-MiXeD-Case should arrive with its spelling");
        ensure!(v["headers"]["x-lower"] == "v2", raw, "header x-lower should arrive with its spelling");
        Ok(())
    })
    .await;
    s.check("CTX-3-12", async {
        let h = &v["headers"];
        ensure!(
            h["body"] == json!({"content-type": "application/json"}),
            r,
            "headers[\"body\"] should be {{\"content-type\": \"application/json\"}}"
        );
        ensure!(
            h["explain"] == "False" && h["url_path"] == "",
            r,
            "explain and url_path entries missing"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-13", async {
        ensure!(
            v["sys_path_has_model_dir"] == true,
            r,
            "the model dir is not on sys.path"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-14", async {
        ensure!(
            v["request_ids"] == json!({"0": v["request_id"]}),
            r,
            "request_ids should be {{0: request_id}}"
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-15", async {
        let (r2, v2) = echo(s, ECHO).await?;
        ensure!(
            v2["request_id"].is_string() && v2["request_id"] != v["request_id"],
            r2,
            "two requests share request id {}",
            v["request_id"]
        );
        Ok(())
    })
    .await;
    s.check("CTX-3-16", async {
        let resp = s
            .management
            .get(&format!("/models/{ECHO}?customized=true"))
            .send()
            .await?;
        let d = ok_json(&resp)?;
        let meta = match &d[0]["customizedMetadata"] {
            Value::String(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            other => other.clone(),
        };
        ensure!(
            meta["headers"]["describe"] == "True",
            resp,
            "the handler should see header describe=True"
        );
        ensure!(
            meta["len_data"] == 1 && meta["keys"] == json!([]),
            resp,
            "a describe request is one request without parameters"
        );
        Ok(())
    })
    .await;
    Ok(())
}
