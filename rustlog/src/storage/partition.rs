//! A partition: an ordered, append-only sequence of records stored as a directory of segments.
//!
//! Offsets are dense: the first record gets the partition's log start offset (0 for a new
//! partition), and each following record gets the next integer. The *log end offset* is the offset
//! the next record will get. A read names an offset in `log_start..=log_end`; reading at the log end
//! returns nothing, which is how a consumer that has caught up sees that it has.
//!
//! # Directory layout
//!
//! ```text
//! partition-0/
//! ├── 00000000000000000000.log     records 0 .. 41_234
//! ├── 00000000000000000000.index
//! ├── 00000000000000041235.log     the active segment: records 41_235 ..
//! ├── 00000000000000041235.index
//! └── clean_shutdown               present only while the partition is closed cleanly
//! ```
//!
//! # Visible end
//!
//! Records become visible to reads only once they are durable. [`Partition::append`] makes a
//! batch visible when it returns. [`Partition::append_unsynced`] writes a batch without syncing and
//! leaves it invisible until a later [`Partition::mark_durable`]: that split is what lets
//! concurrent appends share one sync (see `group_commit`). The log end offset that reads,
//! commits and metadata report is this visible end.
//!
//! # Retention
//!
//! [`Partition::enforce_retention`] deletes whole sealed segments, oldest first, when they are
//! older than `retention_ms` or the partition is larger than `retention_bytes`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::config::{FlushPolicy, PartitionConfig};
use super::error::{io_error, StorageError};
use super::record::{NewRecord, Record};
use super::segment::{self, Segment};

/// Name of the file that marks a clean shutdown.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean_shutdown";

/// An open partition. Appends need `&mut self`; reads take `&self`, so a caller shares the
/// partition behind a lock of its choice.
#[derive(Debug)]
pub struct Partition {
    pub(super) dir: PathBuf,
    pub(super) config: PartitionConfig,
    /// Segments in offset order; the last one is active, all others sealed.
    pub(super) segments: Vec<Segment>,
    /// Reused encoding buffer, so appends do not allocate once warmed up.
    scratch: Vec<u8>,
    /// One past the last durable record: reads stop here. Atomic so a group-commit leader can
    /// advance it while holding only a shared lock.
    visible_end: AtomicU64,
}

/// What opening a partition found and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether the clean-shutdown marker was present, so the records were trusted without a scan.
    pub clean_shutdown: bool,
    /// Segments found (or created, for a new partition).
    pub segments: usize,
    /// Bytes of `.log` data read and checked record by record.
    pub scanned_bytes: u64,
    /// Bytes cut from the end of the active segment.
    pub truncated_bytes: u64,
    /// Index files rebuilt from their logs.
    pub rebuilt_indexes: usize,
    /// The first offset stored.
    pub log_start_offset: u64,
    /// The offset the next record gets.
    pub log_end_offset: u64,
}

/// The offsets an append assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record of the batch.
    pub first_offset: u64,
    /// Offset of the last record of the batch.
    pub last_offset: u64,
}

impl Partition {
    /// Opens the partition in `dir`, creating the directory for a new partition and recovering
    /// an existing one.
    ///
    /// # Errors
    ///
    /// An invalid `config`, an I/O failure, a `.log` file whose name is not a segment's, or a
    /// segment that is damaged beyond what recovery repairs (the error names the file).
    pub fn open(
        dir: &Path,
        config: PartitionConfig,
    ) -> Result<(Partition, RecoveryReport), StorageError> {
        config.validate()?;
        create_dir_durably(dir)?;

        let base_offsets = list_segments(dir)?;
        let clean_shutdown = take_clean_shutdown_marker(dir)?;
        let mut report = RecoveryReport {
            clean_shutdown,
            ..RecoveryReport::default()
        };

        // ANCHOR: open
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        if base_offsets.is_empty() {
            segments.push(Segment::create(dir, 0)?);
            sync_dir(dir)?;
        } else {
            // Every segment but the last was synced when it was sealed: only its index is checked.
            for pair in base_offsets.windows(2) {
                let (segment, repairs) = Segment::open_sealed(dir, pair[0], pair[1], &config)?;
                report.rebuilt_indexes += usize::from(repairs.rebuilt_index);
                report.scanned_bytes += repairs.scanned_bytes;
                segments.push(segment);
            }

            // The active segment holds whatever was written but maybe not synced before a crash.
            let last = *base_offsets.last().expect("not empty");
            let (segment, repairs) = Segment::open_active(dir, last, clean_shutdown, &config)?;
            report.rebuilt_indexes += usize::from(repairs.rebuilt_index);
            report.scanned_bytes += repairs.scanned_bytes;
            report.truncated_bytes += repairs.truncated_bytes;
            segments.push(segment);
        }
        // ANCHOR_END: open

        // Whatever recovery kept is on disk now, so all of it is visible.
        let written_end = segments.last().expect("at least one segment").next_offset();
        let partition = Partition {
            dir: dir.to_path_buf(),
            config,
            segments,
            scratch: Vec::new(),
            visible_end: AtomicU64::new(written_end),
        };
        report.segments = partition.segments.len();
        report.log_start_offset = partition.log_start_offset();
        report.log_end_offset = partition.log_end_offset();
        tracing::debug!(dir = %dir.display(), ?report, "opened partition");
        Ok((partition, report))
    }

