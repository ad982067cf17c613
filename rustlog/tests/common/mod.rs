//! Helpers shared by the storage integration tests: partition settings, records whose frames have
//! an exact size, and file operations on a partition directory (copy, cut, overwrite).
//!
//! Every integration test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustlog::storage::record::HEADER_BYTES;
use rustlog::storage::segment::{self, LOG_HEADER_BYTES};
use rustlog::storage::{FlushPolicy, NewRecord, Partition, PartitionConfig, Record};

/// Timestamp of the records the helpers build: 2023-11-14T22:13:20Z in milliseconds.
pub const TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// Returns settings with the given segment size and index interval, the largest record that fits
/// in one segment, and no fsync (tests stop the process cleanly, so page-cache writes survive).
pub fn config(segment_bytes: u64, index_interval_bytes: u64) -> PartitionConfig {
    PartitionConfig {
        segment_bytes,
        index_interval_bytes,
        max_record_bytes: segment_bytes - LOG_HEADER_BYTES,
        flush: FlushPolicy::Never,
        ..Default::default()
    }
}

/// Returns a keyless record with timestamp [`TIMESTAMP_MS`].
pub fn record(value: &[u8]) -> NewRecord<'_> {
    NewRecord {
        timestamp_ms: TIMESTAMP_MS,
        key: None,
        value,
    }
}

/// Returns a value whose keyless frame is exactly `frame_len` bytes, every byte set to `fill`.
///
/// # Panics
///
/// When `frame_len` is smaller than a frame header (28 bytes).
pub fn value_for_frame(frame_len: u64, fill: u8) -> Vec<u8> {
    let value_len = frame_len
        .checked_sub(HEADER_BYTES as u64)
        .expect("a frame is at least 28 bytes");
    vec![fill; value_len as usize]
}

/// Returns `count` values whose keyless frames are `frame_len` bytes. Value `i` is filled with
/// byte `i`, so a record read back at the wrong offset does not match.
pub fn values_for_frames(count: usize, frame_len: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| value_for_frame(frame_len, i as u8))
        .collect()
}

/// Appends each value as its own one-record batch and returns the offsets assigned.
pub fn append_each(partition: &mut Partition, values: &[Vec<u8>]) -> Vec<u64> {
    values
        .iter()
        .map(|value| partition.append(&[record(value)]).unwrap().first_offset)
        .collect()
}

/// Reads every record from the log start to the log end in one call.
pub fn read_all(partition: &Partition) -> Vec<Record> {
    partition
        .read(partition.log_start_offset(), u64::MAX)
        .unwrap()
}

/// Returns the values of `records`, in order.
pub fn values_of(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|record| record.value.clone()).collect()
}

/// Returns the offsets of `records`, in order.
pub fn offsets_of(records: &[Record]) -> Vec<u64> {
    records.iter().map(|record| record.offset).collect()
}

/// Returns the path of the `.log` file of the segment starting at `base_offset`.
pub fn log_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(segment::file_name(base_offset, "log"))
}

/// Returns the path of the `.index` file of the segment starting at `base_offset`.
pub fn index_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(segment::file_name(base_offset, "index"))
}

/// Returns the names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copies every file of the partition directory `from` into a new directory `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Returns the size of the file at `path` in bytes.
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// Cuts the file at `path` to `len` bytes, as a crash in the middle of a write would.
pub fn cut_file(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Overwrites the bytes of the file at `path` from `position` with `bytes`.
pub fn overwrite(path: &Path, position: u64, bytes: &[u8]) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, position)
        .unwrap();
}

/// Appends `bytes` to the end of the file at `path`.
pub fn append_bytes(path: &Path, bytes: &[u8]) {
    let position = file_len(path);
    overwrite(path, position, bytes);
}

/// Flips the lowest bit of the byte at `position` of the file at `path`.
pub fn flip_bit(path: &Path, position: u64) {
    let mut byte = [0];
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    file.read_exact_at(&mut byte, position).unwrap();
    byte[0] ^= 0x01;
    file.write_all_at(&byte, position).unwrap();
}
