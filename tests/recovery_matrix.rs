//! The recovery matrix for sealed segments and the rest of a partition directory, run against
//! the real broker binary.
//!
//! Each test writes 100 records through the broker, stops it cleanly, damages the files of the
//! partition directory in one way, and starts the broker again. Every kind of damage must end in
//! one of two ways, and never in a panic:
//! - repaired, with a warning in the log that names the file, and every record served again;
//! - refused at startup, with an error that names the file and the way to fix it.
//!
//! Damage that startup does not look for, because finding it would mean reading every sealed
//! segment on every start, must still never reach a client as a record: a fetch over a damaged
//! record returns `storage_error`.
//!
//! # Layout
//!
//! Each record's frame is 100 bytes: 28 bytes of header and a 72-byte value. With 4096-byte
//! segments, 40 records fit in one, so the partition holds the sealed segments 0 (records 0 to
//! 39, bytes 8 to 4008) and 40, and the active segment 80. With an index interval of 256 bytes,
//! every third record gets an index entry: 3, 6, ..., 39 in the first segment.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::{serve_expecting_exit, BrokerProcess, Exited, LineClient};

const CONFIG: &str = r#"
[topics.events]
partitions = 1
segment_bytes = 4096
index_interval_bytes = 256
max_record_bytes = 1024
"#;

const RECORDS: u64 = 100;
/// Bytes of one record's frame.
const FRAME: u64 = 100;
/// Bytes of the `.log` header before the first frame.
const LOG_HEADER: u64 = 8;

/// The record this file damages: in the middle of the first sealed segment, between the index
/// entries of records 9 and 12, so no startup check reads it.
const DAMAGED: u64 = 10;

/// A data directory with 100 records, written by a broker that was then stopped cleanly.
struct Fixture {
    _temp: tempfile::TempDir,
    config: PathBuf,
    data_dir: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let config = temp.path().join("rustlog.toml");
        fs::write(&config, CONFIG).unwrap();
        let data_dir = temp.path().join("data");
        let fixture = Fixture {
            _temp: temp,
            config,
            data_dir,
        };

        let mut broker = fixture.start();
        let records: Vec<Value> = (0..RECORDS).map(|n| json!({ "value": value(n) })).collect();
        let produced = LineClient::connect(&broker.addr).request(
            &json!({"op": "produce", "topic": "events", "partition": 0, "records": records}),
        );
        assert_eq!(
            produced["offsets"].as_array().unwrap().len(),
            RECORDS as usize
        );
        assert!(broker.terminate().success());

        let mut logs = fixture.segment_files("log");
        logs.sort();
        assert_eq!(
            logs,
            [0, 40, 80].map(|base| fixture.segment(base, "log")),
            "setup: expected two sealed segments and an active one"
        );
        fixture
    }

    fn start(&self) -> BrokerProcess {
        BrokerProcess::start(&self.data_dir, &["--config", self.config.to_str().unwrap()])
    }

    fn start_expecting_exit(&self) -> Exited {
        serve_expecting_exit(&self.data_dir, &["--config", self.config.to_str().unwrap()])
    }

    fn partition_dir(&self) -> PathBuf {
        self.data_dir.join("topics/events/partition-0")
    }

    fn segment(&self, base_offset: u64, extension: &str) -> PathBuf {
        self.partition_dir()
            .join(format!("{base_offset:020}.{extension}"))
    }

    fn segment_files(&self, extension: &str) -> Vec<PathBuf> {
        fs::read_dir(self.partition_dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|found| found == extension))
            .collect()
    }
}

/// Returns the value of record `n`: 72 bytes, so its frame is 100 bytes, and unique to `n`.
fn value(n: u64) -> String {
    format!("record-{n:03}-{}", "v".repeat(61))
}

fn fetch(client: &mut LineClient, offset: u64, max_bytes: u64) -> Value {
    client.request(&json!({
        "op": "fetch", "topic": "events", "partition": 0, "offset": offset, "max_bytes": max_bytes
    }))
}

