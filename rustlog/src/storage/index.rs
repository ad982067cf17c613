//! The sparse offset index: a `.index` file that maps some offsets of a segment to byte positions
//! in its `.log` file, so a read can jump close to an offset instead of scanning from the start.
//!
//! An entry is added each time at least `index_interval_bytes` of records were appended since the
//! previous entry, so the index stays small (8 bytes per ~4 KiB of log by default) and a lookup
//! scans at most about one interval of records. The index is a cache: everything in it can be
//! rebuilt by scanning the `.log` file, which is what recovery does when the index looks wrong.
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
//! Entries are in increasing order of both fields, which is what makes binary search possible.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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
    /// Offset of the record relative to the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of the record's frame in the `.log` file.
    pub position: u32,
}

/// Why an index file cannot be trusted; recovery answers each of these by rebuilding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexProblem {
    /// The file does not exist.
    Missing,
    /// The file is shorter than its header or starts with other bytes.
    BadHeader,
    /// The length after the header is not a whole number of entries (a write cut mid-entry).
    PartialEntry {
        /// The file's length in bytes.
        len: u64,
    },
    /// Entry number `entry` breaks the rules: not increasing, or pointing outside the log.
    BadEntry {
        /// The entry's number, from 0.
        entry: usize,
        /// Which rule it breaks.
        reason: String,
    },
    /// The frames after the last entry do not end exactly at the end of the log, just before
    /// the segment's end offset. Either the last entry or the log itself is wrong.
    BadTail {
        /// The walk's outcome, worded to follow "the records after the last index entry".
        reason: String,
    },
}

impl std::fmt::Display for IndexProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexProblem::Missing => write!(f, "index file is missing"),
            IndexProblem::BadHeader => write!(f, "index header is missing or not RIDX version 1"),
            IndexProblem::PartialEntry { len } => {
                write!(f, "index length {len} ends inside an entry")
            }
            IndexProblem::BadEntry { entry, reason } => write!(f, "index entry {entry} {reason}"),
            IndexProblem::BadTail { reason } => {
                write!(f, "the records after the last index entry {reason}")
            }
        }
    }
}

/// An open `.index` file and its entries, kept in memory for binary search.
#[derive(Debug)]
pub struct Index {
    path: PathBuf,
    file: File,
    entries: Vec<IndexEntry>,
}

impl Index {
    /// Creates (or truncates) the index at `path` with `entries`, and syncs it to disk.
    ///
    /// Used both for a new, empty segment and to replace an index that recovery rebuilt.
    pub fn create(path: &Path, entries: Vec<IndexEntry>) -> io::Result<Index> {
        let mut bytes =
            Vec::with_capacity((INDEX_HEADER_BYTES + ENTRY_BYTES * entries.len() as u64) as usize);
        bytes.extend_from_slice(&INDEX_MAGIC);
        bytes.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        for entry in &entries {
            bytes.extend_from_slice(&entry_bytes(*entry));
        }

        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.write_all(&bytes)?;
        file.sync_data()?;

        Ok(Index {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    /// Opens the index at `path` and checks it against its segment.
    ///
    /// `log_len` is the size of the `.log` file and `record_count`, when known, the number of
    /// records in the segment; every entry must point inside both.
    ///
    /// # Errors
    ///
    /// The outer error is an I/O failure; the inner one says why the index cannot be trusted.
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

        // New entries go after the existing ones.
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Ok(Index {
            path: path.to_path_buf(),
            file,
            entries,
        }))
    }

    /// Appends `entries` to the file and to the in-memory list.
    ///
    /// The write is not synced: the index is a cache that recovery rebuilds from the log, so it
    /// is synced only when its segment is sealed or closed. On a failed write the file is cut back
    /// to its previous length, so a later append cannot land in the middle of an entry.
    pub fn append(&mut self, entries: &[IndexEntry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|entry| entry_bytes(*entry))
            .collect();

        if let Err(error) = self.file.write_all(&bytes) {
            let len = INDEX_HEADER_BYTES + ENTRY_BYTES * self.entries.len() as u64;
            let _ = self.file.set_len(len);
            let _ = self.file.seek(SeekFrom::Start(len));
            return Err(error);
        }

        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Returns the entry with the greatest relative offset at or below `relative_offset`, or
    /// `None` when the target comes before the first entry (scan from the segment start).
    // ANCHOR: lookup
    pub fn lookup(&self, relative_offset: u32) -> Option<IndexEntry> {
        // `partition_point` is a binary search for the first entry past the target.
        let after = self
            .entries
            .partition_point(|entry| entry.relative_offset <= relative_offset);
        after.checked_sub(1).map(|at| self.entries[at])
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

fn entry_bytes(entry: IndexEntry) -> [u8; ENTRY_BYTES as usize] {
    let mut bytes = [0; ENTRY_BYTES as usize];
    bytes[..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
    bytes[4..].copy_from_slice(&entry.position.to_be_bytes());
    bytes
}

/// Parses and checks the entries of an index file's bytes.
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

        // A zero-filled tail (space allocated, never written) fails this check: no record starts
        // inside the `.log` header.
        if u64::from(entry.position) < super::segment::LOG_HEADER_BYTES {
            return Err(bad(format!(
                "points at byte {}, inside the log header",
                entry.position
            )));
        }
        if u64::from(entry.position) >= log_len {
            return Err(bad(format!(
                "points at byte {}, past the end of the log ({log_len} bytes)",
                entry.position
            )));
        }
        if let Some(count) = record_count {
            if u64::from(entry.relative_offset) >= count {
                return Err(bad(format!(
                    "names relative offset {}, but the segment holds {count} records",
                    entry.relative_offset
                )));
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
    fn open_reads_back_pushed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = Index::create(&path, Vec::new()).unwrap();
        index.append(&[entry(5, 500)]).unwrap();
        index.append(&[entry(9, 900)]).unwrap();
        drop(index);

        let mut reopened = Index::open(&path, 10_000, Some(20)).unwrap().unwrap();
        reopened.append(&[entry(12, 1200)]).unwrap();
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
        let problem = |bytes: &[u8], log_len: u64| {
            std::fs::write(&path, bytes).unwrap();
            Index::open(&path, log_len, Some(100)).unwrap().unwrap_err()
        };
        let mut header = INDEX_MAGIC.to_vec();
        header.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        let with = |entries: &[(u32, u32)]| {
            let mut bytes = header.clone();
            for &(relative_offset, position) in entries {
                bytes.extend_from_slice(&entry_bytes(entry(relative_offset, position)));
            }
            bytes
        };

        assert_eq!(problem(b"RID", 100), IndexProblem::BadHeader);
        assert_eq!(problem(b"XXXX\0\0\0\x01", 100), IndexProblem::BadHeader);
        assert_eq!(
            problem(&with(&[(1, 50)])[..12], 100),
            IndexProblem::PartialEntry { len: 12 }
        );
        assert!(matches!(
            problem(&with(&[(1, 50), (0, 0)]), 100),
            IndexProblem::BadEntry { entry: 1, .. }
        ));
        assert!(matches!(
            problem(&with(&[(1, 500)]), 100),
            IndexProblem::BadEntry { entry: 0, .. }
        ));
        assert!(matches!(
            problem(&with(&[(100, 50)]), 100),
            IndexProblem::BadEntry { entry: 0, .. }
        ));
        assert!(matches!(
            problem(&with(&[(2, 50), (1, 60)]), 100),
            IndexProblem::BadEntry { entry: 1, .. }
        ));

        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            Index::open(&path, 100, None).unwrap().unwrap_err(),
            IndexProblem::Missing
        );
    }
}
