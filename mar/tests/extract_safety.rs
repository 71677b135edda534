//! Extraction refuses what could write outside its folder or exhaust the disk, names the file
//! in every error, and leaves nothing behind when it refuses.

mod common;

use std::path::Path;

use common::{RawEntry, raw_zip, tree, write};
use mar::ArchiveError;
use mar::create::{ArchiveFormat, create};
use mar::extract::{Limits, extract};

/// Extracts `archive` (bytes) under a fresh parent folder; returns the result and what the
/// parent holds afterwards (so an escape or a leftover shows up).
type Outcome = (
    Result<std::path::PathBuf, ArchiveError>,
    Vec<String>,
    tempfile::TempDir,
);

fn run(name: &str, bytes: &[u8], limits: &Limits) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join(name);
    write(&src, bytes);
    let parent = tmp.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    let result = extract(&src, &parent.join("dest"), limits);
    let left = tree(&parent);
    (result, left, tmp)
}

fn refused(name: &str, bytes: &[u8], limits: &Limits, check: impl Fn(&ArchiveError) -> bool) {
    let (result, left, _tmp) = run(name, bytes, limits);
    let err = result.expect_err("extraction should be refused");
    assert!(check(&err), "unexpected error: {err}");
    assert!(
        err.to_string().contains(name),
        "error does not name the file: {err}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn good() -> RawEntry {
    RawEntry::deflated("model_handler.py", b"def handle(d, c):\n    return d\n")
}

#[test]
fn parent_and_absolute_names_are_refused() {
    for evil in ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "a/.."] {
        let bytes = raw_zip(&[good(), RawEntry::stored(evil, b"x")]);
        refused("m.mar", &bytes, &Limits::default(), |e| {
            matches!(e, ArchiveError::UnsafeEntry { .. })
        });
    }
}

#[test]
fn links_that_escape_are_refused_even_through_other_links() {
    let cases = [
        vec![RawEntry::symlink("l", "../outside")],
        vec![RawEntry::symlink("l", "/etc/passwd")],
        // `a -> .` is harmless alone; `b -> a/..` then climbs out through it.
        vec![RawEntry::symlink("a", "."), RawEntry::symlink("b", "a/..")],
    ];
    for links in cases {
        let mut entries = vec![good()];
        entries.extend(links);
        refused("m.mar", &raw_zip(&entries), &Limits::default(), |e| {
            matches!(e, ArchiveError::LinkEscapes { .. })
        });
    }
}

#[test]
fn a_file_is_never_written_through_a_link() {
    // `d -> sub` is inside, but a later entry `d/x` must not be written through it.
    let entries = [
        good(),
        RawEntry::symlink("d", "sub"),
        RawEntry::stored("d/x", b"x"),
    ];
    let (result, _, _tmp) = run("m.mar", &raw_zip(&entries), &Limits::default());
    // Links are created last, so `d` is a real folder when `d/x` is written; then creating the
    // link `d` collides with it and is refused.
    assert!(
        matches!(result, Err(ArchiveError::UnsafeEntry { .. })),
        "{result:?}"
    );
}

#[test]
fn links_inside_the_folder_are_created() {
    let entries = [
        good(),
        RawEntry::stored("sub/w.pt", b"weights"),
        RawEntry::symlink("w.pt", "sub/w.pt"),
    ];
    let (result, left, _tmp) = run("m.mar", &raw_zip(&entries), &Limits::default());
    let dest = result.unwrap();
    assert_eq!(
        left,
        [
            "dest",
            "dest/model_handler.py",
            "dest/sub",
            "dest/sub/w.pt",
            "dest/w.pt"
        ]
    );
    assert_eq!(std::fs::read(dest.join("w.pt")).unwrap(), b"weights");
}

#[test]
fn zip_bombs_are_refused_before_anything_is_written() {
    refused(
        "bomb.mar",
        &common::overlapping_bomb(2100, 16 << 20),
        &Limits::default(),
        |e| matches!(e, ArchiveError::LimitExceeded { .. }),
    );
}

#[test]
fn sizes_are_counted_as_written_not_as_declared() {
    let mut liar = RawEntry::deflated("weights.pt", &vec![0u8; 1 << 20]);
    liar.size = 10;
    refused(
        "m.mar",
        &raw_zip(&[good(), liar]),
        &Limits::default(),
        |e| matches!(e, ArchiveError::LimitExceeded { .. }),
    );
    let small = Limits {
        max_total_bytes: 1000,
        max_entries: 100,
    };
    let big = RawEntry::deflated("weights.pt", &vec![7u8; 5000]);
    refused("m.mar", &raw_zip(&[good(), big]), &small, |e| {
        matches!(e, ArchiveError::LimitExceeded { .. })
    });
}

#[test]
fn entry_count_is_capped() {
    let entries: Vec<RawEntry> = (0..20)
        .map(|i| RawEntry::stored(&format!("f{i}"), b"x"))
        .collect();
    let limits = Limits {
        max_total_bytes: 1 << 20,
        max_entries: 10,
    };
    refused("m.mar", &raw_zip(&entries), &limits, |e| {
        matches!(e, ArchiveError::LimitExceeded { .. })
    });
}

