//! Random and damaged input never panics the reader, the checker or the extractor, and
//! extraction never writes outside its target.

mod common;

use std::path::Path;

use mar::archive::Archive;
use mar::create::{ArchiveFormat, create};
use mar::extract::{Limits, extract};
use proptest::prelude::*;

/// Runs every reader over `bytes` stored as `name`; panics only if one of them panics or
/// extraction leaves anything beside its target.
fn exercise(name: &str, bytes: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join(name);
    std::fs::write(&src, bytes).unwrap();
    if let Ok(mut archive) = Archive::open(&src) {
        let names: Vec<String> = archive.entries.iter().map(|e| e.name.clone()).collect();
        for n in names.iter().take(8) {
            let _ = archive.read(n);
        }
        let _ = archive.verify();
    }
    let _ = mar::inspect::inspect_path(&src);
    let report = mar::check::check_path(&src);
    let _ = report.render_text();
    let parent = tmp.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    let limits = Limits {
        max_total_bytes: 64 << 20,
        max_entries: 10_000,
    };
    let _ = extract(&src, &parent.join("dest"), &limits);
    let outside: Vec<String> = common::tree(&parent)
        .into_iter()
        .filter(|p| p != "dest" && !p.starts_with("dest/"))
        .collect();
    assert!(outside.is_empty(), "written outside dest: {outside:?}");
}

fn seed_archive(format: ArchiveFormat) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    common::seed_inputs(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let made = create(&common::seed_options(tmp.path(), &out, "seed", format)).unwrap();
    std::fs::read(made).unwrap()
}

fn magic() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"PK\x03\x04".to_vec()),
        Just(b"PK\x05\x06".to_vec()),
        Just(vec![0x1f, 0x8b, 0x08, 0x00]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(head in magic(), tail in prop::collection::vec(any::<u8>(), 0..2048)) {
        let bytes = [head, tail].concat();
        exercise("random.mar", &bytes);
        exercise("random.tar.gz", &bytes);
    }

    #[test]
    fn damaged_archives_never_panic(
        zip in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = seed_archive(if zip { ArchiveFormat::Default } else { ArchiveFormat::Tgz });
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        exercise(if zip { "damaged.mar" } else { "damaged.tar.gz" }, &bytes);
    }

    #[test]
    fn manifest_and_config_parsers_never_panic(text in "\\PC{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = mar::manifest::Manifest::from_slice(&bytes);
        let _ = mar::manifest::Manifest::from_slice(text.as_bytes());
        let _ = mar::model_config::ModelConfig::parse(&text);
    }
}

#[test]
fn exercise_keeps_the_seed_intact() {
    // The harness itself: on an undamaged archive, extraction must have produced the files.
    let bytes = seed_archive(ArchiveFormat::Default);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("seed.mar");
    std::fs::write(&src, &bytes).unwrap();
    let dest = tmp.path().join("dest");
    extract(&src, &dest, &Limits::default()).unwrap();
    assert!(Path::new(&dest.join("model_handler.py")).is_file());
}
