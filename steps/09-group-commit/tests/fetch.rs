//! Fetching: the fetch rule at every offset and budget, which segments are read through a map,
//! appends seen by fetches of the active segment, and damage found through the map.

use std::path::Path;

use step09_group_commit::segment::file_name;
use step09_group_commit::{NewRecord, Partition, PartitionConfig, Record, StorageError};
use step_common::flip_byte;

/// Timestamp of the first scripted record: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// Returns the scripted appends: frames of 43, 37, 43, 43, 44 and 28 bytes, 238 in all.
fn script() -> [NewRecord<'static>; 6] {
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
        NewRecord {
            timestamp_ms: T0 + 5,
            key: Some(b""),
            value: b"",
        },
    ]
}

/// Returns a config with 100-byte segments, so the script fills segments 0 and 2 (sealed) and
/// 4 (active), two records each. Each segment's second record gets an index entry.
fn config() -> PartitionConfig {
    PartitionConfig {
        segment_bytes: 100,
        index_interval_bytes: 40,
    }
}

/// Opens a new partition in `dir`, appends the script, and returns the partition.
fn write_script(dir: &Path) -> Partition {
    let (mut partition, _) = Partition::open(dir, config()).unwrap();
    for record in &script() {
        partition.append(record).unwrap();
    }
    partition
}

/// Returns the record a reader gets back for `record` stored at `offset`.
fn stored(offset: u64, record: &NewRecord<'_>) -> Record {
    Record {
        offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.to_vec(),
    }
}

/// Returns the offsets a fetch must return by the fetch rule, computed from the frame lengths
/// alone: records from `offset` while the frames fit in `max_bytes`, and always the first one.
fn expected_offsets(frame_lens: &[u64], offset: u64, max_bytes: u64) -> Vec<u64> {
    let mut offsets = Vec::new();
    let mut used = 0;
    for (at, &frame_len) in frame_lens.iter().enumerate().skip(offset as usize) {
        if !offsets.is_empty() && used + frame_len > max_bytes {
            break;
        }
        offsets.push(at as u64);
        used += frame_len;
    }
    offsets
}

/// Describes how the partition reads each segment, as in "0 mapped, 2 mapped, 4 pread".
fn segment_kinds(partition: &Partition) -> String {
    let kinds: Vec<String> = partition
        .segments()
        .iter()
        .map(|segment| {
            let kind = if segment.is_mapped() {
                "mapped"
            } else {
                "pread"
            };
            format!("{} {kind}", segment.base_offset())
        })
        .collect();
    kinds.join(", ")
}

#[test]
fn fetch_results_table() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_script(dir.path());

    // (offset, max_bytes): zero and one-byte budgets in a sealed and in the active segment, and a
    // budget that fits exactly two frames next to one a byte short. Then fetches that cross from
    // mapped segments into the active one, and the log end.
    let fetches = [
        (0, 0),
        (0, 1),
        (0, 80),
        (0, 79),
        (1, 80),
        (1, 81),
        (2, 1000),
        (3, 87),
        (4, 0),
        (5, 1),
        (0, u64::MAX),
        (6, 1000),
    ];
    let mut table = format!("segments: {}\n\n", segment_kinds(&partition));
    for (offset, max_bytes) in fetches {
        let records = partition.fetch(offset, max_bytes).unwrap();
        let offsets: Vec<u64> = records.iter().map(|record| record.offset).collect();
        let bytes: u64 = records.iter().map(Record::frame_len).sum();
        table += &format!(
            "fetch({offset}, max_bytes {max_bytes}) -> offsets {offsets:?}, {bytes} bytes\n"
        );
    }
    insta::assert_snapshot!(table);
}

#[test]
fn fetch_matches_rule_at_every_offset_and_budget() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_script(dir.path());
    let frame_lens: Vec<u64> = script().iter().map(NewRecord::frame_len).collect();
    let total: u64 = frame_lens.iter().sum();

    for offset in 0..=script().len() as u64 {
        for max_bytes in 0..=total + 1 {
            let records = partition.fetch(offset, max_bytes).unwrap();
            let expected: Vec<Record> = expected_offsets(&frame_lens, offset, max_bytes)
                .into_iter()
                .map(|at| stored(at, &script()[at as usize]))
                .collect();
            assert_eq!(records, expected, "fetch({offset}, max_bytes {max_bytes})");
        }
    }
}

#[test]
fn only_sealed_segments_are_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_script(dir.path());
    assert_eq!(segment_kinds(&partition), "0 mapped, 2 mapped, 4 pread");

    // A roll seals the active segment, and sealing maps it.
    partition.append(&script()[0]).unwrap();
    assert_eq!(
        segment_kinds(&partition),
        "0 mapped, 2 mapped, 4 mapped, 6 pread"
    );
    drop(partition);

    // Opening maps every segment but the last.
    let (partition, _) = Partition::open(dir.path(), config()).unwrap();
    assert_eq!(
        segment_kinds(&partition),
        "0 mapped, 2 mapped, 4 mapped, 6 pread"
    );
    let expected: Vec<Record> = script()
        .iter()
        .chain([&script()[0]])
        .enumerate()
        .map(|(offset, record)| stored(offset as u64, record))
        .collect();
    assert_eq!(partition.fetch(0, u64::MAX).unwrap(), expected);
}

#[test]
fn fetch_sees_each_append_to_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut partition, _) = Partition::open(dir.path(), config()).unwrap();

    // A reader that has caught up fetches at the log end, gets nothing, and fetches again later.
    for (offset, record) in script()[..2].iter().enumerate() {
        let offset = offset as u64;
        assert_eq!(partition.fetch(offset, 1000).unwrap(), []);
        partition.append(record).unwrap();
        assert_eq!(
            partition.fetch(offset, 1000).unwrap(),
            [stored(offset, record)]
        );
    }
    assert_eq!(segment_kinds(&partition), "0 pread");
}

#[test]
fn damaged_length_in_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_script(dir.path()));

    // Offset 1's frame starts at byte 51 of segment 0. Adding 256 to its length field (bytes 59
    // to 62) makes the frame run past the end of the file. Sealed segments are not scanned, so
    // opening succeeds.
    flip_byte(&dir.path().join(file_name(0, "log")), 61);
    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert!(report.rebuilt_indexes.is_empty());

    // A budget that ends before the damaged frame never looks at it.
    let before = partition.fetch(0, 50).unwrap();
    assert_eq!(before, [stored(0, &script()[0])]);

    // A budget that covers it, and a fetch that starts at it, report the damage.
    let covering = partition.fetch(0, 1000).unwrap_err();
    let starting = partition.fetch(1, 1).unwrap_err();
    for error in [&covering, &starting] {
        assert!(
            matches!(error, StorageError::Corrupt { position: 51, .. }),
            "{error}"
        );
    }

    // Later segments are unaffected.
    assert_eq!(partition.fetch(2, 1).unwrap(), [stored(2, &script()[2])]);

    let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();
    insta::assert_snapshot!(format!(
        "fetch(0, max_bytes 1000): {covering}\nfetch(1, max_bytes 1): {starting}\n"
    ));
}