    /// Appends `records` as one batch and returns the offsets they got.
    ///
    /// With [`FlushPolicy::EveryAppend`] the records are on stable storage when this returns, and
    /// the whole batch shares one sync. A batch may span a roll; the sealed segment is synced
    /// before the new one starts.
    ///
    /// # Errors
    ///
    /// [`StorageError::EmptyBatch`], [`StorageError::RecordTooLarge`] (checked for every record
    /// before anything is written), or an I/O error. After an I/O error the caller must treat the
    /// batch as not written; records of it may appear after a restart (at-least-once).
    // ANCHOR: partition_append
    pub fn append(&mut self, records: &[NewRecord<'_>]) -> Result<Appended, StorageError> {
        let appended = self.append_unsynced(records)?;
        if self.config.flush == FlushPolicy::EveryAppend {
            self.active().sync()?;
        }
        self.mark_durable(appended.last_offset + 1);
        Ok(appended)
    }
    // ANCHOR_END: partition_append

    /// Writes `records` as one batch without syncing and without making them visible.
    ///
    /// The caller must later sync the file (see [`Partition::sync_target`]) and call
    /// [`Partition::mark_durable`]; until then reads stop before these records.
    ///
    /// # Errors
    ///
    /// As [`Partition::append`].
    pub fn append_unsynced(&mut self, records: &[NewRecord<'_>]) -> Result<Appended, StorageError> {
        if records.is_empty() {
            return Err(StorageError::EmptyBatch);
        }
        for (index, record) in records.iter().enumerate() {
            let size = record.frame_len();
            if size > self.config.max_record_bytes {
                return Err(StorageError::RecordTooLarge {
                    index,
                    size,
                    max: self.config.max_record_bytes,
                });
            }
        }

        let first_offset = self.written_end();
        let mut done = 0;
        while done < records.len() {
            let config = self.config;
            let active = self
                .segments
                .last_mut()
                .expect("a partition always has a segment");
            done += active.append(&records[done..], &config, &mut self.scratch)?;
            if done < records.len() {
                self.roll()?;
            }
        }

        Ok(Appended {
            first_offset,
            last_offset: self.written_end() - 1,
        })
    }

    /// Returns what a sync must cover now: a handle to the active `.log` and the written end.
    ///
    /// Sealed segments were synced when they were sealed, so syncing the returned handle makes
    /// every record below the returned offset durable.
    pub fn sync_target(&self) -> Result<(std::fs::File, u64), StorageError> {
        Ok((self.active().log_handle()?, self.written_end()))
    }

    /// Makes every record below `end` visible to reads. Never moves the visible end back.
    pub fn mark_durable(&self, end: u64) {
        self.visible_end.fetch_max(end, Ordering::AcqRel);
    }

    /// Seals the active segment and starts a new one at the log end offset.
    ///
    /// When the new segment cannot be created or its name made durable (a full disk, say), the
    /// sealed segment stays the active one and takes appends again, the half-made files are
    /// removed, and the error is returned. The next append that does not fit tries again.
    pub(super) fn roll(&mut self) -> Result<(), StorageError> {
        let active = self
            .segments
            .last_mut()
            .expect("a partition always has a segment");
        active.seal()?;
        let base_offset = active.next_offset();

        let segment = match Segment::create(&self.dir, base_offset) {
            Ok(segment) => segment,
            Err(error) => {
                active.unseal();
                return Err(error);
            }
        };
        if let Err(error) = sync_dir(&self.dir) {
            if let Err(cleanup) = segment.remove_files() {
                tracing::warn!(dir = %self.dir.display(), base_offset, error = %cleanup, "cannot remove new segment after a failed directory sync");
            }
            active.unseal();
            return Err(error);
        }
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled to a new segment");
        self.segments.push(segment);
        Ok(())
    }

    /// Reads whole records starting exactly at `offset`, up to `max_bytes` of record frames.
    ///
    /// The first record is returned even when it alone is larger than `max_bytes`, so a consumer
    /// always makes progress. Reading at the log end offset returns an empty list.
    ///
    /// # Errors
    ///
    /// [`StorageError::OffsetOutOfRange`] with the valid range when `offset` is below the log
    /// start or above the log end; [`StorageError::Corrupt`] when stored bytes fail their checks.
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
            let stop = segment.read(next, log_end, &mut budget, &mut records)?;
            if stop || budget == 0 {
                break;
            }
            next = segment.next_offset();
        }
        Ok(records)
    }
    // ANCHOR_END: partition_read

