//! Reopening a partition: after a clean close, after an unclean shutdown whose active segment ends
//! in a torn, corrupt or extended tail, and with segment files that recovery must repair or reject.
//!
//! Each test writes the partition and drops it in one block, then damages the files and reopens
//! them in the next, as a restart after a crash would.

mod common;

use std::fs;
use std::path::Path;

use common::{
    append_bytes, append_each, config, copy_dir, cut_file, file_len, file_names, flip_bit,
    index_path, log_path, offsets_of, overwrite, read_all, record, values_for_frames, values_of,
    TIMESTAMP_MS,
};
use rustlog::storage::partition::CLEAN_SHUTDOWN_FILE;
use rustlog::storage::segment::{log_header, LOG_HEADER_BYTES};
use rustlog::storage::{NewRecord, Partition, PartitionConfig, Record, StorageError};

/// Segments of 8 + 300 bytes with an index entry every 64 bytes.
fn small_segments() -> PartitionConfig {
    config(LOG_HEADER_BYTES + 300, 64)
}

/// Values of records 0 to 7: three 100-byte frames fill segment 0, and five frames of 40 to 80
/// bytes follow in the active segment, which starts at offset 3.
fn eight_values() -> Vec<Vec<u8>> {
    let mut values = values_for_frames(3, 100);
    for (i, frame_len) in [60_usize, 80, 40, 70, 50].into_iter().enumerate() {
        values.push(vec![0xA0 + i as u8; frame_len - 28]);
    }
    values
}

/// Base offset of the active segment that [`write_eight_and_drop`] leaves.
const ACTIVE_BASE: u64 = 3;

/// Byte positions where the active segment's records end: 68, 148, 188, 258 and 308.
fn active_record_ends() -> Vec<u64> {
    let mut ends = Vec::new();
    let mut end = LOG_HEADER_BYTES;
    for value in &eight_values()[ACTIVE_BASE as usize..] {
        end += 28 + value.len() as u64;
        ends.push(end);
    }
    ends
}

/// Writes [`eight_values`] into a new partition at `dir` and drops it without closing it.
fn write_eight_and_drop(dir: &Path) {
    let mut partition = Partition::open(dir, small_segments()).unwrap().0;
    append_each(&mut partition, &eight_values());
    assert_eq!(
        partition.segments().len(),
        2,
        "setup: expected a sealed and an active segment"
    );
}

#[test]
fn clean_reopen_keeps_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        append_each(&mut partition, &eight_values());
        partition.close().unwrap();
    }

    let partition = Partition::open(dir.path(), small_segments()).unwrap().0;

    assert_eq!(values_of(&read_all(&partition)), eight_values());
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn clean_reopen_does_not_scan() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        append_each(&mut partition, &eight_values());
        partition.close().unwrap();
    }

    let report = Partition::open(dir.path(), small_segments()).unwrap().1;

    assert!(report.clean_shutdown);
    assert_eq!(report.scanned_bytes, 0);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.rebuilt_indexes, 0);
    assert_eq!(report.segments, 2);
    assert_eq!(report.log_end_offset, 8);
}

#[test]
fn clean_reopen_appends_at_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        append_each(&mut partition, &eight_values());
        partition.close().unwrap();
    }

    let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
    let appended = partition.append(&[record(b"ninth")]).unwrap();

    assert_eq!(appended.first_offset, 8);
    assert_eq!(partition.read(8, u64::MAX).unwrap()[0].value, b"ninth");
}

#[test]
fn clean_reopen_removes_marker() {
    let dir = tempfile::tempdir().unwrap();
    {
        let partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        partition.close().unwrap();
        assert!(
            dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
            "close wrote no marker"
        );
    }

    let _partition = Partition::open(dir.path(), small_segments()).unwrap();

    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
}

