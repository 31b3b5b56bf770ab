//! The fuzzer's findings, kept: every saved crash (`fuzz/regressions/<target>/`) and every seed
//! (`fuzz/seeds/<target>/`) replayed on stable through the same target bodies the libFuzzer
//! binaries run (`fuzz/harness.rs`), so CI holds them without nightly.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::Path;

use crate::common;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    v.sort();
    v
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (target, _) in harness::TARGETS {
        for p in inputs(&common::repo().join("fuzz").join(kind).join(target)) {
            let data = std::fs::read(&p).unwrap();
            let r = std::panic::catch_unwind(|| harness::run(target, &data));
            assert!(r.is_ok(), "{target}: {} fails again", p.display());
            n += 1;
        }
    }
    n
}

#[test]
fn saved_fuzz_crashes_stay_fixed() {
    // Every directory is a target's: a misnamed one would silently replay nothing.
    let dir = common::repo().join("fuzz/regressions");
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name == "README.md" || harness::TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/regressions/{name} is not a fuzz target"
        );
    }
    replay("regressions");
}

#[test]
fn fuzz_seeds_pass_every_target() {
    let n = replay("seeds");
    assert!(n >= harness::TARGETS.len() * 2, "only {n} seeds");
}
