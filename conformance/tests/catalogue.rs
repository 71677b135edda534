//! The catalogue is complete and consistent: unique well-formed ids, every group present,
//! every id reported by exactly one check call, and docs/checks.md regenerated.
use std::collections::{BTreeMap, BTreeSet};

use conformance::harness::{Group, Level};

#[test]
fn ids_are_unique_and_well_formed() {
    let checks = conformance::cases::catalogue();
    assert!(checks.len() >= 120, "only {} checks", checks.len());
    let re = regex::Regex::new(r"^[A-Z]{3,4}-\d+(\.\d+)?-\d{2}$").unwrap();
    let mut seen = BTreeSet::new();
    for c in &checks {
        assert!(re.is_match(c.id), "malformed id {}", c.id);
        assert!(seen.insert(c.id), "duplicate id {}", c.id);
        assert!(!c.title.is_empty());
    }
    for g in Group::ALL {
        assert!(
            checks.iter().any(|c| c.group == g),
            "group {} has no checks",
            g.as_str()
        );
    }
    assert!(checks.iter().filter(|c| c.level == Level::Must).count() >= 100);
}

#[test]
fn every_catalogue_id_is_checked_exactly_once_in_the_sources() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cases");
    let call = regex::Regex::new(r#"s\.check\(\s*"([A-Z0-9.\-]+)""#).unwrap();
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for cap in call.captures_iter(&text) {
            *uses.entry(cap[1].to_owned()).or_default() += 1;
        }
    }
    let ids: BTreeSet<String> = conformance::cases::catalogue()
        .iter()
        .map(|c| c.id.to_owned())
        .collect();
    for (id, n) in &uses {
        assert!(ids.contains(id), "{id} is checked but not in the catalogue");
        assert_eq!(*n, 1, "{id} is checked {n} times");
    }
    for id in &ids {
        assert!(
            uses.contains_key(id),
            "{id} is in the catalogue but never checked"
        );
    }
}

#[test]
fn docs_checks_md_is_generated_from_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/checks.md");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let fresh = conformance::catalogue::markdown(&conformance::cases::catalogue());
    assert!(
        on_disk == fresh,
        "docs/checks.md is stale: run `tsconform list --format markdown --out conformance/docs/checks.md`"
    );
}

#[test]
fn the_golden_lifecycle_snapshot_is_recorded() {
    let golden = conformance::cases::lifecycle::golden();
    assert!(
        golden.starts_with("== register without url\n"),
        "snapshot not recorded: {golden:.80}"
    );
    assert!(
        golden.contains("== delete alpha again\n"),
        "snapshot incomplete"
    );
}

/// The CLI compares transcripts with the file's text after the header; cargo test compares
/// them through insta. Both readings must agree, or one target could pass where the other fails.
#[test]
fn insta_reads_the_snapshot_as_the_cli_does() {
    let transcript = conformance::cases::lifecycle::golden()
        .trim_end()
        .to_owned();
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("lifecycle", transcript);
    });
    let rewritten = conformance::cases::lifecycle::snapshot_file(&transcript);
    let on_disk = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/snapshots/lifecycle.snap"
    ))
    .unwrap();
    assert_eq!(
        rewritten, on_disk,
        "--bless would write the file differently"
    );
}