#[test]
fn reopen_after_drop_scans_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());

    let report = Partition::open(dir.path(), small_segments()).unwrap().1;

    assert!(!report.clean_shutdown);
    assert_eq!(
        report.scanned_bytes,
        file_len(&log_path(dir.path(), ACTIVE_BASE))
    );
    assert_eq!(report.truncated_bytes, 0);
}

#[test]
fn reopen_after_drop_keeps_records() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());

    let partition = Partition::open(dir.path(), small_segments()).unwrap().0;

    assert_eq!(values_of(&read_all(&partition)), eight_values());
}

#[test]
fn reopen_after_drop_keeps_matching_index() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());

    let report = Partition::open(dir.path(), small_segments()).unwrap().1;

    assert_eq!(report.rebuilt_indexes, 0);
}

#[test]
fn reopen_after_close_then_drop_is_unclean() {
    let dir = tempfile::tempdir().unwrap();
    {
        let partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        partition.close().unwrap();
        let reopened = Partition::open(dir.path(), small_segments()).unwrap().0;
        drop(reopened);
    }

    let report = Partition::open(dir.path(), small_segments()).unwrap().1;

    assert!(!report.clean_shutdown);
}

#[test]
fn reopen_continues_index_interval() {
    // Writing in three sessions (clean close, then drop) must leave the same index as writing in
    // one, because recovery and appends apply the same interval rule.
    let values = values_for_frames(20, 50);
    let one_session = tempfile::tempdir().unwrap();
    let three_sessions = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(one_session.path(), config(4096, 120))
            .unwrap()
            .0;
        append_each(&mut partition, &values);

        let mut partition = Partition::open(three_sessions.path(), config(4096, 120))
            .unwrap()
            .0;
        append_each(&mut partition, &values[..7]);
        partition.close().unwrap();
        let mut partition = Partition::open(three_sessions.path(), config(4096, 120))
            .unwrap()
            .0;
        append_each(&mut partition, &values[7..13]);
        drop(partition);
    }

    let mut partition = Partition::open(three_sessions.path(), config(4096, 120))
        .unwrap()
        .0;
    append_each(&mut partition, &values[13..]);

    let expected = fs::read(index_path(one_session.path(), 0)).unwrap();
    assert_eq!(
        fs::read(index_path(three_sessions.path(), 0)).unwrap(),
        expected
    );
}

