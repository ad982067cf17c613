//! The sparse index: the entries appends write, what lookups find, and rebuilding an index that is
//! missing or wrong when the partition is opened.

use std::fs;
use std::path::{Path, PathBuf};

use step09_group_commit::index::{entry_bytes, IndexEntry, INDEX_HEADER_BYTES};
use step09_group_commit::segment::file_name;
use step09_group_commit::{inspect, NewRecord, Partition, PartitionConfig, StorageError};
use step_common::{append_bytes, cut_tail};

/// Timestamp of the first record: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// Returns a config for the records below. Each is a 42-byte frame, so a segment fits its 8-byte
/// header and 9 records, and every second record gets an index entry.
fn config() -> PartitionConfig {
    PartitionConfig {
        segment_bytes: 400,
        index_interval_bytes: 80,
    }
}

/// Opens a new partition in `dir` and appends `count` records: segments at offsets 0, 9, 18 and on.
fn write_records(dir: &Path, count: u64) -> Partition {
    let (mut partition, _) = Partition::open(dir, config()).unwrap();
    for number in 0..count {
        let key = format!("user-{}", number % 4);
        let value = format!("event {number:02}");
        let record = NewRecord {
            timestamp_ms: T0 + number as i64,
            key: Some(key.as_bytes()),
            value: value.as_bytes(),
        };
        assert_eq!(partition.append(&record).unwrap(), number);
    }
    partition
}

fn index_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(file_name(base_offset, "index"))
}

/// Returns each segment's index entries, in segment order.
fn all_entries(partition: &Partition) -> Vec<Vec<IndexEntry>> {
    partition
        .segments()
        .iter()
        .map(|segment| segment.index().entries().to_vec())
        .collect()
}

#[test]
fn index_entries_after_appends() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 22);

    let mut dump = inspect::list_dir(dir.path()).unwrap();
    for base_offset in [0, 9, 18] {
        let name = file_name(base_offset, "index");
        let bytes = fs::read(dir.path().join(&name)).unwrap();
        dump += &format!("\n{}", inspect::describe_index(&name, base_offset, &bytes));
    }
    insta::assert_snapshot!(dump);
}

#[test]
fn lookup_results() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_records(dir.path(), 22);

    // The first segment is sealed and the last is active. Both are searched the same way.
    let mut table = String::new();
    for segment in [&partition.segments()[0], &partition.segments()[2]] {
        for offset in segment.base_offset()..segment.next_offset() {
            let relative = (offset - segment.base_offset()) as u32;
            let start = match segment.index().lookup(relative) {
                Some(entry) => format!(
                    "entry (relative offset {}, byte {})",
                    entry.relative_offset, entry.position
                ),
                None => "no entry, walk from the first frame".to_string(),
            };
            let position = segment.find_position(offset).unwrap();
            table += &format!("offset {offset:>2}: {start:<42} -> frame at byte {position}\n");
        }
        table += "\n";
    }
    insta::assert_snapshot!(table);
}

#[test]
fn fetch_every_offset_through_index() {
    let dir = tempfile::tempdir().unwrap();
    let partition = write_records(dir.path(), 22);

    for offset in 0..22 {
        let records = partition.fetch(offset, 1).unwrap();
        assert_eq!(records.len(), 1, "offset {offset}");
        assert_eq!(records[0].offset, offset);
        assert_eq!(records[0].value, format!("event {offset:02}").as_bytes());
    }
}

#[test]
fn missing_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let expected = all_entries(&write_records(dir.path(), 22));

    for base_offset in [0, 9, 18] {
        fs::remove_file(index_path(dir.path(), base_offset)).unwrap();
    }

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    insta::assert_debug_snapshot!(report.rebuilt_indexes);
    assert_eq!(all_entries(&partition), expected);
    assert_eq!(partition.fetch(0, u64::MAX).unwrap().len(), 22);
}

/// One way to damage the index of one segment, with a name for the snapshot.
struct Damage {
    name: &'static str,
    base_offset: u64,
    apply: fn(&Path),
}

