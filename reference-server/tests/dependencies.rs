//! `install_py_dep_per_model=true` (contract §9): the archive's requirementsFile is pip-installed
//! into the unpacked model folder at register, so the handler imports it; a failed install refuses
//! the register with TorchServe's ModelException text. The "package" is a wheel shipped inside
//! the archive, so pip needs no network.

mod common;

use common::{ServerOptions, TestServer};
use mar::create::{ArchiveFormat, CreateOptions, create};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// A pure-Python wheel with one module `tsrs_dep_probe` (VALUE = 42), written by hand.
fn write_wheel(path: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let files = [
        ("tsrs_dep_probe/__init__.py", "VALUE = 42\n"),
        (
            "tsrs_dep_probe-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: tsrs-dep-probe\nVersion: 1.0\n",
        ),
        (
            "tsrs_dep_probe-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tsrs-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (
            "tsrs_dep_probe-1.0.dist-info/RECORD",
            "tsrs_dep_probe/__init__.py,,\ntsrs_dep_probe-1.0.dist-info/METADATA,,\ntsrs_dep_probe-1.0.dist-info/WHEEL,,\ntsrs_dep_probe-1.0.dist-info/RECORD,,\n",
        ),
    ];
    for (name, text) in files {
        z.start_file(name, opts).unwrap();
        z.write_all(text.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

/// An archive whose handler imports `tsrs_dep_probe`, with `requirements` as its requirementsFile.
fn archive(name: &str, requirements: &str) -> Vec<u8> {
    let src = tempfile::tempdir().unwrap();
    let handler = src.path().join("uses_dep.py");
    std::fs::write(
        &handler,
        "import tsrs_dep_probe\n\ndef handle(data, context):\n    return None if data is None else [tsrs_dep_probe.VALUE for _ in data]\n",
    )
    .unwrap();
    let wheel = src.path().join("tsrs_dep_probe-1.0-py3-none-any.whl");
    write_wheel(&wheel);
    let req = src.path().join("requirements.txt");
    std::fs::write(&req, requirements).unwrap();
    let out = src.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let path = create(&CreateOptions {
        model_name: name.into(),
        version: "1.0".into(),
        serialized_file: None,
        model_file: None,
        handler: handler.display().to_string(),
        extra_files: vec![wheel.display().to_string()],
        runtime: "python".into(),
        export_path: out,
        archive_format: ArchiveFormat::Default,
        force: true,
        requirements_file: Some(req),
        config_file: None,
    })
    .unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn requirements_are_installed_into_the_model_folder() {
    let s: TestServer = ServerOptions::default()
        .prop("install_py_dep_per_model", "true")
        .store_file(
            "with_dep.mar",
            &archive("with_dep", "./tsrs_dep_probe-1.0-py3-none-any.whl\n"),
        )
        .store_file(
            "bad_dep.mar",
            &archive("bad_dep", "./no_such_package-1.0-py3-none-any.whl\n"),
        )
        .start();
    s.register_ok("url=with_dep.mar&initial_workers=1&synchronous=true");
    let r = s.predict_json("with_dep", &json!({}));
    assert_eq!(r.status, 200, "{}", r.what);
    assert_eq!(r.text().trim(), "42");

    let r = s.mgmt(
        "POST",
        "/models?url=bad_dep.mar&initial_workers=1&synchronous=true",
    );
    let (code, kind, message) = r.error();
    assert_eq!(
        (code, kind.as_str(), message.as_str()),
        (
            400,
            "ModelException",
            "Custom pip package installation failed for model bad_dep"
        ),
        "{}",
        r.what
    );
    let listed = s.mgmt("GET", "/models").json();
    assert_eq!(
        listed["models"].as_array().map(Vec::len),
        Some(1),
        "the failed model is not registered: {listed}"
    );
}

#[test]
fn without_the_option_requirements_are_not_installed() {
    let s = ServerOptions::default()
        .store_file(
            "with_dep.mar",
            &archive("with_dep", "./tsrs_dep_probe-1.0-py3-none-any.whl\n"),
        )
        .start();
    // The handler's import fails at load: the synchronous register reports it and rolls back.
    let r = s.mgmt(
        "POST",
        "/models?url=with_dep.mar&initial_workers=1&synchronous=true",
    );
    let (code, _, message) = r.error();
    assert_eq!(
        (code, message.as_str()),
        (
            500,
            "Failed to start workers for model with_dep version: 1.0"
        ),
        "{}",
        r.what
    );
    assert!(
        r.json()["cause"]
            .as_str()
            .unwrap_or("")
            .contains("tsrs_dep_probe"),
        "{}",
        r.what
    );
}
