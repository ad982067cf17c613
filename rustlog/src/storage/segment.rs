//! A segment is one slice of a partition: a `.log` file of record frames and its sparse `.index`,
//! both named by the segment's base offset (the offset of its first record) as 20 zero-padded
//! digits, so a directory listing sorts segments in offset order.
//!
//! Only the last segment of a partition, the *active* one, is written. When the next record would
//! pass `segment_bytes`, the active segment is synced and *sealed*, and a new one starts at the next
//! offset. A sealed segment never changes again.
//!
//! Sealed segments are read through a read-only memory map: reads become plain slice accesses with
//! no system call and no copy into a user buffer. The active segment is read with positional reads
//! (`pread`) instead, because it grows. A map has a fixed length, so it would have to be remapped
//! on every append (or made larger than the file, where touching a page past the end raises
//! `SIGBUS`), and a reader would race the writer for the bytes of a half-written record.
//!
//! # Format
//!
//! ANCHOR: log_format
//! | field     | size (bytes) | type | meaning                                       |
//! |-----------|--------------|------|-----------------------------------------------|
//! | `magic`   | 4            | raw  | `RLOG`                                        |
//! | `version` | 4            | u32  | `1`, big-endian                               |
//! | records   | the rest     |      | record frames back to back, offsets ascending |
//! ANCHOR_END: log_format

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::config::PartitionConfig;
use super::error::{io_error, StorageError};
use super::index::{Index, IndexEntry, IndexProblem};
use super::record::{self, FramePrefix, NewRecord, Record, PREFIX_BYTES};
use super::recovery::{self, Scan};

/// The bytes every `.log` file starts with.
pub const LOG_MAGIC: [u8; 4] = *b"RLOG";
/// The log format version this code writes and reads.
pub const LOG_VERSION: u32 = 1;
/// Size of the `.log` header: magic and version. The first record starts here.
pub const LOG_HEADER_BYTES: u64 = 8;

/// Returns the file name of a segment file: the base offset as 20 digits, then `.` and `extension`.
pub fn file_name(base_offset: u64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// Returns the 8-byte `.log` header.
pub fn log_header() -> [u8; LOG_HEADER_BYTES as usize] {
    let mut header = [0; LOG_HEADER_BYTES as usize];
    header[..4].copy_from_slice(&LOG_MAGIC);
    header[4..].copy_from_slice(&LOG_VERSION.to_be_bytes());
    header
}

/// One segment: its files, its place in the offset space, and (once sealed) its map.
#[derive(Debug)]
pub struct Segment {
    base_offset: u64,
    /// One past the offset of the last record: the offset the next append here gets.
    next_offset: u64,
    /// Bytes of the `.log` file that hold valid data, header included.
    size: u64,
    log_path: PathBuf,
    log: File,
    index: Index,
    /// Log bytes appended since the last index entry.
    bytes_since_index_entry: u64,
    /// The read-only map of a sealed segment; `None` while the segment is active.
    map: Option<Mmap>,
}

/// What opening a segment had to repair, for the partition's recovery report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repairs {
    /// Bytes of the `.log` that were read and checked record by record.
    pub scanned_bytes: u64,
    /// Bytes cut from the end of the `.log` because they were not whole, valid records.
    pub truncated_bytes: u64,
    /// Whether the `.index` was rebuilt from the log.
    pub rebuilt_index: bool,
}

impl Segment {
    /// Creates a new, empty segment in `dir` starting at `base_offset`.
    ///
    /// The caller syncs `dir` afterwards, so the new file names survive a crash.
    pub fn create(dir: &Path, base_offset: u64) -> Result<Segment, StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        log.write_all_at(&log_header(), 0)
            .map_err(io_error(&log_path))?;
        log.sync_data().map_err(io_error(&log_path))?;