#[test]
fn cut_in_last_two_records_recovers_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    write_eight_and_drop(&original);

    let ends = active_record_ends();
    let log_len = file_len(&log_path(&original, ACTIVE_BASE));
    assert_eq!(
        log_len,
        *ends.last().unwrap(),
        "setup: unexpected active segment size"
    );
    let first_cut = ends[ends.len() - 3];
    for cut in first_cut..log_len {
        let copy = dir.path().join(format!("cut-{cut}"));
        copy_dir(&original, &copy);
        cut_file(&log_path(&copy, ACTIVE_BASE), cut);

        let (mut partition, report) = Partition::open(&copy, small_segments()).unwrap();

        // Records whose frame ends at or before the cut survive; the partial one is cut off.
        let active_records_kept = ends.iter().filter(|&&end| end <= cut).count();
        let valid_len = ends[active_records_kept - 1];
        let records_kept = ACTIVE_BASE as usize + active_records_kept;
        assert_eq!(
            values_of(&read_all(&partition)),
            eight_values()[..records_kept],
            "cut at {cut}"
        );
        assert_eq!(report.truncated_bytes, cut - valid_len, "cut at {cut}");
        assert_eq!(report.log_end_offset, records_kept as u64, "cut at {cut}");
        assert_eq!(
            file_len(&log_path(&copy, ACTIVE_BASE)),
            valid_len,
            "cut at {cut}"
        );

        let appended = partition.append(&[record(b"after the cut")]).unwrap();
        assert_eq!(appended.first_offset, records_kept as u64, "cut at {cut}");
        let read = partition.read(records_kept as u64, u64::MAX).unwrap();
        assert_eq!(
            values_of(&read),
            [b"after the cut".to_vec()],
            "cut at {cut}"
        );

        drop(partition);
        fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn flipped_bit_in_active_record_truncates_from_it() {
    // Record 5 is the third record of the active segment: bytes 148 to 187.
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    write_eight_and_drop(&original);

    let ends = active_record_ends();
    let (start, end) = (ends[1], ends[2]);
    let log_len = file_len(&log_path(&original, ACTIVE_BASE));
    for position in start..end {
        let copy = dir.path().join(format!("flip-{position}"));
        copy_dir(&original, &copy);
        flip_bit(&log_path(&copy, ACTIVE_BASE), position);

        let (partition, report) = Partition::open(&copy, small_segments()).unwrap();

        assert_eq!(
            offsets_of(&read_all(&partition)),
            [0, 1, 2, 3, 4],
            "flip at {position}"
        );
        assert_eq!(
            report.truncated_bytes,
            log_len - start,
            "flip at {position}"
        );

        drop(partition);
        fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn garbage_after_records_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let garbage: Vec<u8> = (0..37).map(|i| (i * 73 + 11) as u8).collect();
    append_bytes(&log_path(dir.path(), ACTIVE_BASE), &garbage);

    let (mut partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(report.truncated_bytes, 37);
    assert_eq!(values_of(&read_all(&partition)), eight_values());
    assert_eq!(
        partition.append(&[record(b"next")]).unwrap().first_offset,
        8
    );
}

#[test]
fn zeros_after_records_are_truncated() {
    // A file system may extend a file with zeros that were never written before a crash.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    append_bytes(&log_path(dir.path(), ACTIVE_BASE), &[0; 4096]);

    let (partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(report.truncated_bytes, 4096);
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn repeated_frame_after_records_is_truncated() {
    // A whole, valid frame that repeats the last offset is not the next record.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let log = log_path(dir.path(), ACTIVE_BASE);
    let ends = active_record_ends();
    let last_frame = fs::read(&log).unwrap()[ends[3] as usize..].to_vec();
    append_bytes(&log, &last_frame);

    let (partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(report.truncated_bytes, last_frame.len() as u64);
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn clean_marker_with_torn_tail_scans_and_truncates() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        append_each(&mut partition, &eight_values());
        partition.close().unwrap();
    }
    append_bytes(&log_path(dir.path(), ACTIVE_BASE), &[1, 2, 3]);

    let (partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert!(report.clean_shutdown);
    assert_eq!(
        report.scanned_bytes,
        *active_record_ends().last().unwrap() + 3
    );
    assert_eq!(report.truncated_bytes, 3);
    assert_eq!(values_of(&read_all(&partition)), eight_values());
}

#[test]
fn empty_active_log_gets_header_rewritten() {
    // A crash right after a roll created the next segment's `.log`, before its header and index.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        append_each(&mut partition, &eight_values());
        partition.close().unwrap();
    }
    fs::File::create(log_path(dir.path(), 8)).unwrap();

    let (mut partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(fs::read(log_path(dir.path(), 8)).unwrap(), log_header());
    assert_eq!(report.segments, 3);
    assert_eq!(report.log_end_offset, 8);
    assert_eq!(
        partition.append(&[record(b"next")]).unwrap().first_offset,
        8
    );
    assert_eq!(
        values_of(&partition.read(8, u64::MAX).unwrap()),
        [b"next".to_vec()]
    );
}

#[test]
fn empty_first_log_gets_header_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    fs::File::create(log_path(dir.path(), 0)).unwrap();

    let (mut partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(fs::read(log_path(dir.path(), 0)).unwrap(), log_header());
    assert_eq!(report.log_end_offset, 0);
    assert_eq!(
        partition.append(&[record(b"first")]).unwrap().first_offset,
        0
    );
}

#[test]
fn partial_header_of_active_log_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(log_path(dir.path(), 0), b"RLO").unwrap();

    let (partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(fs::read(log_path(dir.path(), 0)).unwrap(), log_header());
    assert_eq!(report.log_end_offset, 0);
    assert!(read_all(&partition).is_empty());
}

#[test]
fn orphan_index_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let orphan = index_path(dir.path(), 100);
    fs::copy(index_path(dir.path(), 0), &orphan).unwrap();

    let (partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert!(!orphan.exists());
    assert_eq!(report.segments, 2);
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn unexpected_file_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let notes = dir.path().join("notes.txt");
    fs::write(&notes, b"not a segment").unwrap();

    let partition = Partition::open(dir.path(), small_segments()).unwrap().0;

    assert!(notes.exists());
    assert_eq!(partition.log_end_offset(), 8);
}

#[test]
fn wrong_header_in_active_log_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let damaged = log_path(dir.path(), ACTIVE_BASE);
    overwrite(&damaged, 0, b"XLOG");

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 0, .. } if *path == damaged),
        "{error:?}"
    );
}

#[test]
fn wrong_header_in_sealed_log_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let damaged = log_path(dir.path(), 0);
    overwrite(&damaged, 4, &2_u32.to_be_bytes());

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 0, .. } if *path == damaged),
        "{error:?}"
    );
}

