//! A partition: an ordered, append-only sequence of records, numbered by offset and stored as a
//! directory of segments.
//!
//! Offsets are dense. The first record gets offset 0 and each later record the next integer. The
//! *log end offset* is the offset the next record will get. A read names an offset in
//! `log_start..=log_end`, and reading at the log end returns nothing, which is how a reader that
//! has caught up learns that it has.
//!
//! # Directory layout
//!
//! ```text
//! partition/
//! ├── 00000000000000000000.log   sealed: records 0 to 4
//! ├── 00000000000000000005.log   sealed: records 5 to 9
//! └── 00000000000000000010.log   active: records 10 and on
//! ```
//!
//! What this module leaves out: deleting old segments (retention), which is why segments exist in
//! the first place, and any faster way to find an offset than walking its segment (step 3).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{io_error, StorageError};
use crate::record::{NewRecord, Record, MAX_FRAME_BYTES};
use crate::recovery::Stop;
use crate::segment::{self, Repairs, Segment};

/// Default segment size limit: 64 MiB.
///
/// Opening a partition scans its whole active segment, so this bounds the time recovery takes.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Settings for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionConfig {
    /// Size limit of a segment's `.log` file. A segment rolls when the next record would pass it,
    /// unless the segment is empty.
    pub segment_bytes: u64,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// An open partition.
#[derive(Debug)]
pub struct Partition {
    dir: PathBuf,
    config: PartitionConfig,
    /// Segments in offset order, at least one. The last one is active.
    segments: Vec<Segment>,
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
    /// The first offset stored.
    pub log_start_offset: u64,
    /// The offset the next record gets.
    pub log_end_offset: u64,
}

impl Partition {
    /// Opens the partition in `dir`: creates the directory and a first segment for a new
    /// partition, and recovers an existing one.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when a file operation fails.
    // ANCHOR: open
    pub fn open(
        dir: &Path,
        config: PartitionConfig,
    ) -> Result<(Partition, RecoveryReport), StorageError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }

        let base_offsets = list_segments(dir)?;
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        let repairs = match base_offsets.last() {
            None => {
                segments.push(Segment::create(dir, 0)?);
                sync_dir(dir)?;
                Repairs::default()
            }
            Some(&active_base) => {
                // A sealed segment ends where the next one begins.
                for pair in base_offsets.windows(2) {
                    segments.push(Segment::open_sealed(dir, pair[0], pair[1])?);
                }

                // Only the active segment can hold a torn write.
                let (active, repairs) = Segment::open_active(dir, active_base)?;
                segments.push(active);
                repairs
            }
        };
        // ANCHOR_END: open

        let partition = Partition {
            dir: dir.to_path_buf(),
            config,
            segments,
        };
        let report = RecoveryReport {
            segments: partition.segments.len(),
            truncated_bytes: repairs.truncated_bytes,
            stop: repairs.stop,
            log_start_offset: partition.log_start_offset(),
            log_end_offset: partition.log_end_offset(),
        };
        Ok((partition, report))
    }

    /// Appends `record`, syncs it, and returns the offset it was given.
    ///
    /// # Errors
    ///
    /// [`StorageError::RecordTooLarge`] when the frame would be larger than [`MAX_FRAME_BYTES`],
    /// and [`StorageError::Io`] when a write, a sync or a roll fails.
    // ANCHOR: partition_append
    pub fn append(&mut self, record: &NewRecord<'_>) -> Result<u64, StorageError> {
        // SOLUTION(roll_rule): Check the size, roll if the record overfills a non-empty segment, append.
        let frame_len = record.frame_len();
        if frame_len > MAX_FRAME_BYTES {
            return Err(StorageError::RecordTooLarge {
                size: frame_len,
                max: MAX_FRAME_BYTES,
            });
        }

        // Roll rule: a record never takes a segment past `segment_bytes`, unless the segment is
        // empty. An empty segment takes any record, so a record larger than the limit still fits.
        let active = self.active();
        if !active.is_empty() && active.size() + frame_len > self.config.segment_bytes {
            self.roll()?;
        }

        self.active_mut().append(record)
        // END SOLUTION
    }
    // ANCHOR_END: partition_append

    /// Starts a new, empty segment at the log end offset, which seals the old active segment.
    // ANCHOR: roll
    fn roll(&mut self) -> Result<(), StorageError> {
        let base_offset = self.log_end_offset();
        let segment = Segment::create(&self.dir, base_offset)?;

        // The new file's name must be durable before a record in it is acknowledged.
        sync_dir(&self.dir)?;
        self.segments.push(segment);
        Ok(())
    }
    // ANCHOR_END: roll

    /// Reads whole records starting at `offset`, up to `max_bytes` of frames, across as many
    /// segments as it takes.
    ///
    /// The first record is returned even when it alone is larger than `max_bytes`, so a reader
    /// always makes progress. Reading at the log end offset returns an empty list.
    ///
    /// # Errors
    ///
    /// [`StorageError::OffsetOutOfRange`] with the valid range when `offset` is below the log start
    /// or above the log end, and [`StorageError::Corrupt`] when stored bytes fail their checks.
    // ANCHOR: partition_read
    pub fn read(&self, offset: u64, max_bytes: u64) -> Result<Vec<Record>, StorageError> {
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
            let out_of_budget = segment.read(next, &mut budget, &mut records)?;
            if out_of_budget {
                break;
            }
            next = segment.next_offset();
        }
        Ok(records)
    }
    // ANCHOR_END: partition_read

    /// Returns the first offset stored.
    pub fn log_start_offset(&self) -> u64 {
        self.segments[0].base_offset()
    }

    /// Returns the offset the next appended record gets.
    pub fn log_end_offset(&self) -> u64 {
        self.active().next_offset()
    }

    /// Returns the segments in offset order. The last one is active.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
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
/// Other files are left alone: deleting what we do not recognise could destroy someone's data.
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
