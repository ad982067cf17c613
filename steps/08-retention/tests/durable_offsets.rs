//! The offsets file on its own: what commits write, what a replay reads back, torn and damaged
//! last entries, compaction, and files that are not offsets files.
//!
//! Each recovery test writes and drops the store in one block, damages the file, and reopens and
//! checks in the next, as a restart after a crash would.

use std::fs;
use std::path::Path;

use step08_retention::inspect;
use step08_retention::offsets::{COMPACTION_FILE, OFFSETS_FILE};
use step08_retention::{ConsumerOffsets, OffsetsReplay};
use step_common::{cut_tail, flip_byte, redact_dir};

/// Opens the store in `dir` and returns it, dropping the replay report.
fn open(dir: &Path) -> ConsumerOffsets {
    ConsumerOffsets::open(dir).unwrap().0
}

/// Returns the rendering of the offsets file in `dir`.
fn describe(dir: &Path) -> String {
    let bytes = fs::read(dir.join(OFFSETS_FILE)).unwrap();
    inspect::describe_offsets(OFFSETS_FILE, &bytes)
}

#[test]
fn offsets_file_after_commits() {
    let dir = tempfile::tempdir().unwrap();
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 2).unwrap();
        offsets.commit("billing", "greetings", 1, 7).unwrap();
        offsets.commit("audit", "greetings", 0, 4).unwrap();
    }
    insta::assert_snapshot!(describe(dir.path()));
}

#[test]
fn new_store_has_header_only() {
    let dir = tempfile::tempdir().unwrap();
    let offsets_dir = dir.path().join("offsets");
    let (offsets, replay) = ConsumerOffsets::open(&offsets_dir).unwrap();

    assert!(offsets.is_empty());
    assert_eq!(replay, OffsetsReplay::default());
    assert_eq!(
        fs::read(offsets_dir.join(OFFSETS_FILE)).unwrap(),
        b"ROFF\0\0\0\x01"
    );
}

#[test]
fn commits_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 5).unwrap();
        offsets.commit("audit", "greetings", 0, 9).unwrap();
        // A smaller offset replaces a larger one after a replay too.
        offsets.commit("audit", "greetings", 1, 8).unwrap();
        offsets.commit("audit", "greetings", 1, 3).unwrap();
    }

    let (offsets, replay) = ConsumerOffsets::open(dir.path()).unwrap();
    assert_eq!(offsets.committed("audit", "greetings", 0), Some(9));
    assert_eq!(offsets.committed("audit", "greetings", 1), Some(3));
    assert_eq!(offsets.committed("billing", "greetings", 0), None);
    assert_eq!(
        replay,
        OffsetsReplay {
            entries: 4,
            keys: 2,
            truncated_bytes: 0,
            removed_compaction_file: false,
        }
    );
}

// ANCHOR: torn_last_entry
#[test]
fn torn_last_entry_keeps_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OFFSETS_FILE);
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 100).unwrap();
    }
    let before_second = fs::metadata(&path).unwrap().len();
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 200).unwrap();
    }
    let whole = fs::read(&path).unwrap();

    // A crash can stop the second entry after any of its bytes. Every cut gives back the first
    // value, never a mix of the two.
    for cut in before_second..whole.len() as u64 {
        fs::write(&path, &whole[..cut as usize]).unwrap();

        let (offsets, replay) = ConsumerOffsets::open(dir.path()).unwrap();
        assert_eq!(
            offsets.committed("audit", "greetings", 0),
            Some(100),
            "cut at byte {cut}"
        );
        assert_eq!(replay.entries, 1, "cut at byte {cut}");
        assert_eq!(
            replay.truncated_bytes,
            cut - before_second,
            "cut at byte {cut}"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            before_second,
            "cut at byte {cut}"
        );

        // The store takes new commits after the repair, and they survive the next replay.
        offsets.commit("audit", "greetings", 0, 300).unwrap();
        drop(offsets);
        let reopened = open(dir.path());
        assert_eq!(
            reopened.committed("audit", "greetings", 0),
            Some(300),
            "cut at byte {cut}"
        );
    }
}
// ANCHOR_END: torn_last_entry

