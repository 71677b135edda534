//! With TorchServe's own `ts` package (and torch) importable through VIRTUAL_ENV: the real
//! package takes precedence over the bundled copy, and handlers written against it still work.
//! Skipped, loudly, when the TorchServe venv is not installed.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;
use worker_protocol::{BatchKind, MetricKind};

/// A worker started with VIRTUAL_ENV pointing at the TorchServe venv, or None (skip).
fn venv_worker(test: &str, dir: &Path) -> anyhow::Result<Option<Worker>> {
    let Some(venv) = torchserve_venv() else {
        skip(
            test,
            "TorchServe venv not found (set TORCHSERVE_VENV or install it under ~/.cache/torchserve-0.12/venv)",
        );
        return Ok(None);
    };
    Ok(Some(Worker::spawn(Spawn {
        cwd: dir,
        env: vec![("VIRTUAL_ENV", venv.display().to_string())],
    })?))
}

#[test]
fn the_real_ts_package_takes_precedence() -> anyhow::Result<()> {
    let dir = fixture("context_api");
    let Some(mut w) = venv_worker("the_real_ts_package_takes_precedence", &dir)? else {
        return Ok(());
    };
    assert_eq!(w.load(&dir, "context_api")?.code, 200);
    let r = w.predict(vec![body("a", "", b"x")])?;
    let v = json_of(&r.responses[0].body);
    assert_eq!(v["bundled_ts"], false);
    assert_eq!(v["context_module"], "ts.context");
    let venv_python = torchserve_venv().unwrap().join("bin/python");
    assert_eq!(
        v["sys_executable"],
        venv_python.display().to_string(),
        "subprocesses run the venv's python"
    );
    assert_eq!(
        (r.responses[0].status, r.responses[0].phrase.as_str()),
        (201, "Made 0")
    );
    Ok(())
}

#[test]
fn prediction_exception_and_metrics_from_the_real_package() -> anyhow::Result<()> {
    let dir = fixture("errors");
    let Some(mut w) = venv_worker(
        "prediction_exception_and_metrics_from_the_real_package",
        &dir,
    )?
    else {
        return Ok(());
    };
    assert_eq!(w.load(&dir, "errors")?.code, 200);
    let r = w.predict(vec![json_body(
        "e",
        json!({"mode": "prediction", "code": 409, "message": "taken"}),
    )])?;
    assert_eq!((r.code, r.message.as_str()), (409, "taken"));

    let dir = fixture("metrics_emitter");
    let mut w = venv_worker("", &dir)?.unwrap();
    assert_eq!(w.load(&dir, "metrics_emitter")?.code, 200);
    let r = w.predict(vec![body("m", "", b"")])?;
    let kinds: Vec<_> = r
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.kind))
        .collect();
    assert_eq!(
        kinds[4],
        ("Latency", MetricKind::Histogram),
        "the real MetricTypes enum is understood"
    );
    Ok(())
}

#[test]
fn streaming_through_the_real_packages_helper() -> anyhow::Result<()> {
    let dir = fixture("streaming");
    let Some(mut w) = venv_worker("streaming_through_the_real_packages_helper", &dir)? else {
        return Ok(());
    };
    assert_eq!(w.load(&dir, "streaming")?.code, 200);
    let (intermediate, last) = w.batch(
        BatchKind::Predict,
        vec![json_body("s", json!({"chunks": 3}))],
    )?;
    assert_eq!(intermediate.len(), 2, "final: {last:?}\n{}", w.output());
    for (i, chunk) in intermediate.iter().enumerate() {
        assert_eq!(chunk.code, 200);
        assert_eq!(chunk.responses[0].request_id, "s");
        assert_eq!(chunk.responses[0].body, format!("chunk{i};").into_bytes());
        assert_eq!(
            chunk.responses[0].headers,
            vec![("ts_stream_next".to_owned(), "true".to_owned())]
        );
    }
    assert_eq!(last.responses[0].body, b"chunk2;");
    assert_eq!(
        last.responses[0].headers,
        vec![("ts_stream_next".to_owned(), "false".to_owned())]
    );
    Ok(())
}

#[test]
fn tensors_are_sent_as_torch_save_bytes() -> anyhow::Result<()> {
    let dir = fixture("tensor_output");
    let Some(mut w) = venv_worker("tensors_are_sent_as_torch_save_bytes", &dir)? else {
        return Ok(());
    };
    assert_eq!(w.load(&dir, "tensor_output")?.code, 200);
    let r = w.predict(vec![body("a", "", b""), body("b", "", b"")])?;
    assert_eq!(r.code, 200, "{r:?}");
    // read them back with torch itself
    let tmp = tempfile::tempdir()?;
    for (i, resp) in r.responses.iter().enumerate() {
        let file = tmp.path().join(format!("t{i}.pt"));
        std::fs::write(&file, &resp.body)?;
        let out = std::process::Command::new(torchserve_venv().unwrap().join("bin/python"))
            .arg("-c")
            .arg("import sys, torch; print(torch.load(sys.argv[1]).tolist())")
            .arg(&file)
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = format!("{:?}\n", (0..i + 3).collect::<Vec<_>>());
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }
    Ok(())
}

#[test]
fn builtin_handler_names_load_from_the_real_package() -> anyhow::Result<()> {
    // no model file: the built-in handler is found and fails in its own initialize
    let dir = tempfile::tempdir()?;
    let Some(mut w) = venv_worker(
        "builtin_handler_names_load_from_the_real_package",
        dir.path(),
    )?
    else {
        return Ok(());
    };
    let reply = w.load(dir.path(), "image_classifier")?;
    assert_eq!(reply.code, 500);
    assert!(
        reply.detail.contains("ts/torch_handler/"),
        "{}",
        reply.detail
    );
    assert!(
        !reply.message.contains("'torchserve'"),
        "the package is there: {}",
        reply.message
    );
    Ok(())
}

#[test]
fn request_envelopes_wrap_the_entry_point() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("doubler.py"),
        "def handle(data, context):\n    return None if data is None else [x * 2 for x in data]\n",
    )?;
    let Some(mut w) = venv_worker("request_envelopes_wrap_the_entry_point", dir.path())? else {
        return Ok(());
    };
    let mut req = load_request(dir.path(), "doubler");
    req.envelope = "json".into();
    assert_eq!(w.load_with(req)?.code, 200);
    let r = w.predict(vec![json_body("a", json!({"instances": [1, 2, 3]}))])?;
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(
        json_of(&r.responses[0].body),
        json!({"predictions": [2, 4, 6]})
    );
    Ok(())
}