        let index_path = dir.join(file_name(base_offset, "index"));
        let index = Index::create(&index_path, Vec::new()).map_err(io_error(&index_path))?;

        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            size: LOG_HEADER_BYTES,
            log_path,
            log,
            index,
            bytes_since_index_entry: 0,
            map: None,
        })
    }

    /// Opens a sealed segment whose records run from `base_offset` to `next_offset - 1`.
    ///
    /// Sealed segments were synced when they were sealed, so their records are not scanned; only
    /// the index is checked, and rebuilt from a scan of the log when it cannot be trusted.
    pub fn open_sealed(
        dir: &Path,
        base_offset: u64,
        next_offset: u64,
        config: &PartitionConfig,
    ) -> Result<(Segment, Repairs), StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        let size = log.metadata().map_err(io_error(&log_path))?.len();
        check_header(&log, &log_path, size)?;
        let map = map_log(&log, &log_path)?;

        let index_path = dir.join(file_name(base_offset, "index"));
        let record_count = next_offset - base_offset;
        let loaded =
            Index::open(&index_path, size, Some(record_count)).map_err(io_error(&index_path))?;
        let loaded = loaded.and_then(|index| check_last_entry(index, &map, base_offset));

        let mut repairs = Repairs::default();
        let index = match loaded {
            Ok(index) => index,
            Err(problem) => {
                let scan = recovery::scan(&map, base_offset, config.index_interval_bytes);
                repairs.scanned_bytes = size;
                if scan.valid_len != size || scan.next_offset != next_offset {
                    let reason = match &scan.stop {
                        Some(stop) => stop.reason.clone(),
                        None => {
                            format!("holds offsets up to {}", scan.next_offset.saturating_sub(1))
                        }
                    };
                    return Err(StorageError::Corrupt {
                        path: log_path,
                        position: scan.valid_len,
                        reason: format!(
                            "sealed segment should hold offsets {base_offset} to {}, but {reason}; \
                             restore the file from a backup or move this segment and all later ones \
                             out of the partition directory",
                            next_offset - 1
                        ),
                    });
                }
                tracing::warn!(
                    index = %index_path.display(),
                    %problem,
                    entries = scan.entries.len(),
                    "rebuilt index of sealed segment from its log"
                );
                repairs.rebuilt_index = true;
                Index::create(&index_path, scan.entries).map_err(io_error(&index_path))?
            }
        };

        let segment = Segment {
            base_offset,
            next_offset,
            size,
            log_path,
            log,
            index,
            bytes_since_index_entry: 0,
            map: Some(map),
        };
        Ok((segment, repairs))
    }

    /// Opens the active (last) segment of a partition.
    ///
    /// After a clean shutdown the log and index are trusted, and only the records after the last
    /// index entry are walked to find the next offset. After an unclean shutdown, every record is
    /// checked (length, CRC, offset sequence), a torn or corrupt tail is cut off, and the index is
    /// rebuilt from the scan.
    pub fn open_active(
        dir: &Path,
        base_offset: u64,
        clean_shutdown: bool,
        config: &PartitionConfig,
    ) -> Result<(Segment, Repairs), StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let index_path = dir.join(file_name(base_offset, "index"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        let mut size = log.metadata().map_err(io_error(&log_path))?.len();

        // A crash just after the file was created can leave it shorter than its header.
        if size < LOG_HEADER_BYTES {
            tracing::warn!(log = %log_path.display(), bytes = size, "rewrote missing log header");
            log.set_len(0).map_err(io_error(&log_path))?;
            log.write_all_at(&log_header(), 0)
                .map_err(io_error(&log_path))?;
            log.sync_data().map_err(io_error(&log_path))?;
            size = LOG_HEADER_BYTES;
        }
        check_header(&log, &log_path, size)?;

        if clean_shutdown {
            if let Some(tail) = walk_trusted_tail(&log, &log_path, &index_path, base_offset, size)?
            {
                let segment = Segment {
                    base_offset,
                    next_offset: tail.next_offset,
                    size,
                    log_path,
                    log,
                    index: tail.index,
                    bytes_since_index_entry: tail.bytes_since_index_entry,
                    map: None,
                };
                return Ok((segment, Repairs::default()));
            }
            tracing::warn!(
                log = %log_path.display(),
                "clean-shutdown marker present but the segment's tail is inconsistent; scanning it"
            );
        }

        // ANCHOR: recover_active
        let bytes = std::fs::read(&log_path).map_err(io_error(&log_path))?;
        let scan = recovery::scan(&bytes, base_offset, config.index_interval_bytes);
        let mut repairs = Repairs {
            scanned_bytes: size,
            ..Repairs::default()
        };

        if scan.valid_len < size {
            let reason = scan.stop.as_ref().map_or("", |stop| stop.reason.as_str());
            tracing::warn!(
                log = %log_path.display(),
                position = scan.valid_len,
                truncated_bytes = size - scan.valid_len,
                next_offset = scan.next_offset,
                reason,
                "truncated torn or corrupt tail of active segment"
            );
            log.set_len(scan.valid_len).map_err(io_error(&log_path))?;
            log.sync_data().map_err(io_error(&log_path))?;
            repairs.truncated_bytes = size - scan.valid_len;
        }
        // ANCHOR_END: recover_active

        let index = Self::replace_index_if_stale(&index_path, &scan, &mut repairs)?;
        let segment = Segment {
            base_offset,
            next_offset: scan.next_offset,
            size: scan.valid_len,
            log_path,
            log,
            index,
            bytes_since_index_entry: scan.bytes_since_index_entry,
            map: None,
        };
        Ok((segment, repairs))
    }

    /// Keeps the index on disk when it matches the scan, and rewrites it otherwise.
    fn replace_index_if_stale(
        index_path: &Path,
        scan: &Scan,
        repairs: &mut Repairs,
    ) -> Result<Index, StorageError> {
        let on_disk = Index::open(
            index_path,
            scan.valid_len,
            Some(scan.next_offset - scan.base_offset),
        )
        .map_err(io_error(index_path))?;
        let problem = match on_disk {
            Ok(index) if index.entries() == scan.entries.as_slice() => return Ok(index),
            Ok(_) => IndexProblem::BadEntry {
                entry: 0,
                reason: "differs from the entries the log implies".into(),
            },
            Err(problem) => problem,
        };

        // An empty, missing index of a fresh segment is not worth a warning.
        if !(problem == IndexProblem::Missing && scan.entries.is_empty()) {
            tracing::warn!(index = %index_path.display(), %problem, entries = scan.entries.len(), "rebuilt index from log");
        }
        repairs.rebuilt_index = true;
        Index::create(index_path, scan.entries.clone()).map_err(io_error(index_path))
    }

    /// Appends as many of `records` as fit, numbering them from the segment's next offset, and
    /// returns how many were written. Writes all of them in one `pwrite`, without syncing.
    ///
    /// An empty segment always takes the first record: the config check guarantees it fits.
    /// Returns 0 only when the segment already holds records and the first one does not fit.
    // ANCHOR: append
    pub fn append(
        &mut self,
        records: &[NewRecord<'_>],
        config: &PartitionConfig,
        scratch: &mut Vec<u8>,
    ) -> Result<usize, StorageError> {
        scratch.clear();
        let mut new_entries = Vec::new();
        let mut position = self.size;
        let mut since_entry = self.bytes_since_index_entry;
        let mut offset = self.next_offset;

        for record in records {
            // Roll rule: never pass `segment_bytes`, unless the segment is empty.
            let frame_len = record.frame_len();
            let is_empty = position == LOG_HEADER_BYTES;
            if !is_empty && position + frame_len > config.segment_bytes {
                break;
            }

            // Index rule: an entry once at least `index_interval_bytes` were appended since the last.
            if since_entry >= config.index_interval_bytes {
                new_entries.push(IndexEntry {
                    relative_offset: (offset - self.base_offset) as u32,
                    position: position as u32,
                });
                since_entry = 0;
            }

            record::encode(offset, record, scratch);
            position += frame_len;
            since_entry += frame_len;
            offset += 1;
        }

        let written = (offset - self.next_offset) as usize;
        if written == 0 {
            return Ok(0);
        }

        // On failure, cut the file back so no partial frame stays behind the valid data.
        if let Err(error) = self.log.write_all_at(scratch, self.size) {
            let _ = self.log.set_len(self.size);
            return Err(io_error(&self.log_path)(error));
        }
        if let Err(error) = self.index.append(&new_entries) {
            let _ = self.log.set_len(self.size);
            return Err(io_error(self.index.path())(error));
        }

        self.size = position;
        self.bytes_since_index_entry = since_entry;
        self.next_offset = offset;
        Ok(written)
    }
    // ANCHOR_END: append

    /// Forces the `.log` data to stable storage with `fdatasync`.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.log.sync_data().map_err(io_error(&self.log_path))
    }

    /// Syncs the log and the index, then maps the log for reading. The segment is read-only after.
    pub fn seal(&mut self) -> Result<(), StorageError> {
        self.sync()?;
        self.index.sync().map_err(io_error(self.index.path()))?;
        self.map = Some(map_log(&self.log, &self.log_path)?);
        Ok(())
    }

    /// Syncs the log and the index without sealing: what a clean shutdown does.
    pub fn sync_all(&self) -> Result<(), StorageError> {
        self.sync()?;
        self.index.sync().map_err(io_error(self.index.path()))
    }

    /// Reads records from `offset` (which must be in this segment) into `out`.
    ///
    /// `budget` is the number of frame bytes the caller still accepts; each record taken is
    /// subtracted from it. The first record of a whole read (`out` empty) is taken even when it is
    /// larger than the budget. Records at or past `end` (the partition's visible end) are left
    /// out. Returns `true` when the read must not continue into later segments: the budget ran
    /// out or `end` was reached.
    // ANCHOR: read
    pub fn read(
        &self,
        offset: u64,
        end: u64,
        budget: &mut u64,
        out: &mut Vec<Record>,
    ) -> Result<bool, StorageError> {
        if offset < self.base_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.base_offset,
                log_end: self.next_offset,
            });
        }
        if offset >= end {
            return Ok(true);
        }
        if offset >= self.next_offset {
            return Ok(false);
        }
        let start = self.find_position(offset)?;

        // Read the frames that can fit in the budget in one go, at least the first whole frame.
        let first = self.prefix_at(start)?;
        let available = self.size - start;
        let wanted = if out.is_empty() {
            (*budget).max(first.frame_len())
        } else {
            *budget
        };
        let chunk_len = wanted.min(available);
        let chunk = self.bytes_at(start, chunk_len)?;

        let mut at = 0;
        let mut expected = offset;
        while at < chunk.len() {
            let (record, frame_len) = match record::decode(&chunk[at..]) {
                Ok(decoded) => decoded,
                // The next frame does not fit in the budget.
                Err(record::FrameError::Incomplete) if chunk_len < available => return Ok(true),
                Err(error) => return Err(self.corrupt(start + at as u64, error.to_string())),
            };
            if record.offset != expected {
                let reason = format!("expected offset {expected}, found {}", record.offset);
                return Err(self.corrupt(start + at as u64, reason));
            }
            if record.offset >= end {
                return Ok(true);
            }
            expected += 1;
            *budget = budget.saturating_sub(frame_len as u64);
            out.push(record);
            at += frame_len;
        }
        Ok(chunk_len < available)
    }
    // ANCHOR_END: read

    /// Returns the timestamp of the segment's newest (last) record, or `None` when it is empty.
    ///
    /// Retention ages a segment by this timestamp rather than the file's modification time,
    /// which copying or restoring the file would change.
    pub fn newest_timestamp(&self) -> Result<Option<i64>, StorageError> {
        if self.is_empty() {
            return Ok(None);
        }

        // Walk from the last index entry to the last frame, then decode only that frame.
        let mut position = self
            .index
            .last()
            .map_or(LOG_HEADER_BYTES, |entry| u64::from(entry.position));
        loop {
            let prefix = self.prefix_at(position)?;
            let frame_len = prefix.frame_len();
            if position + frame_len >= self.size {
                let frame = self.bytes_at(position, frame_len.min(self.size - position))?;
                let (record, _) = record::decode(&frame)
                    .map_err(|error| self.corrupt(position, error.to_string()))?;
                return Ok(Some(record.timestamp_ms));
            }
            position += frame_len;
        }
    }

    /// Returns a second handle to the `.log` file, so it can be synced without the segment.
    pub fn log_handle(&self) -> Result<File, StorageError> {
        self.log.try_clone().map_err(io_error(&self.log_path))
    }

    /// Removes the segment's `.log` and `.index` files. A map or handle already open keeps
    /// the data readable until it is dropped; the caller syncs the directory.
    pub fn remove_files(&self) -> Result<(), StorageError> {
        std::fs::remove_file(&self.log_path).map_err(io_error(&self.log_path))?;
        let index_path = self.index.path();
        std::fs::remove_file(index_path).map_err(io_error(index_path))
    }

    /// Finds the byte position of the frame holding `offset`: index lookup, then a forward scan.
    fn find_position(&self, offset: u64) -> Result<u64, StorageError> {
        let relative = (offset - self.base_offset) as u32;
        let mut position = self
            .index
            .lookup(relative)
            .map_or(LOG_HEADER_BYTES, |entry| u64::from(entry.position));
        loop {
            let prefix = self.prefix_at(position)?;
            if prefix.offset == offset {
                return Ok(position);
            }
            if prefix.offset > offset || prefix.length < record::MIN_LENGTH {
                return Err(self.corrupt(
                    position,
                    format!(
                        "scanning for offset {offset} found a frame for offset {} (length {}); \
                         if the index is damaged, delete {} and restart to rebuild it",
                        prefix.offset,
                        prefix.length,
                        self.index.path().display()
                    ),
                ));
            }
            position += prefix.frame_len();
        }
    }

    fn prefix_at(&self, position: u64) -> Result<FramePrefix, StorageError> {
        if position + PREFIX_BYTES as u64 > self.size {
            return Err(self.corrupt(
                position,
                "a frame starts past the end of the valid data".into(),
            ));
        }
        let bytes = self.bytes_at(position, PREFIX_BYTES as u64)?;
        Ok(FramePrefix::parse(&bytes).expect("12 bytes"))
    }

    /// Returns `len` bytes from `position`: borrowed from the map when sealed, read with `pread`
    /// when active.
    fn bytes_at(&self, position: u64, len: u64) -> Result<Cow<'_, [u8]>, StorageError> {
        let end = position + len;
        debug_assert!(end <= self.size, "read past the valid data");
        match &self.map {
            Some(map) => Ok(Cow::Borrowed(&map[position as usize..end as usize])),
            None => {
                let mut buffer = vec![0; len as usize];
                self.log
                    .read_exact_at(&mut buffer, position)
                    .map_err(io_error(&self.log_path))?;
                Ok(Cow::Owned(buffer))
            }
        }
    }

    fn corrupt(&self, position: u64, reason: String) -> StorageError {
        StorageError::Corrupt {
            path: self.log_path.clone(),
            position,
            reason,
        }
    }

    /// Returns the offset of the first record this segment holds (or will hold).
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Returns the offset the next record appended here gets.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Returns the bytes of valid data in the `.log` file, header included.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Returns whether the segment holds no records.
    pub fn is_empty(&self) -> bool {
        self.next_offset == self.base_offset
    }

    /// Returns whether the segment is sealed and read through its map.
    pub fn is_sealed(&self) -> bool {
        self.map.is_some()
    }

    /// Returns the index entries, in order.
    pub fn index_entries(&self) -> &[IndexEntry] {
        self.index.entries()
    }

    /// Returns the path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// The end of an active segment found without checking its records: see [`walk_trusted_tail`].