#[test]
fn torn_entry_rendering_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OFFSETS_FILE);
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 4).unwrap();
        offsets.commit("audit", "greetings", 0, 5).unwrap();
    }
    cut_tail(&path, 11);
    let before = describe(dir.path());

    let (offsets, replay) = ConsumerOffsets::open(dir.path()).unwrap();
    let committed = offsets.committed("audit", "greetings", 0);
    let after = describe(dir.path());
    insta::assert_snapshot!(format!(
        "--- on disk after the crash\n{before}\n--- ConsumerOffsets::open returned\n{replay:#?}\ncommitted: {committed:?}\n\n--- on disk after the replay\n{after}"
    ));
}

#[test]
fn damaged_last_entry_keeps_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OFFSETS_FILE);
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 1).unwrap();
    }
    let before_second = fs::metadata(&path).unwrap().len();
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 2).unwrap();
    }
    let whole = fs::read(&path).unwrap();

    // A bad disk can change any byte of the entry. The CRC catches every single flipped bit.
    for position in before_second..whole.len() as u64 {
        fs::write(&path, &whole).unwrap();
        flip_byte(&path, position);

        let (offsets, replay) = ConsumerOffsets::open(dir.path()).unwrap();
        assert_eq!(
            offsets.committed("audit", "greetings", 0),
            Some(1),
            "flip at byte {position}"
        );
        assert_eq!(
            replay.truncated_bytes,
            whole.len() as u64 - before_second,
            "flip at byte {position}"
        );
    }
}

#[test]
fn compaction_keeps_latest_values() {
    const SLACK: usize = 4;
    const COMMITS: u64 = 30;
    let dir = tempfile::tempdir().unwrap();
    {
        let (offsets, _) = ConsumerOffsets::open_with_slack(dir.path(), SLACK).unwrap();
        let mut max_entries = 0;
        for offset in 0..COMMITS {
            let partition = (offset % 3) as u32;
            offsets
                .commit("audit", "greetings", partition, offset)
                .unwrap();
            max_entries = max_entries.max(offsets.entries_in_file());
        }
        // The commit that takes the file past 2 * keys + SLACK entries compacts it before it
        // returns, so no caller sees more.
        assert_eq!(max_entries, 2 * 3 + SLACK);
    }

    let (offsets, replay) = ConsumerOffsets::open(dir.path()).unwrap();
    for partition in 0..3 {
        let last = (0..COMMITS)
            .filter(|offset| offset % 3 == u64::from(partition))
            .max();
        assert_eq!(offsets.committed("audit", "greetings", partition), last);
    }
    assert!(replay.entries <= 2 * 3 + SLACK, "{replay:?}");
    assert!(!dir.path().join(COMPACTION_FILE).exists());
}

#[test]
fn offsets_file_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (offsets, _) = ConsumerOffsets::open_with_slack(dir.path(), 0).unwrap();
        // With no slack, the third entry for one key compacts the file to a single entry.
        for offset in [3, 4, 5] {
            offsets.commit("audit", "greetings", 0, offset).unwrap();
        }
        offsets.commit("billing", "greetings", 0, 1).unwrap();
    }
    insta::assert_snapshot!(describe(dir.path()));
}

#[test]
fn leftover_compaction_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let offsets = open(dir.path());
        offsets.commit("audit", "greetings", 0, 6).unwrap();
    }
    // A compaction that crashed before its rename leaves a file that may be incomplete.
    fs::write(dir.path().join(COMPACTION_FILE), b"ROFF\0\0\0\x01\0\0").unwrap();

    let (offsets, replay) = ConsumerOffsets::open(dir.path()).unwrap();
    assert!(replay.removed_compaction_file);
    assert!(!dir.path().join(COMPACTION_FILE).exists());
    assert_eq!(offsets.committed("audit", "greetings", 0), Some(6));
}

#[test]
fn file_of_another_kind_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(OFFSETS_FILE), b"RLOG\0\0\0\x01").unwrap();

    let error = ConsumerOffsets::open(dir.path()).unwrap_err();
    let _redacted = redact_dir(dir.path()).bind_to_scope();
    insta::assert_snapshot!(error.to_string());
}
