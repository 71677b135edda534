//! `mar check` over a set of broken archives: each is caught under its own code, the CLI exits
//! non-zero, and the whole report is pinned by a snapshot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{RawEntry, manifest_json, raw_zip, write};
use mar::check::{Report, check_path};
use mar::create::{ArchiveFormat, create};

const GOOD_HANDLER: &str = "def handle(data, context):\n    return data\n";

fn zip_with(dir: &Path, file: &str, entries: &[RawEntry]) -> PathBuf {
    let path = dir.join(file);
    write(&path, raw_zip(entries));
    path
}

fn manifest_entry(text: &str) -> RawEntry {
    RawEntry::deflated("MAR-INF/MANIFEST.json", text.as_bytes())
}

fn with_handler(dir: &Path, file: &str, handler: &str, module: &str, source: &str) -> PathBuf {
    zip_with(
        dir,
        file,
        &[
            RawEntry::deflated(module, source.as_bytes()),
            manifest_entry(&manifest_json("m", handler)),
        ],
    )
}

/// Builds fixture `name`, checks it through the library and the CLI, snapshots the report.
fn check(name: &str, build: impl FnOnce(&Path) -> PathBuf, expected: &str) {
    // These codes come from Python's `ast`; without an interpreter the check says MAR036.
    let needs_python = ["MAR012", "MAR013", "MAR014", "MAR015", "MAR016"].contains(&expected);
    if needs_python && !python_available() {
        eprintln!("SKIP {name}: no python3 (or $MAR_PYTHON) to analyse the handler with");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = build(tmp.path());
    let report = check_path(&path);
    assert!(
        report.codes().contains(&expected),
        "{name}: expected {expected}, got {:?}\n{}",
        report.codes(),
        report.render_text()
    );
    assert!(
        report.has_errors(),
        "{name}: no error\n{}",
        report.render_text()
    );

    let out = Command::new(common::mar_bin())
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{name}: mar check exit status");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, report.codes(), "{name}: CLI and library disagree");

    snapshot(name, tmp.path(), &report);
}

fn python_available() -> bool {
    Command::new(mar::check::python::interpreter())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn snapshot(name: &str, tmp: &Path, report: &Report) {
    let tmp = regex_escape(&tmp.display().to_string());
    insta::with_settings!({
        filters => vec![(tmp.as_str(), "[TMP]")],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_json_snapshot!(name, report);
    });
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

#[test]
fn missing_manifest() {
    check(
        "missing_manifest",
        |d| {
            zip_with(
                d,
                "m.mar",
                &[RawEntry::deflated(
                    "model_handler.py",
                    GOOD_HANDLER.as_bytes(),
                )],
            )
        },
        "MAR001",
    );
}

#[test]
fn malformed_manifest() {
    check(
        "malformed_manifest",
        |d| {
            zip_with(
                d,
                "m.mar",
                &[manifest_entry("{\"model\": {\"modelName\": \"m\",\n}")],
            )
        },
        "MAR002",
    );
}

#[test]
fn bad_model_name() {
    check(
        "bad_model_name",
        |d| {
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    manifest_entry(&manifest_json("bad name!", "model_handler:handle")),
                ],
            )
        },
        "MAR004",
    );
}

#[test]
fn missing_handler_file() {
    check(
        "missing_handler_file",
        |d| {
            zip_with(
                d,
                "m.mar",
                &[manifest_entry(&manifest_json("m", "my_handler:handle"))],
            )
        },
        "MAR011",
    );
}

#[test]
fn two_classes() {
    let source = "class Helper:\n    pass\n\n\nclass Handler:\n    def initialize(self, context):\n        pass\n\n    def handle(self, data, context):\n        return data\n";
    check(
        "two_classes",
        |d| with_handler(d, "m.mar", "two.py", "two.py", source),
        "MAR014",
    );
}

#[test]
fn function_with_wrong_arity() {
    let source = "def predict(data):\n    return data\n";
    check(
        "function_wrong_arity",
        |d| with_handler(d, "m.mar", "h:predict", "h.py", source),
        "MAR013",
    );
}

#[test]
fn syntax_error() {
    let source = "import json\n\ndef handle(data, context)\n    return data\n";
    check(
        "syntax_error",
        |d| with_handler(d, "m.mar", "broken.py", "broken.py", source),
        "MAR012",
    );
}

#[test]
fn class_without_handle() {
    let source = "class Handler:\n    def initialize(self, context):\n        pass\n";
    check(
        "class_without_handle",
        |d| with_handler(d, "m.mar", "h.py", "h.py", source),
        "MAR015",
    );
}

#[test]
fn zip_slip_entry() {
    check(
        "zip_slip",
        |d| {
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    RawEntry::stored("../../evil.sh", b"echo pwned\n"),
                    manifest_entry(&manifest_json("m", "model_handler:handle")),
                ],
            )
        },
        "MAR030",
    );
}

#[test]
fn link_escaping_the_folder() {
    check(
        "link_escape",
        |d| {
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    RawEntry::symlink("weights.pt", "../../../etc/passwd"),
                    manifest_entry(&manifest_json("m", "model_handler:handle")),
                ],
            )
        },
        "MAR031",
    );
}

