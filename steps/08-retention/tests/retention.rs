//! Retention on a partition of its own. The tests show which segments a pass deletes by age and
//! by size, where it stops, and how an expired active segment is rolled and deleted. They follow
//! a reader inside the oldest segment, and the log start and log end across a restart.
//!
//! Every record gets a timestamp from the script, and every pass gets its time as a parameter,
//! so the tests never read a clock.

use std::path::Path;

use step08_retention::{
    inspect, DeletedSegment, NewRecord, Partition, PartitionConfig, RetentionConfig,
    RetentionReason, StorageError,
};

/// Minute 0 of the script: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
/// One minute, in milliseconds.
const MINUTE: i64 = 60_000;
/// The size of every scripted record's frame: 28 bytes of header, an 8-byte key and a 9-byte
/// value.
const FRAME_BYTES: u64 = 45;

/// Segments that hold three scripted records: 8 + 3 * 45 = 143 bytes.
fn config() -> PartitionConfig {
    PartitionConfig {
        segment_bytes: 150,
        ..PartitionConfig::default()
    }
}

/// Retention by age only, with the limit given in minutes.
fn by_age(minutes: i64) -> RetentionConfig {
    RetentionConfig {
        retention_ms: Some((minutes * MINUTE) as u64),
        retention_bytes: None,
    }
}

/// Retention by size only.
fn by_size(bytes: u64) -> RetentionConfig {
    RetentionConfig {
        retention_ms: None,
        retention_bytes: Some(bytes),
    }
}

/// Appends one record per entry of `minutes`, stamped with that minute, and returns the
/// partition. With eight records, the segments hold offsets 0 to 2, 3 to 5, and 6 and 7, the
/// last one active.
fn write_records(dir: &Path, minutes: &[i64]) -> Partition {
    let (mut partition, _) = Partition::open(dir, config()).unwrap();
    for (number, minute) in minutes.iter().enumerate() {
        let value = format!("reading {number}");
        let record = NewRecord {
            timestamp_ms: T0 + minute * MINUTE,
            key: Some(b"sensor-1"),
            value: value.as_bytes(),
        };
        assert_eq!(record.frame_len(), FRAME_BYTES);
        partition.append(&record).unwrap();
    }
    partition
}

/// One record every ten minutes, from minute 0 to minute 70.
const EVERY_TEN_MINUTES: [i64; 8] = [0, 10, 20, 30, 40, 50, 60, 70];

/// Returns the offsets of the records a fetch from `offset` returns, all of them.
fn fetch_offsets(partition: &Partition, offset: u64) -> Result<Vec<u64>, StorageError> {
    let records = partition.fetch(offset, u64::MAX)?;
    Ok(records.iter().map(|record| record.offset).collect())
}

/// Renders a pass: the segments before, what it deleted, and the segments after.
fn describe_pass(dir: &Path, now_ms: i64, run: impl FnOnce() -> Vec<DeletedSegment>) -> String {
    let before = inspect::segment_table(dir, now_ms).unwrap();
    let deleted = run();
    let after = inspect::segment_table(dir, now_ms).unwrap();
    let files = inspect::list_dir(dir).unwrap();
    format!(
        "--- segments before, at minute {}\n{before}\n--- deleted\n{deleted:#?}\n\n--- segments after\n{after}\n--- files after\n{files}",
        (now_ms - T0) / MINUTE
    )
}

#[test]
fn retention_by_age_deletes_oldest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    // At minute 85, the first segment's newest record (minute 20) is 65 minutes old, and the
    // second one's (minute 50) is 35 minutes old.
    let now_ms = T0 + 85 * MINUTE;
    let story = describe_pass(dir.path(), now_ms, || {
        partition.enforce_retention(&by_age(60), now_ms).unwrap()
    });
    insta::assert_snapshot!(story);
    assert_eq!(partition.log_start_offset(), 3);
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn segment_age_is_its_newest_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    // At minute 79, the first segment's oldest record is 79 minutes old, but its newest is 59:
    // the segment stays until every record in it has passed the limit.
    let deleted = partition
        .enforce_retention(&by_age(60), T0 + 79 * MINUTE)
        .unwrap();
    assert_eq!(deleted, []);
    assert_eq!(partition.log_start_offset(), 0);

    let deleted = partition
        .enforce_retention(&by_age(60), T0 + 80 * MINUTE + 1)
        .unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(partition.log_start_offset(), 3);
}

#[test]
fn pass_stops_at_first_segment_that_must_stay() {
    let dir = tempfile::tempdir().unwrap();
    // The first segment's records are newer than the second's, as after a clock that jumped back.
    let mut partition = write_records(dir.path(), &[50, 51, 52, 0, 1, 2, 60, 61]);

    // At minute 90 the second segment has expired but the first has not. Deleting the second
    // alone would leave a hole in the offsets, so the pass deletes nothing.
    let deleted = partition
        .enforce_retention(&by_age(60), T0 + 90 * MINUTE)
        .unwrap();
    assert_eq!(deleted, []);
    assert_eq!(
        fetch_offsets(&partition, 0).unwrap(),
        (0..8).collect::<Vec<_>>()
    );
}

