//! Appending records to a partition and reading them back: offsets, keys, values, timestamps,
//! and the checks an append makes before it writes anything.

mod common;

use std::path::Path;

use common::{config, file_len, log_path, read_all, record, TIMESTAMP_MS};
use rustlog::storage::record::HEADER_BYTES;
use rustlog::storage::{
    Appended, FlushPolicy, NewRecord, Partition, PartitionConfig, Record, StorageError,
};

/// Opens a partition with 4 KiB segments, so a few hundred bytes of records stay in one segment.
fn open(dir: &Path) -> Partition {
    Partition::open(dir, config(4096, 1024)).unwrap().0
}

/// Appends one record and returns it as read back from its offset.
fn round_trip(record: NewRecord<'_>) -> Record {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());
    let offset = partition.append(&[record]).unwrap().first_offset;
    let mut records = partition.read(offset, u64::MAX).unwrap();
    assert_eq!(records.len(), 1, "expected exactly the one record appended");
    records.remove(0)
}

#[test]
fn first_append_gets_offset_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());

    let appended = partition.append(&[record(b"a")]).unwrap();

    assert_eq!(
        appended,
        Appended {
            first_offset: 0,
            last_offset: 0
        }
    );
}

#[test]
fn batches_get_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());

    let first = partition
        .append(&[record(b"a"), record(b"b"), record(b"c")])
        .unwrap();
    let second = partition.append(&[record(b"d"), record(b"e")]).unwrap();

    assert_eq!(
        first,
        Appended {
            first_offset: 0,
            last_offset: 2
        }
    );
    assert_eq!(
        second,
        Appended {
            first_offset: 3,
            last_offset: 4
        }
    );
    assert_eq!(partition.log_end_offset(), 5);
}

#[test]
fn read_returns_records_in_append_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());
    partition.append(&[record(b"a"), record(b"b")]).unwrap();
    partition.append(&[record(b"c")]).unwrap();

    let records = read_all(&partition);

    let values: Vec<&[u8]> = records
        .iter()
        .map(|record| record.value.as_slice())
        .collect();
    let offsets: Vec<u64> = records.iter().map(|record| record.offset).collect();
    assert_eq!(values, [&b"a"[..], b"b", b"c"]);
    assert_eq!(offsets, [0, 1, 2]);
}

#[test]
fn read_from_middle_starts_at_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());
    partition
        .append(&[record(b"a"), record(b"b"), record(b"c")])
        .unwrap();

    let records = partition.read(1, u64::MAX).unwrap();

    assert_eq!(records.len(), 2);
    assert_eq!(records[0].offset, 1);
    assert_eq!(records[0].value, b"b");
}

#[test]
fn key_none_round_trips() {
    let read = round_trip(NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: None,
        value: b"v",
    });

    assert_eq!(read.key, None);
}

#[test]
fn key_empty_round_trips_as_some() {
    let read = round_trip(NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: Some(b""),
        value: b"v",
    });

    assert_eq!(read.key, Some(Vec::new()));
}

#[test]
fn key_bytes_round_trip() {
    let read = round_trip(NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: Some(b"user-42"),
        value: b"v",
    });

    assert_eq!(read.key.as_deref(), Some(&b"user-42"[..]));
    assert_eq!(read.value, b"v");
}

#[test]
fn empty_value_round_trips() {
    let read = round_trip(NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: Some(b"k"),
        value: b"",
    });

    assert_eq!(read.value, b"");
    assert_eq!(read.key.as_deref(), Some(&b"k"[..]));
}

#[test]
fn empty_key_and_value_round_trip() {
    let read = round_trip(NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: Some(b""),
        value: b"",
    });

    assert_eq!(read.key, Some(Vec::new()));
    assert_eq!(read.value, b"");
}

#[test]
fn every_byte_value_round_trips() {
    let value: Vec<u8> = (0..=255).collect();
    let key: Vec<u8> = (0..=255).rev().collect();

    let read = round_trip(NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: Some(&key),
        value: &value,
    });

    assert_eq!(read.value, value);
    assert_eq!(read.key, Some(key));
}

#[test]
fn timestamps_round_trip() {
    for timestamp_ms in [i64::MIN, -1, 0, 1, TIMESTAMP_MS, i64::MAX] {
        let read = round_trip(NewRecord {
            timestamp_ms,
            key: None,
            value: b"v",
        });

        assert_eq!(read.timestamp_ms, timestamp_ms);
    }
}