#[test]
fn wrong_header_message_names_file() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    overwrite(&log_path(dir.path(), 0), 0, b"XLOG");

    let message = Partition::open(dir.path(), small_segments())
        .unwrap_err()
        .to_string();

    assert!(message.contains("00000000000000000000.log"), "{message}");
}

#[test]
fn empty_sealed_log_is_corrupt() {
    // Only the active segment may be shorter than its header; a sealed one was synced whole.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let damaged = log_path(dir.path(), 0);
    cut_file(&damaged, 0);

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, .. } if *path == damaged),
        "{error:?}"
    );
}

#[test]
fn damaged_sealed_log_without_index_is_corrupt() {
    // Without an index, the sealed segment is scanned, and a scan that stops early cannot be
    // repaired by truncation: records after the damage were acknowledged.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let damaged = log_path(dir.path(), 0);
    flip_bit(&damaged, 150);
    fs::remove_file(index_path(dir.path(), 0)).unwrap();

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 108, .. } if *path == damaged),
        "{error:?}"
    );
}

#[test]
fn recovered_partition_lists_same_files() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let before = file_names(dir.path());

    let _partition = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(file_names(dir.path()), before);
}

#[test]
fn recovery_keeps_keys_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        let records = [
            NewRecord {
                timestamp_ms: -1,
                key: None,
                value: b"a",
            },
            NewRecord {
                timestamp_ms: TIMESTAMP_MS,
                key: Some(b""),
                value: b"",
            },
            NewRecord {
                timestamp_ms: i64::MAX,
                key: Some(&[0, 255]),
                value: &[255, 0],
            },
        ];
        partition.append(&records).unwrap();
    }

    let partition = Partition::open(dir.path(), small_segments()).unwrap().0;

    let expected = [
        Record {
            offset: 0,
            timestamp_ms: -1,
            key: None,
            value: b"a".to_vec(),
        },
        Record {
            offset: 1,
            timestamp_ms: TIMESTAMP_MS,
            key: Some(Vec::new()),
            value: Vec::new(),
        },
        Record {
            offset: 2,
            timestamp_ms: i64::MAX,
            key: Some(vec![0, 255]),
            value: vec![255, 0],
        },
    ];
    assert_eq!(read_all(&partition), expected);
}

#[test]
fn cut_sealed_log_is_corrupt() {
    // The cut lies after the last index entry, so the index alone looks fine. The walk over the
    // frames after that entry finds that the last one runs past the end of the file.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let damaged = log_path(dir.path(), 0);
    cut_file(&damaged, file_len(&damaged) - 8);

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 208, .. } if *path == damaged),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("should hold offsets 0 to 2, because the next segment starts at offset 3"),
        "{message}"
    );
    assert!(
        message.contains("restore the file from a backup"),
        "{message}"
    );
}