#[test]
fn retention_by_size_deletes_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    // 143 + 143 + 98 = 384 bytes. Deleting the oldest segment leaves 241, within 300.
    let deleted = partition.enforce_retention(&by_size(300), T0).unwrap();
    assert_eq!(
        deleted,
        [DeletedSegment {
            base_offset: 0,
            next_offset: 3,
            bytes: 143,
            reason: RetentionReason::Size {
                partition_bytes: 384,
                retention_bytes: 300,
            },
        }]
    );
    assert_eq!(partition.log_start_offset(), 3);
}

#[test]
fn size_rule_never_deletes_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    // A limit of 0 bytes deletes every sealed segment, and the active one stays.
    let deleted = partition.enforce_retention(&by_size(0), T0).unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(partition.segments().len(), 1);
    assert_eq!(partition.log_start_offset(), 6);
    assert_eq!(fetch_offsets(&partition, 6).unwrap(), [6, 7]);
}

#[test]
fn no_retention_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    let far_future = T0 + 1_000_000 * MINUTE;
    let deleted = partition
        .enforce_retention(&RetentionConfig::default(), far_future)
        .unwrap();
    assert_eq!(deleted, []);
    assert_eq!(partition.segments().len(), 3);
}

#[test]
fn expired_active_segment_is_rolled_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    // At minute 200 every record is older than an hour, those of the active segment too.
    let now_ms = T0 + 200 * MINUTE;
    let story = describe_pass(dir.path(), now_ms, || {
        partition.enforce_retention(&by_age(60), now_ms).unwrap()
    });
    insta::assert_snapshot!(story);

    // What remains is one empty active segment, named after the next offset.
    assert_eq!(partition.segments().len(), 1);
    assert_eq!(partition.log_start_offset(), 8);
    assert_eq!(partition.log_end_offset(), 8);
    assert_eq!(fetch_offsets(&partition, 8).unwrap(), Vec::<u64>::new());

    // A second pass finds an empty active segment, which has no age, and does nothing.
    let again = partition.enforce_retention(&by_age(60), now_ms).unwrap();
    assert_eq!(again, []);
}

// ANCHOR: emptied_partition_test
#[test]
fn emptied_partition_restart_then_append_continues() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);
        let deleted = partition
            .enforce_retention(&by_age(60), T0 + 200 * MINUTE)
            .unwrap();
        assert_eq!(deleted.len(), 3);
    }

    let (mut partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert_eq!(report.log_start_offset, 8);
    assert_eq!(report.log_end_offset, 8);

    // The next record continues the offsets instead of starting again at 0.
    let record = NewRecord {
        timestamp_ms: T0 + 200 * MINUTE,
        key: None,
        value: b"after the restart",
    };
    assert_eq!(partition.append(&record).unwrap(), 8);
    assert_eq!(fetch_offsets(&partition, 8).unwrap(), [8]);
    let error = partition.fetch(0, u64::MAX).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::OffsetOutOfRange {
                offset: 0,
                log_start: 8,
                log_end: 9
            }
        ),
        "{error}"
    );
}
// ANCHOR_END: emptied_partition_test

#[test]
fn log_start_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);
        partition
            .enforce_retention(&by_age(60), T0 + 85 * MINUTE)
            .unwrap();
    }

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert_eq!(report.log_start_offset, 3);
    assert_eq!(report.segments, 2);
    assert_eq!(fetch_offsets(&partition, 3).unwrap(), [3, 4, 5, 6, 7]);
}

// ANCHOR: reader_test
#[test]
fn reader_inside_oldest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);

    // A reader has read offset 0 and goes on from offset 1, inside the oldest segment.
    let first = partition.fetch(1, FRAME_BYTES).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].offset, 1);

    partition
        .enforce_retention(&by_age(60), T0 + 85 * MINUTE)
        .unwrap();

    // The records it already fetched are its own copies and stay intact.
    assert_eq!(first[0].value, b"reading 1");

    // Its next fetch learns that offset 2 is gone, with the range that is left: never an I/O
    // error from a file that is no longer there, and never a record from another offset.
    let error = partition.fetch(2, FRAME_BYTES).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::OffsetOutOfRange {
                offset: 2,
                log_start: 3,
                log_end: 8
            }
        ),
        "{error}"
    );

    // From the log start, it reads every remaining record in order.
    assert_eq!(fetch_offsets(&partition, 3).unwrap(), [3, 4, 5, 6, 7]);
}
// ANCHOR_END: reader_test

#[test]
fn newest_timestamp_of_each_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = write_records(dir.path(), &EVERY_TEN_MINUTES);
    let newest: Vec<Option<i64>> = partition
        .segments()
        .iter()
        .map(|segment| segment.newest_timestamp().unwrap())
        .collect();
    let minutes = [20, 50, 70].map(|minute| Some(T0 + minute * MINUTE));
    assert_eq!(newest, minutes);

    partition
        .enforce_retention(&by_age(60), T0 + 200 * MINUTE)
        .unwrap();
    assert_eq!(partition.segments()[0].newest_timestamp().unwrap(), None);
}
