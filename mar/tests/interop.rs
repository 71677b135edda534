//! Interop with the real torch-model-archiver 0.12 (from the TorchServe venv; each test skips
//! with a SKIP line when it is missing): for the same inputs both tools write the same manifest
//! fields (createdOn aside), the same files and the same error texts, and archives made by the
//! archiver read here exactly as Python's zipfile/tarfile read them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mar::archive::{Archive, EntryKind};
use mar::manifest::MANIFEST_PATH;

/// Rich inputs: nested extra folders (with __pycache__ and dot-folders the archiver leaves out),
/// a hidden file it keeps, wildcards, a handler in a sub-folder, requirements and config.
fn rich_inputs(dir: &Path) {
    common::seed_inputs(dir);
    let w = |p: &str, s: &str| common::write(&dir.join(p), s);
    w(
        "handlers/my_handler.py",
        "class H:\n    def initialize(self, ctx):\n        pass\n\n    def handle(self, data, ctx):\n        return data\n",
    );
    w("assets/vocab.txt", "a\nb\n");
    w("assets/sub/deep.json", "{}");
    w("assets/__pycache__/x.pyc", "junk");
    w("assets/.git/config", "junk");
    w("assets/.hidden", "kept");
    w("labels/a.json", "[1]");
    w("labels/b.json", "[2]");
    w("labels/.c.json", "[3]");
    w("requirements.txt", "numpy\n");
    w(
        "model-config.yaml",
        "minWorkers: 1\nmaxWorkers: 2\nbatchSize: 4\n",
    );
}

struct Case {
    name: &'static str,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        Case {
            name: "seed",
            args: v(&[
                "--model-name",
                "seed",
                "--version",
                "1.0",
                "--model-file",
                "m.py",
                "--serialized-file",
                "m.pt",
                "--extra-files",
                "index_to_name.json",
                "--handler",
                "model_handler:handle",
                "--runtime",
                "python3",
            ]),
        },
        Case {
            name: "rich",
            args: v(&[
                "--model-name",
                "rich-model_2.0",
                "-v",
                "2.1",
                "--serialized-file",
                "./m.pt",
                "--extra-files",
                "assets,labels/*.json,index_to_name.json",
                "--handler",
                "handlers/my_handler.py",
                "-r",
                "requirements.txt",
                "-c",
                "model-config.yaml",
            ]),
        },
        Case {
            name: "builtin",
            args: v(&[
                "--model-name",
                "builtin",
                "-v",
                "1",
                "--handler",
                "image_classifier",
                "--extra-files",
                "index_to_name.json",
            ]),
        },
    ]
}

const FORMATS: [&str; 4] = ["default", "zip-store", "tgz", "no-archive"];

/// Runs a tool in `cwd` with a private TMPDIR (the archiver stages in `$TMPDIR/<model-name>`).
fn run(program: &Path, first: Option<&str>, args: &[String], cwd: &Path, tmp: &Path) -> Output {
    let mut cmd = Command::new(program);
    if let Some(sub) = first {
        cmd.arg(sub);
    }
    cmd.args(args)
        .current_dir(cwd)
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

fn archiver(venv: &Path) -> PathBuf {
    venv.join("bin/torch-model-archiver")
}

/// name -> (size, bytes) of every file, through our reader.
fn contents(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut archive = Archive::open(path).unwrap();
    let names: Vec<String> = archive
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.name.clone())
        .collect();
    names
        .into_iter()
        .map(|n| {
            let b = archive.read(&n).unwrap().unwrap();
            (n, b)
        })
        .collect()
}

fn without_created_on(manifest: &[u8]) -> (serde_json::Value, String) {
    let mut value: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    value.as_object_mut().unwrap().remove("createdOn");
    let text = String::from_utf8(manifest.to_vec()).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("\"createdOn\""))
        .collect::<Vec<_>>()
        .join("\n");
    (value, text)
}