/// Fetches every offset with several `max_bytes` and checks that each response is either an
/// error or records with the right offsets and values: damaged bytes never pass as a record.
/// Returns the offsets whose fetch failed.
fn fetch_all_offsets(client: &mut LineClient) -> Vec<u64> {
    let mut failed = Vec::new();
    for offset in 0..RECORDS {
        for max_bytes in [0, 3 * FRAME + 50, 1 << 20] {
            let response = fetch(client, offset, max_bytes);
            if response["ok"] != json!(true) {
                assert_eq!(
                    response["error"]["code"],
                    json!("storage_error"),
                    "offset {offset}: {response}"
                );
                if !failed.contains(&offset) {
                    failed.push(offset);
                }
                continue;
            }
            let records = response["records"].as_array().unwrap();
            assert!(!records.is_empty(), "offset {offset}: no records");
            for (n, record) in records.iter().enumerate() {
                let expected = offset + n as u64;
                assert_eq!(record["offset"], json!(expected), "offset {offset}");
                assert_eq!(record["value"], json!(value(expected)), "offset {offset}");
            }
        }
    }
    failed
}

fn assert_all_records_served(broker: &BrokerProcess) {
    let failed = fetch_all_offsets(&mut LineClient::connect(&broker.addr));
    assert!(failed.is_empty(), "fetches failed at offsets {failed:?}");
}

