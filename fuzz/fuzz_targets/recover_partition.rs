//! Fuzzes crash recovery: the input describes the files of a partition directory (see the
//! crate's `PartitionFiles` for the format), which the target writes to a scratch directory and
//! opens with `Partition::open`.
//!
//! Opening may fail, because damaged files are refused, but must never panic. When it succeeds,
//! the target reads every offset, appends a record, closes the partition and opens it again, and
//! checks what a recovered partition promises: reads return dense offsets from the requested one,
//! never an empty list before the log end, and the appended record survives the close and reopen.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rustlog::storage::{FlushPolicy, NewRecord, Partition, PartitionConfig};
use rustlog_fuzz::PartitionFiles;

/// Offsets the read loop visits at most, so a partition with a huge offset range stays quick.
const MAX_READS: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some(files) = PartitionFiles::decode(data) else {
        return;
    };
    let dir = fresh_dir();
    files.write_to(&dir).expect("write the fuzz input's files");
    let config = PartitionConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: files.index_interval_bytes,
        max_record_bytes: 4096,
        flush: FlushPolicy::Never,
        ..PartitionConfig::default()
    };

    let Ok((mut partition, _report)) = Partition::open(&dir, config) else {
        return;
    };
    read_everything(&partition, data.len() as u64);

    let record = NewRecord {
        timestamp_ms: 1_700_000_000_000,
        key: Some(b"fuzz"),
        value: data.get(..64).unwrap_or(data),
    };
    let appended = partition
        .append(&[record])
        .expect("a recovered partition takes an append");
    let log_end = partition.log_end_offset();
    check_appended(&partition, appended.first_offset, &record);
    partition.close().expect("close a recovered partition");

    let (reopened, report) =
        Partition::open(&dir, config).expect("a partition closed cleanly opens again");
    assert!(report.clean_shutdown);
    assert_eq!(reopened.log_end_offset(), log_end);
    check_appended(&reopened, appended.first_offset, &record);
});

/// Reads from the log start to the log end, skipping offsets whose record is damaged.
fn read_everything(partition: &Partition, seed: u64) {
    let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
    let max_bytes = [0, 100, 4096, u64::MAX][(seed % 4) as usize];
    let mut next = start;
    for _ in 0..MAX_READS {
        if next >= end {
            break;
        }
        match partition.read(next, max_bytes) {
            Ok(records) => {
                assert!(
                    !records.is_empty(),
                    "empty read at {next}, before the log end {end}"
                );
                for record in records {
                    assert_eq!(record.offset, next, "offsets are dense");
                    next += 1;
                }
                assert!(next <= end, "read past the log end {end}");
            }
            // A damaged record is reported, never returned; skip it and read on.
            Err(_) => next += 1,
        }
    }
    assert!(partition.read(end, max_bytes).unwrap().is_empty());
}

fn check_appended(partition: &Partition, offset: u64, expected: &NewRecord<'_>) {
    let records = partition.read(offset, 1).expect("read the appended record");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key.as_deref(), expected.key);
    assert_eq!(records[0].value, expected.value);
}

/// Returns an empty scratch directory, the same one for every run of this process. It lives on
/// /dev/shm when that exists, so the syncs that recovery makes cost nothing.
fn fresh_dir() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("rustlog-fuzz-{}", std::process::id()))
    });
    let dir = root.join("partition");
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot clear {}: {error}", dir.display()),
    }
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}
