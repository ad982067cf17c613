//! A segment is one slice of a partition's log: a `.log` file of frames and its sparse `.index`,
//! holding the records from its *base offset* up to the base offset of the next segment.
//!
//! Both files are named by the base offset as 20 zero-padded digits, so a directory listing sorts
//! segments in offset order (`00000000000000000000.log`, `00000000000000000042.log`), and 20
//! digits hold any u64.
//!
//! Only the last segment of a partition, the *active* one, is written. When the next record would
//! take the active segment past the partition's size limit, the partition *rolls*: it seals this
//! segment, syncing its index, and starts a new one at the next offset. A sealed segment never
//! changes again.
//!
//! The two kinds are read differently. A sealed segment is read through a read-only memory map,
//! so a fetch is a slice of the page cache with no system call. The active segment is read with
//! positional reads (`pread`), because it grows, and a map does not: see [`Segment`].
//!
//! The invariants: bytes `LOG_HEADER_BYTES..size` of the `.log` file are whole, valid frames whose
//! offsets run from the base offset up by one, and every index entry points at the start of the
//! frame it names. A segment has a map exactly when it is sealed.
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

use crate::error::{io_error, StorageError};
use crate::index::{Index, IndexEntry, IndexProblem};
use crate::record::{self, FrameError, FramePrefix, NewRecord, Record, PREFIX_BYTES};
use crate::recovery::{self, Scan, Stop};

/// The bytes every `.log` file starts with.
pub const LOG_MAGIC: [u8; 4] = *b"RLOG";
/// The log format version this code writes and reads.
pub const LOG_VERSION: u32 = 1;
/// Size of the `.log` header: magic and version. The first frame starts here.
pub const LOG_HEADER_BYTES: u64 = 8;

/// Returns the 8-byte `.log` header.
pub fn log_header() -> [u8; LOG_HEADER_BYTES as usize] {
    let mut header = [0; LOG_HEADER_BYTES as usize];
    header[..4].copy_from_slice(&LOG_MAGIC);
    header[4..].copy_from_slice(&LOG_VERSION.to_be_bytes());
    header
}

/// Returns the name of a segment file: the base offset as 20 digits, then `.` and `extension`.
pub fn file_name(base_offset: u64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// Splits `00000000000000000042.log` into `(42, "log")`, or returns `None` for any other name.
pub fn parse_file_name(name: &str) -> Option<(u64, &str)> {
    let (digits, extension) = name.split_once('.')?;
    let is_segment_name = digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit());
    if !is_segment_name {
        return None;
    }
    Some((digits.parse().ok()?, extension))
}

/// The repairs that opening a segment made.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repairs {
    /// Bytes cut from the end of the `.log` file because they were not whole, valid frames.
    pub truncated_bytes: u64,
    /// The first frame that is not whole and valid, when the scan found bytes to cut.
    pub stop: Option<Stop>,
    /// The problem that made opening rebuild the `.index` from the log, if there was one.
    pub index_problem: Option<IndexProblem>,
}

/// One segment: its files, its place in the partition's offset space, and, once it is sealed,
/// a read-only memory map of its `.log` file.
///
/// # Reading: a map for sealed segments, `pread` for the active one
///
/// A memory map makes the file's pages part of the process's address space, so reading mapped
/// bytes is reading memory. The first touch of a page that is not in the page cache faults it in
/// from disk. Every later read is a plain load, with no system call and no copy into a buffer of
/// our own. A fetch from a sealed segment borrows its frames straight from the map.
///
/// The active segment is not mapped, because a map has the length it was created with and the
/// file keeps growing. Following the file would take one of two bad options:
///
/// - remap after every append, which costs a system call and a change to the page tables, more
///   than the `pread` it would save;
/// - map more than the file holds, and stay away from the pages past its end: touching a page
///   that lies wholly past the end of the file raises `SIGBUS`, which kills the process. The file
///   would have to be extended before the map is made, and trimmed again on close.
///
/// Either way, the map's `&[u8]` would cover bytes that appends are still writing, which breaks
/// the promise the `unsafe` block in [`map_log`] makes. So the active segment is read with
/// `pread` into a buffer, and [`Segment::seal`] maps the file once it can no longer change.
#[derive(Debug)]
pub struct Segment {
    base_offset: u64,
    /// One past the offset of the last record: the offset the next append here gets.
    next_offset: u64,
    /// Bytes of valid data in the `.log` file, header included: the position of the next append.
    size: u64,
    log_path: PathBuf,
    /// The `.log` file: opened read-write while the segment is active, read-only once it is
    /// sealed.
    log: File,
    index: Index,
    /// Frame bytes appended since the last index entry.
    bytes_since_index_entry: u64,
    /// The read-only map of the `.log` file: `Some` exactly when the segment is sealed.
    map: Option<Mmap>,
}