struct TrustedTail {
    index: Index,
    next_offset: u64,
    bytes_since_index_entry: u64,
}

/// Finds the end of an active segment that was closed cleanly, or returns `None` when its files
/// disagree. Only the frames after the last index entry are visited, by their 12-byte prefixes.
fn walk_trusted_tail(
    log: &File,
    log_path: &Path,
    index_path: &Path,
    base_offset: u64,
    size: u64,
) -> Result<Option<TrustedTail>, StorageError> {
    let Ok(index) = Index::open(index_path, size, None).map_err(io_error(index_path))? else {
        return Ok(None);
    };

    let last = index.last();
    let start = last.map_or(LOG_HEADER_BYTES, |entry| u64::from(entry.position));
    let mut position = start;
    let mut expected = last.map_or(base_offset, |entry| {
        base_offset + u64::from(entry.relative_offset)
    });
    while position < size {
        if position + PREFIX_BYTES as u64 > size {
            return Ok(None);
        }
        let mut bytes = [0; PREFIX_BYTES];
        log.read_exact_at(&mut bytes, position)
            .map_err(io_error(log_path))?;
        let prefix = FramePrefix::parse(&bytes).expect("12 bytes");
        if prefix.offset != expected || prefix.length < record::MIN_LENGTH {
            return Ok(None);
        }
        position += prefix.frame_len();
        expected += 1;
    }
    if position != size {
        return Ok(None);
    }

    // Appends count the bytes since the last entry's record started (or since the segment did).
    Ok(Some(TrustedTail {
        index,
        next_offset: expected,
        bytes_since_index_entry: size - start,
    }))
}

