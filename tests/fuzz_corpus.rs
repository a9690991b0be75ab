//! The kept libFuzzer corpus (fuzz/corpus/<target>/) replayed on stable through the fuzz
//! targets' own entry functions (fuzz/src/lib.rs, included here), so that every input a fuzz
//! run found interesting, crashes fixed included, stays a regression test without nightly or
//! cargo-fuzz. scripts/fuzz-libfuzzer.sh runs the targets themselves.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod entries;

use std::path::Path;

#[test]
fn every_kept_fuzz_input_is_answered_as_promised() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (target, entry) in entries::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {target}");
        for file in &files {
            let data = std::fs::read(file).unwrap();
            let replay = std::panic::catch_unwind(|| entry(&data));
            assert!(replay.is_ok(), "{target}: {} failed", file.display());
        }
        total += files.len();
    }
    // Every folder is a target: a renamed target does not leave its corpus unreplayed.
    for dir in std::fs::read_dir(&root).unwrap() {
        let name = dir.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            entries::TARGETS.iter().any(|(target, _)| *target == name),
            "fuzz/corpus/{name} is no target's corpus"
        );
    }
    assert!(total > 0);
}