fn flip_bit(path: &Path, position: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[position as usize] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

fn assert_refused(exited: &Exited, file: &Path, advice: &str) {
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(exited.status.code(), Some(1), "{}", exited.stderr);
    assert!(
        !exited.stderr.contains("panicked"),
        "the broker panicked: {}",
        exited.stderr
    );
    assert!(exited.stderr.contains(name), "{}", exited.stderr);
    assert!(exited.stderr.contains(advice), "{}", exited.stderr);
}

#[test]
fn sealed_record_bit_flip_fails_fetch() {
    // One bit flipped in each field of record 10's frame in turn: offset, length, crc,
    // timestamp_ms, key_length and value.
    let record_start = LOG_HEADER + DAMAGED * FRAME;
    for (field, at) in [
        ("offset", 7),
        ("length", 11),
        ("crc", 12),
        ("timestamp_ms", 20),
        ("key_length", 27),
        ("value", 60),
    ] {
        let fixture = Fixture::new();
        let segment = fixture.segment(0, "log");
        flip_bit(&segment, record_start + at);

        let broker = fixture.start();
        let mut client = LineClient::connect(&broker.addr);

        let direct = fetch(&mut client, DAMAGED, 1 << 20);
        assert_eq!(
            direct["error"]["code"],
            json!("storage_error"),
            "{field}: {direct}"
        );
        let message = direct["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&segment.display().to_string()),
            "{field}: {message}"
        );
        let failed = fetch_all_offsets(&mut client);
        assert!(failed.contains(&DAMAGED), "{field}: {failed:?}");
        assert!(
            failed.iter().all(|&offset| offset <= DAMAGED + 2),
            "{field}: fetches far from the damage failed: {failed:?}"
        );

        // Records before the damaged one stay readable with a max_bytes that stops before it.
        let before = fetch(&mut client, 0, DAMAGED * FRAME);
        assert_eq!(
            before["records"].as_array().map(Vec::len),
            Some(DAMAGED as usize),
            "{field}: {before}"
        );
    }
}

#[test]
fn truncated_sealed_segment_is_refused() {
    let cuts = [
        (
            "inside the last record",
            4008 - 10,
            "restore the file from a backup",
        ),
        (
            "at a record boundary",
            4008 - FRAME,
            "restore the file from a backup",
        ),
        ("in the middle", 2000, "restore the file from a backup"),
        ("to nothing", 0, "move it out of the partition directory"),
    ];
    for (case, len, advice) in cuts {
        let fixture = Fixture::new();
        let segment = fixture.segment(0, "log");
        let original = fs::read(&segment).unwrap();
        fs::write(&segment, &original[..len as usize]).unwrap();

        let exited = fixture.start_expecting_exit();
        assert_refused(&exited, &segment, advice);
        if len > 0 {
            assert!(
                exited.stderr.contains(
                    "should hold offsets 0 to 39, because the next segment starts at offset 40"
                ),
                "{case}: {}",
                exited.stderr
            );
        }

        // Following the advice works: with the file restored, every record is served.
        fs::write(&segment, &original).unwrap();
        assert_all_records_served(&fixture.start());
    }
}

#[test]
fn missing_sealed_index_is_rebuilt() {
    let fixture = Fixture::new();
    let indexes = [0, 40].map(|base| fixture.segment(base, "index"));
    let originals = indexes.clone().map(|path| fs::read(path).unwrap());
    for index in &indexes {
        fs::remove_file(index).unwrap();
    }

    let broker = fixture.start();

    let log = broker.log();
    assert!(log.contains("rebuilt_indexes=2"), "{log}");
    for (index, original) in indexes.iter().zip(&originals) {
        assert!(log.contains(&index.display().to_string()), "{log}");
        assert_eq!(&fs::read(index).unwrap(), original, "{}", index.display());
    }
    assert!(
        log.contains("rebuilt index of sealed segment from its log"),
        "{log}"
    );
    assert_all_records_served(&broker);
}

#[test]
fn garbage_sealed_index_is_rebuilt() {
    let header = b"RIDX\0\0\0\x01".to_vec();
    let entry = |relative: u32, position: u32| {
        let mut bytes = relative.to_be_bytes().to_vec();
        bytes.extend_from_slice(&position.to_be_bytes());
        bytes
    };
    let mut noise = Vec::new();
    let mut state: u32 = 0x9e37_79b9;
    for _ in 0..120 {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        noise.push((state >> 24) as u8);
    }
    let cases: [(&str, Vec<u8>); 5] = [
        ("random bytes", noise),
        ("zeros", vec![0; 112]),
        (
            "header, then half an entry",
            [header.clone(), vec![0, 0, 0, 3]].concat(),
        ),
        (
            "entries out of order",
            [header.clone(), entry(6, 608), entry(3, 308)].concat(),
        ),
        (
            "last entry inside a record",
            [header.clone(), entry(3, 308), entry(39, 3950)].concat(),
        ),
    ];

    for (case, garbage) in cases {
        let fixture = Fixture::new();
        let index = fixture.segment(0, "index");
        let original = fs::read(&index).unwrap();
        fs::write(&index, &garbage).unwrap();

        let broker = fixture.start();

        let log = broker.log();
        assert!(
            log.contains("rebuilt index of sealed segment from its log"),
            "{case}: {log}"
        );
        assert!(log.contains(&index.display().to_string()), "{case}: {log}");
        assert_eq!(fs::read(&index).unwrap(), original, "{case}");
        assert_all_records_served(&broker);
    }
}

#[test]
fn stray_files_in_partition_dir_are_left_alone() {
    let fixture = Fixture::new();
    let dir = fixture.partition_dir();
    let strays = [
        "notes.txt",
        ".hidden",
        "00000000000000000000.log.bak",
        "00000000000000000040.index.tmp",
        "42.index",
    ];
    for name in strays {
        fs::write(dir.join(name), b"not a segment").unwrap();
    }
    fs::create_dir(dir.join("backup")).unwrap();
    let orphan = fixture.segment(999, "index");
    fs::copy(fixture.segment(0, "index"), &orphan).unwrap();

    let broker = fixture.start();

    let log = broker.log();
    for name in strays.iter().chain(&["backup"]) {
        assert!(dir.join(name).exists(), "{name} was removed");
        assert!(log.contains(&format!("file={name}")), "{name}: {log}");
    }
    assert!(
        log.contains("ignoring unexpected file in partition directory"),
        "{log}"
    );
    assert!(!orphan.exists(), "the index without a log was kept");
    assert!(log.contains("removing index without a log"), "{log}");
    assert_all_records_served(&broker);
}

#[test]
fn log_file_with_bad_name_is_refused() {
    for name in [
        "40.log",
        "0000000000000000004x.log",
        "99999999999999999999.log",
    ] {
        let fixture = Fixture::new();
        let misnamed = fixture.partition_dir().join(name);
        fs::copy(fixture.segment(40, "log"), &misnamed).unwrap();

        let exited = fixture.start_expecting_exit();
        assert_refused(
            &exited,
            &misnamed,
            "or move it out of the partition directory",
        );
        assert!(
            exited.stderr.contains("is not named as a segment"),
            "{}",
            exited.stderr
        );

        // Following the advice works: with the file moved out, every record is served.
        fs::remove_file(&misnamed).unwrap();
        assert_all_records_served(&fixture.start());
    }
}

#[test]
fn segment_with_wrong_base_offset_is_refused() {
    // The active segment renamed from 80 to 81: offset 80 is in no segment any more.
    let fixture = Fixture::new();
    fs::rename(fixture.segment(80, "log"), fixture.segment(81, "log")).unwrap();
    fs::rename(fixture.segment(80, "index"), fixture.segment(81, "index")).unwrap();

    let exited = fixture.start_expecting_exit();

    assert_refused(
        &exited,
        &fixture.segment(40, "log"),
        "restore the file from a backup",
    );
    assert!(
        exited
            .stderr
            .contains("next segment starts at offset 81, but it holds offsets 40 to 79"),
        "{}",
        exited.stderr
    );
}

#[test]
fn renamed_sealed_segment_is_refused_with_its_name() {
    // The first segment renamed from 0 to 1, while its first record still carries offset 0.
    let fixture = Fixture::new();
    fs::rename(fixture.segment(0, "log"), fixture.segment(1, "log")).unwrap();
    fs::rename(fixture.segment(0, "index"), fixture.segment(1, "index")).unwrap();

    let exited = fixture.start_expecting_exit();

    assert_refused(
        &exited,
        &fixture.segment(1, "log"),
        "rename it back to 00000000000000000000.log",
    );
}

#[test]
fn deleted_middle_segment_is_refused() {
    // Offsets 40 to 79 are gone: the segment before the gap must end at the next base offset.
    let fixture = Fixture::new();
    fs::remove_file(fixture.segment(40, "log")).unwrap();

    let exited = fixture.start_expecting_exit();

    assert_refused(
        &exited,
        &fixture.segment(0, "log"),
        "restore the file from a backup",
    );
    assert!(
        exited
            .stderr
            .contains("next segment starts at offset 80, but it holds offsets 0 to 39"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("removing index without a log"),
        "{}",
        exited.stderr
    );
}

#[test]
fn deleted_first_segment_moves_log_start() {
    // Deleting the oldest segments by hand is what retention does: the log start moves.
    let fixture = Fixture::new();
    fs::remove_file(fixture.segment(0, "log")).unwrap();
    fs::remove_file(fixture.segment(0, "index")).unwrap();

    let broker = fixture.start();
    let mut client = LineClient::connect(&broker.addr);

    let before = fetch(&mut client, 0, 1 << 20);
    assert_eq!(
        before["error"]["code"],
        json!("offset_out_of_range"),
        "{before}"
    );
    assert_eq!(before["error"]["log_start_offset"], json!(40));
    let first = fetch(&mut client, 40, 1 << 20);
    let records = first["records"].as_array().unwrap();
    assert_eq!(records.len(), 60);
    assert_eq!(records[0]["value"], json!(value(40)));
}
