//! A partition: an ordered, append-only sequence of records, numbered by offset and stored as a
//! directory of segments.
//!
//! Offsets are dense. The first record gets offset 0 and each later record the next integer. The
//! *log end offset* is one past the last durable record. A fetch names an offset in
//! `log_start..=log_end` and a byte budget, and returns whole records. Fetching at the log end
//! returns nothing, which is how a reader that has caught up learns that it has.
//!
//! # Written, durable, visible
//!
//! A record is *written* once its frame is in the file, and *durable* once a sync has covered it.
//! [`Partition::append`] and [`Partition::append_batch`] do both before they return.
//! [`Partition::append_unsynced`] only writes, so that the caller can let one sync cover the
//! records of several requests (see [`crate::group_commit`]). Until then the records are
//! invisible: the log end offset, which fetches, commits and responses use, stops before them,
//! and [`Partition::mark_durable`] moves it once a sync has covered them. So a fetch never
//! returns a record that a crash could still take away.
//!
//! ```text
//! offsets  0 1 2 3 4 5 6 7 8
//!          ├─────────────┼───┤
//!          durable,      written, not yet synced
//!          visible       │   │
//!                  log end   written end: the next record's offset
//! ```
//!
//! # Directory layout
//!
//! ```text
//! partition/
//! ├── 00000000000000000000.index
//! ├── 00000000000000000000.log     sealed: records 0 to 4
//! ├── 00000000000000000005.index
//! ├── 00000000000000000005.log     sealed: records 5 to 9
//! ├── 00000000000000000010.index
//! └── 00000000000000000010.log     active: records 10 and on
//! ```
//!
//! Sealed segments are read through a memory map and the active segment with `pread`. The
//! partition does not care which, because [`Segment::fetch`] hides the difference.
//!
//! The *log start offset* is the base offset of the oldest segment. Retention (see
//! [`crate::retention`]) deletes whole segments from the old end, and every deletion moves it
//! forward. Because it is read from the first file name, it survives a restart, and so does the
//! log end: a partition that retention emptied keeps one empty active segment named after the
//! next offset.
//!
//! What this module leaves out: a way to skip the scan of the active segment after a clean
//! shutdown.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{io_error, StorageError};
use crate::index::IndexProblem;
use crate::record::{NewRecord, Record, MAX_FRAME_BYTES};
use crate::recovery::Stop;
use crate::segment::{self, Repairs, Segment};

/// Default segment size limit: 64 MiB.
///
/// Opening a partition scans its whole active segment, so this bounds the time recovery takes.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Default index interval: one entry per 4 KiB of frames.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u64 = 4096;

/// Settings for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionConfig {
    /// Size limit of a segment's `.log` file, header included. A segment rolls when the next
    /// record would pass it, unless the segment is empty.
    pub segment_bytes: u64,
    /// Frame bytes appended between two index entries. 0 indexes every record.
    pub index_interval_bytes: u64,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
        }
    }
}

impl PartitionConfig {
    /// Checks that the settings fit the formats.
    ///
    /// Index entries store byte positions as u32. Every frame but the first of a segment starts
    /// below `segment_bytes`, so `segment_bytes` may be at most `u32::MAX`.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidConfig`] naming the setting that is out of range.
    pub fn validate(&self) -> Result<(), StorageError> {
        if self.segment_bytes > u64::from(u32::MAX) {
            return Err(StorageError::InvalidConfig {
                field: "segment_bytes",
                value: self.segment_bytes,
                reason: format!(
                    "must be at most {} because index positions are 32-bit",
                    u32::MAX
                ),
            });
        }
        Ok(())
    }
}

/// An open partition.
#[derive(Debug)]
pub struct Partition {
    dir: PathBuf,
    config: PartitionConfig,
    /// Segments in offset order, at least one. The last one is active.
    segments: Vec<Segment>,
    /// One past the last durable record: the log end offset. Reads stop here.
    durable_end: u64,
}

/// The offsets an append gave a batch of records: `first_offset..end_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record.
    pub first_offset: u64,
    /// One past the batch's last record: the batch is durable once the durable end reaches this.
    pub end_offset: u64,
}

/// The state and the repairs that [`Partition::open`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found, or 1 for a new partition.
    pub segments: usize,
    /// Bytes cut from the end of the active segment.
    pub truncated_bytes: u64,
    /// The first frame of the active segment that is not whole and valid, when the scan found
    /// bytes to cut.
    pub stop: Option<Stop>,
    /// The indexes rebuilt from their logs, in offset order.
    pub rebuilt_indexes: Vec<RebuiltIndex>,
    /// The first offset stored.
    pub log_start_offset: u64,
    /// The offset the next record gets.
    pub log_end_offset: u64,
}

/// An index that [`Partition::open`] rebuilt, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuiltIndex {
    /// Base offset of the segment the index belongs to.
    pub base_offset: u64,
    /// The problem found in the index on disk.
    pub problem: IndexProblem,
}