#[test]
fn bytes_after_sealed_records_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let damaged = log_path(dir.path(), 0);
    append_bytes(&damaged, &[0; 10]);

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 308, .. } if *path == damaged),
        "{error:?}"
    );
}

#[test]
fn missing_records_before_next_segment_are_corrupt() {
    // Renaming the active segment from 3 to 4 leaves offset 3 nowhere: the sealed segment before
    // it must end just before the next base offset, and it does not.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    fs::rename(log_path(dir.path(), ACTIVE_BASE), log_path(dir.path(), 4)).unwrap();
    fs::rename(
        index_path(dir.path(), ACTIVE_BASE),
        index_path(dir.path(), 4),
    )
    .unwrap();

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, .. } if *path == log_path(dir.path(), 0)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("next segment starts at offset 4"),
        "{message}"
    );
    assert!(message.contains("it holds offsets 0 to 2"), "{message}");
}

#[test]
fn renamed_sealed_segment_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    let renamed = log_path(dir.path(), 1);
    fs::rename(log_path(dir.path(), 0), &renamed).unwrap();
    fs::rename(index_path(dir.path(), 0), index_path(dir.path(), 1)).unwrap();

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 8, .. } if *path == renamed),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("rename it back to 00000000000000000000.log"),
        "{error}"
    );
}

#[test]
fn log_file_with_bad_name_is_rejected() {
    for name in [
        "42.log",
        "0000000000000000000x.log",
        "18446744073709551615.log",
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_eight_and_drop(dir.path());
        let misnamed = dir.path().join(name);
        fs::copy(log_path(dir.path(), 0), &misnamed).unwrap();

        let error = Partition::open(dir.path(), small_segments()).unwrap_err();

        assert!(
            matches!(&error, StorageError::MisnamedSegment { path } if *path == misnamed),
            "{name}: {error:?}"
        );
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[test]
fn sealed_checks_read_only_the_tail() {
    // A damaged byte inside a sealed record before the last index entry is not found at startup,
    // because that would mean reading every sealed segment on every start. The read that
    // reaches it fails its CRC instead of returning the damaged bytes.
    let dir = tempfile::tempdir().unwrap();
    write_eight_and_drop(dir.path());
    flip_bit(&log_path(dir.path(), 0), 150);

    let (partition, report) = Partition::open(dir.path(), small_segments()).unwrap();

    assert_eq!(report.rebuilt_indexes, 0);
    assert_eq!(partition.read(0, 1).unwrap()[0].value, eight_values()[0]);
    let error = partition.read(1, 1).unwrap_err();
    assert!(
        matches!(&error, StorageError::Corrupt { position: 108, .. }),
        "{error:?}"
    );
    assert!(partition.read(0, u64::MAX).is_err());
    assert_eq!(
        offsets_of(&partition.read(2, u64::MAX).unwrap()),
        [2, 3, 4, 5, 6, 7]
    );
}

#[test]
fn renamed_active_segment_is_corrupt_not_truncated() {
    // Without the check, the scan would see offset 0 where offset 5 belongs and cut every record.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), small_segments()).unwrap().0;
        append_each(&mut partition, &values_for_frames(2, 100));
    }
    let renamed = log_path(dir.path(), 5);
    fs::rename(log_path(dir.path(), 0), &renamed).unwrap();
    fs::rename(index_path(dir.path(), 0), index_path(dir.path(), 5)).unwrap();
    let len = file_len(&renamed);

    let error = Partition::open(dir.path(), small_segments()).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 8, .. } if *path == renamed),
        "{error:?}"
    );
    assert_eq!(file_len(&renamed), len, "the renamed segment was cut");
}
