//! The sparse offset index: a `.index` file next to each `.log` file that maps some of the
//! segment's offsets to the byte positions of their frames. With it, a read jumps close to an
//! offset instead of walking from the start of the segment.
//!
//! An entry is added each time at least `index_interval_bytes` of frames were appended since the
//! previous entry. The index stays small (8 bytes for every 4 KiB of log with the default interval),
//! and a lookup walks at most about one interval of frames after the entry it finds.
//!
//! The index is a cache. Everything in it can be rebuilt by scanning the `.log` file, which is what
//! opening a segment does when the index is missing or cannot be trusted.
//!
//! # Format
//!
//! Every integer is big-endian.
//!
//! ANCHOR: index_format
//! | field             | size (bytes) | type | meaning                                            |
//! |-------------------|--------------|------|----------------------------------------------------|
//! | `magic`           | 4            | raw  | `RIDX`                                             |
//! | `version`         | 4            | u32  | `1`                                                |
//! | then, per entry:  |              |      |                                                    |
//! | `relative_offset` | 4            | u32  | record offset minus the segment's base offset      |
//! | `position`        | 4            | u32  | byte position of that record's frame in the `.log` |
//! ANCHOR_END: index_format
//!
//! Entries increase in both fields, which is what makes binary search possible. Storing the offset
//! relative to the base offset halves the entry size. The partition keeps every frame's position
//! below 4 GiB, so both fields fit in 32 bits.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::segment::LOG_HEADER_BYTES;

/// The bytes every `.index` file starts with.
pub const INDEX_MAGIC: [u8; 4] = *b"RIDX";
/// The index format version this code writes and reads.
pub const INDEX_VERSION: u32 = 1;
/// Size of the file header: magic and version.
pub const INDEX_HEADER_BYTES: u64 = 8;
/// Size of one entry.
pub const ENTRY_BYTES: u64 = 8;

/// One index entry: the record at `base_offset + relative_offset` starts at byte `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Offset of the record minus the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of the record's frame in the `.log` file.
    pub position: u32,
}

/// A reason not to trust an index file. Opening a segment handles each of these by rebuilding the
/// index from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexProblem {
    /// The file does not exist.
    Missing,
    /// The file is shorter than its header, or does not start with `RIDX` version 1.
    BadHeader,
    /// The bytes after the header are not a whole number of entries: a write cut mid-entry.
    PartialEntry {
        /// The file's length in bytes.
        len: u64,
    },
    /// Entry number `entry` breaks a rule: not increasing, pointing outside the log, or not
    /// matching the entries the log implies.
    BadEntry {
        /// The entry's number, from 0.
        entry: usize,
        /// The rule the entry breaks.
        reason: String,
    },
}

impl fmt::Display for IndexProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexProblem::Missing => write!(f, "the index file is missing"),
            IndexProblem::BadHeader => {
                write!(f, "the index header is missing or not RIDX version 1")
            }
            IndexProblem::PartialEntry { len } => {
                write!(f, "index length {len} ends inside an entry")
            }
            IndexProblem::BadEntry { entry, reason } => write!(f, "index entry {entry} {reason}"),
        }
    }
}

/// An open `.index` file, with its entries kept in memory for binary search.
#[derive(Debug)]
pub struct Index {
    path: PathBuf,
    file: File,
    entries: Vec<IndexEntry>,
}