/// Overwrites the entry numbered `entry` of the index at `path` with `relative_offset` and
/// `position`.
fn write_entry(path: &Path, entry: u64, relative_offset: u32, position: u32) {
    let mut bytes = fs::read(path).unwrap();
    let at = (INDEX_HEADER_BYTES + entry * 8) as usize;
    bytes[at..at + 8].copy_from_slice(&entry_bytes(IndexEntry {
        relative_offset,
        position,
    }));
    fs::write(path, bytes).unwrap();
}

#[test]
fn damaged_indexes_are_rebuilt() {
    let damages = [
        Damage {
            name: "entry cut in half",
            base_offset: 0,
            apply: |path| cut_tail(path, 3),
        },
        Damage {
            name: "zeros after the entries",
            base_offset: 0,
            apply: |path| append_bytes(path, &[0; 8]),
        },
        Damage {
            name: "header overwritten",
            base_offset: 9,
            apply: |path| fs::write(path, b"garbage!").unwrap(),
        },
        Damage {
            name: "entry past the end of the log",
            base_offset: 9,
            apply: |path| write_entry(path, 3, 8, 4000),
        },
        Damage {
            name: "entries out of order",
            base_offset: 9,
            apply: |path| write_entry(path, 1, 1, 49),
        },
        Damage {
            name: "last entry inside a frame",
            base_offset: 0,
            apply: |path| write_entry(path, 3, 8, 340),
        },
        Damage {
            name: "active index lost its last entry",
            base_offset: 18,
            apply: |path| cut_tail(path, 8),
        },
    ];

    let mut table = String::new();
    for damage in damages {
        let dir = tempfile::tempdir().unwrap();
        let expected = all_entries(&write_records(dir.path(), 22));
        (damage.apply)(&index_path(dir.path(), damage.base_offset));

        let (partition, report) = Partition::open(dir.path(), config()).unwrap();
        assert_eq!(all_entries(&partition), expected, "{}", damage.name);
        assert_eq!(
            partition.fetch(0, u64::MAX).unwrap().len(),
            22,
            "{}",
            damage.name
        );

        table += &format!("{}:\n", damage.name);
        for rebuilt in &report.rebuilt_indexes {
            table += &format!(
                "  rebuilt segment {}: {}\n",
                rebuilt.base_offset, rebuilt.problem
            );
        }
    }
    insta::assert_snapshot!(table);
}

#[test]
fn early_entry_only_lengthens_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_records(dir.path(), 22));

    // Entry 1 names relative offset 4 but points at the frame of offset 3, one frame early. The
    // walk from there still reaches offset 4.
    write_entry(&index_path(dir.path(), 0), 1, 4, 134);

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert!(report.rebuilt_indexes.is_empty());
    assert_eq!(partition.segments()[0].find_position(4).unwrap(), 176);
    assert_eq!(partition.fetch(4, 1).unwrap()[0].offset, 4);
}

#[test]
fn late_entry_is_caught_by_fetch() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_records(dir.path(), 22));

    // Entry 1 names relative offset 4 but points at the frame of offset 5, one frame late. It is in
    // range and in order, and only the last entry is checked on open, so the fetch finds it.
    write_entry(&index_path(dir.path(), 0), 1, 4, 218);

    let (partition, report) = Partition::open(dir.path(), config()).unwrap();
    assert!(report.rebuilt_indexes.is_empty());
    let error = partition.fetch(4, 1000).unwrap_err();
    assert!(matches!(error, StorageError::Corrupt { position: 218, .. }));

    let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn rebuild_of_short_sealed_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_records(dir.path(), 22));

    // A sealed segment lost its last record, and its index is gone too. The rebuild's scan finds
    // offsets 0 to 7 where 0 to 8 belong: that is data loss, which recovery must not hide.
    cut_tail(&dir.path().join(file_name(0, "log")), 42);
    fs::remove_file(index_path(dir.path(), 0)).unwrap();

    let error = Partition::open(dir.path(), config()).unwrap_err();
    assert!(matches!(error, StorageError::Corrupt { .. }));
    let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();
    insta::assert_snapshot!(error.to_string());
}