impl Partition {
    /// Opens the partition in `dir`: creates the directory and a first segment for a new
    /// partition, and recovers an existing one.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidConfig`] for settings out of range, [`StorageError::Io`] when a file
    /// operation fails, and [`StorageError::Corrupt`] for damage that recovery does not repair
    /// (the error names the file).
    // ANCHOR: open
    pub fn open(
        dir: &Path,
        config: PartitionConfig,
    ) -> Result<(Partition, RecoveryReport), StorageError> {
        config.validate()?;
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }

        let base_offsets = list_segments(dir)?;
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        let mut rebuilt_indexes = Vec::new();
        let interval = config.index_interval_bytes;
        let repairs = match base_offsets.last() {
            None => {
                segments.push(Segment::create(dir, 0)?);
                sync_dir(dir)?;
                Repairs::default()
            }
            Some(&active_base) => {
                // A sealed segment ends where the next one begins. Only its index is checked.
                for pair in base_offsets.windows(2) {
                    let (segment, repairs) = Segment::open_sealed(dir, pair[0], pair[1], interval)?;
                    if let Some(problem) = repairs.index_problem {
                        rebuilt_indexes.push(RebuiltIndex {
                            base_offset: pair[0],
                            problem,
                        });
                    }
                    segments.push(segment);
                }

                // Only the active segment can hold a torn write.
                let (active, mut repairs) = Segment::open_active(dir, active_base, interval)?;
                if let Some(problem) = repairs.index_problem.take() {
                    rebuilt_indexes.push(RebuiltIndex {
                        base_offset: active_base,
                        problem,
                    });
                }
                segments.push(active);
                repairs
            }
        };
        // ANCHOR_END: open

        // Records that a crashed process wrote but never synced may still sit in the page cache.
        // One sync makes whatever recovery kept durable, so all of it can be visible.
        let active = segments.last().expect("a partition always has a segment");
        active.sync()?;
        let durable_end = active.next_offset();

