//! The sparse index: where entries are added, and lookups at, between, before and without entries,
//! through the partition, a segment and the index file itself.

mod common;

use std::path::Path;

use common::{
    append_each, config, log_path, offsets_of, overwrite, record, value_for_frame,
    values_for_frames,
};
use rustlog::storage::index::{Index, IndexEntry};
use rustlog::storage::segment::Segment;
use rustlog::storage::{Partition, StorageError};

fn entry(relative_offset: u32, position: u32) -> IndexEntry {
    IndexEntry {
        relative_offset,
        position,
    }
}

/// Opens a partition with an index entry every 250 bytes and appends twelve 100-byte frames to
/// its single segment, so entries point at offsets 3, 6 and 9.
fn twelve_records(dir: &Path) -> Partition {
    let mut partition = Partition::open(dir, config(4096, 250)).unwrap().0;
    append_each(&mut partition, &values_for_frames(12, 100));
    partition
}

#[test]
fn entries_follow_interval_rule() {
    // Before record 3, 300 bytes were appended since the segment start (>= 250), so it gets an
    // entry. The same is true 300 bytes later for records 6 and 9.
    let dir = tempfile::tempdir().unwrap();
    let partition = twelve_records(dir.path());

    let entries = partition.segments()[0].index_entries();

    assert_eq!(entries, [entry(3, 308), entry(6, 608), entry(9, 908)]);
}

#[test]
fn frame_sized_interval_indexes_later_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(4096, 100)).unwrap().0;

    append_each(&mut partition, &values_for_frames(4, 100));

    let entries = partition.segments()[0].index_entries();
    assert_eq!(entries, [entry(1, 108), entry(2, 208), entry(3, 308)]);
}

#[test]
fn interval_zero_indexes_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(4096, 0)).unwrap().0;

    append_each(&mut partition, &values_for_frames(3, 100));

    let entries = partition.segments()[0].index_entries();
    assert_eq!(entries, [entry(0, 8), entry(1, 108), entry(2, 208)]);
}

#[test]
fn uneven_frames_get_entry_once_interval_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(4096, 250)).unwrap().0;
    let frames = [200, 40, 30, 300, 28, 28];
    let values: Vec<Vec<u8>> = frames.iter().map(|&len| value_for_frame(len, 0)).collect();

    append_each(&mut partition, &values);

    // Bytes before each record since the last entry: 0, 200, 240, 270 (entry), 300 (entry), 28.
    let entries = partition.segments()[0].index_entries();
    assert_eq!(entries, [entry(3, 278), entry(4, 578)]);
}

#[test]
fn batch_append_adds_same_entries_as_single_appends() {
    let values = values_for_frames(12, 100);
    let batch: Vec<_> = values.iter().map(|value| record(value)).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(4096, 250)).unwrap().0;

    partition.append(&batch).unwrap();

    let entries = partition.segments()[0].index_entries();
    assert_eq!(entries, [entry(3, 308), entry(6, 608), entry(9, 908)]);
}

#[test]
fn new_segment_restarts_interval() {
    // Segments hold six 100-byte frames; the second segment's entries repeat the first's.
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(8 + 600, 250)).unwrap().0;

    append_each(&mut partition, &values_for_frames(12, 100));

    let segments = partition.segments();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0].index_entries(), [entry(3, 308)]);
    assert_eq!(segments[1].index_entries(), [entry(3, 308)]);
}

#[test]
fn segment_smaller_than_interval_has_no_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(8 + 300, 4096))
        .unwrap()
        .0;

    append_each(&mut partition, &values_for_frames(7, 100));

    for segment in partition.segments() {
        assert_eq!(
            segment.index_entries(),
            [],
            "segment {}",
            segment.base_offset()
        );
    }
}

#[test]
fn partition_read_at_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let partition = twelve_records(dir.path());

    let records = partition.read(3, 100).unwrap();

    assert_eq!(offsets_of(&records), [3]);
    assert_eq!(records[0].value, value_for_frame(100, 3));
}

#[test]
fn partition_read_at_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let partition = twelve_records(dir.path());

    let records = partition.read(9, 100).unwrap();

    assert_eq!(offsets_of(&records), [9]);
    assert_eq!(records[0].value, value_for_frame(100, 9));
}

#[test]
fn partition_read_between_entries() {
    let dir = tempfile::tempdir().unwrap();
    let partition = twelve_records(dir.path());

    for offset in [4, 5, 7, 8] {
        let records = partition.read(offset, 100).unwrap();

        assert_eq!(offsets_of(&records), [offset]);
        assert_eq!(records[0].value, value_for_frame(100, offset as u8));
    }
}

#[test]
fn partition_read_before_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let partition = twelve_records(dir.path());

    let records = partition.read(1, 100).unwrap();

    assert_eq!(offsets_of(&records), [1]);
}

#[test]
fn partition_read_after_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let partition = twelve_records(dir.path());

    let records = partition.read(11, 100).unwrap();

    assert_eq!(offsets_of(&records), [11]);
}

#[test]
fn partition_read_in_segment_without_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = Partition::open(dir.path(), config(8 + 300, 4096))
        .unwrap()
        .0;
    append_each(&mut partition, &values_for_frames(7, 100));

    let records = partition.read(5, 100).unwrap();

    assert_eq!(offsets_of(&records), [5]);
    assert_eq!(records[0].value, value_for_frame(100, 5));
}