    /// Syncs the active segment's log and index, and makes everything written visible.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.active().sync_all()?;
        self.mark_durable(self.written_end());
        Ok(())
    }

    /// Syncs everything and writes the clean-shutdown marker, so the next open skips the scan.
    ///
    /// Dropping a partition without calling this is an unclean shutdown: the next open scans the
    /// active segment, as after a crash.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.flush()?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        fs::write(&marker, b"").map_err(io_error(&marker))?;
        sync_dir(&self.dir)?;
        tracing::debug!(dir = %self.dir.display(), log_end_offset = self.log_end_offset(), "closed partition");
        Ok(())
    }

    /// Returns the first offset stored.
    pub fn log_start_offset(&self) -> u64 {
        self.segments[0].base_offset()
    }

    /// Returns the log end offset: one past the last visible (durable) record.
    pub fn log_end_offset(&self) -> u64 {
        self.visible_end.load(Ordering::Acquire)
    }

    /// Returns the offset the next appended record gets, visible or not.
    pub fn written_end(&self) -> u64 {
        self.active().next_offset()
    }

    /// Returns the partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the partition's settings.
    pub fn config(&self) -> &PartitionConfig {
        &self.config
    }

    /// Returns the segments in offset order; the last one is active.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a partition always has a segment")
    }
}

/// Lists the base offsets of the `.log` files in `dir`, sorted.
///
/// An `.index` without its `.log` is removed (an index is only a cache). A file that ends in
/// `.log` but is not named as a segment is refused: it may hold records, and skipping it could
/// hide a gap in the offsets. Any other file is left alone and logged, because deleting what we
/// do not understand could destroy someone's data.
fn list_segments(dir: &Path) -> Result<Vec<u64>, StorageError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match parse_segment_file_name(&name) {
            Some((base, "log")) => logs.push(base),
            Some((base, "index")) => indexes.push(base),
            _ if name == CLEAN_SHUTDOWN_FILE => {}
            _ if name.ends_with(".log") => {
                return Err(StorageError::MisnamedSegment { path: entry.path() })
            }
            _ => {
                tracing::warn!(dir = %dir.display(), file = %name, "ignoring unexpected file in partition directory")
            }
        }
    }
    logs.sort_unstable();

    for base in indexes {
        if logs.binary_search(&base).is_err() {
            let path = dir.join(segment::file_name(base, "index"));
            tracing::warn!(index = %path.display(), "removing index without a log");
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
    }
    Ok(logs)
}

/// The largest base offset a segment file name may carry. The bound keeps every offset that
/// recovery computes from a base offset, such as `base offset + relative offset`, far below the
/// point where a u64 overflows.
pub const MAX_BASE_OFFSET: u64 = i64::MAX as u64;

/// Splits `00000000000000000042.log` into `(42, "log")`; returns `None` for other names,
/// including 20 digits above [`MAX_BASE_OFFSET`].
fn parse_segment_file_name(name: &str) -> Option<(u64, &str)> {
    let (digits, extension) = name.split_once('.')?;
    let is_segment = digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit());
    let base: u64 = if is_segment {
        digits.parse().ok()?
    } else {
        return None;
    };
    let known = matches!(extension, "log" | "index") && base <= MAX_BASE_OFFSET;
    known.then_some((base, extension))
}

/// Removes the clean-shutdown marker and returns whether it was there.
///
/// The removal is synced before any append can happen: if it were not, a crash after reopening
/// could leave a stale marker, and the next open would trust a segment it should scan.
fn take_clean_shutdown_marker(dir: &Path) -> Result<bool, StorageError> {
    let marker = dir.join(CLEAN_SHUTDOWN_FILE);
    match fs::remove_file(&marker) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io_error(&marker)(error)),
    }
}

/// Creates `dir` and any missing parents, then syncs each new directory's entry in its parent,
/// so the whole path survives a power loss.
fn create_dir_durably(dir: &Path) -> Result<(), StorageError> {
    let mut missing = Vec::new();
    let mut ancestor = Some(dir);
    while let Some(path) = ancestor.filter(|path| !path.as_os_str().is_empty() && !path.exists()) {
        missing.push(path);
        ancestor = path.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }

    fs::create_dir_all(dir).map_err(io_error(dir))?;
    for created in missing {
        // `Path::parent` returns "" for a one-component relative path such as `topic-0`; that
        // parent is the current directory, and opening "" fails, so open "." instead.
        let parent = created
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        sync_dir(parent.unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Syncs a directory, making file creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(io_error(dir))
}
