//! Loading handlers by TorchServe's rules (contract 1.4), and load failures: each one reaches
//! the server with its one-line cause and full Python traceback, then the worker exits non-zero.

mod common;

use std::time::Duration;

use common::*;
use worker_protocol::{BatchKind, Frame, LoadReply, MetricKind, PROTOCOL_VERSION, PredictRequest};

#[test]
fn hello_then_function_entry_point_initialised_once() -> anyhow::Result<()> {
    let dir = fixture("fn_entry");
    let mut w = Worker::start(&dir)?;
    assert_eq!(w.hello.version, PROTOCOL_VERSION);
    assert_eq!(w.hello.pid, w.pid());
    assert!(w.hello.python_version.starts_with("3."), "{:?}", w.hello);
    assert_eq!(w.hello.worker_version, env!("CARGO_PKG_VERSION"));
    let reply = w.load(&dir, "fn_entry:predict")?;
    assert_eq!(
        (reply.code, reply.message.as_str(), reply.detail.as_str()),
        (200, "loaded model test", "")
    );
    for _ in 0..2 {
        let r = w.predict(vec![body("a", "", b"x")])?;
        assert_eq!(r.code, 200, "{r:?}");
        let v = json_of(&r.responses[0].body);
        assert_eq!(v["entry"], "predict", "the named function, not `handle`");
        assert_eq!(v["init_calls"], 1);
        assert_eq!(v["init_records"][0]["data_is_none"], true);
        assert_eq!(v["init_records"][0]["request_ids_unset"], true);
        assert_eq!(v["init_records"][0]["batch_size"], 4);
    }
    Ok(())
}

#[test]
fn class_entry_point_is_instantiated_and_initialised_once() -> anyhow::Result<()> {
    // the module also imports json.JSONDecoder: imported classes do not count
    let mut w = loaded("init_counter", "init_counter")?;
    for calls in 1..=3 {
        let r = w.predict(vec![body("a", "", b"")])?;
        let v = json_of(&r.responses[0].body);
        assert_eq!(v["init_calls"], 1);
        assert_eq!(v["initialized_before_handle"], true);
        assert_eq!(v["handle_calls"], calls);
        assert_eq!(
            v["gpu_id"],
            serde_json::Value::Null,
            "gpu_id is None on CPU"
        );
        assert_eq!(v["pid"], w.pid());
    }
    Ok(())
}

#[test]
fn handler_in_a_subfolder_with_a_named_function() -> anyhow::Result<()> {
    let dir = fixture("nested_handler");
    let mut w = Worker::start(&dir)?;
    assert_eq!(w.load(&dir, "code/nested_handler.py:infer")?.code, 200);
    let v = json_of(&w.predict(vec![body("a", "", b"")])?.responses[0].body);
    assert_eq!(v["entry"], "infer");
    assert_eq!(
        v["helper"], "hello from helpers",
        "the handler's folder is importable"
    );
    assert_eq!(v["handler_dir_on_path"], true);
    assert_eq!(
        v["cwd"],
        dir.display().to_string(),
        "cwd is the model folder"
    );
    Ok(())
}

#[test]
fn context_carries_the_load_facts() -> anyhow::Result<()> {
    let dir = fixture("echo");
    let mut w = Worker::start(&dir)?;
    let mut req = load_request(&dir, "echo.py");
    req.batch_size = 3;
    req.limit_max_image_pixels = false;
    req.server_version = "9.9.9".into();
    req.model_yaml_config = r#"{"handler": {"greeting": "hello"}, "batchSize": 3}"#.into();
    assert_eq!(w.load_with(req)?.code, 200);
    let v = json_of(&w.predict(vec![body("r", "", b"")])?.responses[0].body);
    assert_eq!(
        v["system_properties"],
        serde_json::json!({
            "model_dir": dir.display().to_string(),
            "gpu_id": null,
            "batch_size": 3,
            "server_name": "MMS",
            "server_version": "9.9.9",
            "limit_max_image_pixels": false,
        })
    );
    assert_eq!(
        v["model_yaml_config"],
        serde_json::json!({"handler": {"greeting": "hello"}, "batchSize": 3})
    );
    assert_eq!(
        v["manifest"],
        serde_json::Value::Null,
        "no MAR-INF/MANIFEST.json in a bare folder"
    );
    assert_eq!(v["init_calls"], 1);
    assert_eq!(v["sys_path_has_model_dir"], true);
    Ok(())
}

