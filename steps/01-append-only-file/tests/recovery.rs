//! Recovery after a crash: a torn or damaged tail is cut off when the log is opened.
//!
//! Each test writes the log and drops it in one block, damages the file the way a crash or a bad
//! disk would, then reopens it and checks what survived.

use std::fs;
use std::path::Path;

use step01_append_only_file::{inspect, Log, NewRecord};
use step_common::{append_bytes, cut_tail, flip_byte};

const T0: i64 = 1_700_000_000_000;

fn script() -> [NewRecord<'static>; 3] {
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
    ]
}

/// Writes the script to a new log at `path`, closes it, and returns each frame's position.
fn write_script(path: &Path) -> Vec<u64> {
    let (mut log, _) = Log::open(path).unwrap();
    script()
        .iter()
        .map(|record| log.append(record).unwrap())
        .collect()
}

/// Renders the file before recovery, the recovery report, and the file after it.
fn recover_and_describe(path: &Path) -> (Log, String) {
    let before = inspect::describe_log("records.log", &fs::read(path).unwrap());
    let (log, report) = Log::open(path).unwrap();
    let after = inspect::describe_log("records.log", &fs::read(path).unwrap());
    let story = format!(
        "--- on disk after the crash\n{before}\n--- Log::open returned\n{report:#?}\n\n--- on disk after recovery\n{after}"
    );
    (log, story)
}

#[test]
fn torn_write_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    let positions = write_script(&path);

    // The crash hit while the last frame was being written: its last 7 bytes never arrived.
    cut_tail(&path, 7);

    let (mut log, story) = recover_and_describe(&path);
    insta::assert_snapshot!(story);
    assert_eq!(log.len(), positions[2]);
    assert_eq!(log.iter().count(), 2);

    // The next append goes where the torn frame started.
    let retry = script()[2];
    assert_eq!(log.append(&retry).unwrap(), positions[2]);
    assert_eq!(log.iter().count(), 3);
}

#[test]
fn zero_filled_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    write_script(&path);
    let len = fs::metadata(&path).unwrap().len();

    // The file system extended the file, then crashed before the data landed.
    append_bytes(&path, &[0; 16]);

    let (log, story) = recover_and_describe(&path);
    insta::assert_snapshot!(story);
    assert_eq!(log.len(), len);
    assert_eq!(log.iter().count(), 3);
}

#[test]
fn flipped_bit_cuts_that_record_and_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    let positions = write_script(&path);

    // Damage the middle record's value. The scan cannot step over a frame it does not trust, so
    // the third record is lost with it.
    flip_byte(&path, positions[2] - 1);

    let (log, story) = recover_and_describe(&path);
    insta::assert_snapshot!(story);
    assert_eq!(log.len(), positions[1]);
    assert_eq!(log.iter().count(), 1);
}

#[test]
fn every_cut_keeps_the_whole_frames_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.log");
    let positions = write_script(&original);
    let bytes = fs::read(&original).unwrap();

    // Where each frame ends: the lengths a cut file can be recovered to, besides 0.
    let mut frame_ends = positions[1..].to_vec();
    frame_ends.push(bytes.len() as u64);

    for cut in 0..=bytes.len() as u64 {
        let path = dir.path().join("cut.log");
        fs::write(&path, &bytes[..cut as usize]).unwrap();

        let whole_frames = frame_ends.iter().filter(|&&end| end <= cut).count();
        let expected_len = whole_frames
            .checked_sub(1)
            .map_or(0, |last| frame_ends[last]);

        let (log, report) = Log::open(&path).unwrap();
        assert_eq!(report.records, whole_frames as u64, "cut at {cut}");
        assert_eq!(report.truncated_bytes, cut - expected_len, "cut at {cut}");
        assert_eq!(log.len(), expected_len, "cut at {cut}");
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            expected_len,
            "cut at {cut}"
        );
    }
}
