//! Contract §1.1, §1.2 and §1.5: what the server loads and what it refuses, including
//! archives `mar check` judges (a property test compares the two verdicts).
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::LocalBoxFuture;
use handlers_fixtures::{ArchiveFormat, BuildOptions, ConfigChoice};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::common::*;
use crate::ensure;
use crate::harness::property::for_all;
use crate::harness::{
    CheckResult, CheckSpec, Failure, Group::Archives as G, Need, Session, must, should,
};

pub const CHECKS: &[CheckSpec] = &[
    must("ARC-1.1-01", G, "A default (deflated zip) .mar loads and serves"),
    must("ARC-1.1-02", G, "A zip-store (stored zip) .mar loads and serves"),
    must("ARC-1.1-03", G, "A tgz archive (.tar.gz with a root folder) loads and serves"),
    must("ARC-1.1-04", G, "A no-archive folder in the model store loads and serves").needs(&[Need::ModelApi, Need::ModelStore]),
    should("ARC-1.1-05", G, "A zip without MANIFEST.json loads given model_name and handler; context.manifest is None"),
    must("ARC-1.2-01", G, "A manifest with an unknown runtime answers 400 InvalidModelException \"Runtime is not defined or invalid.\""),
    must("ARC-1.2-02", G, "A manifest without modelName, registered without model_name, answers 400 \"Model name is not defined.\""),
    must("ARC-1.2-03", G, "A manifest without modelVersion registers as version 1.0"),
    should("ARC-1.2-04", G, "A manifest without createdOn, archiverVersion and runtime registers with runtime python"),
    must("ARC-1.2-05", G, "The register runtime parameter overrides the manifest (describe shows python3)"),
    should("ARC-1.2-06", G, "A zip without MANIFEST.json and without model_name answers 400 InvalidModelException")
        .note("TorchServe 0.12 answers \"Model name is not defined.\"; it does not fall back to the file name"),
    should("ARC-1.2-07", G, "A .mar that is not a zip, without model_name, answers 400 InvalidModelException"),
    must("ARC-1.5-01", G, "A yaml minWorkers without maxWorkers is ignored: initial_workers=0 starts no worker"),
    should("ARC-1.5-02", G, "A yaml value of the wrong type is ignored (batchSize \"abc\" → 1)"),
    should("ARC-1.5-03", G, "A yaml deviceIds list with a non-int element is dropped"),
    should("ARC-1.5-04", G, "A negative yaml maxBatchDelay is ignored (→ 100)"),
    must("ARC-1.1-06", G, "Property: random archives — the server loads what `mar check` accepts and refuses what it rejects")
        .note("proptest over names, versions, extra files, yaml and manifest faults; --proptest-cases inputs"),
];

pub fn run(s: &Session) -> LocalBoxFuture<'_, anyhow::Result<()>> {
    Box::pin(body(s))
}

/// Writes a zip of `entries` (deflated, or stored when `stored`).
fn write_zip(path: &Path, entries: &[(String, Vec<u8>)], stored: bool) -> anyhow::Result<()> {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path)?);
    let method = if stored {
        zip::CompressionMethod::Stored
    } else {
        zip::CompressionMethod::Deflated
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), opts)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    Ok(())
}

fn echo_source() -> Vec<u8> {
    handlers_fixtures::get("echo")
        .ok()
        .and_then(|f| f.file("echo.py"))
        .unwrap_or_default()
        .to_vec()
}

/// A zip holding echo.py and, when given, this manifest.
fn echo_zip(s: &Session, file: &str, manifest: Option<Value>) -> anyhow::Result<String> {
    let dir = s.scratch_dir()?;
    let path = dir.join(file);
    let mut entries = vec![("echo.py".to_owned(), echo_source())];
    if let Some(m) = manifest {
        entries.push((
            "MAR-INF/MANIFEST.json".to_owned(),
            serde_json::to_vec_pretty(&m)?,
        ));
    }
    write_zip(&path, &entries, false)?;
    s.publish(&path, file)
}