#[test]
fn manifest_is_read_and_gpu_id_is_an_int() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(fixture("echo").join("echo.py"), dir.path().join("echo.py"))?;
    std::fs::create_dir(dir.path().join("MAR-INF"))?;
    std::fs::write(
        dir.path().join("MAR-INF/MANIFEST.json"),
        r#"{"runtime": "python", "model": {"modelName": "m"}}"#,
    )?;
    let mut w = Worker::start(dir.path())?;
    let mut req = load_request(dir.path(), "echo");
    req.gpu_id = Some(1);
    assert_eq!(w.load_with(req)?.code, 200);
    let v = json_of(&w.predict(vec![body("r", "", b"")])?.responses[0].body);
    assert_eq!(v["manifest"]["model"]["modelName"], "m");
    assert_eq!(v["system_properties"]["gpu_id"], 1);
    Ok(())
}

#[test]
fn metrics_recorded_in_initialize_come_with_the_load_reply() -> anyhow::Result<()> {
    let dir = fixture("metrics_emitter");
    let mut w = Worker::start(&dir)?;
    let reply = w.load(&dir, "metrics_emitter")?;
    assert_eq!(reply.code, 200, "{reply:?}");
    assert_eq!(reply.metrics.len(), 1, "{:?}", reply.metrics);
    let m = &reply.metrics[0];
    assert_eq!(
        (m.name.as_str(), m.unit.as_str(), m.kind, m.value),
        ("LoadCounter", "Count", MetricKind::Counter, 1.0)
    );
    assert_eq!(
        m.dimensions,
        vec![
            ("Stage".into(), "init".into()),
            ("ModelName".into(), "test".into()),
            ("Level".into(), "Model".into())
        ]
    );
    Ok(())
}

/// Loads `handler` in `dir`, expects a failure reply, then the worker's non-zero exit.
fn failed_load(dir: &std::path::Path, handler: &str) -> anyhow::Result<(LoadReply, Worker)> {
    let mut w = Worker::start(dir)?;
    let reply = w.load(dir, handler)?;
    assert_ne!(reply.code, 200, "{reply:?}");
    let status = w.wait_exit(TIMEOUT)?;
    assert!(
        !status.success(),
        "a worker whose load failed must exit non-zero: {status}"
    );
    assert!(
        w.recv(Duration::from_secs(5))?.is_none(),
        "nothing after the load reply"
    );
    Ok((reply, w))
}

#[test]
fn import_error_reaches_the_caller_with_its_traceback() -> anyhow::Result<()> {
    let (reply, w) = failed_load(&fixture("import_error"), "import_error")?;
    assert_eq!(reply.code, 500);
    assert_eq!(
        reply.message,
        "ModuleNotFoundError: No module named 'tsconform_fixture_module_that_does_not_exist'"
    );
    assert!(
        reply
            .detail
            .starts_with("Traceback (most recent call last):"),
        "{}",
        reply.detail
    );
    assert!(
        reply.detail.contains("import_error.py\", line 2"),
        "the handler's own line: {}",
        reply.detail
    );
    assert!(
        !reply.detail.contains("ts.torch_handler"),
        "the built-in fallback is not the cause: {}",
        reply.detail
    );
    // the log shows the same cause
    w.wait_for_line(|_, l| matches!(l, python_worker::LogLine::Structured { level, message, .. }
        if level == "ERROR" && message.contains("Traceback") && message.contains("tsconform_fixture_module_that_does_not_exist")))?;
    Ok(())
}

#[test]
fn syntax_error_names_file_and_line() -> anyhow::Result<()> {
    let (reply, _) = failed_load(&fixture("syntax_error"), "syntax_error")?;
    assert_eq!(reply.code, 500);
    assert!(
        reply.message.starts_with("SyntaxError: "),
        "{}",
        reply.message
    );
    assert!(
        reply.message.contains("syntax_error.py, line 4"),
        "{}",
        reply.message
    );
    assert!(
        reply.detail.contains("def handle(data, context)"),
        "{}",
        reply.detail
    );
    Ok(())
}

#[test]
fn exception_in_initialize() -> anyhow::Result<()> {
    let (reply, _) = failed_load(&fixture("init_error"), "init_error")?;
    assert_eq!(reply.code, 500);
    assert!(
        reply.message.starts_with("ValueError: "),
        "{}",
        reply.message
    );
    assert!(reply.detail.contains("in initialize"), "{}", reply.detail);
    Ok(())
}