impl Index {
    /// Creates the index at `path` holding `entries`, replacing any file there, and syncs it.
    ///
    /// Used both for a new, empty segment and to write an index rebuilt from the log.
    pub fn create(path: &Path, entries: Vec<IndexEntry>) -> io::Result<Index> {
        let mut bytes =
            Vec::with_capacity((INDEX_HEADER_BYTES + ENTRY_BYTES * entries.len() as u64) as usize);
        bytes.extend_from_slice(&INDEX_MAGIC);
        bytes.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        for entry in &entries {
            bytes.extend_from_slice(&entry_bytes(*entry));
        }

        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.write_all_at(&bytes, 0)?;
        file.sync_data()?;

        Ok(Index {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    /// Opens the index at `path` and checks it against its segment: `log_len` is the size of the
    /// `.log` file, and `record_count`, when known, the number of records in the segment.
    ///
    /// # Errors
    ///
    /// The outer error is an I/O failure. The inner one is the reason not to trust the index.
    pub fn open(
        path: &Path,
        log_len: u64,
        record_count: Option<u64>,
    ) -> io::Result<Result<Index, IndexProblem>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Err(IndexProblem::Missing))
            }
            Err(error) => return Err(error),
        };
        let entries = match parse_entries(&bytes, log_len, record_count) {
            Ok(entries) => entries,
            Err(problem) => return Ok(Err(problem)),
        };

        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Ok(Index {
            path: path.to_path_buf(),
            file,
            entries,
        }))
    }

    /// Appends `entry` to the file and to the in-memory list.
    ///
    /// The write is not synced. The index is a cache that opening a segment checks and rebuilds,
    /// so it is synced only when its segment is sealed. On a failed write the file is cut back to
    /// its previous length, so a later append cannot land in the middle of an entry.
    pub fn append(&mut self, entry: IndexEntry) -> io::Result<()> {
        // An append retried after a failed sync of the log brings the same entry again.
        if self.entries.last() == Some(&entry) {
            return Ok(());
        }

        let len = INDEX_HEADER_BYTES + ENTRY_BYTES * self.entries.len() as u64;
        if let Err(error) = self.file.write_all_at(&entry_bytes(entry), len) {
            let _ = self.file.set_len(len);
            return Err(error);
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Returns the entry with the greatest relative offset at or below `relative_offset`, or
    /// `None` when the target comes before the first entry and a read must walk from the start of
    /// the segment.
    // ANCHOR: lookup
    pub fn lookup(&self, relative_offset: u32) -> Option<IndexEntry> {
        // SOLUTION(lookup): Binary-search for the last entry at or below the target.
        // `partition_point` is a binary search: it returns the number of entries at or below the
        // target, which is the index of the first entry past it.
        let after = self
            .entries
            .partition_point(|entry| entry.relative_offset <= relative_offset);
        after.checked_sub(1).map(|at| self.entries[at])
        // END SOLUTION
    }
    // ANCHOR_END: lookup

    /// Returns the last entry, if any.
    pub fn last(&self) -> Option<IndexEntry> {
        self.entries.last().copied()
    }

    /// Returns every entry, in order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Syncs the file to disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Returns the path of the `.index` file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Encodes one entry.
pub fn entry_bytes(entry: IndexEntry) -> [u8; ENTRY_BYTES as usize] {
    let mut bytes = [0; ENTRY_BYTES as usize];
    bytes[..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
    bytes[4..].copy_from_slice(&entry.position.to_be_bytes());
    bytes
}

/// Parses the entries of an index file's bytes and checks each one against the segment.
// ANCHOR: parse_entries
fn parse_entries(
    bytes: &[u8],
    log_len: u64,
    record_count: Option<u64>,
) -> Result<Vec<IndexEntry>, IndexProblem> {
    let header_ok = bytes.len() as u64 >= INDEX_HEADER_BYTES
        && bytes[..4] == INDEX_MAGIC
        && bytes[4..8] == INDEX_VERSION.to_be_bytes();
    if !header_ok {
        return Err(IndexProblem::BadHeader);
    }
    let body = &bytes[INDEX_HEADER_BYTES as usize..];
    if !(body.len() as u64).is_multiple_of(ENTRY_BYTES) {
        return Err(IndexProblem::PartialEntry {
            len: bytes.len() as u64,
        });
    }

    let mut entries: Vec<IndexEntry> = Vec::with_capacity(body.len() / ENTRY_BYTES as usize);
    for (number, chunk) in body.chunks_exact(ENTRY_BYTES as usize).enumerate() {
        let entry = IndexEntry {
            relative_offset: u32::from_be_bytes(chunk[..4].try_into().expect("4 bytes")),
            position: u32::from_be_bytes(chunk[4..].try_into().expect("4 bytes")),
        };
        let bad = |reason: String| IndexProblem::BadEntry {
            entry: number,
            reason,
        };

        // Zeros (space the file system allocated but never filled) fail this check, because no
        // frame starts inside the `.log` header.
        let position = u64::from(entry.position);
        if position < LOG_HEADER_BYTES || position >= log_len {
            return Err(bad(format!(
                "points at byte {position}, outside the frames of a {log_len}-byte log"
            )));
        }
        if let Some(count) = record_count {
            if u64::from(entry.relative_offset) >= count {
                let reason = format!(
                    "names relative offset {}, but the segment holds {count} records",
                    entry.relative_offset
                );
                return Err(bad(reason));
            }
        }
        if let Some(previous) = entries.last() {
            if entry.relative_offset <= previous.relative_offset
                || entry.position <= previous.position
            {
                return Err(bad("is not after the entry before it".to_string()));
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}
// ANCHOR_END: parse_entries

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(relative_offset: u32, position: u32) -> IndexEntry {
        IndexEntry {
            relative_offset,
            position,
        }
    }

    #[test]
    fn lookup_finds_greatest_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let index = Index::create(
            &path,
            vec![entry(10, 1000), entry(20, 2000), entry(30, 3000)],
        )
        .unwrap();

        assert_eq!(index.lookup(0), None);
        assert_eq!(index.lookup(9), None);
        assert_eq!(index.lookup(10), Some(entry(10, 1000)));
        assert_eq!(index.lookup(15), Some(entry(10, 1000)));
        assert_eq!(index.lookup(20), Some(entry(20, 2000)));
        assert_eq!(index.lookup(30), Some(entry(30, 3000)));
        assert_eq!(index.lookup(u32::MAX), Some(entry(30, 3000)));
    }

    #[test]
    fn lookup_in_empty_index_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create(&dir.path().join("0.index"), Vec::new()).unwrap();
        assert_eq!(index.lookup(0), None);
        assert_eq!(index.lookup(100), None);
    }

    #[test]
    fn open_reads_back_appended_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = Index::create(&path, Vec::new()).unwrap();
        index.append(entry(5, 500)).unwrap();
        index.append(entry(9, 900)).unwrap();
        drop(index);

        let mut reopened = Index::open(&path, 10_000, Some(20)).unwrap().unwrap();
        reopened.append(entry(12, 1200)).unwrap();
        drop(reopened);

        let reopened = Index::open(&path, 10_000, Some(20)).unwrap().unwrap();
        assert_eq!(
            reopened.entries(),
            &[entry(5, 500), entry(9, 900), entry(12, 1200)]
        );
    }

    #[test]
    fn open_reports_each_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let problem = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            Index::open(&path, 100, Some(10)).unwrap().unwrap_err()
        };
        let with = |entries: &[(u32, u32)]| {
            let mut bytes = INDEX_MAGIC.to_vec();
            bytes.extend_from_slice(&INDEX_VERSION.to_be_bytes());
            for &(relative_offset, position) in entries {
                bytes.extend_from_slice(&entry_bytes(entry(relative_offset, position)));
            }
            bytes
        };
        let bad_entry = |entries: &[(u32, u32)]| match problem(&with(entries)) {
            IndexProblem::BadEntry { entry, .. } => Some(entry),
            _ => None,
        };

        assert_eq!(problem(b"RID"), IndexProblem::BadHeader);
        assert_eq!(problem(b"XXXX\0\0\0\x01"), IndexProblem::BadHeader);
        assert_eq!(
            problem(&with(&[(1, 50)])[..12]),
            IndexProblem::PartialEntry { len: 12 }
        );
        assert_eq!(bad_entry(&[(1, 50), (0, 0)]), Some(1), "zero-filled entry");
        assert_eq!(bad_entry(&[(1, 500)]), Some(0), "position past the log");
        assert_eq!(bad_entry(&[(10, 50)]), Some(0), "offset past the records");
        assert_eq!(
            bad_entry(&[(2, 50), (1, 60)]),
            Some(1),
            "offsets not increasing"
        );
        assert_eq!(
            bad_entry(&[(1, 50), (2, 50)]),
            Some(1),
            "positions not increasing"
        );

        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            Index::open(&path, 100, None).unwrap().unwrap_err(),
            IndexProblem::Missing
        );
    }
}
