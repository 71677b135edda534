use std::process::Command;

use super::*;

fn entry(archive: &Path, name: &str) -> Vec<u8> {
    let mut archive = mar::archive::Archive::open(archive).expect("readable archive");
    archive
        .read(name)
        .expect("readable entry")
        .unwrap_or_else(|| panic!("no entry {name}"))
}

fn manifest_of(archive: &Path) -> serde_json::Value {
    serde_json::from_slice(&entry(archive, "MAR-INF/MANIFEST.json")).expect("manifest is JSON")
}

fn zip_names(archive: &Path) -> Vec<String> {
    let archive = mar::archive::Archive::open(archive).expect("readable archive");
    let mut names: Vec<String> = archive.entries.iter().map(|e| e.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn every_fixture_has_a_spec_and_its_handler_file() {
    let fixtures = all().expect("every fixture.json parses");
    assert!(
        fixtures.len() >= 14,
        "expected the full fixture set, got {}",
        fixtures.len()
    );
    for f in &fixtures {
        let handler_file = f.spec().handler_file();
        assert!(
            f.file(&handler_file).is_some(),
            "{}: handler file {handler_file} missing",
            f.name()
        );
        assert!(
            !f.spec().description.is_empty(),
            "{}: empty description",
            f.name()
        );
        if let Some(cfg) = &f.spec().config_file {
            assert!(
                f.file(cfg).is_some(),
                "{}: config file {cfg} missing",
                f.name()
            );
        }
    }
}

#[test]
fn names_are_sorted_and_get_finds_each() {
    let names = names();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for n in names {
        assert_eq!(get(n).expect("known").name(), n);
    }
    assert!(matches!(
        get("no_such_fixture"),
        Err(FixtureError::Unknown(_))
    ));
}

#[test]
fn handler_file_follows_the_archiver_rules() {
    let spec = |h: &str| FixtureSpec {
        handler: h.into(),
        description: String::new(),
        config_file: None,
        serialized_file: None,
        model_file: None,
    };
    assert_eq!(spec("echo.py").handler_file(), "echo.py");
    assert_eq!(spec("fn_entry:predict").handler_file(), "fn_entry.py");
    assert_eq!(spec("errors").handler_file(), "errors.py");
}

#[test]
fn default_build_writes_a_mar_with_the_archiver_manifest() {
    let out = tempfile::tempdir().unwrap();
    let fn_entry = get("fn_entry").unwrap();
    let path = fn_entry
        .build(out.path(), &BuildOptions::default())
        .unwrap();
    assert_eq!(path, out.path().join("fn_entry.mar"));
    let manifest = manifest_of(&path);
    assert_eq!(manifest["model"]["modelName"], "fn_entry");
    assert_eq!(manifest["model"]["handler"], "fn_entry:predict");
    assert_eq!(manifest["model"]["modelVersion"], "1.0");
    assert_eq!(manifest["runtime"], "python");
    assert!(manifest["model"].get("configFile").is_none());
    assert_eq!(
        zip_names(&path),
        vec!["MAR-INF/MANIFEST.json", "fn_entry.py"]
    );
}

#[test]
fn config_choice_controls_the_model_config() {
    let out = tempfile::tempdir().unwrap();
    let echo = get("echo").unwrap();
    let shipped = echo.build(out.path(), &BuildOptions::default()).unwrap();
    assert_eq!(
        manifest_of(&shipped)["model"]["configFile"],
        "model-config.yaml"
    );
    assert!(zip_names(&shipped).contains(&"model-config.yaml".to_owned()));

    let none = BuildOptions {
        config: ConfigChoice::None,
        file_stem: Some("echo_plain".into()),
        ..Default::default()
    };
    let plain = echo.build(out.path(), &none).unwrap();
    assert!(manifest_of(&plain)["model"].get("configFile").is_none());
    assert!(!zip_names(&plain).contains(&"model-config.yaml".to_owned()));

    let yaml = BuildOptions {
        config: ConfigChoice::Yaml("batchSize: 3\n".into()),
        model_name: Some("echo3".into()),
        version: "2.5".into(),
        ..Default::default()
    };
    let custom = echo.build(out.path(), &yaml).unwrap();
    assert_eq!(custom, out.path().join("echo3.mar"));
    let manifest = manifest_of(&custom);
    assert_eq!(manifest["model"]["modelName"], "echo3");
    assert_eq!(manifest["model"]["modelVersion"], "2.5");
    assert_eq!(entry(&custom, "model-config.yaml"), b"batchSize: 3\n");
}

/// Fixtures whose fault `mar check` can see without running Python.
const STATICALLY_BROKEN: &[&str] = &["two_classes", "no_handle", "syntax_error"];
/// Fixtures that fail only when imported or initialised.
const LOAD_FAILS_AT_RUN_TIME: &[&str] = &["import_error", "init_error"];

#[test]
fn every_format_builds_every_fixture_and_mar_check_accepts_them() {
    let out = tempfile::tempdir().unwrap();
    for format in ArchiveFormat::ALL {
        let dir = out.path().join(format.as_str());
        let paths = build_all(
            &dir,
            &BuildOptions {
                format,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(paths.len(), names().len());
        for p in paths {
            assert!(p.exists(), "{} missing", p.display());
            let name = p.file_name().unwrap().to_string_lossy();
            let name = name.split('.').next().unwrap();
            let report = mar::check::check_path(&p);
            if STATICALLY_BROKEN.contains(&name) {
                assert!(
                    report.has_errors(),
                    "mar check accepts {}, broken on purpose",
                    p.display()
                );
            } else if !LOAD_FAILS_AT_RUN_TIME.contains(&name) {
                assert!(
                    !report.has_errors(),
                    "mar check rejects {}: {report:?}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn format_names_round_trip() {
    for f in ArchiveFormat::ALL {
        assert_eq!(f.as_str().parse::<ArchiveFormat>().unwrap(), f);
    }
    assert!(
        "zip".parse::<ArchiveFormat>().is_err(),
        "the archiver has no literal zip format"
    );
}

#[test]
fn python_sources_compile() {
    let Ok(probe) = Command::new("python3").arg("--version").output() else {
        eprintln!("SKIP python_sources_compile: python3 is not on PATH");
        return;
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // syntax_error is broken on purpose.
    for f in all()
        .unwrap()
        .into_iter()
        .filter(|f| f.name() != "syntax_error")
    {
        f.write_sources(&dir.path().join(f.name())).unwrap();
        for (rel, _) in f.files().iter().filter(|(rel, _)| rel.ends_with(".py")) {
            files.push(dir.path().join(f.name()).join(rel));
        }
    }
    let status = Command::new("python3")
        .args([
            "-c",
            "import ast, sys\nfor p in sys.argv[1:]:\n    ast.parse(open(p).read(), p)",
        ])
        .args(&files)
        .status()
        .unwrap();
    assert!(status.success(), "a fixture does not parse as Python");
}