/// Checks the `.log` header, or returns a corruption error naming the file.
fn check_header(log: &File, path: &Path, size: u64) -> Result<(), StorageError> {
    let mut header = [0; LOG_HEADER_BYTES as usize];
    if size >= LOG_HEADER_BYTES {
        log.read_exact_at(&mut header, 0).map_err(io_error(path))?;
    }
    if header != log_header() {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            position: 0,
            reason: format!(
                "the file does not start with the RLOG version {LOG_VERSION} header (found {header:02x?}); \
                 it is not a RustLog segment of this version: move it out of the partition directory"
            ),
        });
    }
    Ok(())
}

/// Maps a `.log` file read-only.
fn map_log(log: &File, path: &Path) -> Result<Mmap, StorageError> {
    // SAFETY: a mapped file that changes underneath the map is undefined behaviour in Rust's
    // model, because a `&[u8]` must not change while borrowed. Only sealed segments are mapped,
    // and this process never writes, truncates or extends a sealed segment again: appends go to
    // the active segment only, and recovery truncates only the active segment, before any map of
    // it exists. Deleting the file (retention) leaves the mapped pages valid until the map is
    // dropped. Another process editing files in the data directory breaks this contract, as it
    // would for any database.
    unsafe { Mmap::map(log) }.map_err(io_error(path))
}

/// Confirms that the last index entry points at the start of the frame it names.
///
/// Checking one entry is cheap and catches an index left over from a longer or different log;
/// checking every entry would read the whole segment at startup.
fn check_last_entry(index: Index, map: &[u8], base_offset: u64) -> Result<Index, IndexProblem> {
    let Some(last) = index.last() else {
        return Ok(index);
    };
    let position = last.position as usize;
    let matches = FramePrefix::parse(&map[position..])
        .is_some_and(|prefix| prefix.offset == base_offset + u64::from(last.relative_offset));
    if matches {
        Ok(index)
    } else {
        Err(IndexProblem::BadEntry {
            entry: index.entries().len() - 1,
            reason: format!("points at byte {position}, which is not the start of its record"),
        })
    }
}
