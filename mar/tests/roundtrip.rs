//! Property: for random file trees, names and manifest fields, in all four formats, what
//! `create` writes reads back (listing, contents, manifest) and unpacks to the same files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mar::archive::Archive;
use mar::create::{ArchiveFormat, CreateOptions, create, manifest_for};
use mar::extract::{Limits, extract};
use mar::manifest::{MANIFEST_PATH, Manifest};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Input {
    tree: BTreeMap<String, Vec<u8>>,
    model_name: String,
    version: String,
    runtime: String,
    handler_module: String,
    handler_fn: Option<String>,
    weights: Option<Vec<u8>>,
    model_file: bool,
    requirements: bool,
    config: Option<u8>,
}

/// Paths of 1-3 components under names starting with `t` (so they never collide with the other
/// artifacts); a path that is a file is never also a folder of another path.
fn tree() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    let path = prop::collection::vec("t[a-z0-9_]{0,5}", 1..=3).prop_map(|c| c.join("/"));
    prop::collection::vec((path, prop::collection::vec(any::<u8>(), 0..300)), 0..8).prop_map(
        |items| {
            let mut tree = BTreeMap::new();
            for (path, bytes) in items {
                let clashes = tree.keys().any(|k: &String| {
                    k.starts_with(&format!("{path}/"))
                        || path.starts_with(&format!("{k}/"))
                        || *k == path
                });
                if !clashes {
                    tree.insert(path, bytes);
                }
            }
            tree
        },
    )
}

fn input() -> impl Strategy<Value = Input> {
    (
        tree(),
        "[A-Za-z0-9][A-Za-z0-9_.-]{0,12}",
        "\\PC{0,8}",
        prop_oneof![Just("python".to_string()), Just("python3".to_string())],
        "h[a-z_]{0,6}",
        proptest::option::of("[a-z_]{1,8}"),
        proptest::option::of(prop::collection::vec(any::<u8>(), 0..2000)),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            |(
                tree,
                model_name,
                version,
                runtime,
                handler_module,
                handler_fn,
                weights,
                model_file,
                requirements,
                config,
            )| Input {
                tree,
                model_name,
                version,
                runtime,
                handler_module,
                handler_fn,
                weights,
                model_file,
                requirements,
                config,
            },
        )
}

/// Writes the inputs under `dir/in`; returns the options (minus format and export path) and
/// the files expected in the archive.
fn materialise(input: &Input, dir: &Path) -> (CreateOptions, BTreeMap<String, Vec<u8>>) {
    let src = dir.join("in");
    let mut expected = BTreeMap::new();
    for (path, bytes) in &input.tree {
        common::write(&src.join("extra").join(path), bytes);
        expected.insert(path.clone(), bytes.clone());
    }
    let entry = input.handler_fn.as_deref().unwrap_or("handle");
    let handler_src = format!(
        "def {entry}(data, context):\n    return data\n# {}\n",
        input.model_name
    );
    let handler_file = format!("{}.py", input.handler_module);
    common::write(&src.join(&handler_file), &handler_src);
    expected.insert(handler_file, handler_src.into_bytes());
    let mut opts = CreateOptions::new(&input.model_name, &input.version, "");
    opts.handler = match &input.handler_fn {
        Some(f) => format!("{}:{f}", src.join(&input.handler_module).display()),
        None => src
            .join(format!("{}.py", input.handler_module))
            .display()
            .to_string(),
    };
    opts.runtime = input.runtime.clone();
    opts.extra_files = vec![src.join("extra").display().to_string()];
    std::fs::create_dir_all(src.join("extra")).unwrap();
    let mut add = |name: &str, bytes: Vec<u8>| -> PathBuf {
        let p = src.join(name);
        common::write(&p, &bytes);
        expected.insert(name.to_string(), bytes);
        p
    };
    if let Some(w) = &input.weights {
        opts.serialized_file = Some(add("weights.pt", w.clone()));
    }
    if input.model_file {
        opts.model_file = Some(add("model.py", b"class M:\n    pass\n".to_vec()));
    }
    if input.requirements {
        opts.requirements_file = Some(add("requirements.txt", b"numpy\n".to_vec()));
    }
    if let Some(n) = input.config {
        opts.config_file = Some(add(
            "model-config.yaml",
            format!("batchSize: {n}\n").into_bytes(),
        ));
    }
    (opts, expected)
}