#[test]
fn read_at_entry_skips_frames_before_it() {
    // Damage record 1 of a sealed segment, which is not scanned on open. A read of offset 9 jumps
    // to the entry for offset 9 and never touches record 1.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), config(8 + 1200, 250))
            .unwrap()
            .0;
        append_each(&mut partition, &values_for_frames(13, 100));
        assert_eq!(
            partition.segments().len(),
            2,
            "setup: expected a sealed segment"
        );
        partition.close().unwrap();
    }
    overwrite(&log_path(dir.path(), 0), 108, &u64::MAX.to_be_bytes());

    let partition = Partition::open(dir.path(), config(8 + 1200, 250))
        .unwrap()
        .0;
    let records = partition.read(9, 100).unwrap();

    assert_eq!(offsets_of(&records), [9]);
}

#[test]
fn read_through_damaged_frame_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut partition = Partition::open(dir.path(), config(8 + 1200, 250))
            .unwrap()
            .0;
        append_each(&mut partition, &values_for_frames(13, 100));
        partition.close().unwrap();
    }
    let damaged = log_path(dir.path(), 0);
    overwrite(&damaged, 108, &u64::MAX.to_be_bytes());

    let partition = Partition::open(dir.path(), config(8 + 1200, 250))
        .unwrap()
        .0;
    let error = partition.read(2, 100).unwrap_err();

    assert!(
        matches!(&error, StorageError::Corrupt { path, position: 108, .. } if *path == damaged),
        "{error:?}"
    );
}

#[test]
fn segment_indexes_relative_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(4096, 250);
    let mut segment = Segment::create(dir.path(), 1000).unwrap();
    let values = values_for_frames(12, 100);
    let batch: Vec<_> = values.iter().map(|value| record(value)).collect();

    let written = segment.append(&batch, &config, &mut Vec::new()).unwrap();

    assert_eq!(written, 12);
    assert_eq!(
        segment.index_entries(),
        [entry(3, 308), entry(6, 608), entry(9, 908)]
    );
}

#[test]
fn segment_read_at_entries_and_between() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(4096, 250);
    let mut segment = Segment::create(dir.path(), 1000).unwrap();
    let values = values_for_frames(12, 100);
    let batch: Vec<_> = values.iter().map(|value| record(value)).collect();
    segment.append(&batch, &config, &mut Vec::new()).unwrap();

    for offset in 1000..1012 {
        let mut budget = 0;
        let mut records = Vec::new();
        segment
            .read(offset, u64::MAX, &mut budget, &mut records)
            .unwrap();

        assert_eq!(offsets_of(&records), [offset]);
        assert_eq!(records[0].value, values[(offset - 1000) as usize]);
    }
}

#[test]
fn sealed_segment_read_at_entries_and_between() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(4096, 250);
    let mut segment = Segment::create(dir.path(), 1000).unwrap();
    let values = values_for_frames(12, 100);
    let batch: Vec<_> = values.iter().map(|value| record(value)).collect();
    segment.append(&batch, &config, &mut Vec::new()).unwrap();
    segment.seal().unwrap();

    for offset in 1000..1012 {
        let mut budget = 0;
        let mut records = Vec::new();
        segment
            .read(offset, u64::MAX, &mut budget, &mut records)
            .unwrap();

        assert_eq!(offsets_of(&records), [offset]);
    }
}

#[test]
fn index_lookup_at_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![entry(3, 308), entry(6, 608), entry(9, 908)];
    let index = Index::create(&dir.path().join("0.index"), entries).unwrap();

    assert_eq!(index.lookup(3), Some(entry(3, 308)));
}

#[test]
fn index_lookup_at_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![entry(3, 308), entry(6, 608), entry(9, 908)];
    let index = Index::create(&dir.path().join("0.index"), entries).unwrap();

    assert_eq!(index.lookup(9), Some(entry(9, 908)));
}

#[test]
fn index_lookup_between_entries() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![entry(3, 308), entry(6, 608), entry(9, 908)];
    let index = Index::create(&dir.path().join("0.index"), entries).unwrap();

    assert_eq!(index.lookup(5), Some(entry(3, 308)));
    assert_eq!(index.lookup(7), Some(entry(6, 608)));
    assert_eq!(index.lookup(100), Some(entry(9, 908)));
}

#[test]
fn index_lookup_before_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![entry(3, 308), entry(6, 608), entry(9, 908)];
    let index = Index::create(&dir.path().join("0.index"), entries).unwrap();

    assert_eq!(index.lookup(2), None);
}

#[test]
fn index_lookup_without_entries() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::create(&dir.path().join("0.index"), Vec::new()).unwrap();

    assert_eq!(index.lookup(0), None);
}

#[test]
fn index_entries_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let mut index = Index::create(&path, vec![entry(3, 308)]).unwrap();
    index.append(&[entry(6, 608), entry(9, 908)]).unwrap();
    index.sync().unwrap();
    drop(index);

    let reopened = Index::open(&path, 1208, Some(12)).unwrap().unwrap();

    assert_eq!(
        reopened.entries(),
        [entry(3, 308), entry(6, 608), entry(9, 908)]
    );
}
