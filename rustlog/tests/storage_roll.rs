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

#[test]
fn failed_roll_keeps_active_segment_writable() {
    // A directory in the way of the next segment's `.log` makes the roll fail, as a full disk
    // would. The sealed segment must stay the active one and take the records that still fit.
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    append_each(&mut partition, &values_for_frames(2, 100));
    let blocker = log_path(dir.path(), 2);
    std::fs::create_dir(&blocker).unwrap();

    let too_big = value_for_frame(150, 7);
    assert!(partition.append(&[record(&too_big)]).is_err());
    let fits = value_for_frame(60, 8);
    let appended = partition.append(&[record(&fits)]).unwrap();

    assert_eq!(appended.first_offset, 2);
    assert_eq!(base_offsets(&partition), [0]);
    assert!(!partition.segments()[0].is_sealed());
    assert_eq!(read_all(&partition)[2].value, fits);
}

#[test]
fn failed_roll_is_retried_by_next_append() {
    // The `.log` of the next segment is created, then its `.index` cannot be: the half-made
    // segment must be removed so the next roll can create it.
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    let mut values = values_for_frames(3, 100);
    append_each(&mut partition, &values);
    let blocker = dir.path().join("00000000000000000003.index");
    std::fs::create_dir(&blocker).unwrap();

    assert!(partition.append(&[record(&values[0])]).is_err());
    assert!(!log_path(dir.path(), 3).exists());
    std::fs::remove_dir(&blocker).unwrap();
    values.push(value_for_frame(100, 9));
    let appended = partition.append(&[record(&values[3])]).unwrap();

    assert_eq!(appended.first_offset, 3);
    assert_eq!(base_offsets(&partition), [0, 3]);
    assert_eq!(values_of(&read_all(&partition)), values);
    drop(partition);
    let reopened = Partition::open(dir.path(), config(SEGMENT_BYTES, 1024))
        .unwrap()
        .0;
    assert_eq!(values_of(&read_all(&reopened)), values);
}

/// Bytes of disk that `path` occupies, which a reservation past its end counts and its size does
/// not.
#[cfg(target_os = "linux")]
fn allocated_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[cfg(target_os = "linux")]
#[test]
fn active_segment_reserves_space_and_sealing_returns_it() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 1 << 20;
    let mut partition = Partition::open(dir.path(), config(segment_bytes, 4096))
        .unwrap()
        .0;
    let first = log_path(dir.path(), 0);

    append_each(&mut partition, &values_for_frames(3, 100));

    // The file ends at its data, but the disk space of the whole segment is already reserved.
    assert_eq!(file_len(&first), LOG_HEADER_BYTES + 300);
    assert!(
        allocated_bytes(&first) >= segment_bytes,
        "reserved {} bytes, expected at least {segment_bytes}",
        allocated_bytes(&first)
    );

    // Fill the segment until it rolls; sealing gives back what it did not use.
    let frames = values_for_frames(10_000, 1000);
    for value in &frames {
        partition.append(&[record(value)]).unwrap();
        if partition.segments().len() > 1 {
            break;
        }
    }
    assert_eq!(partition.segments().len(), 2);
    let sealed_len = file_len(&first);
    assert!(
        allocated_bytes(&first) < sealed_len + 64 * 1024,
        "a sealed segment of {sealed_len} bytes still holds {} bytes of disk",
        allocated_bytes(&first)
    );

    // Every record is still there, before and after the roll.
    let offsets = offsets_of(&read_all(&partition));
    assert_eq!(offsets, (0..partition.log_end_offset()).collect::<Vec<_>>());
    assert!(offsets.len() > 1000);
}
