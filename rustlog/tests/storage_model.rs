//! A property test: random sequences of appends, reads, clean and unclean reopens, and crashes
//! that tear the end of the active segment, run against a real partition and against a `Vec` of
//! records, which must agree after every step.
//!
//! Segments are tiny (100 to 400 bytes of records, frames of 28 to 76 bytes), so most sequences
//! roll several times and cross segment boundaries on reads and on recovery. The index interval
//! varies from an entry before every record to none in most segments.

mod common;

use std::fs;
use std::path::Path;

use common::{cut_file, file_len};
use proptest::prelude::*;
use rustlog::storage::record::frame_len;
use rustlog::storage::recovery;
use rustlog::storage::segment::LOG_HEADER_BYTES;
use rustlog::storage::{
    FlushPolicy, NewRecord, Partition, PartitionConfig, Record, RecoveryReport, StorageError,
};

/// Largest frame the tests append: 28 bytes of header, a key of up to 7 bytes and a value of up
/// to 39 bytes fit well below it.
const MAX_RECORD_BYTES: u64 = 100;

/// One record of a generated batch: timestamp, key, value.
type Input = (i64, Option<Vec<u8>>, Vec<u8>);

#[derive(Debug, Clone)]
enum Op {
    /// Appends a batch of one to four records.
    Append(Vec<Input>),
    /// Appends a batch whose last record is one byte over `max_record_bytes`; nothing is written.
    AppendTooLarge(Vec<Input>),
    /// Reads from `offset_seed % (log end + 3)`, so some reads start past the log end.
    Read { offset_seed: u64, max_bytes: u64 },
    /// Closes the partition and opens it again.
    CloseAndReopen,
    /// Drops the partition without closing it and opens it again.
    DropAndReopen,
    /// Drops the partition, cuts `cut_seed % (record bytes + 1)` bytes off the end of the active
    /// segment, as a crash in the middle of a write would, and opens it again.
    CrashAndCut { cut_seed: u64 },
}

fn partition_config() -> impl Strategy<Value = PartitionConfig> {
    let segment_bytes = LOG_HEADER_BYTES + MAX_RECORD_BYTES..=LOG_HEADER_BYTES + 400;
    (segment_bytes, 0..300_u64).prop_map(|(segment_bytes, index_interval_bytes)| PartitionConfig {
        segment_bytes,
        index_interval_bytes,
        max_record_bytes: MAX_RECORD_BYTES,
        flush: FlushPolicy::Never,
        ..Default::default()
    })
}

fn input() -> impl Strategy<Value = Input> {
    let key = prop::option::of(prop::collection::vec(any::<u8>(), 0..8));
    let value = prop::collection::vec(any::<u8>(), 0..40);
    (any::<i64>(), key, value)
}

fn op() -> impl Strategy<Value = Op> {
    let max_bytes = prop_oneof![0..300_u64, Just(u64::MAX)];
    prop_oneof![
        8 => prop::collection::vec(input(), 1..5).prop_map(Op::Append),
        1 => prop::collection::vec(input(), 0..3).prop_map(Op::AppendTooLarge),
        6 => (any::<u64>(), max_bytes).prop_map(|(offset_seed, max_bytes)| Op::Read { offset_seed, max_bytes }),
        1 => Just(Op::CloseAndReopen),
        1 => Just(Op::DropAndReopen),
        1 => any::<u64>().prop_map(|cut_seed| Op::CrashAndCut { cut_seed }),
    ]
}

fn new_record(input: &Input) -> NewRecord<'_> {
    let (timestamp_ms, key, value) = input;
    NewRecord {
        timestamp_ms: *timestamp_ms,
        key: key.as_deref(),
        value,
    }
}

fn record_frame_len(record: &Record) -> u64 {
    frame_len(record.key.as_ref().map_or(0, Vec::len), record.value.len())
}

/// The records a read from `offset` with `max_bytes` must return: whole records while their
/// frames fit in `max_bytes`, and always the first one.
fn expected_read(model: &[Record], offset: u64, max_bytes: u64) -> Vec<Record> {
    let mut out = Vec::new();
    let mut used = 0;
    for record in &model[offset as usize..] {
        let frame = record_frame_len(record);
        if !out.is_empty() && used + frame > max_bytes {
            break;
        }
        used += frame;
        out.push(record.clone());
    }
    out
}

/// Checks that every segment's index contains exactly the entries a scan of its log implies.
fn check_indexes(partition: &Partition) -> Result<(), TestCaseError> {
    let interval = partition.config().index_interval_bytes;
    for segment in partition.segments() {
        let bytes = fs::read(segment.log_path()).unwrap();
        let scan = recovery::scan(&bytes, segment.base_offset(), interval);
        prop_assert_eq!(segment.index_entries(), scan.entries.as_slice());
    }
    Ok(())
}

