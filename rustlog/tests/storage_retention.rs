//! Retention and the visible end: deleting old segments by age and size, keeping offsets
//! continuous across deletions and restarts, and hiding unsynced appends from reads.

mod common;

use std::sync::{Arc, RwLock};

use common::{config, file_names, read_all, values_for_frames};
use rustlog::storage::segment::LOG_HEADER_BYTES;
use rustlog::storage::{NewRecord, Partition, PartitionConfig, RetentionReason, StorageError};

const MINUTE_MS: i64 = 60_000;
const T0: i64 = 1_700_000_000_000;

/// Segments that hold exactly three 100-byte frames.
fn three_per_segment() -> PartitionConfig {
    config(LOG_HEADER_BYTES + 300, 64)
}

/// Appends one 100-byte-frame record per timestamp, one append each.
fn append_at(partition: &mut Partition, timestamps: &[i64]) {
    let values = values_for_frames(timestamps.len(), 100);
    for (value, timestamp_ms) in values.iter().zip(timestamps) {
        let record = NewRecord {
            timestamp_ms: *timestamp_ms,
            key: None,
            value,
        };
        partition.append(&[record]).unwrap();
    }
}

fn log_files(dir: &std::path::Path) -> Vec<String> {
    file_names(dir)
        .into_iter()
        .filter(|name| name.ends_with(".log"))
        .collect()
}

#[test]
fn age_deletes_old_segments_and_stops_at_first_kept() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PartitionConfig {
        retention_ms: Some(10 * MINUTE_MS as u64),
        ..three_per_segment()
    };
    let (mut partition, _) = Partition::open(dir.path(), settings).unwrap();
    // Segment 0: minutes 0-2; segment 3: minutes 3-5; segment 6: minutes 20-22; active 9: minute 30.
    let minutes = [0, 1, 2, 3, 4, 5, 20, 21, 22, 30];
    append_at(&mut partition, &minutes.map(|m| T0 + m * MINUTE_MS));

    let deleted = partition.enforce_retention(T0 + 25 * MINUTE_MS).unwrap();

    let bases: Vec<u64> = deleted.iter().map(|segment| segment.base_offset).collect();
    assert_eq!(bases, [0, 3]);
    assert_eq!(
        deleted[1].reason,
        RetentionReason::Age {
            newest_timestamp_ms: T0 + 5 * MINUTE_MS,
            retention_ms: 10 * MINUTE_MS as u64
        }
    );
    assert_eq!(partition.log_start_offset(), 6);
    assert_eq!(partition.log_end_offset(), 10);
    assert_eq!(
        log_files(dir.path()),
        ["00000000000000000006.log", "00000000000000000009.log"]
    );
    assert!(matches!(
        partition.read(2, 1000),
        Err(StorageError::OffsetOutOfRange {
            log_start: 6,
            log_end: 10,
            ..
        })
    ));
    assert_eq!(read_all(&partition).first().unwrap().offset, 6);
}

#[test]
fn size_keeps_partition_under_limit_but_never_deletes_active() {
    let dir = tempfile::tempdir().unwrap();
    let segment_file = LOG_HEADER_BYTES + 300;
    let settings = PartitionConfig {
        retention_bytes: Some(2 * segment_file),
        ..three_per_segment()
    };
    let (mut partition, _) = Partition::open(dir.path(), settings).unwrap();
    append_at(&mut partition, &[T0; 13]);

    let deleted = partition.enforce_retention(T0).unwrap();

    // Five segments of 308 bytes (the last holds one record: 108 bytes) make 1,340 bytes.
    assert_eq!(deleted.len(), 3);
    assert!(matches!(
        deleted[0].reason,
        RetentionReason::Size {
            partition_bytes: 1340,
            ..
        }
    ));
    assert_eq!(partition.log_start_offset(), 9);
    let total: u64 = partition
        .segments()
        .iter()
        .map(|segment| segment.size())
        .sum();
    assert!(total <= 2 * segment_file, "partition is {total} bytes");

    // A limit below the active segment's size still leaves the active segment.
    let tiny = PartitionConfig {
        retention_bytes: Some(1),
        ..three_per_segment()
    };
    drop(partition);
    let (mut partition, _) = Partition::open(dir.path(), tiny).unwrap();
    partition.enforce_retention(T0).unwrap();
    assert_eq!(partition.segments().len(), 1);
    assert_eq!(partition.log_end_offset(), 13);
}

