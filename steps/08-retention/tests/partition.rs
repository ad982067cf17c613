//! Appending, rolling and fetching by offset: the files on disk and what fetches return.

use std::path::Path;

use step08_retention::{inspect, NewRecord, Partition, PartitionConfig, Record, StorageError};

/// Timestamp of the first scripted record: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// A segment size that fits the header and two of the scripted records, so the script rolls twice.
const SEGMENT_BYTES: u64 = 100;

/// Returns the scripted appends: frames of 43, 37, 43, 43, 44 and 28 bytes.
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

/// Returns a config whose index interval gives each segment of the script one entry, for its
/// second record.
fn config() -> PartitionConfig {
    PartitionConfig {
        segment_bytes: SEGMENT_BYTES,
        index_interval_bytes: 40,
    }
}

/// Opens a new partition in `dir`, appends the script, and returns the partition.
fn write_script(dir: &Path) -> Partition {
    let (mut partition, _) = Partition::open(dir, config()).unwrap();
    for (expected_offset, record) in script().iter().enumerate() {
        assert_eq!(partition.append(record).unwrap(), expected_offset as u64);
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

fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|record| record.offset).collect()
}

#[test]
fn appended_records_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path());

    insta::assert_snapshot!(inspect::describe_dir(dir.path()).unwrap());
}

#[test]
fn segments_roll_at_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_script(dir.path());

    let bases: Vec<u64> = partition
        .segments()
        .iter()
        .map(|segment| segment.base_offset())
        .collect();
    assert_eq!(bases, [0, 2, 4]);
    for segment in partition.segments() {
        assert!(
            segment.size() <= SEGMENT_BYTES,
            "{} is over the limit",
            segment.log_path().display()
        );
    }
    insta::assert_snapshot!(inspect::list_dir(dir.path()).unwrap());
}

#[test]
fn fetch_returns_records_as_appended() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_script(dir.path());

    let records = partition.fetch(0, u64::MAX).unwrap();
    let expected: Vec<Record> = script()
        .iter()
        .enumerate()
        .map(|(offset, record)| stored(offset as u64, record))
        .collect();
    assert_eq!(records, expected);
}

#[test]
fn fetch_by_offset_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_script(dir.path());

    // (offset, max_bytes): whole partition, budget of one byte, an exact fit and a budget that
    // ends inside a frame, a start in each segment, and the log end.
    let fetches = [
        (0, 1000),
        (0, 1),
        (0, 80),
        (0, 81),
        (1, 80),
        (3, 87),
        (4, 1000),
        (5, 0),
        (6, 1000),
    ];
    let mut table = String::new();
    for (offset, max_bytes) in fetches {
        let records = partition.fetch(offset, max_bytes).unwrap();
        table += &format!(
            "fetch({offset}, max_bytes {max_bytes}) -> offsets {:?}\n",
            offsets(&records)
        );
    }
    insta::assert_snapshot!(table);
}

#[test]
fn fetch_outside_range_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_script(dir.path());

    let error = partition.fetch(7, 1000).unwrap_err();
    assert!(matches!(
        error,
        StorageError::OffsetOutOfRange {
            offset: 7,
            log_start: 0,
            log_end: 6
        }
    ));
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn reopen_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_script(dir.path()));

    let (mut partition, report) = Partition::open(dir.path(), config()).unwrap();
    insta::assert_debug_snapshot!(report);

    let extra = NewRecord {
        timestamp_ms: T0 + 6,
        key: None,
        value: b"after reopen",
    };
    assert_eq!(partition.append(&extra).unwrap(), 6);
    assert_eq!(partition.fetch(6, 1000).unwrap(), [stored(6, &extra)]);
}

#[test]
fn large_record_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_script(dir.path());

    // 28 + 150 bytes: more than a whole segment may hold, so it goes alone into an empty one.
    let value = [b'x'; 150];
    let large = NewRecord {
        timestamp_ms: T0 + 6,
        key: None,
        value: &value,
    };
    assert_eq!(partition.append(&large).unwrap(), 6);
    assert_eq!(partition.append(&script()[0]).unwrap(), 7);

    insta::assert_snapshot!(inspect::list_dir(dir.path()).unwrap());
    assert_eq!(partition.fetch(6, 1).unwrap(), [stored(6, &large)]);
}

#[test]
fn oversized_record_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_script(dir.path());
    let before = inspect::list_dir(dir.path()).unwrap();

    let value = vec![0; 1024 * 1024];
    let record = NewRecord {
        timestamp_ms: T0,
        key: None,
        value: &value,
    };
    let error = partition.append(&record).unwrap_err();

    assert!(matches!(
        error,
        StorageError::RecordTooLarge {
            size: 1_048_604,
            max: 1_048_576
        }
    ));
    assert_eq!(partition.log_end_offset(), 6);
    assert_eq!(inspect::list_dir(dir.path()).unwrap(), before);
}

#[test]
fn segment_bytes_above_u32_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = PartitionConfig {
        segment_bytes: 1 << 32,
        ..PartitionConfig::default()
    };

    let error = Partition::open(dir.path(), config).unwrap_err();
    assert!(matches!(
        error,
        StorageError::InvalidConfig {
            field: "segment_bytes",
            ..
        }
    ));
    insta::assert_snapshot!(error.to_string());
}