impl Segment {
    /// Creates a new, empty segment in `dir` starting at `base_offset`: a `.log` file holding only
    /// its header, and an empty `.index`.
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

    /// Opens a sealed segment whose records run from `base_offset` to `next_offset - 1`, and maps
    /// its `.log` file.
    ///
    /// Its frames are not scanned: every append to it was synced, and it was sealed before the
    /// next segment existed, so a crash cannot have torn it. Its index is checked, and rebuilt
    /// from a scan of the map when it cannot be trusted. The `.log` file is opened read-only,
    /// because nothing may write it again.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when the header is wrong, or when a rebuild finds that the log
    /// does not hold exactly the records from `base_offset` to `next_offset - 1`.
    // ANCHOR: open_sealed
    pub fn open_sealed(
        dir: &Path,
        base_offset: u64,
        next_offset: u64,
        index_interval_bytes: u64,
    ) -> Result<(Segment, Repairs), StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = File::open(&log_path).map_err(io_error(&log_path))?;
        let size = log.metadata().map_err(io_error(&log_path))?.len();
        check_header(&log, &log_path, size)?;
        let map = map_log(&log, &log_path)?;

        let index_path = dir.join(file_name(base_offset, "index"));
        let record_count = next_offset - base_offset;
        let opened =
            Index::open(&index_path, size, Some(record_count)).map_err(io_error(&index_path))?;
        let checked = match opened {
            Ok(index) => check_last_entry(index, &map, base_offset),
            Err(problem) => Err(problem),
        };