/// Checks a reopened partition against the model.
fn check_reopened(
    partition: &Partition,
    report: &RecoveryReport,
    model: &[Record],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(report.log_end_offset, model.len() as u64);
    prop_assert_eq!(partition.read(0, u64::MAX).unwrap(), model.to_vec());
    check_indexes(partition)
}

/// Cuts `cut_seed % (record bytes + 1)` bytes from the active segment of the closed partition
/// in `dir`, drops the records it tears from `model`, and returns the bytes recovery must cut.
fn cut_active_segment(dir: &Path, active_base: u64, cut_seed: u64, model: &mut Vec<Record>) -> u64 {
    let log = dir.join(rustlog::storage::segment::file_name(active_base, "log"));
    let len = file_len(&log);
    let new_len = len - cut_seed % (len - LOG_HEADER_BYTES + 1);
    cut_file(&log, new_len);

    // Keep the active segment's records whose frames end at or before the cut.
    let mut end = LOG_HEADER_BYTES;
    let mut records_kept = active_base as usize;
    for record in &model[active_base as usize..] {
        if end + record_frame_len(record) > new_len {
            break;
        }
        end += record_frame_len(record);
        records_kept += 1;
    }
    model.truncate(records_kept);
    new_len - end
}

fn run(config: PartitionConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config).unwrap().0;
    let mut model: Vec<Record> = Vec::new();

    for op in ops {
        match op {
            Op::Append(inputs) => {
                let batch: Vec<NewRecord<'_>> = inputs.iter().map(new_record).collect();
                let appended = partition.append(&batch).unwrap();
                prop_assert_eq!(appended.first_offset, model.len() as u64);
                prop_assert_eq!(appended.last_offset, (model.len() + batch.len() - 1) as u64);
                for input in &inputs {
                    let (timestamp_ms, key, value) = input.clone();
                    let offset = model.len() as u64;
                    model.push(Record {
                        offset,
                        timestamp_ms,
                        key,
                        value,
                    });
                }
            }
            Op::AppendTooLarge(inputs) => {
                let too_large = vec![0; MAX_RECORD_BYTES as usize - 28 + 1];
                let mut batch: Vec<NewRecord<'_>> = inputs.iter().map(new_record).collect();
                batch.push(NewRecord {
                    timestamp_ms: 0,
                    key: None,
                    value: &too_large,
                });
                let error = partition.append(&batch).unwrap_err();
                let is_too_large = matches!(error, StorageError::RecordTooLarge { .. });
                prop_assert!(is_too_large, "{:?}", error);
                prop_assert_eq!(partition.log_end_offset(), model.len() as u64);
            }
            Op::Read {
                offset_seed,
                max_bytes,
            } => {
                let offset = offset_seed % (model.len() as u64 + 3);
                let result = partition.read(offset, max_bytes);
                if offset > model.len() as u64 {
                    let out_of_range = matches!(
                        result,
                        Err(StorageError::OffsetOutOfRange { log_start: 0, log_end, .. })
                            if log_end == model.len() as u64
                    );
                    prop_assert!(out_of_range, "read at {}: {:?}", offset, result);
                } else {
                    prop_assert_eq!(result.unwrap(), expected_read(&model, offset, max_bytes));
                }
            }
            Op::CloseAndReopen => {
                partition.close().unwrap();
                let (reopened, report) = Partition::open(dir.path(), config).unwrap();
                partition = reopened;
                prop_assert!(report.clean_shutdown);
                prop_assert_eq!(report.scanned_bytes, 0);
                check_reopened(&partition, &report, &model)?;
            }
            Op::DropAndReopen => {
                drop(partition);
                let (reopened, report) = Partition::open(dir.path(), config).unwrap();
                partition = reopened;
                prop_assert!(!report.clean_shutdown);
                prop_assert_eq!(report.truncated_bytes, 0);
                prop_assert_eq!(report.rebuilt_indexes, 0);
                check_reopened(&partition, &report, &model)?;
            }
            Op::CrashAndCut { cut_seed } => {
                let active_base = partition.segments().last().unwrap().base_offset();
                drop(partition);
                let expected_truncated =
                    cut_active_segment(dir.path(), active_base, cut_seed, &mut model);
                let (reopened, report) = Partition::open(dir.path(), config).unwrap();
                partition = reopened;
                prop_assert_eq!(report.truncated_bytes, expected_truncated);
                check_reopened(&partition, &report, &model)?;
            }
        }
    }

    prop_assert_eq!(partition.read(0, u64::MAX).unwrap(), model);
    check_indexes(&partition)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn partition_matches_vec_model(
        config in partition_config(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(config, ops)?;
    }
}
