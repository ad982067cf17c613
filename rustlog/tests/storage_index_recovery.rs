//! Recovery of damaged `.index` files: deleted, zero-filled, cut mid-entry, or pointing past the
//! log or into the middle of a record.
//!
//! The index is a cache of the log. Whatever the damage, reopening rebuilds the same index bytes
//! that the appends wrote. The tests cover a sealed segment and the active one, after a clean
//! and after an unclean shutdown.

mod common;

use std::fs;
use std::path::Path;

use common::{
    append_each, config, cut_file, file_len, index_path, log_path, offsets_of, overwrite, read_all,
    record, values_for_frames, values_of,
};
use rustlog::storage::index::{ENTRY_BYTES, INDEX_HEADER_BYTES};
use rustlog::storage::{Partition, PartitionConfig};

/// Segments hold ten 100-byte frames, and an entry follows every 150 bytes, so each full
/// segment's index has entries for relative offsets 2, 4, 6 and 8.
fn settings() -> PartitionConfig {
    config(8 + 1000, 150)
}

/// Base offset of the sealed segment: records 0 to 9.
const SEALED: u64 = 0;
/// Base offset of the active segment: records 10 to 14, with entries for offsets 12 and 14.
const ACTIVE: u64 = 10;

#[derive(Debug, Clone, Copy)]
enum Damage {
    Deleted,
    ZeroFilled,
    CutMidEntry,
    PointsPastLog,
    PointsIntoRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    Clean,
    Unclean,
}

/// Applies `damage` to the index of the segment at `base_offset`.
fn damage_index(dir: &Path, base_offset: u64, damage: Damage) {
    let index = index_path(dir, base_offset);
    let len = file_len(&index);
    let last_position_at = len - 4;
    match damage {
        Damage::Deleted => fs::remove_file(&index).unwrap(),
        Damage::ZeroFilled => fs::write(&index, vec![0; len as usize]).unwrap(),
        Damage::CutMidEntry => cut_file(&index, len - 3),
        Damage::PointsPastLog => {
            let past_end = file_len(&log_path(dir, base_offset)) as u32 + 100;
            overwrite(&index, last_position_at, &past_end.to_be_bytes());
        }
        Damage::PointsIntoRecord => {
            let bytes = fs::read(&index).unwrap();
            let position = u32::from_be_bytes(bytes[len as usize - 4..].try_into().unwrap());
            overwrite(&index, last_position_at, &(position + 1).to_be_bytes());
        }
    }
}

/// Writes 15 records, shuts the partition down, damages one index, reopens, and checks that the
/// index was rebuilt to its original bytes and that every record reads back.
fn check_index_rebuilt(base_offset: u64, damage: Damage, shutdown: Shutdown) {
    let case = format!("{damage:?} index of segment {base_offset}, {shutdown:?} shutdown");
    let dir = tempfile::tempdir().unwrap();
    let values = values_for_frames(15, 100);
    {
        let mut partition = Partition::open(dir.path(), settings()).unwrap().0;
        append_each(&mut partition, &values);
        assert_eq!(
            partition.segments().len(),
            2,
            "setup: expected a sealed and an active segment"
        );
        if shutdown == Shutdown::Clean {
            partition.close().unwrap();
        }
    }
    let original = fs::read(index_path(dir.path(), base_offset)).unwrap();
    let entries = if base_offset == SEALED { 4 } else { 2 };
    let expected_len = INDEX_HEADER_BYTES + ENTRY_BYTES * entries;
    assert_eq!(original.len() as u64, expected_len, "setup: {case}");
    damage_index(dir.path(), base_offset, damage);

    let (mut partition, report) = Partition::open(dir.path(), settings()).unwrap();

    assert_eq!(report.rebuilt_indexes, 1, "{case}");
    assert_eq!(
        fs::read(index_path(dir.path(), base_offset)).unwrap(),
        original,
        "{case}"
    );
    assert_eq!(values_of(&read_all(&partition)), values, "{case}");
    for offset in 0..15 {
        let records = partition.read(offset, 0).unwrap();
        assert_eq!(offsets_of(&records), [offset], "{case}");
    }
    assert_eq!(
        partition.append(&[record(b"next")]).unwrap().first_offset,
        15,
        "{case}"
    );
}

