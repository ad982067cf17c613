//! Rolling: when the active segment is sealed and a new one starts, how segment files are named,
//! and reads and batches that cross from one segment to the next.

mod common;

use common::{
    append_each, config, file_len, file_names, log_path, offsets_of, read_all, record,
    value_for_frame, values_for_frames, values_of,
};
use rustlog::storage::segment::LOG_HEADER_BYTES;
use rustlog::storage::{Appended, Partition, PartitionConfig};

/// Segments of 8 + 300 bytes: exactly three 100-byte frames fit in one.
const SEGMENT_BYTES: u64 = LOG_HEADER_BYTES + 300;

fn base_offsets(partition: &Partition) -> Vec<u64> {
    partition
        .segments()
        .iter()
        .map(|segment| segment.base_offset())
        .collect()
}

#[test]
fn record_ending_at_segment_bytes_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;

    append_each(&mut partition, &values_for_frames(3, 100));

    assert_eq!(base_offsets(&partition), [0]);
    assert_eq!(partition.segments()[0].size(), SEGMENT_BYTES);
    assert_eq!(file_len(&log_path(dir.path(), 0)), SEGMENT_BYTES);
}

#[test]
fn record_after_full_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &values_for_frames(3, 100));

    let appended = partition
        .append(&[record(&value_for_frame(28, 0))])
        .unwrap();

    assert_eq!(appended.first_offset, 3);
    assert_eq!(base_offsets(&partition), [0, 3]);
}

#[test]
fn record_one_byte_over_segment_bytes_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &values_for_frames(2, 100));

    append_each(&mut partition, &[value_for_frame(101, 9)]);

    assert_eq!(base_offsets(&partition), [0, 2]);
    assert_eq!(partition.segments()[0].size(), LOG_HEADER_BYTES + 200);
}

#[test]
fn roll_seals_previous_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;

    append_each(&mut partition, &values_for_frames(4, 100));

    let sealed: Vec<bool> = partition
        .segments()
        .iter()
        .map(|segment| segment.is_sealed())
        .collect();
    assert_eq!(sealed, [true, false]);
}

#[test]
fn segment_files_use_twenty_digit_base_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;

    append_each(&mut partition, &values_for_frames(10, 100));

    assert_eq!(
        file_names(dir.path()),
        [
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000003.index",
            "00000000000000000003.log",
            "00000000000000000006.index",
            "00000000000000000006.log",
            "00000000000000000009.index",
            "00000000000000000009.log",
        ]
    );
}

#[test]
fn sealed_segments_stay_within_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    let values: Vec<Vec<u8>> = (0..20)
        .map(|i| value_for_frame(28 + (i * 37) % 150, i as u8))
        .collect();

    append_each(&mut partition, &values);

    for segment in partition.segments() {
        assert!(
            file_len(segment.log_path()) <= SEGMENT_BYTES,
            "{} is {} bytes",
            segment.log_path().display(),
            file_len(segment.log_path())
        );
    }
}

#[test]
fn read_crosses_segment_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    let values = values_for_frames(10, 100);
    append_each(&mut partition, &values);

    let records = read_all(&partition);

    assert_eq!(offsets_of(&records), (0..10).collect::<Vec<u64>>());
    assert_eq!(values_of(&records), values);
}

#[test]
fn sealed_read_continues_into_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &values_for_frames(10, 100));

    let records = partition.read(2, 450).unwrap();

    assert_eq!(offsets_of(&records), [2, 3, 4, 5]);
}

#[test]
fn read_at_segment_base_offset_starts_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    let values = values_for_frames(10, 100);
    append_each(&mut partition, &values);

    let records = partition.read(6, 100).unwrap();

    assert_eq!(offsets_of(&records), [6]);
    assert_eq!(records[0].value, values[6]);
}

#[test]
fn batch_spanning_roll_gets_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &values_for_frames(2, 100));
    let values = values_for_frames(5, 100);
    let batch: Vec<_> = values.iter().map(|value| record(value)).collect();

    let appended = partition.append(&batch).unwrap();

    assert_eq!(
        appended,
        Appended {
            first_offset: 2,
            last_offset: 6
        }
    );
    assert_eq!(base_offsets(&partition), [0, 3, 6]);
}

#[test]
fn batch_spanning_roll_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    let values = values_for_frames(7, 100);
    let batch: Vec<_> = values.iter().map(|value| record(value)).collect();

    partition.append(&batch).unwrap();

    assert_eq!(values_of(&read_all(&partition)), values);
}

#[test]
fn record_of_max_record_bytes_fills_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = PartitionConfig {
        max_record_bytes: 300,
        ..config(SEGMENT_BYTES, 1024)
    };
    let mut partition = Partition::open(dir.path(), config).unwrap().0;

    append_each(
        &mut partition,
        &[value_for_frame(300, 1), value_for_frame(300, 2)],
    );

    assert_eq!(base_offsets(&partition), [0, 1]);
    assert_eq!(file_len(&log_path(dir.path(), 0)), SEGMENT_BYTES);
    assert_eq!(file_len(&log_path(dir.path(), 1)), SEGMENT_BYTES);
}

#[test]
fn small_record_after_large_one_rolls_when_full() {
    // 8 + 280 bytes are used, so even the smallest frame (28 bytes: no key, no value) passes the
    // limit by 8 bytes.
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &[value_for_frame(280, 1)]);

    append_each(&mut partition, &[value_for_frame(28, 2)]);

    assert_eq!(base_offsets(&partition), [0, 1]);
}

#[test]
fn frame_filling_remaining_space_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &[value_for_frame(272, 1)]);

    append_each(&mut partition, &[value_for_frame(28, 2)]);

    assert_eq!(base_offsets(&partition), [0]);
    assert_eq!(partition.segments()[0].size(), SEGMENT_BYTES);
}