/// Registers with one worker and checks the echo answers.
async fn loads(
    s: &Session,
    url: &str,
    model: &str,
    extra: &[(&str, &str)],
) -> Result<Value, Failure> {
    let mut params = vec![("initial_workers", "1"), ("synchronous", "true")];
    params.extend_from_slice(extra);
    let r = register(s, url, &params).await?;
    r.expect_status(200)?;
    let resp = infer_json(s, model, &json!({"ping": 1})).await?;
    let v = ok_json(&resp)?;
    ensure!(
        v["values"]["body"] == json!({"ping": 1}),
        resp,
        "the echo handler should answer"
    );
    Ok(v)
}

fn format_opts(model: &str, format: ArchiveFormat) -> BuildOptions {
    BuildOptions {
        model_name: Some(model.into()),
        format,
        config: ConfigChoice::None,
        ..Default::default()
    }
}

async fn yaml_model(s: &Session, model: &str, yaml: &str) -> Result<Value, Failure> {
    let opts = BuildOptions {
        model_name: Some(model.into()),
        config: ConfigChoice::Yaml(yaml.into()),
        ..Default::default()
    };
    let url = s.fixture_url("echo", &opts, &format!("{model}.mar"))?;
    register(s, &url, &[("initial_workers", "0")])
        .await?
        .expect_status(200)?;
    Ok(describe(s, model).await?.remove(0))
}

