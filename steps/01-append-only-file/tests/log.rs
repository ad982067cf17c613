//! Appending and reading back: the bytes on disk, and what `read_at` and `iter` return.

use std::fs;
use std::io;
use std::path::Path;

use step01_append_only_file::{inspect, Log, NewRecord, Record};

/// Timestamp of the first scripted record: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// Returns the scripted appends: a keyed record, one without a key, and one with an empty key and
/// value.
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
            key: Some(b""),
            value: b"",
        },
    ]
}

/// Opens a new log at `path`, appends the script, and returns the log and each frame's position.
fn write_script(path: &Path) -> (Log, Vec<u64>) {
    let (mut log, _) = Log::open(path).unwrap();
    let positions = script()
        .iter()
        .map(|record| log.append(record).unwrap())
        .collect();
    (log, positions)
}

/// Returns the record a reader gets back for `record`.
fn stored(record: &NewRecord<'_>) -> Record {
    Record {
        timestamp_ms: record.timestamp_ms,
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.to_vec(),
    }
}

#[test]
fn appended_records_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    write_script(&path);

    let bytes = fs::read(&path).unwrap();
    insta::assert_snapshot!(inspect::describe_log("records.log", &bytes));
}

#[test]
fn append_returns_frame_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (log, positions) = write_script(&dir.path().join("records.log"));

    let lens: Vec<u64> = script().iter().map(NewRecord::frame_len).collect();
    assert_eq!(positions, [0, lens[0], lens[0] + lens[1]]);
    assert_eq!(log.len(), lens.iter().sum::<u64>());
}

#[test]
fn read_at_returns_each_record() {
    let dir = tempfile::tempdir().unwrap();
    let (log, positions) = write_script(&dir.path().join("records.log"));

    for (position, record) in positions.iter().zip(script()) {
        assert_eq!(
            log.read_at(*position).unwrap(),
            stored(&record),
            "at byte {position}"
        );
    }
}

#[test]
fn iter_yields_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_script(&dir.path().join("records.log"));

    let mut listing = String::new();
    for item in log.iter() {
        let (position, record) = item.unwrap();
        let key = record.key.map(|key| key.escape_ascii().to_string());
        listing += &format!(
            "byte {position}: timestamp_ms {}, key {key:?}, value {:?}\n",
            record.timestamp_ms,
            record.value.escape_ascii().to_string()
        );
    }
    insta::assert_snapshot!(listing);
}

#[test]
fn reopen_continues_at_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    let (log, _) = write_script(&path);
    let len = log.len();
    drop(log);

    let (mut log, report) = Log::open(&path).unwrap();
    assert_eq!(report.records, 3);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(log.len(), len);

    let extra = NewRecord {
        timestamp_ms: T0 + 3,
        key: None,
        value: b"after reopen",
    };
    assert_eq!(log.append(&extra).unwrap(), len);
    assert_eq!(log.iter().count(), 4);
    assert_eq!(log.read_at(len).unwrap(), stored(&extra));
}

#[test]
fn read_at_rejects_non_frame_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (log, positions) = write_script(&dir.path().join("records.log"));
    let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();

    let past_end = log.read_at(log.len()).unwrap_err();
    assert_eq!(past_end.kind(), io::ErrorKind::InvalidInput);

    // Byte 1 is inside the first frame's length field, so the "length" read there is nonsense.
    let inside_frame = log.read_at(positions[0] + 1).unwrap_err();
    assert_eq!(inside_frame.kind(), io::ErrorKind::InvalidData);

    insta::assert_snapshot!(format!("{past_end}\n{inside_frame}"));
}

#[test]
fn oversized_record_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = write_script(&dir.path().join("records.log"));
    let len = log.len();

    let value = vec![0; 1024 * 1024];
    let record = NewRecord {
        timestamp_ms: T0,
        key: None,
        value: &value,
    };
    let error = log.append(&record).unwrap_err();

    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "record frame is 1048596 bytes, above the maximum of 1048576; send a smaller record"
    );
    assert_eq!(log.len(), len);
    assert_eq!(fs::metadata(log.path()).unwrap().len(), len);
}
