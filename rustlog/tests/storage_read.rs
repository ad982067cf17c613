//! What a read returns for a given offset and `max_bytes`: whole records only, at least one record
//! when there is one, nothing at the log end, and an out-of-range error outside the log.

mod common;

use std::fs;
use std::path::Path;

use common::{
    append_each, config, index_path, log_path, offsets_of, value_for_frame, values_for_frames,
};
use rustlog::storage::{Partition, StorageError};

/// Opens a partition in `dir` and appends five records of 100-byte frames, all in one segment.
fn five_records(dir: &Path) -> Partition {
    let mut partition = Partition::open(dir, config(4096, 1024)).unwrap().0;
    append_each(&mut partition, &values_for_frames(5, 100));
    partition
}

/// Opens a partition whose segments hold two 100-byte frames each and appends six records, so
/// segments start at offsets 0, 2 and 4.
fn six_records_in_three_segments(dir: &Path) -> Partition {
    let mut partition = Partition::open(dir, config(8 + 200, 1024)).unwrap().0;
    append_each(&mut partition, &values_for_frames(6, 100));
    assert_eq!(
        partition.segments().len(),
        3,
        "setup: expected three segments"
    );
    partition
}

#[test]
fn max_bytes_returns_whole_records_only() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(0, 250).unwrap();

    assert_eq!(offsets_of(&records), [0, 1]);
}

#[test]
fn max_bytes_equal_to_frames_returns_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(0, 300).unwrap();

    assert_eq!(offsets_of(&records), [0, 1, 2]);
}

#[test]
fn max_bytes_one_short_drops_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(0, 299).unwrap();

    assert_eq!(offsets_of(&records), [0, 1]);
}

#[test]
fn max_bytes_above_log_returns_rest() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(3, 10_000).unwrap();

    assert_eq!(offsets_of(&records), [3, 4]);
}

#[test]
fn max_bytes_zero_returns_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(2, 0).unwrap();

    assert_eq!(offsets_of(&records), [2]);
}

#[test]
fn sealed_max_bytes_zero_returns_one() {
    let dir = tempfile::tempdir().unwrap();
    let partition = six_records_in_three_segments(dir.path());

    let records = partition.read(0, 0).unwrap();

    assert_eq!(offsets_of(&records), [0]);
}

#[test]
fn oversized_first_record_returned_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(4096, 1024)).unwrap().0;
    let values = [
        value_for_frame(300, 1),
        value_for_frame(100, 2),
        value_for_frame(100, 3),
    ];
    append_each(&mut partition, &values);

    let records = partition.read(0, 150).unwrap();

    assert_eq!(offsets_of(&records), [0]);
    assert_eq!(records[0].value, values[0]);
}

#[test]
fn oversized_first_sealed_record_returned_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(8 + 400, 1024))
        .unwrap()
        .0;
    let values = [
        value_for_frame(300, 1),
        value_for_frame(100, 2),
        value_for_frame(100, 3),
    ];
    append_each(&mut partition, &values);
    assert_eq!(
        partition.segments().len(),
        2,
        "setup: expected a sealed and an active segment"
    );

    let records = partition.read(0, 150).unwrap();

    assert_eq!(offsets_of(&records), [0]);
}

#[test]
fn max_bytes_spans_segments() {
    let dir = tempfile::tempdir().unwrap();
    let partition = six_records_in_three_segments(dir.path());

    let records = partition.read(1, 350).unwrap();

    assert_eq!(offsets_of(&records), [1, 2, 3]);
}

#[test]
fn max_bytes_ending_at_segment_end_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let partition = six_records_in_three_segments(dir.path());

    let records = partition.read(0, 200).unwrap();

    assert_eq!(offsets_of(&records), [0, 1]);
}

#[test]
fn max_bytes_below_next_segment_first_record_stops() {
    let dir = tempfile::tempdir().unwrap();
    let partition = six_records_in_three_segments(dir.path());

    let records = partition.read(1, 199).unwrap();

    assert_eq!(offsets_of(&records), [1]);
}

#[test]
fn read_at_log_end_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(5, u64::MAX).unwrap();

    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn max_bytes_zero_at_log_end_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let records = partition.read(5, 0).unwrap();

    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn read_of_new_partition_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(dir.path(), config(4096, 1024)).unwrap().0;

    let records = partition.read(0, u64::MAX).unwrap();

    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn read_past_log_end_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let error = partition.read(6, u64::MAX).unwrap_err();

    assert!(
        matches!(
            error,
            StorageError::OffsetOutOfRange {
                offset: 6,
                log_start: 0,
                log_end: 5
            }
        ),
        "{error:?}"
    );
}

#[test]
fn read_at_u64_max_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let error = partition.read(u64::MAX, 0).unwrap_err();

    assert!(
        matches!(
            error,
            StorageError::OffsetOutOfRange {
                offset: u64::MAX,
                log_start: 0,
                log_end: 5
            }
        ),
        "{error:?}"
    );
}

#[test]
fn read_before_log_start_is_out_of_range() {
    // No retention yet: remove the first segment's files by hand, as retention would.
    let dir = tempfile::tempdir().unwrap();
    {
        let partition = six_records_in_three_segments(dir.path());
        partition.close().unwrap();
        fs::remove_file(log_path(dir.path(), 0)).unwrap();
        fs::remove_file(index_path(dir.path(), 0)).unwrap();
    }

    let partition = Partition::open(dir.path(), config(8 + 200, 1024))
        .unwrap()
        .0;
    let error = partition.read(1, u64::MAX).unwrap_err();

    assert!(
        matches!(
            error,
            StorageError::OffsetOutOfRange {
                offset: 1,
                log_start: 2,
                log_end: 6
            }
        ),
        "{error:?}"
    );
}

#[test]
fn read_at_log_start_after_first_segment_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let partition = six_records_in_three_segments(dir.path());
        partition.close().unwrap();
        fs::remove_file(log_path(dir.path(), 0)).unwrap();
        fs::remove_file(index_path(dir.path(), 0)).unwrap();
    }

    let partition = Partition::open(dir.path(), config(8 + 200, 1024))
        .unwrap()
        .0;
    let records = partition.read(2, u64::MAX).unwrap();

    assert_eq!(partition.log_start_offset(), 2);
    assert_eq!(offsets_of(&records), [2, 3, 4, 5]);
}

#[test]
fn out_of_range_message_names_valid_range() {
    let dir = tempfile::tempdir().unwrap();
    let partition = five_records(dir.path());

    let message = partition.read(9, 0).unwrap_err().to_string();

    assert!(message.contains("offset 9 is out of range"), "{message}");
    assert!(message.contains("from the log start, 0,"), "{message}");
    assert!(message.contains("to the log end, 5,"), "{message}");
}