async fn body(s: &Session) -> anyhow::Result<()> {
    let invalid = "InvalidModelException";
    tokio::join!(
        s.check("ARC-1.1-01", async {
            let url = s.fixture_url(
                "echo",
                &format_opts("arc_zip", ArchiveFormat::Default),
                "arc_zip.mar",
            )?;
            loads(s, &url, "arc_zip", &[]).await.map(|_| ())
        }),
        s.check("ARC-1.1-02", async {
            let url = s.fixture_url(
                "echo",
                &format_opts("arc_store", ArchiveFormat::ZipStore),
                "arc_store.mar",
            )?;
            loads(s, &url, "arc_store", &[]).await.map(|_| ())
        }),
        s.check("ARC-1.1-03", async {
            let url = s.fixture_url(
                "echo",
                &format_opts("arc_tgz", ArchiveFormat::Tgz),
                "arc_tgz.tar.gz",
            )?;
            loads(s, &url, "arc_tgz", &[]).await.map(|_| ())
        }),
        s.check("ARC-1.1-04", async {
            let url = s.fixture_url(
                "echo",
                &format_opts("arc_dir", ArchiveFormat::NoArchive),
                "arc_dir",
            )?;
            loads(s, &url, "arc_dir", &[]).await.map(|_| ())
        }),
    );
    tokio::join!(
        s.check("ARC-1.1-05", async {
            let url = echo_zip(s, "arc_nomanifest.mar", None)?;
            let v = loads(s, &url, "arc_nomanifest", &[("model_name", "arc_nomanifest"), ("handler", "echo.py")]).await?;
            if !v["manifest"].is_null() {
                crate::fail!("context.manifest should be None without MANIFEST.json, got {}", v["manifest"]);
            }
            Ok(())
        }),
        s.check("ARC-1.2-01", async {
            let url = echo_zip(s, "arc_badruntime.mar", Some(json!({"runtime": "java", "model": {"modelName": "arc_badruntime", "handler": "echo.py", "modelVersion": "1.0"}})))?;
            register(s, &url, &[]).await?.expect_error(400, invalid, "Runtime is not defined or invalid.")
        }),
        s.check("ARC-1.2-02", async {
            let url = echo_zip(s, "arc_noname.mar", Some(json!({"runtime": "python", "model": {"handler": "echo.py", "modelVersion": "1.0"}})))?;
            register(s, &url, &[]).await?.expect_error(400, invalid, "Model name is not defined.")
        }),
        s.check("ARC-1.2-03", async {
            let url = echo_zip(s, "arc_noversion.mar", Some(json!({"runtime": "python", "model": {"modelName": "arc_noversion", "handler": "echo.py"}})))?;
            let r = register(s, &url, &[]).await?;
            r.expect_status(200)?;
            let d = describe(s, "arc_noversion").await?;
            ensure!(d[0]["modelVersion"] == "1.0", r, "modelVersion should default to 1.0, got {}", d[0]["modelVersion"]);
            Ok(())
        }),
        s.check("ARC-1.2-04", async {
            let url = echo_zip(s, "arc_minimal.mar", Some(json!({"model": {"modelName": "arc_minimal", "handler": "echo.py", "modelVersion": "1.0"}})))?;
            let r = register(s, &url, &[]).await?;
            r.expect_status(200)?;
            let d = describe(s, "arc_minimal").await?;
            ensure!(d[0]["runtime"] == "python", r, "runtime should default to python, got {}", d[0]["runtime"]);
            Ok(())
        }),
        s.check("ARC-1.2-05", async {
            let url = s.fixture_url("echo", &format_opts("arc_py3", ArchiveFormat::Default), "arc_py3.mar")?;
            let r = register(s, &url, &[("runtime", "python3")]).await?;
            r.expect_status(200)?;
            let d = describe(s, "arc_py3").await?;
            ensure!(d[0]["runtime"] == "python3", r, "runtime should be python3, got {}", d[0]["runtime"]);
            Ok(())
        }),
        s.check("ARC-1.2-06", async {
            let url = echo_zip(s, "arc_anon.mar", None)?;
            let r = register(s, &url, &[]).await?;
            r.expect_error_with(400, invalid, |_| true, "any message")
        }),
        s.check("ARC-1.2-07", async {
            let dir = s.scratch_dir()?;
            let path = dir.join("arc_garbage.mar");
            std::fs::write(&path, b"this is not a zip archive").map_err(anyhow::Error::from)?;
            let url = s.publish(&path, "arc_garbage.mar")?;
            register(s, &url, &[]).await?.expect_error_with(400, invalid, |_| true, "any message")
        }),
    );
    tokio::join!(
        s.check("ARC-1.5-01", async {
            let d = yaml_model(s, "arc_minonly", "minWorkers: 2\n").await?;
            let n = d["workers"].as_array().map_or(0, Vec::len);
            if n != 0 || d["minWorkers"] != 0 {
                crate::fail!("minWorkers without maxWorkers should be ignored: {n} workers, minWorkers {}", d["minWorkers"]);
            }
            Ok(())
        }),
        s.check("ARC-1.5-02", async {
            let d = yaml_model(s, "arc_badtype", "batchSize: abc\nmaxBatchDelay: 40\n").await?;
            if d["batchSize"] != 1 || d["maxBatchDelay"] != 40 {
                crate::fail!("batchSize \"abc\" should be ignored (1) while maxBatchDelay 40 applies: {} / {}", d["batchSize"], d["maxBatchDelay"]);
            }
            Ok(())
        }),
        s.check("ARC-1.5-03", async {
            let d = yaml_model(s, "arc_badids", "deviceIds: [0, x]\n").await?;
            if d.get("deviceIds").is_some() {
                crate::fail!("deviceIds with a non-int element should be dropped, describe shows {}", d["deviceIds"]);
            }
            Ok(())
        }),
        s.check("ARC-1.5-04", async {
            let d = yaml_model(s, "arc_negdelay", "maxBatchDelay: -5\n").await?;
            if d["maxBatchDelay"] != 100 {
                crate::fail!("a negative maxBatchDelay should be ignored (100), got {}", d["maxBatchDelay"]);
            }
            Ok(())
        }),
    );
    s.check("ARC-1.1-06", async { random_archives(s).await })
        .await;
    Ok(())
}