        let partition = Partition {
            dir: dir.to_path_buf(),
            config,
            segments,
            durable_end,
        };
        let report = RecoveryReport {
            segments: partition.segments.len(),
            truncated_bytes: repairs.truncated_bytes,
            stop: repairs.stop,
            rebuilt_indexes,
            log_start_offset: partition.log_start_offset(),
            log_end_offset: partition.log_end_offset(),
        };
        Ok((partition, report))
    }

    /// Appends `record`, syncs it, makes it visible, and returns the offset it was given.
    ///
    /// # Errors
    ///
    /// As [`Partition::append_batch`].
    pub fn append(&mut self, record: &NewRecord<'_>) -> Result<u64, StorageError> {
        let appended = self.append_batch(std::slice::from_ref(record))?;
        Ok(appended.first_offset)
    }

    /// Appends `records` with one sync for all of them, makes them visible, and returns their
    /// offsets.
    ///
    /// # Errors
    ///
    /// As [`Partition::append_unsynced`], and [`StorageError::Io`] when the sync fails.
    pub fn append_batch(&mut self, records: &[NewRecord<'_>]) -> Result<Appended, StorageError> {
        let appended = self.append_unsynced(records)?;
        self.active().sync()?;
        self.mark_durable(appended.end_offset);
        Ok(appended)
    }

    /// Writes `records` in order, without syncing and without making them visible, and returns
    /// their offsets. The caller syncs later (see [`Partition::sync_target`]) and then calls
    /// [`Partition::mark_durable`].
    ///
    /// # Errors
    ///
    /// [`StorageError::RecordTooLarge`] when a frame would be larger than [`MAX_FRAME_BYTES`],
    /// checked for every record before any is written, and [`StorageError::Io`] when a write or a
    /// roll fails.
    // ANCHOR: append_unsynced
    pub fn append_unsynced(&mut self, records: &[NewRecord<'_>]) -> Result<Appended, StorageError> {
        for record in records {
            let frame_len = record.frame_len();
            if frame_len > MAX_FRAME_BYTES {
                return Err(StorageError::RecordTooLarge {
                    size: frame_len,
                    max: MAX_FRAME_BYTES,
                });
            }
        }

        // NOTE: when a write fails in the middle of a batch, the records before it stay written,
        // and the next sync makes them durable and visible although the caller got an error.
        // The client may send them again, which is at-least-once delivery. The finished broker
        // behaves the same.
        let first_offset = self.written_end();
        for record in records {
            self.write_one(record)?;
        }
        Ok(Appended {
            first_offset,
            end_offset: self.written_end(),
        })
    }
    // ANCHOR_END: append_unsynced

    /// Writes one record, whose size the caller has checked, rolling first when the roll rule
    /// calls for it, and returns its offset.
    // ANCHOR: partition_append
    fn write_one(&mut self, record: &NewRecord<'_>) -> Result<u64, StorageError> {
        // SOLUTION(roll_rule): Roll if the record overfills a non-empty segment, then write it to the active segment.
        // Roll rule: a record never takes a segment past `segment_bytes`, unless the segment is
        // empty. An empty segment takes any record, so a record larger than the limit still fits.
        let frame_len = record.frame_len();
        let active = self.active();
        if !active.is_empty() && active.size() + frame_len > self.config.segment_bytes {
            self.roll()?;
        }

        let interval = self.config.index_interval_bytes;
        self.active_mut().append(record, interval)
        // END SOLUTION
    }
    // ANCHOR_END: partition_append

    /// Returns what a sync must cover now: a handle to the active segment's `.log` file, and the
    /// written end. Syncing the handle makes every record below that offset durable, because
    /// every sealed segment was synced when it was sealed.
    // ANCHOR: sync_target
    pub fn sync_target(&self) -> (Arc<File>, u64) {
        (self.active().log_handle(), self.written_end())
    }

    /// Makes every record below `end` visible, after a sync has covered it. Never moves the log
    /// end offset back.
    pub fn mark_durable(&mut self, end: u64) {
        self.durable_end = self.durable_end.max(end);
    }
    // ANCHOR_END: sync_target

    /// Seals (and maps) the active segment and starts a new, empty one at the log end offset.
    // ANCHOR: roll
    pub(crate) fn roll(&mut self) -> Result<(), StorageError> {
        self.active_mut().seal()?;
        let base_offset = self.written_end();

        // Sealing synced the segment, so every record before the new one is durable.
        self.mark_durable(base_offset);
        let segment = Segment::create(&self.dir, base_offset)?;

        // The new file's name must be durable before a record in it is acknowledged.
        sync_dir(&self.dir)?;
        self.segments.push(segment);
        Ok(())
    }
    // ANCHOR_END: roll

    /// Takes the oldest segment out of the partition, which moves the log start offset to the
    /// next segment's base offset, then removes the segment's files and syncs the directory.
    /// Returns the removed segment.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when a removal or the directory sync fails. The segment is out of the
    /// partition either way, so no later fetch reaches a segment whose files are half gone. Its
    /// remaining files come back as a segment at the next open, and the next pass deletes them.
    ///
    /// # Panics
    ///
    /// When the oldest segment is the active one: a partition always keeps its active segment.
    // ANCHOR: remove_oldest_segment
    pub(crate) fn remove_oldest_segment(&mut self) -> Result<Segment, StorageError> {
        assert!(
            self.segments.len() > 1,
            "the active segment is never removed"
        );

        // Out of the list first, files second: the log start has moved before any file is gone.
        let segment = self.segments.remove(0);
        segment.remove_files()?;
        sync_dir(&self.dir)?;
        Ok(segment)
    }
    // ANCHOR_END: remove_oldest_segment

    /// Fetches whole records starting at `offset`, up to `max_bytes` of frames, across as many
    /// segments as it takes.
    ///
    /// The first record is returned even when it alone is larger than `max_bytes`, so a reader
    /// always makes progress. No record is ever cut. Fetching at the log end offset returns an
    /// empty list.
    ///
    /// # Errors
    ///
    /// [`StorageError::OffsetOutOfRange`] with the valid range when `offset` is below the log start
    /// or above the log end, and [`StorageError::Corrupt`] when stored bytes fail their checks.
    // ANCHOR: partition_fetch
    pub fn fetch(&self, offset: u64, max_bytes: u64) -> Result<Vec<Record>, StorageError> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }

        // The segment holding `offset` is the last one whose base offset is at or below it.
        let first = self
            .segments
            .partition_point(|segment| segment.base_offset() <= offset)
            - 1;

        let mut records = Vec::new();
        let mut budget = max_bytes;
        let mut next = offset;
        for segment in &self.segments[first..] {
            if next >= log_end {
                break;
            }
            let out_of_budget = segment.fetch(next, &mut budget, &mut records)?;
            if out_of_budget {
                break;
            }
            next = segment.next_offset();
        }

        // The active segment may hold records that no sync has covered yet. They stay invisible.
        let visible = records.partition_point(|record| record.offset < log_end);
        records.truncate(visible);
        Ok(records)
    }
    // ANCHOR_END: partition_fetch

    /// Returns the first offset stored.
    pub fn log_start_offset(&self) -> u64 {
        self.segments[0].base_offset()
    }

    /// Returns the log end offset: one past the last durable record, where reads stop.
    pub fn log_end_offset(&self) -> u64 {
        self.durable_end
    }

    /// Returns the offset the next appended record gets, durable or not.
    pub fn written_end(&self) -> u64 {
        self.active().next_offset()
    }

    /// Returns the segments in offset order. The last one is active.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Returns the partition's settings.
    pub fn config(&self) -> &PartitionConfig {
        &self.config
    }

    /// Returns the partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a partition always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a partition always has a segment")
    }
}

/// Lists the base offsets of the `.log` files in `dir`, sorted.
///
/// Other files, an `.index` without its `.log` among them, are left alone: deleting what we do not
/// recognise could destroy someone's data.
fn list_segments(dir: &Path) -> Result<Vec<u64>, StorageError> {
    let mut base_offsets = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        if let Some((base_offset, "log")) = segment::parse_file_name(&name.to_string_lossy()) {
            base_offsets.push(base_offset);
        }
    }
    base_offsets.sort_unstable();
    Ok(base_offsets)
}

/// Syncs a directory, making the creation of files in it durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(io_error(dir))
}