#[test]
fn zip_bomb() {
    // 2,100 entries x 16 MiB of zeros all sharing one 16 KiB kernel: 35 GB declared.
    check(
        "zip_bomb",
        |d| {
            let path = d.join("bomb.mar");
            write(&path, common::overlapping_bomb(2100, 16 << 20));
            path
        },
        "MAR032",
    );
}

#[test]
fn entry_inflating_past_its_declared_size() {
    check(
        "lying_size",
        |d| {
            let mut big = RawEntry::deflated("weights.pt", &vec![0u8; 1 << 20]);
            big.size = 1000; // claims 1000 bytes, inflates to 1 MiB
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    big,
                    manifest_entry(&manifest_json("m", "model_handler:handle")),
                ],
            )
        },
        "MAR032",
    );
}

#[test]
fn truncated_file() {
    check(
        "truncated",
        |d| {
            common::seed_inputs(d);
            let out = d.join("out");
            std::fs::create_dir(&out).unwrap();
            let full = create(&common::seed_options(
                d,
                &out,
                "seed",
                ArchiveFormat::Default,
            ))
            .unwrap();
            let bytes = std::fs::read(&full).unwrap();
            let path = d.join("truncated.mar");
            write(&path, &bytes[..bytes.len() / 2]);
            path
        },
        "MAR033",
    );
}

#[test]
fn truncated_tgz() {
    check(
        "truncated_tgz",
        |d| {
            common::seed_inputs(d);
            let out = d.join("out");
            std::fs::create_dir(&out).unwrap();
            let full = create(&common::seed_options(d, &out, "seed", ArchiveFormat::Tgz)).unwrap();
            let bytes = std::fs::read(&full).unwrap();
            let path = d.join("truncated.tar.gz");
            write(&path, &bytes[..bytes.len() * 2 / 3]);
            path
        },
        "MAR033",
    );
}

#[test]
fn checksum_mismatch() {
    check(
        "checksum_mismatch",
        |d| {
            let mut weights = RawEntry::stored("weights.pt", b"0123456789abcdef");
            weights.crc ^= 0xdead_beef;
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    weights,
                    manifest_entry(&manifest_json("m", "model_handler:handle")),
                ],
            )
        },
        "MAR034",
    );
}

#[test]
fn config_file_named_but_missing() {
    check(
        "missing_config",
        |d| {
            let manifest = manifest_json("m", "model_handler:handle").replace(
                "\"modelVersion\"",
                "\"configFile\": \"model-config.yaml\",\n    \"modelVersion\"",
            );
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    manifest_entry(&manifest),
                ],
            )
        },
        "MAR021",
    );
}

#[test]
fn config_that_is_not_yaml() {
    check(
        "bad_config",
        |d| {
            let manifest = manifest_json("m", "model_handler:handle").replace(
                "\"modelVersion\"",
                "\"configFile\": \"model-config.yaml\",\n    \"modelVersion\"",
            );
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    RawEntry::deflated(
                        "model-config.yaml",
                        b"minWorkers: 1\nbatchSize: [1, 2\nfoo: 3\n",
                    ),
                    manifest_entry(&manifest),
                ],
            )
        },
        "MAR022",
    );
}

#[test]
fn empty_config() {
    check(
        "empty_config",
        |d| {
            let manifest = manifest_json("m", "model_handler:handle").replace(
                "\"modelVersion\"",
                "\"configFile\": \"model-config.yaml\",\n    \"modelVersion\"",
            );
            zip_with(
                d,
                "m.mar",
                &[
                    RawEntry::deflated("model_handler.py", GOOD_HANDLER.as_bytes()),
                    RawEntry::deflated("model-config.yaml", b"# nothing yet\n"),
                    manifest_entry(&manifest),
                ],
            )
        },
        "MAR022",
    );
}

#[test]
fn tgz_with_a_parent_path() {
    check(
        "tgz_slip",
        |d| {
            let path = d.join("m.tar.gz");
            let gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::default(),
            );
            let mut tar = tar::Builder::new(gz);
            append_raw_name(
                &mut tar,
                "m/MAR-INF/MANIFEST.json",
                manifest_json("m", "model_handler:handle").as_bytes(),
            );
            append_raw_name(&mut tar, "m/model_handler.py", GOOD_HANDLER.as_bytes());
            append_raw_name(&mut tar, "m/../../evil.sh", b"echo pwned\n");
            tar.into_inner().unwrap().finish().unwrap();
            path
        },
        "MAR030",
    );
}

/// tar's own path setter refuses `..`; write the name bytes directly, as an attacker would.
fn append_raw_name<W: std::io::Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append(&header, data).unwrap();
}

#[test]
fn a_good_archive_has_no_findings() {
    let tmp = tempfile::tempdir().unwrap();
    common::seed_inputs(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for format in ArchiveFormat::ALL {
        let name = format!("seed-{format}");
        let made = create(&common::seed_options(tmp.path(), &out, &name, format)).unwrap();
        let report = check_path(&made);
        assert!(
            report.findings.is_empty(),
            "{format}: {}",
            report.render_text()
        );
        let status = Command::new(common::mar_bin())
            .arg("check")
            .arg(&made)
            .output()
            .unwrap()
            .status;
        assert!(status.success(), "{format}");
    }
}