/// A manifest fault the property test may inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    BadRuntime,
    NoModelName,
    NoManifest,
    NoHandlerFile,
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    version: String,
    extra: Vec<(String, Vec<u8>)>,
    batch_size: Option<u8>,
    stored: bool,
    fault: Fault,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let fault = prop_oneof![
        4 => Just(Fault::None),
        1 => Just(Fault::BadRuntime),
        1 => Just(Fault::NoModelName),
        1 => Just(Fault::NoManifest),
        1 => Just(Fault::NoHandlerFile),
    ];
    (
        "[a-z][a-z0-9_]{0,10}",
        prop_oneof![
            Just("1.0".to_owned()),
            Just("2.5".to_owned()),
            Just("0.1.2".to_owned())
        ],
        proptest::collection::vec(
            (
                "[a-z]{1,8}\\.(txt|json|bin)",
                proptest::collection::vec(any::<u8>(), 0..64),
            ),
            0..4,
        ),
        proptest::option::of(1u8..8),
        any::<bool>(),
        fault,
    )
        .prop_map(|(name, version, extra, batch_size, stored, fault)| Case {
            name,
            version,
            extra,
            batch_size,
            stored,
            fault,
        })
}

static CASE_NO: AtomicUsize = AtomicUsize::new(0);

async fn random_archives(s: &Session) -> CheckResult {
    for_all(s.proptest_cases, case_strategy(), |case| async move {
        // Distinct per run of the body: shrinking reruns inputs.
        let model = format!("arcp_{}_{}", case.name, CASE_NO.fetch_add(1, Ordering::Relaxed));
        let dir = s.scratch_dir()?;
        let file = format!("{model}.mar");
        let path = dir.join(&file);
        let mut entries: Vec<(String, Vec<u8>)> = case.extra.iter().filter(|(n, _)| n != "echo.py").cloned().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        if case.fault != Fault::NoHandlerFile {
            entries.push(("echo.py".into(), echo_source()));
        }
        let mut model_info = json!({"modelName": model, "handler": "echo.py", "modelVersion": case.version});
        if let Some(b) = case.batch_size {
            entries.push(("model-config.yaml".into(), format!("batchSize: {b}\nmaxBatchDelay: 20\n").into_bytes()));
            model_info["configFile"] = json!("model-config.yaml");
        }
        let mut manifest = json!({"createdOn": "01/01/2026 00:00:00", "runtime": "python", "model": model_info, "archiverVersion": "0.12.0"});
        match case.fault {
            Fault::BadRuntime => manifest["runtime"] = json!("java"),
            Fault::NoModelName => {
                if let Some(m) = manifest["model"].as_object_mut() {
                    m.remove("modelName");
                }
            }
            _ => {}
        }
        if case.fault != Fault::NoManifest {
            entries.push(("MAR-INF/MANIFEST.json".into(), serde_json::to_vec_pretty(&manifest).map_err(anyhow::Error::from)?));
        }
        write_zip(&path, &entries, case.stored)?;
        let report = mar::check::check_path(&path);
        let url = s.publish(&path, &file)?;
        let r = register(s, &url, &[("initial_workers", "1"), ("synchronous", "true")]).await?;
        let served = if r.status == 200 {
            let resp = infer_json(s, &model, &json!({"n": 1})).await?;
            resp.status == 200 && resp.json().is_ok_and(|v| v["values"]["body"] == json!({"n": 1}))
        } else {
            false
        };
        let _ = unregister(s, &model).await;
        if report.has_errors() {
            ensure!(!served, r, "mar check rejects the archive ({:?}) but the server loaded and served it", report.codes());
        } else {
            ensure!(served, r, "mar check accepts the archive but the server did not load and serve it (register answered {})", r.status);
        }
        Ok(())
    })
    .await
}