fn files_of(archive: &mut Archive) -> BTreeMap<String, Vec<u8>> {
    let names: Vec<String> = archive
        .entries
        .iter()
        .filter(|e| e.kind == mar::archive::EntryKind::File)
        .map(|e| e.name.clone())
        .collect();
    names
        .into_iter()
        .map(|n| {
            let bytes = archive.read(&n).unwrap().unwrap();
            (n, bytes)
        })
        .collect()
}

fn files_on_disk(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::tree(dir)
        .into_iter()
        .filter(|p| dir.join(p).is_file())
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

fn round_trip(input: &Input) {
    let tmp = tempfile::tempdir().unwrap();
    let (base, mut expected) = materialise(input, tmp.path());
    for format in ArchiveFormat::ALL {
        let out = tmp.path().join(format!("out-{format}"));
        std::fs::create_dir(&out).unwrap();
        let opts = CreateOptions {
            export_path: out.clone(),
            archive_format: format,
            ..base.clone()
        };
        let made = create(&opts).unwrap();
        assert_eq!(made, opts.output_path());

        let mut archive = Archive::open(&made).unwrap();
        let mut files = files_of(&mut archive);
        let manifest_bytes = files.remove(MANIFEST_PATH).expect("manifest");
        let manifest = Manifest::from_slice(&manifest_bytes).unwrap();
        let want = manifest_for(&opts, manifest.created_on.as_deref().unwrap()).unwrap();
        assert_eq!(manifest, want, "{format}");
        assert_eq!(
            String::from_utf8(manifest_bytes).unwrap(),
            want.to_json_pretty(),
            "{format}"
        );
        assert_eq!(files, expected, "{format}: archive contents");

        // Random versions may hold what `mar check` rightly refuses in a URL; nothing else may fail.
        let v = &input.version;
        let bad_version = !v.is_empty()
            && (v.trim().is_empty()
                || v.chars()
                    .any(|c| c == '/' || c.is_whitespace() || c.is_control()));
        let report = mar::check::check_path(&made);
        let errors: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.severity == mar::check::Severity::Error)
            .map(|f| f.code.as_str())
            .collect();
        let expected_errors: &[&str] = if bad_version { &["MAR005"] } else { &[] };
        assert_eq!(
            errors,
            expected_errors,
            "{format}: {}",
            report.render_text()
        );

        let model_dir = if format == ArchiveFormat::NoArchive {
            made.clone()
        } else {
            let dest = tmp.path().join(format!("x-{format}"));
            extract(&made, &dest, &Limits::default()).unwrap()
        };
        expected.insert(
            MANIFEST_PATH.to_string(),
            want.to_json_pretty().into_bytes(),
        );
        assert_eq!(
            files_on_disk(&model_dir),
            expected,
            "{format}: unpacked files"
        );
        expected.remove(MANIFEST_PATH);
        let loaded = mar::model_dir::load(&model_dir).unwrap();
        assert_eq!(loaded.manifest.as_ref(), Some(&want));
        assert_eq!(
            loaded.config.map(|c| c.batch_size),
            input.config.map(|n| Some(u32::from(n).max(1)))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn create_read_back_in_all_formats(input in input()) {
        round_trip(&input);
    }
}

#[test]
fn the_seed_example_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    common::seed_inputs(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let made = create(&common::seed_options(
        tmp.path(),
        &out,
        "seed",
        ArchiveFormat::Default,
    ))
    .unwrap();
    let mut archive = Archive::open(&made).unwrap();
    let names: Vec<&str> = archive.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "index_to_name.json",
            "m.pt",
            "m.py",
            "model_handler.py",
            MANIFEST_PATH
        ]
    );
    let manifest = Manifest::from_slice(&archive.read(MANIFEST_PATH).unwrap().unwrap()).unwrap();
    let mut shown = manifest.clone();
    shown.created_on = Some("[createdOn]".into());
    insta::assert_snapshot!("seed_manifest", shown.to_json_pretty());
}