#[test]
fn one_class_rule() -> anyhow::Result<()> {
    let (reply, _) = failed_load(&fixture("two_classes"), "two_classes")?;
    assert!(
        reply.message.starts_with(
            "ValueError: Expected only one class in custom service code or a function entry point ["
        ),
        "{}",
        reply.message
    );
    let (reply, _) = failed_load(&fixture("no_handle"), "no_handle")?;
    assert!(
        reply
            .message
            .starts_with("ValueError: Expect handle method in class "),
        "{}",
        reply.message
    );
    Ok(())
}

#[test]
fn missing_handler_module() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reply, _) = failed_load(dir.path(), "nowhere_to_be_found.py")?;
    assert_eq!(
        reply.message,
        "ModuleNotFoundError: No module named 'nowhere_to_be_found'"
    );
    Ok(())
}

#[test]
fn builtin_handler_without_torchserve_says_which_package_is_missing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for (handler, what) in [
        ("image_classifier", "built-in handler 'image_classifier'"),
        ("base_handler", "built-in handler 'base_handler'"),
    ] {
        let (reply, _) = failed_load(dir.path(), handler)?;
        assert_eq!(reply.code, 500);
        assert!(
            reply.message.starts_with("ModuleNotFoundError: "),
            "{}",
            reply.message
        );
        assert!(reply.message.contains(what), "{}", reply.message);
        assert!(
            reply.message.contains("'torchserve'"),
            "names the pip package: {}",
            reply.message
        );
    }
    // an envelope is a built-in too
    let mut w = Worker::start(&fixture("echo"))?;
    let mut req = load_request(&fixture("echo"), "echo.py");
    req.envelope = "json".into();
    let reply = w.load_with(req)?;
    assert!(
        reply.message.contains("request envelope 'json'") && reply.message.contains("'torchserve'"),
        "{}",
        reply.message
    );
    Ok(())
}

#[test]
fn a_handler_importing_an_unbundled_part_of_ts_says_which_package_is_missing() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("custom_vision.py"),
        "from ts.torch_handler.base_handler import BaseHandler\n\nclass Custom(BaseHandler):\n    pass\n",
    )?;
    let (reply, _) = failed_load(dir.path(), "custom_vision")?;
    assert!(
        reply.message.contains("module 'ts.torch_handler'")
            && reply.message.contains("'torchserve'"),
        "{}",
        reply.message
    );
    assert!(
        reply.detail.contains("custom_vision.py\", line 1"),
        "the handler's import line: {}",
        reply.detail
    );
    Ok(())
}

#[test]
fn out_of_memory_at_load_is_507() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let write = |name: &str, raise: &str| {
        let code = format!(
            "def handle(data, context):\n    if data is None:\n        raise {raise}\n    return data\n"
        );
        std::fs::write(dir.path().join(format!("{name}.py")), code)
    };
    write("oom", "MemoryError()")?;
    write(
        "cuda",
        "RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')",
    )?;
    write("other_runtime", "RuntimeError('something else')")?;
    write(
        "cuda_value_error",
        "ValueError('CUDA mentioned, but not a RuntimeError')",
    )?;
    for (handler, code, message) in [
        ("oom", 507, "MemoryError"),
        (
            "cuda",
            507,
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
        ),
        ("other_runtime", 500, "RuntimeError: something else"),
        (
            "cuda_value_error",
            500,
            "ValueError: CUDA mentioned, but not a RuntimeError",
        ),
    ] {
        let (reply, _) = failed_load(dir.path(), handler)?;
        assert_eq!(
            (reply.code, reply.message.as_str()),
            (code, message),
            "{handler}"
        );
    }
    Ok(())
}

#[test]
fn protocol_misuse_stops_the_worker() -> anyhow::Result<()> {
    let dir = fixture("echo");
    let mut w = Worker::start(&dir)?;
    w.send(&Frame::Predict(PredictRequest {
        batch_id: 1,
        kind: BatchKind::Predict,
        requests: vec![],
    }))?;
    assert!(
        w.recv(TIMEOUT)?.is_none(),
        "no reply to a predict before load"
    );
    assert!(!w.wait_exit(TIMEOUT)?.success());

    let mut w = loaded("echo", "echo.py")?;
    w.send(&Frame::Load(load_request(&dir, "echo.py")))?;
    assert!(w.recv(TIMEOUT)?.is_none(), "no reply to a second load");
    assert!(!w.wait_exit(TIMEOUT)?.success());
    Ok(())
}