#[test]
fn deleted_sealed_index_is_rebuilt() {
    check_index_rebuilt(SEALED, Damage::Deleted, Shutdown::Unclean);
}

#[test]
fn zero_filled_sealed_index_is_rebuilt() {
    check_index_rebuilt(SEALED, Damage::ZeroFilled, Shutdown::Unclean);
}

#[test]
fn cut_sealed_index_is_rebuilt() {
    check_index_rebuilt(SEALED, Damage::CutMidEntry, Shutdown::Unclean);
}

#[test]
fn sealed_index_past_log_is_rebuilt() {
    check_index_rebuilt(SEALED, Damage::PointsPastLog, Shutdown::Unclean);
}

#[test]
fn sealed_index_into_record_is_rebuilt() {
    check_index_rebuilt(SEALED, Damage::PointsIntoRecord, Shutdown::Unclean);
}

#[test]
fn sealed_index_rebuilt_after_close() {
    check_index_rebuilt(SEALED, Damage::ZeroFilled, Shutdown::Clean);
}

#[test]
fn deleted_active_index_is_rebuilt() {
    check_index_rebuilt(ACTIVE, Damage::Deleted, Shutdown::Unclean);
}

#[test]
fn zero_filled_active_index_is_rebuilt() {
    check_index_rebuilt(ACTIVE, Damage::ZeroFilled, Shutdown::Unclean);
}

#[test]
fn cut_active_index_is_rebuilt() {
    check_index_rebuilt(ACTIVE, Damage::CutMidEntry, Shutdown::Unclean);
}

#[test]
fn active_index_past_log_is_rebuilt() {
    check_index_rebuilt(ACTIVE, Damage::PointsPastLog, Shutdown::Unclean);
}

#[test]
fn active_index_into_record_is_rebuilt() {
    check_index_rebuilt(ACTIVE, Damage::PointsIntoRecord, Shutdown::Unclean);
}

#[test]
fn deleted_active_index_rebuilt_after_close() {
    check_index_rebuilt(ACTIVE, Damage::Deleted, Shutdown::Clean);
}

#[test]
fn zero_filled_active_index_rebuilt_after_close() {
    check_index_rebuilt(ACTIVE, Damage::ZeroFilled, Shutdown::Clean);
}

#[test]
fn cut_active_index_rebuilt_after_close() {
    check_index_rebuilt(ACTIVE, Damage::CutMidEntry, Shutdown::Clean);
}

#[test]
fn active_index_past_log_rebuilt_after_close() {
    check_index_rebuilt(ACTIVE, Damage::PointsPastLog, Shutdown::Clean);
}

#[test]
fn active_index_into_record_rebuilt_after_close() {
    check_index_rebuilt(ACTIVE, Damage::PointsIntoRecord, Shutdown::Clean);
}

#[test]
fn damaged_active_index_after_close_scans() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), settings()).unwrap().0;
        append_each(&mut partition, &values_for_frames(15, 100));
        partition.close().unwrap();
    }
    damage_index(dir.path(), ACTIVE, Damage::ZeroFilled);

    let report = Partition::open(dir.path(), settings()).unwrap().1;

    assert!(report.clean_shutdown);
    assert_eq!(
        report.scanned_bytes,
        file_len(&log_path(dir.path(), ACTIVE))
    );
}

#[test]
fn zero_filled_index_tail_is_rebuilt() {
    // Space the file system allocated for entries that were never written reads as zeros.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), settings()).unwrap().0;
        append_each(&mut partition, &values_for_frames(15, 100));
    }
    let index = index_path(dir.path(), ACTIVE);
    let original = fs::read(&index).unwrap();
    common::append_bytes(&index, &[0; 16]);

    let report = Partition::open(dir.path(), settings()).unwrap().1;

    assert_eq!(report.rebuilt_indexes, 1);
    assert_eq!(fs::read(&index).unwrap(), original);
}