#[test]
fn mar_create_writes_what_the_archiver_writes() {
    let Some(venv) = common::venv_or_skip("mar_create_writes_what_the_archiver_writes") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs");
    rich_inputs(&inputs);
    for case in cases() {
        for format in FORMATS {
            let theirs = tmp.path().join(format!("theirs-{}-{format}", case.name));
            let ours = tmp.path().join(format!("ours-{}-{format}", case.name));
            let staging = tmp.path().join(format!("stage-{}-{format}", case.name));
            for d in [&theirs, &ours, &staging] {
                std::fs::create_dir_all(d).unwrap();
            }
            let with = |out: &Path| {
                let mut a = case.args.clone();
                a.extend([
                    "--archive-format".into(),
                    format.into(),
                    "--export-path".into(),
                    out.display().to_string(),
                ]);
                a
            };
            let t = run(&archiver(&venv), None, &with(&theirs), &inputs, &staging);
            assert!(
                t.status.success(),
                "archiver {}/{format}: {}",
                case.name,
                String::from_utf8_lossy(&t.stderr)
            );
            let o = run(
                &common::mar_bin(),
                Some("create"),
                &with(&ours),
                &inputs,
                &staging,
            );
            assert!(
                o.status.success(),
                "mar {}/{format}: {}",
                case.name,
                String::from_utf8_lossy(&o.stderr)
            );

            let produced = |dir: &Path| {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                assert_eq!(entries.len(), 1, "{}: {entries:?}", dir.display());
                entries.pop().unwrap()
            };
            let (tp, op) = (produced(&theirs), produced(&ours));
            assert_eq!(
                tp.file_name(),
                op.file_name(),
                "{}/{format}: output name",
                case.name
            );
            let mut tc = contents(&tp);
            let mut oc = contents(&op);
            let tm = tc.remove(MANIFEST_PATH).expect("archiver manifest");
            let om = oc.remove(MANIFEST_PATH).expect("our manifest");
            assert_eq!(
                without_created_on(&om),
                without_created_on(&tm),
                "{}/{format}: manifest",
                case.name
            );
            assert_eq!(
                oc.keys().collect::<Vec<_>>(),
                tc.keys().collect::<Vec<_>>(),
                "{}/{format}: file set",
                case.name
            );
            assert_eq!(oc, tc, "{}/{format}: file contents", case.name);
        }
    }
}

/// Python's own view of an archive: name -> [size, crc32] for every file.
const PY_LISTING: &str = r#"
import json, sys, tarfile, zipfile, zlib
p = sys.argv[1]
out = {}
if zipfile.is_zipfile(p):
    with zipfile.ZipFile(p) as z:
        for i in z.infolist():
            if not i.is_dir():
                out[i.filename] = [i.file_size, zlib.crc32(z.read(i))]
else:
    with tarfile.open(p, "r:gz") as t:
        for m in t.getmembers():
            if m.isfile():
                name = m.name.split("/", 1)[1] if "/" in m.name else m.name
                out[name] = [m.size, zlib.crc32(t.extractfile(m).read())]
print(json.dumps(out, sort_keys=True))
"#;

#[test]
fn archiver_archives_read_identically() {
    let Some(venv) = common::venv_or_skip("archiver_archives_read_identically") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs");
    rich_inputs(&inputs);
    for case in cases() {
        for format in ["default", "zip-store", "tgz"] {
            let out = tmp.path().join(format!("out-{}-{format}", case.name));
            std::fs::create_dir_all(&out).unwrap();
            let mut args = case.args.clone();
            args.extend([
                "--archive-format".into(),
                format.into(),
                "--export-path".into(),
                out.display().to_string(),
            ]);
            let t = run(&archiver(&venv), None, &args, &inputs, tmp.path());
            assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
            let path = std::fs::read_dir(&out)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();

            let py = Command::new(venv.join("bin/python"))
                .args(["-c", PY_LISTING])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                py.status.success(),
                "{}",
                String::from_utf8_lossy(&py.stderr)
            );
            let theirs: BTreeMap<String, (u64, u32)> = serde_json::from_slice(&py.stdout).unwrap();
            let ours: BTreeMap<String, (u64, u32)> = contents(&path)
                .into_iter()
                .map(|(n, b)| (n, (b.len() as u64, crc32fast::hash(&b))))
                .collect();
            assert_eq!(ours, theirs, "{}/{format}", case.name);

            // Unpacking gives the same files, and the result checks clean.
            let dest = tmp.path().join(format!("x-{}-{format}", case.name));
            let dir =
                mar::extract::extract(&path, &dest, &mar::extract::Limits::default()).unwrap();
            let loaded = mar::model_dir::load(&dir).unwrap();
            assert!(loaded.manifest.is_some());
            let report = mar::check::check_path(&path);
            assert!(!report.has_errors(), "{}", report.render_text());
        }
    }
}