#[test]
fn records_round_trip_from_sealed_segment() {
    // Segments of 8 + 2 * 128 bytes hold two 128-byte frames, so the third record rolls and the
    // first two are read through the sealed segment's map.
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(8 + 2 * 128, 64))
        .unwrap()
        .0;
    let binary: Vec<u8> = (0..100).collect();
    let first = NewRecord {
        timestamp_ms: -5,
        key: Some(b""),
        value: &binary,
    };
    let second = NewRecord {
        timestamp_ms: 7,
        key: None,
        value: &binary,
    };
    partition
        .append(&[first, second, record(b"third")])
        .unwrap();

    let records = partition.read(0, u64::MAX).unwrap();

    assert!(partition.segments()[0].is_sealed());
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].timestamp_ms, -5);
    assert_eq!(records[1].timestamp_ms, 7);
    assert_eq!(records[0].key, Some(Vec::new()));
    assert_eq!(records[1].key, None);
    assert_eq!(records[0].value, binary);
    assert_eq!(records[1].value, binary);
    assert_eq!(records[2].value, b"third");
}

#[test]
fn append_with_fsync_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let config = PartitionConfig {
        flush: FlushPolicy::EveryAppend,
        ..PartitionConfig::default()
    };
    let mut partition = Partition::open(dir.path(), config).unwrap().0;

    partition
        .append(&[record(b"synced"), record(b"too")])
        .unwrap();

    let values: Vec<Vec<u8>> = read_all(&partition)
        .into_iter()
        .map(|record| record.value)
        .collect();
    assert_eq!(values, [b"synced".to_vec(), b"too".to_vec()]);
}

#[test]
fn record_of_max_record_bytes_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let config = PartitionConfig {
        max_record_bytes: 300,
        ..config(4096, 1024)
    };
    let mut partition = Partition::open(dir.path(), config).unwrap().0;
    let value = vec![7; 300 - HEADER_BYTES];

    partition.append(&[record(&value)]).unwrap();

    assert_eq!(read_all(&partition)[0].value, value);
}

#[test]
fn record_above_max_record_bytes_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = PartitionConfig {
        max_record_bytes: 300,
        ..config(4096, 1024)
    };
    let mut partition = Partition::open(dir.path(), config).unwrap().0;
    let value = vec![7; 301 - HEADER_BYTES];

    let error = partition
        .append(&[record(b"fits"), record(&value)])
        .unwrap_err();

    assert!(
        matches!(
            error,
            StorageError::RecordTooLarge {
                index: 1,
                size: 301,
                max: 300
            }
        ),
        "{error:?}"
    );
}

#[test]
fn rejected_record_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = PartitionConfig {
        max_record_bytes: 300,
        ..config(4096, 1024)
    };
    let mut partition = Partition::open(dir.path(), config).unwrap().0;
    partition.append(&[record(b"before")]).unwrap();
    let log_len = file_len(&log_path(dir.path(), 0));
    let value = vec![7; 301 - HEADER_BYTES];

    // The valid first record of the batch must not be written either.
    partition
        .append(&[record(b"fits"), record(&value), record(b"after")])
        .unwrap_err();

    assert_eq!(partition.log_end_offset(), 1);
    assert_eq!(file_len(&log_path(dir.path(), 0)), log_len);
    assert_eq!(read_all(&partition).len(), 1);
}

#[test]
fn empty_batch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());

    let error = partition.append(&[]).unwrap_err();

    assert!(matches!(error, StorageError::EmptyBatch), "{error:?}");
}

#[test]
fn empty_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path());
    partition.append(&[record(b"a")]).unwrap();
    let log_len = file_len(&log_path(dir.path(), 0));

    partition.append(&[]).unwrap_err();

    assert_eq!(partition.log_end_offset(), 1);
    assert_eq!(file_len(&log_path(dir.path(), 0)), log_len);
}

#[test]
fn new_partition_creates_first_segment() {
    let dir = tempfile::tempdir().unwrap();
    let partition_dir = dir.path().join("topic-0");

    let (partition, report) = Partition::open(&partition_dir, config(4096, 1024)).unwrap();

    assert_eq!(
        common::file_names(&partition_dir),
        ["00000000000000000000.index", "00000000000000000000.log"]
    );
    assert_eq!(report.log_start_offset, 0);
    assert_eq!(report.log_end_offset, 0);
    assert!(read_all(&partition).is_empty());
}