#[test]
fn expired_partition_empties_and_offsets_continue_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PartitionConfig {
        retention_ms: Some(MINUTE_MS as u64),
        ..three_per_segment()
    };
    {
        let (mut partition, _) = Partition::open(dir.path(), settings).unwrap();
        append_at(&mut partition, &[T0; 7]);

        let deleted = partition.enforce_retention(T0 + 2 * MINUTE_MS).unwrap();

        assert_eq!(
            deleted.len(),
            3,
            "two sealed segments and the rolled active one"
        );
        assert_eq!(partition.log_start_offset(), 7);
        assert_eq!(partition.log_end_offset(), 7);
        assert!(partition.read(7, 1000).unwrap().is_empty());
        // Dropped without close: an unclean restart.
    }

    let (mut partition, report) = Partition::open(dir.path(), settings).unwrap();
    assert_eq!((report.log_start_offset, report.log_end_offset), (7, 7));
    append_at(&mut partition, &[T0 + 3 * MINUTE_MS]);
    assert_eq!(
        read_all(&partition)
            .iter()
            .map(|record| record.offset)
            .collect::<Vec<_>>(),
        [7]
    );
}

#[test]
fn log_start_survives_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PartitionConfig {
        retention_bytes: Some(400),
        ..three_per_segment()
    };
    {
        let (mut partition, _) = Partition::open(dir.path(), settings).unwrap();
        append_at(&mut partition, &[T0; 8]);
        partition.enforce_retention(T0).unwrap();
        assert_eq!(partition.log_start_offset(), 6);
        partition.close().unwrap();
    }
    let (partition, report) = Partition::open(dir.path(), settings).unwrap();
    assert!(report.clean_shutdown);
    assert_eq!(partition.log_start_offset(), 6);
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn no_retention_settings_delete_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut partition, _) = Partition::open(dir.path(), three_per_segment()).unwrap();
    append_at(&mut partition, &[0; 10]);
    assert!(partition.enforce_retention(i64::MAX).unwrap().is_empty());
    assert_eq!(partition.log_start_offset(), 0);
}

#[test]
fn reader_in_oldest_segment_sees_whole_records_or_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PartitionConfig {
        retention_bytes: Some(1),
        ..three_per_segment()
    };
    let (mut partition, _) = Partition::open(dir.path(), settings).unwrap();
    append_at(&mut partition, &[T0; 30]);
    let expected = read_all(&partition);
    let partition = Arc::new(RwLock::new(partition));

    // One thread reads offset 0 over and over while the main thread deletes segments.
    let reader = {
        let partition = Arc::clone(&partition);
        std::thread::spawn(move || {
            let mut served = 0;
            for _ in 0..10_000 {
                match partition.read().unwrap().read(0, 250) {
                    Ok(records) => {
                        assert_eq!(
                            records,
                            expected[..records.len()].to_vec(),
                            "a served record differs"
                        );
                        served += 1;
                    }
                    Err(StorageError::OffsetOutOfRange { log_start, .. }) => {
                        assert!(log_start > 0);
                        return served;
                    }
                    Err(error) => panic!("read failed during retention: {error}"),
                }
            }
            served
        })
    };
    for _ in 0..10 {
        partition.write().unwrap().enforce_retention(T0).unwrap();
        std::thread::yield_now();
    }
    reader.join().unwrap();
    assert_eq!(partition.read().unwrap().log_start_offset(), 27);
}

#[test]
fn unsynced_append_is_invisible_until_marked_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut partition, _) = Partition::open(dir.path(), three_per_segment()).unwrap();
    append_at(&mut partition, &[T0; 2]);

    let values = values_for_frames(4, 100);
    let batch: Vec<NewRecord<'_>> = values
        .iter()
        .map(|value| NewRecord {
            timestamp_ms: T0,
            key: None,
            value,
        })
        .collect();
    let appended = partition.append_unsynced(&batch).unwrap();

    assert_eq!((appended.first_offset, appended.last_offset), (2, 5));
    assert_eq!(partition.log_end_offset(), 2);
    assert_eq!(partition.written_end(), 6);
    assert_eq!(read_all(&partition).len(), 2);
    assert!(matches!(
        partition.read(4, 1000),
        Err(StorageError::OffsetOutOfRange { log_end: 2, .. })
    ));

    let (log, written_end) = partition.sync_target().unwrap();
    log.sync_data().unwrap();
    partition.mark_durable(written_end);

    assert_eq!(partition.log_end_offset(), 6);
    assert_eq!(read_all(&partition).len(), 6);

    // The visible end never moves back.
    partition.mark_durable(3);
    assert_eq!(partition.log_end_offset(), 6);
}