/// The archiver's message: the text of the exception that ended its traceback.
fn python_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| {
            let head = l.split(": ").next().unwrap_or("");
            !l.starts_with(' ')
                && (head.ends_with("Error") || head.ends_with("Exception"))
                && l.contains(": ")
        })
        .unwrap_or_else(|| panic!("no exception in:\n{stderr}"));
    let first = lines[start].split_once(": ").unwrap().1;
    std::iter::once(first)
        .chain(lines[start + 1..].iter().copied())
        .collect::<Vec<_>>()
        .join("\n")
}

fn our_error(stderr: &str) -> String {
    stderr
        .strip_prefix("ERROR - ")
        .unwrap_or(stderr)
        .trim_end()
        .to_string()
}

#[test]
fn errors_match_the_archiver() {
    let Some(venv) = common::venv_or_skip("errors_match_the_archiver") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs");
    rich_inputs(&inputs);
    common::write(&inputs.join("dupe1/shared/a.txt"), "1");
    common::write(&inputs.join("dupe2/shared/b.txt"), "2");
    std::fs::create_dir_all(inputs.join("adir.py")).unwrap();
    let base = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "--model-name",
            "m",
            "-v",
            "1.0",
            "--handler",
            "model_handler:handle",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("bad name", {
            let mut a = base(&[]);
            a[1] = "bad name".into();
            a
        }),
        ("export path", base(&["--export-path", "no/such/dir"])),
        ("handler missing", {
            let mut a = base(&[]);
            a[5] = "nope:handle".into();
            a
        }),
        ("handler.py:fn quirk", {
            let mut a = base(&[]);
            a[5] = "model_handler.py:handle".into();
            a
        }),
        ("handler is a folder", {
            let mut a = base(&[]);
            a[5] = "adir.py".into();
            a
        }),
        (
            "extra missing",
            base(&["--extra-files", "index_to_name.json,nope.json"]),
        ),
        (
            "extra with a space",
            base(&["--extra-files", "index_to_name.json, m.py"]),
        ),
        (
            "serialized missing",
            base(&["--serialized-file", "missing.pt"]),
        ),
        (
            "merged folders clash",
            base(&["--extra-files", "dupe1,dupe2"]),
        ),
    ];
    for (what, args) in cases {
        let out = tmp.path().join(format!("out-{}", what.replace(' ', "_")));
        std::fs::create_dir_all(&out).unwrap();
        let mut args = args;
        if !args.iter().any(|a| a == "--export-path") {
            args.extend(["--export-path".into(), out.display().to_string()]);
        }
        let staging = tmp.path().join(format!("stage-{}", what.replace(' ', "_")));
        std::fs::create_dir_all(&staging).unwrap();
        let t = run(&archiver(&venv), None, &args, &inputs, &staging);
        let o = run(&common::mar_bin(), Some("create"), &args, &inputs, &staging);
        assert!(
            !t.status.success() && !o.status.success(),
            "{what}: both must fail"
        );
        assert_eq!(
            our_error(&String::from_utf8_lossy(&o.stderr)),
            python_error(&String::from_utf8_lossy(&t.stderr)),
            "{what}"
        );
    }

    // Writing over an existing archive needs -f, with the same message.
    let out = tmp.path().join("exists");
    std::fs::create_dir_all(&out).unwrap();
    let args = base(&["--export-path", "../exists"]);
    let t1 = run(&archiver(&venv), None, &args, &inputs, tmp.path());
    assert!(t1.status.success());
    let t2 = run(&archiver(&venv), None, &args, &inputs, tmp.path());
    let o2 = run(
        &common::mar_bin(),
        Some("create"),
        &args,
        &inputs,
        tmp.path(),
    );
    assert!(!o2.status.success());
    assert_eq!(
        our_error(&String::from_utf8_lossy(&o2.stderr)),
        python_error(&String::from_utf8_lossy(&t2.stderr))
    );
    let mut forced = args.clone();
    forced.push("-f".into());
    assert!(
        run(
            &common::mar_bin(),
            Some("create"),
            &forced,
            &inputs,
            tmp.path()
        )
        .status
        .success()
    );
}
