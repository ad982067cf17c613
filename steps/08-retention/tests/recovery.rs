//! Recovery after a crash: a torn or damaged tail of the active segment is cut off when the
//! partition is opened, its index is brought in line, and sealed segments are trusted.
//!
//! Each test writes the partition and drops it in one block, damages a file the way a crash or a
//! bad disk would, then reopens the partition and checks what survived.

use std::fs;
use std::path::{Path, PathBuf};

use step08_retention::segment::{file_name, LOG_HEADER_BYTES};
use step08_retention::{inspect, NewRecord, Partition, PartitionConfig, StorageError};
use step_common::{append_bytes, cut_tail, flip_byte};

const T0: i64 = 1_700_000_000_000;

fn script() -> [NewRecord<'static>; 5] {
    [
        NewRecord {
            timestamp_ms: T0,
            key: Some(b"user-1"),
            value: b"signed up",
        },
        NewRecord {
            timestamp_ms: T0 + 1,
            key: None,
            value: b"heartbeat",
        },
        NewRecord {
            timestamp_ms: T0 + 2,
            key: Some(b"user-1"),
            value: b"logged in",
        },
        NewRecord {
            timestamp_ms: T0 + 3,
            key: Some(b"user-2"),
            value: b"signed up",
        },
        NewRecord {
            timestamp_ms: T0 + 4,
            key: Some(b"user-1"),
            value: b"logged out",
        },
    ]
}

/// Segments of 0..=1, 2..=3 and 4: the active segment contains offsets 2 and 3 until offset 4
/// rolls.
/// Each segment's second record gets an index entry.
fn config() -> PartitionConfig {
    PartitionConfig {
        segment_bytes: 100,
        index_interval_bytes: 40,
    }
}

/// Writes the first `count` scripted records to a new partition in `dir` and closes it.
fn write_script(dir: &Path, count: usize) {
    let (mut partition, _) = Partition::open(dir, config()).unwrap();
    for record in &script()[..count] {
        partition.append(record).unwrap();
    }
}

fn segment_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(file_name(base_offset, "log"))
}

/// Renders the directory before recovery, the recovery report, and the directory after it.
fn recover_and_describe(dir: &Path) -> (Partition, String) {
    let before = inspect::describe_dir(dir).unwrap();
    let (partition, report) = Partition::open(dir, config()).unwrap();
    let after = inspect::describe_dir(dir).unwrap();
    let story = format!(
        "--- on disk after the crash\n{before}\n--- Partition::open returned\n{report:#?}\n\n--- on disk after recovery\n{after}"
    );
    (partition, story)
}

#[test]
fn torn_write_in_active_segment_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), 4);

    // The crash hit while offset 3 was being written: its last 7 bytes never arrived.
    cut_tail(&segment_path(dir.path(), 2), 7);

    let (mut partition, story) = recover_and_describe(dir.path());
    insta::assert_snapshot!(story);
    assert_eq!(partition.log_end_offset(), 3);

    // The offset of the lost record is given again.
    assert_eq!(partition.append(&script()[3]).unwrap(), 3);
    assert_eq!(partition.fetch(0, u64::MAX).unwrap().len(), 4);
}

#[test]
fn zero_filled_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), 4);
    append_bytes(&segment_path(dir.path(), 2), &[0; 16]);

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    insta::assert_debug_snapshot!(report);
    assert_eq!(partition.log_end_offset(), 4);
}

#[test]
fn empty_active_segment_after_roll_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), 5);

    // The crash hit right after the roll created the files for offset 4, before its data landed.
    cut_tail(&segment_path(dir.path(), 4), 44);

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert_eq!(report.segments, 3);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(partition.log_end_offset(), 4);
    assert!(partition.fetch(4, 1000).unwrap().is_empty());
}

#[test]
fn damage_in_sealed_segment_is_found_by_fetch() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), 5);

    // The last byte of offset 1's value. Sealed segments are not scanned on open, so the damage
    // goes unnoticed until a fetch reaches it.
    let sealed = segment_path(dir.path(), 0);
    flip_byte(&sealed, fs::metadata(&sealed).unwrap().len() - 1);

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(partition.fetch(0, 1).unwrap().len(), 1);

    let error = partition.fetch(1, 1000).unwrap_err();
    assert!(matches!(error, StorageError::Corrupt { position: 51, .. }));
    let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn every_cut_of_active_segment_keeps_whole_frames() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), 4);
    let active = segment_path(dir.path(), 2);
    let bytes = fs::read(&active).unwrap();

    let first_frame_end = LOG_HEADER_BYTES + script()[2].frame_len();

    for cut in 0..=bytes.len() as u64 {
        fs::write(&active, &bytes[..cut as usize]).unwrap();

        let (partition, report) = Partition::open(dir.path(), config()).unwrap();
        let (expected_end, expected_len) = match cut {
            _ if cut == bytes.len() as u64 => (4, cut),
            _ if cut >= first_frame_end => (3, first_frame_end),
            _ => (2, LOG_HEADER_BYTES),
        };
        assert_eq!(partition.log_end_offset(), expected_end, "cut at {cut}");
        assert_eq!(
            fs::metadata(&active).unwrap().len(),
            expected_len,
            "cut at {cut}"
        );

        // A cut inside the header leaves no record to lose: the header is written again.
        let expected_truncated = cut.saturating_sub(expected_len);
        assert_eq!(report.truncated_bytes, expected_truncated, "cut at {cut}");

        // Offset 3 has the index entry, so the index must lose it with the record.
        let entries = partition.segments()[1].index().entries().len();
        assert_eq!(entries, usize::from(expected_end == 4), "cut at {cut}");
        drop(partition);
    }
}

#[test]
fn wrong_log_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), 4);

    // Not a segment of this format: recovery must not cut it down to nothing.
    let active = segment_path(dir.path(), 2);
    flip_byte(&active, 0);

    let error = Partition::open(dir.path(), config()).unwrap_err();
    assert!(matches!(error, StorageError::Corrupt { position: 0, .. }));
    assert_eq!(
        fs::metadata(&active).unwrap().len(),
        94,
        "the file was changed"
    );
    let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();
    insta::assert_snapshot!(error.to_string());
}
