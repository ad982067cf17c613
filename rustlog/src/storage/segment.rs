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
//! The active segment reserves disk space ahead of its end, [`PREALLOCATE_BYTES`] at a time, with
//! `fallocate(FALLOC_FL_KEEP_SIZE)`. An `fdatasync` of a file that grows into new blocks must also
//! commit their allocation. With the blocks reserved in advance, most syncs only write the data
//! and the new file size. The reservation lies past the end of the file, so the file's size is still
//! the size of its data and no read or recovery step ever sees it. Sealing gives back what the
//! segment did not use.
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
use std::convert::Infallible;
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

/// Disk space the active segment reserves past its end at a time, capped at `segment_bytes`.
///
/// Large enough that reserving costs one system call per many produce requests, small enough
/// that an idle partition keeps little unused space. The benchmarks page shows what it buys.
pub const PREALLOCATE_BYTES: u64 = 8 << 20;

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
    /// End of the disk space reserved for the `.log` (see [`PREALLOCATE_BYTES`]); at least `size`.
    reserved_end: u64,
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
    /// The caller syncs `dir` afterwards, so the new file names survive a crash. When a write
    /// fails (a full disk, say), the files created so far are removed again, so that a later
    /// attempt can create them afresh instead of finding a half-made segment in the way.
    pub fn create(dir: &Path, base_offset: u64) -> Result<Segment, StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let index_path = dir.join(file_name(base_offset, "index"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;

        let written = log
            .write_all_at(&log_header(), 0)
            .and_then(|()| log.sync_data())
            .map_err(io_error(&log_path))
            .and_then(|()| Index::create(&index_path, Vec::new()).map_err(io_error(&index_path)));
        let index = match written {
            Ok(index) => index,
            Err(error) => {
                remove_unfinished(&[&log_path, &index_path]);
                return Err(error);
            }
        };

        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            size: LOG_HEADER_BYTES,
            log_path,
            log,
            index,
            bytes_since_index_entry: 0,
            map: None,
            reserved_end: LOG_HEADER_BYTES,
        })
    }

    /// Opens a sealed segment whose records run from `base_offset` to `next_offset - 1`.
    ///
    /// Sealed segments were synced when they were sealed, so their records are not scanned on
    /// every start. Four cheap checks decide whether the files can be trusted. The header must
    /// be right, an intact first record must carry the offset in the file name, and the last
    /// index entry must point at its record. Then a walk over the frame prefixes after that entry
    /// must end exactly at the end of the file, just before `next_offset`. The walk reads about
    /// `index_interval_bytes` of the file. When the index or the walk fails, the whole log is
    /// scanned. If the scan finds every record, only the index was wrong and it is rebuilt, and
    /// otherwise the segment is rejected.
    ///
    /// A damaged byte inside a record that these checks do not read is found later, by the read
    /// that decodes the record and fails its CRC.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] naming the file when the header is wrong, the file name does
    /// not match the first record, or the log does not contain exactly the expected records.
    /// [`StorageError::Io`] when a file operation fails.
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
        check_first_offset(&map, &log_path, base_offset)?;

        let index_path = dir.join(file_name(base_offset, "index"));
        let record_count = next_offset - base_offset;
        let loaded =
            Index::open(&index_path, size, Some(record_count)).map_err(io_error(&index_path))?;
        let loaded = loaded
            .and_then(|index| check_last_entry(index, &map, base_offset))
            .and_then(|index| check_tail(index, &map, base_offset, next_offset));

        let mut repairs = Repairs::default();
        let index = match loaded {
            Ok(index) => index,
            Err(problem) => {
                let scan = recovery::scan(&map, base_offset, config.index_interval_bytes);
                repairs.scanned_bytes = size;
                if scan.valid_len != size || scan.next_offset != next_offset {
                    let found = match &scan.stop {
                        Some(stop) => stop.reason.clone(),
                        None if scan.next_offset == base_offset => "it holds no records".into(),
                        None => {
                            format!("it holds offsets {base_offset} to {}", scan.next_offset - 1)
                        }
                    };
                    return Err(StorageError::Corrupt {
                        path: log_path,
                        position: scan.valid_len,
                        reason: format!(
                            "sealed segment should hold offsets {base_offset} to {}, because the \
                             next segment starts at offset {next_offset}, but {found}; restore the \
                             file from a backup, or move this segment and every later one out of \
                             the partition directory",
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
            reserved_end: size,
        };
        Ok((segment, repairs))
    }

    /// Opens the active (last) segment of a partition.
    ///
    /// After a clean shutdown the log and index are trusted, and only the records after the last
    /// index entry are walked to find the next offset. After an unclean shutdown, every record is
    /// checked (length, CRC, offset sequence), a torn or corrupt tail is cut off, and the index is
    /// rebuilt from the scan.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when the header is wrong, or when the first record is intact but
    /// carries an offset other than the one in the file name (a renamed file, which a cut would
    /// empty). [`StorageError::Io`] when a file operation fails.
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
                    reserved_end: size,
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
        // A renamed file is not a torn write, so reject it rather than cut away all its records.
        check_first_offset(&bytes, &log_path, base_offset)?;
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
            reserved_end: scan.valid_len,
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

        if position > self.reserved_end {
            self.reserve(position, config.segment_bytes);
        }

        // On failure, cut the file back so no partial frame stays behind the valid data.
        // Cutting also frees the reserved space, so it has to be reserved again.
        if let Err(error) = self.log.write_all_at(scratch, self.size) {
            let _ = self.log.set_len(self.size);
            self.reserved_end = self.size;
            return Err(io_error(&self.log_path)(error));
        }
        if let Err(error) = self.index.append(&new_entries) {
            let _ = self.log.set_len(self.size);
            self.reserved_end = self.size;
            return Err(io_error(self.index.path())(error));
        }

        self.size = position;
        self.bytes_since_index_entry = since_entry;
        self.next_offset = offset;
        Ok(written)
    }
    // ANCHOR_END: append

    /// Reserves disk space for the `.log` up to [`PREALLOCATE_BYTES`] past `end`, or up to
    /// `segment_bytes` if that is closer (but never less than `end`).
    ///
    /// Reserving only makes syncs cheaper, so a failure is logged and the append goes on: a file
    /// system without `fallocate` still takes plain writes, and on a full disk the write itself
    /// reports the error. The next attempt comes once the appends pass the failed range.
    fn reserve(&mut self, end: u64, segment_bytes: u64) {
        let target = (end + PREALLOCATE_BYTES).min(segment_bytes).max(end);
        if let Err(error) = preallocate(&self.log, self.reserved_end, target) {
            tracing::debug!(
                log = %self.log_path.display(),
                from = self.reserved_end,
                to = target,
                %error,
                "cannot reserve space for the active segment; appending without"
            );
        }
        self.reserved_end = target;
    }

    /// Forces the `.log` data to stable storage with `fdatasync`.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.log.sync_data().map_err(io_error(&self.log_path))
    }

    /// Syncs the log and the index, then maps the log for reading. The segment is read-only after.
    pub fn seal(&mut self) -> Result<(), StorageError> {
        // Give back the reserved space past the data; the file's size stays the same.
        if self.reserved_end > self.size {
            self.log
                .set_len(self.size)
                .map_err(io_error(&self.log_path))?;
            self.reserved_end = self.size;
        }
        self.sync()?;
        self.index.sync().map_err(io_error(self.index.path()))?;
        self.map = Some(map_log(&self.log, &self.log_path)?);
        Ok(())
    }

    /// Drops the map that [`Segment::seal`] made, so the segment takes appends again.
    ///
    /// A roll calls this when the segment that should follow could not be created. The sealed
    /// segment then stays the active one, and a map must never see its file grow.
    pub fn unseal(&mut self) {
        self.map = None;
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
    // TODO: every group-commit sync clones the handle, a `dup` and a `close` around each
    // `fdatasync`. Keeping the file in an `Arc` would save both calls on the latency-bound path.
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

    let (start, start_offset) = tail_start(&index, base_offset);
    let read_prefix = |position| {
        let mut bytes = [0; PREFIX_BYTES];
        log.read_exact_at(&mut bytes, position)
            .map(|()| bytes)
            .map_err(io_error(log_path))
    };
    let Some(next_offset) = walk_prefixes(start, start_offset, size, read_prefix)? else {
        return Ok(None);
    };

    // Appends count the bytes since the last entry's record started (or since the segment did).
    Ok(Some(TrustedTail {
        index,
        next_offset,
        bytes_since_index_entry: size - start,
    }))
}

/// Returns where a walk over the frames after the last index entry starts: that entry's byte
/// position and offset, or the first frame of the segment when the index is empty.
fn tail_start(index: &Index, base_offset: u64) -> (u64, u64) {
    match index.last() {
        Some(entry) => (
            u64::from(entry.position),
            base_offset + u64::from(entry.relative_offset),
        ),
        None => (LOG_HEADER_BYTES, base_offset),
    }
}

/// Steps over frames by their 12-byte prefixes, from the frame at `position` (which must carry
/// `offset`) to byte `size`, and returns the offset after the last frame.
///
/// Returns `None` when a frame carries an unexpected offset or an impossible length, or when the
/// last frame does not end exactly at `size`. Record contents and CRCs are not checked.
fn walk_prefixes<E>(
    mut position: u64,
    mut offset: u64,
    size: u64,
    mut read_prefix: impl FnMut(u64) -> Result<[u8; PREFIX_BYTES], E>,
) -> Result<Option<u64>, E> {
    while position < size {
        if position + PREFIX_BYTES as u64 > size {
            return Ok(None);
        }
        let prefix = FramePrefix::parse(&read_prefix(position)?).expect("12 bytes");
        if prefix.offset != offset || prefix.length < record::MIN_LENGTH {
            return Ok(None);
        }
        position += prefix.frame_len();
        offset += 1;
    }
    Ok((position == size).then_some(offset))
}

/// Allocates the blocks of `file` from byte `from` to byte `to` without changing its size.
#[cfg(target_os = "linux")]
fn preallocate(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;

    let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to.saturating_sub(from)))
    else {
        return Err(std::io::ErrorKind::InvalidInput.into());
    };
    if len == 0 {
        return Ok(());
    }
    // SAFETY: fallocate only reads its integer arguments, and the descriptor is open for writing
    // for as long as `file` lives.
    let result =
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere, segments grow with their writes.
#[cfg(not(target_os = "linux"))]
fn preallocate(_file: &File, _from: u64, _to: u64) -> std::io::Result<()> {
    Ok(())
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

/// Rejects a segment whose first record is intact but carries an offset other than the one in
/// the file name, because the file was renamed or copied in under the wrong name. A torn write
/// cannot produce such a frame, because the CRC covers the offset.
fn check_first_offset(map: &[u8], path: &Path, base_offset: u64) -> Result<(), StorageError> {
    // A damaged first record is left to the later checks, which report it with the rest.
    let Ok(first) = record::check(&map[LOG_HEADER_BYTES as usize..]) else {
        return Ok(());
    };
    if first.offset == base_offset {
        return Ok(());
    }
    Err(StorageError::Corrupt {
        path: path.to_path_buf(),
        position: LOG_HEADER_BYTES,
        reason: format!(
            "the first record has offset {}, but the file name says the segment starts at offset \
             {base_offset}; if the file was renamed, rename it back to {} and its index to {}, \
             otherwise move it out of the partition directory",
            first.offset,
            file_name(first.offset, "log"),
            file_name(first.offset, "index")
        ),
    })
}

/// Confirms that the frames after the last index entry end exactly at the end of the sealed
/// segment's file, and that the last of them carries offset `next_offset - 1`.
///
/// This catches a sealed segment that was cut short, that has bytes after its last record, or
/// that lacks records before the next segment's base offset. It reads one 12-byte prefix per
/// frame after the last entry, about `index_interval_bytes` of the file in all.
fn check_tail(
    index: Index,
    map: &[u8],
    base_offset: u64,
    next_offset: u64,
) -> Result<Index, IndexProblem> {
    let (start, start_offset) = tail_start(&index, base_offset);
    let read_prefix = |position: u64| {
        let bytes = &map[position as usize..][..PREFIX_BYTES];
        Ok::<_, Infallible>(bytes.try_into().expect("12 bytes"))
    };
    let Ok(end) = walk_prefixes(start, start_offset, map.len() as u64, read_prefix);

    match end {
        Some(end) if end == next_offset => Ok(index),
        Some(end) => Err(IndexProblem::BadTail {
            reason: format!(
                "stop before offset {end}, but the next segment starts at offset {next_offset}"
            ),
        }),
        None => Err(IndexProblem::BadTail {
            reason: "do not end exactly at the end of the file".into(),
        }),
    }
}

/// Removes the files of a segment that could not be created completely. A failure to remove is
/// logged and otherwise ignored, because the error that stopped the creation is the one to return.
fn remove_unfinished(paths: &[&Path]) {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "cannot remove file of a segment that could not be created")
            }
        }
    }
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