#[test]
fn corrupt_and_truncated_archives_name_the_file() {
    let mut bad_crc = RawEntry::stored("weights.pt", b"0123456789");
    bad_crc.crc ^= 1;
    refused(
        "m.mar",
        &raw_zip(&[good(), bad_crc]),
        &Limits::default(),
        |e| matches!(e, ArchiveError::ChecksumMismatch { .. }),
    );
    let whole = raw_zip(&[good(), RawEntry::deflated("w.pt", &[1u8; 5000])]);
    for cut in [10, whole.len() / 2, whole.len() - 5] {
        refused("cut.mar", &whole[..cut], &Limits::default(), |e| {
            matches!(e, ArchiveError::Corrupt { .. })
        });
    }
    refused(
        "junk.tar.gz",
        b"\x1f\x8b\x08\x00garbage",
        &Limits::default(),
        |e| matches!(e, ArchiveError::Corrupt { .. }),
    );
    refused("junk.bin", b"just some bytes", &Limits::default(), |e| {
        matches!(e, ArchiveError::UnknownFormat { .. })
    });
}

#[test]
fn dest_must_be_absent_or_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("m.mar");
    write(&src, raw_zip(&[good()]));
    let dest = tmp.path().join("dest");
    write(&dest.join("existing"), b"keep me");
    let err = extract(&src, &dest, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::DestNotEmpty { .. }), "{err}");
    assert_eq!(std::fs::read(dest.join("existing")).unwrap(), b"keep me");
    // An existing empty folder is fine and is emptied again on failure.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let bad = tmp.path().join("bad.mar");
    write(&bad, raw_zip(&[good(), RawEntry::stored("../x", b"x")]));
    assert!(extract(&bad, &empty, &Limits::default()).is_err());
    assert!(empty.is_dir() && tree(&empty).is_empty());
}

#[test]
fn tgz_loses_its_first_component_like_torchserve() {
    let tmp = tempfile::tempdir().unwrap();
    common::seed_inputs(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let made = create(&common::seed_options(
        tmp.path(),
        &out,
        "seed",
        ArchiveFormat::Tgz,
    ))
    .unwrap();
    let dest = tmp.path().join("unpacked");
    let model_dir = extract(&made, &dest, &Limits::default()).unwrap();
    assert_eq!(model_dir, dest);
    assert_eq!(
        tree(&dest),
        [
            "MAR-INF",
            "MAR-INF/MANIFEST.json",
            "index_to_name.json",
            "m.pt",
            "m.py",
            "model_handler.py"
        ]
    );
    let loaded = mar::model_dir::load(&model_dir).unwrap();
    assert_eq!(loaded.manifest.unwrap().model_name(), Some("seed"));
}

#[test]
fn tgz_hard_links_must_name_an_unpacked_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    tar.append_link(&mut header, "m/passwd", "/etc/passwd")
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let dest = tmp.path().join("dest");
    let err = extract(&path, &dest, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::UnsafeEntry { .. } | ArchiveError::LinkEscapes { .. }
        ),
        "{err}"
    );
    assert!(!dest.exists());
    assert!(!Path::new(&tmp.path().join("passwd")).exists());
}

#[test]
fn model_dir_reads_manifest_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        &dir.join("MAR-INF/MANIFEST.json"),
        common::manifest_json("m", "h:handle").replace(
            "\"modelVersion\"",
            "\"configFile\": \"cfg.yaml\",\n    \"modelVersion\"",
        ),
    );
    write(
        &dir.join("cfg.yaml"),
        "batchSize: 4\nmaxBatchDelay: 50\nminWorkers: '2'\nhandler:\n  k: v\n",
    );
    let loaded = mar::model_dir::load(dir).unwrap();
    let config = loaded.config.unwrap();
    assert_eq!(config.batch_size, Some(4));
    assert_eq!(config.max_batch_delay, Some(50));
    assert_eq!(config.min_workers, None);
    assert_eq!(config.raw["handler"]["k"], "v");
    assert_eq!(
        loaded.config_warnings.len(),
        2,
        "{:?}",
        loaded.config_warnings
    );

    // Absent manifest: None. Malformed: an error naming the file.
    let empty = tempfile::tempdir().unwrap();
    assert!(
        mar::model_dir::load(empty.path())
            .unwrap()
            .manifest
            .is_none()
    );
    write(&empty.path().join("MAR-INF/MANIFEST.json"), "{");
    let err = mar::model_dir::load(empty.path()).unwrap_err();
    assert!(err.to_string().contains("MANIFEST.json"), "{err}");
}

#[test]
fn duplicate_names_are_reported_and_the_last_copy_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("dup.mar");
    write(
        &src,
        raw_zip(&[
            good(),
            RawEntry::stored("w.pt", b"first"),
            RawEntry::stored("w.pt", b"second"),
        ]),
    );
    let report = mar::check::check_path(&src);
    assert!(
        report.codes().contains(&"MAR035"),
        "{}",
        report.render_text()
    );
    let dest = extract(&src, &tmp.path().join("dest"), &Limits::default()).unwrap();
    assert_eq!(std::fs::read(dest.join("w.pt")).unwrap(), b"second");
}