        let mut repairs = Repairs::default();
        let index = match checked {
            Ok(index) => index,
            Err(problem) => {
                // The scan reads the map: no copy of the file into memory.
                let scan = recovery::scan(&map, base_offset, index_interval_bytes);
                if scan.valid_len != size || scan.next_offset != next_offset {
                    let found = match scan.next_offset.checked_sub(1) {
                        Some(last) if last >= base_offset => {
                            format!("offsets {base_offset} to {last}")
                        }
                        _ => "no records".to_string(),
                    };
                    let reason = format!(
                        "a sealed segment should hold offsets {base_offset} to {}, but its valid frames \
                         hold {found} and end at byte {} of {size}. Restore the file from a backup, or \
                         move it and every later segment out of the partition directory",
                        next_offset - 1,
                        scan.valid_len
                    );
                    return Err(StorageError::Corrupt {
                        path: log_path,
                        position: scan.valid_len,
                        reason,
                    });
                }
                repairs.index_problem = Some(problem);
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
    // ANCHOR_END: open_sealed

    /// Opens the active (last) segment of a partition, scans it, cuts off a torn or invalid tail,
    /// and replaces the index when it does not match the entries the scan implies.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when the file does not start with the `RLOG` header, and
    /// [`StorageError::Io`] when a file operation fails.
    // ANCHOR: open_active
    pub fn open_active(
        dir: &Path,
        base_offset: u64,
        index_interval_bytes: u64,
    ) -> Result<(Segment, Repairs), StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;

        // A crash just after the file was created can leave it shorter than its header.
        let mut size = log.metadata().map_err(io_error(&log_path))?.len();
        if size < LOG_HEADER_BYTES {
            log.set_len(0).map_err(io_error(&log_path))?;
            log.write_all_at(&log_header(), 0)
                .map_err(io_error(&log_path))?;
            log.sync_data().map_err(io_error(&log_path))?;
            size = LOG_HEADER_BYTES;
        }
        check_header(&log, &log_path, size)?;

        // NOTE: the scan reads the whole segment into memory, which the segment size bounds.
        let bytes = std::fs::read(&log_path).map_err(io_error(&log_path))?;
        let scan = recovery::scan(&bytes, base_offset, index_interval_bytes);
        if scan.valid_len < bytes.len() as u64 {
            log.set_len(scan.valid_len).map_err(io_error(&log_path))?;
            log.sync_data().map_err(io_error(&log_path))?;
        }

        let index_path = dir.join(file_name(base_offset, "index"));
        let (index, index_problem) = replace_index_if_stale(&index_path, base_offset, &scan)?;
        let repairs = Repairs {
            truncated_bytes: bytes.len() as u64 - scan.valid_len,
            stop: scan.stop,
            index_problem,
        };
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
    // ANCHOR_END: open_active

    /// Appends `record` at the end of the segment with the next offset, adds an index entry when
    /// the interval rule calls for one, syncs the log, and returns the offset.
    ///
    /// The caller has checked the record's size and applied the roll rule.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when a write or the sync fails. After a failed sync the record's fate
    /// is unknown: it may or may not be in the file after a restart. The next append writes over it
    /// either way.
    // ANCHOR: append
    pub fn append(
        &mut self,
        record: &NewRecord<'_>,
        index_interval_bytes: u64,
    ) -> Result<u64, StorageError> {
        // SOLUTION(append): As in step 2, plus an index entry once the interval is reached.
        let offset = self.next_offset;
        let mut frame = Vec::with_capacity(record.frame_len() as usize);
        record::encode(offset, record, &mut frame);

        // If the write fails part-way, cut the file back so no partial frame stays behind.
        if let Err(error) = self.log.write_all_at(&frame, self.size) {
            let _ = self.log.set_len(self.size);
            return Err(io_error(&self.log_path)(error));
        }

        // Index rule: an entry for this record once at least `index_interval_bytes` of frames
        // were appended since the last entry. The index is not synced here: it is a cache.
        let mut since_entry = self.bytes_since_index_entry;
        if since_entry >= index_interval_bytes {
            let entry = IndexEntry {
                relative_offset: (offset - self.base_offset) as u32,
                position: self.size as u32,
            };
            if let Err(error) = self.index.append(entry) {
                let _ = self.log.set_len(self.size);
                return Err(io_error(self.index.path())(error));
            }
            since_entry = 0;
        }

        self.log.sync_data().map_err(io_error(&self.log_path))?;
        self.size += frame.len() as u64;
        self.bytes_since_index_entry = since_entry + frame.len() as u64;
        self.next_offset += 1;
        Ok(offset)
        // END SOLUTION
    }
    // ANCHOR_END: append

    /// Syncs the index and maps the `.log` file read-only, after which the segment is never
    /// written again.
    ///
    /// The read-write handle is swapped for a read-only one, so an append to a sealed segment by
    /// mistake fails instead of changing mapped bytes.
    // ANCHOR: seal
    pub fn seal(&mut self) -> Result<(), StorageError> {
        self.index.sync().map_err(io_error(self.index.path()))?;

        let log = File::open(&self.log_path).map_err(io_error(&self.log_path))?;
        self.map = Some(map_log(&log, &self.log_path)?);
        self.log = log;
        Ok(())
    }
    // ANCHOR_END: seal

    /// Reads records from `offset`, which must be in this segment, into `out`.
    ///
    /// `budget` is the number of frame bytes the caller still accepts. Each record taken is
    /// subtracted from it. The first record of a whole fetch (`out` still empty) is taken even
    /// when it alone is larger than the budget, so a reader always makes progress. Returns `true`
    /// when the fetch stopped because of the budget, and `false` when it reached the end of the
    /// segment.
    ///
    /// The frames are taken from one run of bytes: a slice of the map for a sealed segment, one
    /// `pread` for the active one.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when a frame fails its checks or carries an unexpected offset, and
    /// [`StorageError::Io`] when a read fails.
    // ANCHOR: fetch
    pub fn fetch(
        &self,
        offset: u64,
        budget: &mut u64,
        out: &mut Vec<Record>,
    ) -> Result<bool, StorageError> {
        if offset >= self.next_offset {
            return Ok(false);
        }
        let start = self.find_position(offset)?;

        // SOLUTION(fetch_rule): Take the bytes the budget allows (the whole first frame if `out` is empty), then decode whole frames.
        // The bytes the budget allows, but always the whole first frame of the fetch, and never
        // past the valid data.
        let available = self.size - start;
        let first_frame_len = self.prefix_at(start)?.frame_len();
        let allowed = if out.is_empty() {
            (*budget).max(first_frame_len)
        } else {
            *budget
        };
        let chunk = self.bytes_at(start, allowed.min(available))?;
        let chunk_ends_early = (chunk.len() as u64) < available;

        let mut at = 0;
        let mut expected = offset;
        while at < chunk.len() {
            let position = start + at as u64;
            let record = match record::decode(&chunk[at..]) {
                Ok(record) => record,
                // The chunk ends inside this frame: the frame does not fit in the budget.
                Err(FrameError::Incomplete) if chunk_ends_early => return Ok(true),
                Err(FrameError::Incomplete) => {
                    let reason = format!(
                        "the frame's length runs past the end of the valid data at byte {}",
                        self.size
                    );
                    return Err(self.corrupt(position, reason));
                }
                Err(FrameError::Invalid(reason)) => return Err(self.corrupt(position, reason)),
            };
            if record.offset != expected {
                let reason = format!("expected offset {expected}, found {}", record.offset);
                return Err(self.corrupt(position, reason));
            }

            let frame_len = record.frame_len();
            *budget = budget.saturating_sub(frame_len);
            out.push(record);
            at += frame_len as usize;
            expected += 1;
        }
        Ok(chunk_ends_early)
        // END SOLUTION
    }
    // ANCHOR_END: fetch

    /// Finds the byte position of the frame holding `offset`, which must be in this segment: an
    /// index lookup for the nearest entry at or below it, then a walk over the 12-byte prefixes of
    /// the frames from there.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when the walk meets a frame it cannot step over, or passes
    /// `offset`, which happens when the index points at the wrong place.
    // ANCHOR: find_position
    pub fn find_position(&self, offset: u64) -> Result<u64, StorageError> {
        // SOLUTION(find_position): Start at the index entry at or below `offset`, then walk.
        let relative = (offset - self.base_offset) as u32;
        let mut position = match self.index.lookup(relative) {
            Some(entry) => u64::from(entry.position),
            None => LOG_HEADER_BYTES,
        };

        loop {
            let prefix = self.prefix_at(position)?;
            if prefix.offset == offset {
                return Ok(position);
            }
            if prefix.offset > offset || prefix.length < record::MIN_LENGTH {
                let reason = format!(
                    "looking for offset {offset}, found a frame for offset {} (length {}). If the \
                     index is damaged, delete {} and reopen the partition to rebuild it",
                    prefix.offset,
                    prefix.length,
                    self.index.path().display()
                );
                return Err(self.corrupt(position, reason));
            }
            position += prefix.frame_len();
        }
        // END SOLUTION
    }
    // ANCHOR_END: find_position

    /// Reads the 12-byte prefix of the frame at `position`.
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

    /// Returns `len` bytes of the `.log` file from `position`: borrowed from the map when the
    /// segment is sealed, read with `pread` into a new buffer when it is active.
    ///
    /// The caller keeps `position + len` within the valid data.
    // ANCHOR: bytes_at
    fn bytes_at(&self, position: u64, len: u64) -> Result<Cow<'_, [u8]>, StorageError> {
        debug_assert!(position + len <= self.size, "read past the valid data");
        match &self.map {
            Some(map) => {
                let range = position as usize..(position + len) as usize;
                Ok(Cow::Borrowed(&map[range]))
            }
            None => {
                let mut buffer = vec![0; len as usize];
                self.log
                    .read_exact_at(&mut buffer, position)
                    .map_err(io_error(&self.log_path))?;
                Ok(Cow::Owned(buffer))
            }
        }
    }
    // ANCHOR_END: bytes_at

    fn corrupt(&self, position: u64, reason: String) -> StorageError {
        StorageError::Corrupt {
            path: self.log_path.clone(),
            position,
            reason,
        }
    }

    /// Returns the offset of the first record this segment holds, or will hold.
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

    /// Returns whether the segment contains no records.
    pub fn is_empty(&self) -> bool {
        self.next_offset == self.base_offset
    }

    /// Returns whether reads go through a memory map, which is the case exactly when the segment
    /// is sealed.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Returns the segment's index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Returns the path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// Keeps the index on disk when it contains exactly the entries the scan implies, and rewrites it
/// otherwise. Returns the index and, when it was rewritten, the problem with the old one.
// ANCHOR: replace_index_if_stale
fn replace_index_if_stale(
    index_path: &Path,
    base_offset: u64,
    scan: &Scan,
) -> Result<(Index, Option<IndexProblem>), StorageError> {
    let record_count = scan.next_offset - base_offset;
    let opened = Index::open(index_path, scan.valid_len, Some(record_count))
        .map_err(io_error(index_path))?;
    let problem = match opened {
        Ok(index) => match first_difference(index.entries(), &scan.entries) {
            None => return Ok((index, None)),
            Some(problem) => problem,
        },
        Err(problem) => problem,
    };

    let index = Index::create(index_path, scan.entries.clone()).map_err(io_error(index_path))?;
    Ok((index, Some(problem)))
}
// ANCHOR_END: replace_index_if_stale

/// Compares the entries of an index with the entries the log implies, and describes the first
/// difference.
fn first_difference(on_disk: &[IndexEntry], expected: &[IndexEntry]) -> Option<IndexProblem> {
    let describe = |entry: &IndexEntry| {
        format!(
            "relative offset {} at byte {}",
            entry.relative_offset, entry.position
        )
    };
    let len = on_disk.len().max(expected.len());
    let entry = (0..len).find(|&number| on_disk.get(number) != expected.get(number))?;

    let reason = match (on_disk.get(entry), expected.get(entry)) {
        (Some(found), Some(wanted)) => {
            format!(
                "holds {}, but the log calls for {}",
                describe(found),
                describe(wanted)
            )
        }
        (None, Some(wanted)) => format!("is missing: the log calls for {}", describe(wanted)),
        (Some(found), None) => format!("({}) is one the log does not call for", describe(found)),
        (None, None) => unreachable!("entry {entry} is below the longer length"),
    };
    Some(IndexProblem::BadEntry { entry, reason })
}

/// Confirms that the last index entry points at the start of the frame it names, reading the
/// frame's prefix from `log`, the mapped `.log` file.
///
/// Checking one entry is cheap and catches an index left over from a different log. Checking every
/// entry would read the whole segment.
fn check_last_entry(index: Index, log: &[u8], base_offset: u64) -> Result<Index, IndexProblem> {
    let Some(last) = index.last() else {
        return Ok(index);
    };

    // `Index::open` checked that the position lies inside the log. Fewer than 12 bytes after it
    // means no frame starts there.
    let position = last.position as usize;
    let starts_its_record = FramePrefix::parse(&log[position..])
        .is_some_and(|prefix| prefix.offset == base_offset + u64::from(last.relative_offset));
    if starts_its_record {
        return Ok(index);
    }
    Err(IndexProblem::BadEntry {
        entry: index.entries().len() - 1,
        reason: format!(
            "points at byte {}, which is not the start of its record",
            last.position
        ),
    })
}

/// Maps the `.log` file of a sealed segment read-only.
// ANCHOR: map_log
fn map_log(log: &File, path: &Path) -> Result<Mmap, StorageError> {
    // SAFETY: `Mmap::map` is unsafe because the `&[u8]` it hands out shows every change to the
    // file, made through any handle by any process, while Rust assumes that borrowed bytes do not
    // change. Only sealed segments are mapped, and this process never changes a sealed `.log`
    // file again. Appends go to the active segment only. Recovery truncates only the active
    // segment, before it could be sealed. A sealed segment's only handle is read-only (`seal` and
    // `open_sealed` open it with `File::open`).
    //
    // What this cannot rule out is another program writing or truncating files in the partition
    // directory while the partition is open. A write would change borrowed bytes, and a
    // truncation would make a read of a lost page raise SIGBUS. Like any database, the partition
    // assumes that it owns its directory.
    unsafe { Mmap::map(log) }.map_err(io_error(path))
}
// ANCHOR_END: map_log

/// Checks the `.log` header, or returns a corruption error naming the file.
fn check_header(log: &File, path: &Path, size: u64) -> Result<(), StorageError> {
    let mut header = [0; LOG_HEADER_BYTES as usize];
    if size >= LOG_HEADER_BYTES {
        log.read_exact_at(&mut header, 0).map_err(io_error(path))?;
    }
    if header == log_header() {
        return Ok(());
    }
    Err(StorageError::Corrupt {
        path: path.to_path_buf(),
        position: 0,
        reason: format!(
            "the file does not start with the RLOG version {LOG_VERSION} header (found {header:02x?}), so \
             it is not a segment this code can read; move it out of the partition directory"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_round_trips() {
        assert_eq!(file_name(42, "log"), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.log"),
            Some((42, "log"))
        );
        assert_eq!(
            parse_file_name(&file_name(u64::MAX, "index")),
            Some((u64::MAX, "index"))
        );
    }

    #[test]
    fn parse_file_name_rejects_other_names() {
        for name in [
            "42.log",
            "0000000000000000004x.log",
            "00000000000000000042",
            "records.log",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn first_difference_names_the_entry() {
        let entry = |relative_offset, position| IndexEntry {
            relative_offset,
            position,
        };
        let expected = [entry(2, 100), entry(4, 200)];

        assert_eq!(first_difference(&expected, &expected), None);
        let missing = first_difference(&expected[..1], &expected).unwrap();
        assert_eq!(
            missing.to_string(),
            "index entry 1 is missing: the log calls for relative offset 4 at byte 200"
        );
        let extra = first_difference(&expected, &expected[..1]).unwrap();
        assert_eq!(
            extra.to_string(),
            "index entry 1 (relative offset 4 at byte 200) is one the log does not call for"
        );
        let moved = first_difference(&[entry(2, 100), entry(4, 210)], &expected).unwrap();
        assert_eq!(
            moved.to_string(),
            "index entry 1 holds relative offset 4 at byte 210, but the log calls for relative offset 4 at byte 200"
        );
    }
}
