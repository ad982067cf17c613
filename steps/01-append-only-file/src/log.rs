//! The append-only file: frames are written at the end, synced, and never changed.
//!
//! The invariant: bytes `0..len` of the file are whole, valid frames, back to back. `append` keeps
//! it by writing each new frame at `len` and syncing it before returning. `open` restores it after
//! a crash by cutting off whatever follows the last valid frame.
//!
//! What this module leaves out: record numbers and a size limit, which step 2 adds with offsets and
//! segments. It also has no way to find a record other than knowing its byte position or walking
//! from the start, which step 3 fixes with an index.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::record::{self, FramePrefix, NewRecord, Record, MAX_FRAME_BYTES, PREFIX_BYTES};
use crate::recovery::{self, Stop};

/// An open log file.
///
/// Appends need `&mut self` and reads take `&self`, so the borrow checker already rules out a
/// read that races an append in the same process.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    file: File,
    /// Bytes of valid frames: the position the next frame is written at.
    len: u64,
}

/// The findings of the scan in [`Log::open`], and the repair it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whole, valid records in the file.
    pub records: u64,
    /// Bytes of valid frames, which is where the next append goes.
    pub valid_len: u64,
    /// Bytes cut from the end of the file because they were not whole, valid frames.
    pub truncated_bytes: u64,
    /// The first frame that is not whole and valid, when the scan found bytes to cut.
    pub stop: Option<Stop>,
}

impl Log {
    /// Opens the log file at `path`, creating it when it does not exist.
    ///
    /// An existing file is scanned from the start, and a torn or invalid tail is cut off and the
    /// cut synced, so the file holds only whole frames before the first append.
    ///
    /// # Errors
    ///
    /// Any I/O failure while opening, reading, truncating or syncing.
    // ANCHOR: open
    pub fn open(path: &Path) -> io::Result<(Log, RecoveryReport)> {
        let file = open_or_create(path)?;

        // NOTE: the scan reads the whole file into memory. Step 2 caps the size of each file, and
        // a broker that must start fast scans only what a crash could have torn.
        let bytes = std::fs::read(path)?;
        let scan = recovery::scan(&bytes);

        let file_len = bytes.len() as u64;
        if scan.valid_len < file_len {
            file.set_len(scan.valid_len)?;
            file.sync_data()?;
        }

        let report = RecoveryReport {
            records: scan.records,
            valid_len: scan.valid_len,
            truncated_bytes: file_len - scan.valid_len,
            stop: scan.stop,
        };
        let log = Log {
            path: path.to_path_buf(),
            file,
            len: scan.valid_len,
        };
        Ok((log, report))
    }
    // ANCHOR_END: open

    /// Appends `record` at the end of the file, syncs it, and returns the byte position of its
    /// frame, which [`Log::read_at`] takes to read it back.
    ///
    /// When this returns `Ok`, the record survives a crash or a power loss.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the frame would be larger than [`MAX_FRAME_BYTES`], and any I/O failure
    /// while writing or syncing. After a failed sync the record's fate is unknown: it may or may not
    /// be in the file after a restart. The next append writes over it either way.
    // ANCHOR: append
    pub fn append(&mut self, record: &NewRecord<'_>) -> io::Result<u64> {
        // SOLUTION(append): Check the size, encode, write at `len`, sync, advance `len`.
        let frame_len = record.frame_len();
        if frame_len > MAX_FRAME_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "record frame is {frame_len} bytes, above the maximum of {MAX_FRAME_BYTES}; \
                     send a smaller record"
                ),
            ));
        }

        let mut frame = Vec::with_capacity(frame_len as usize);
        record::encode(record, &mut frame);

        // Write at the end of the valid frames. If the write fails part-way, cut the file back so
        // no partial frame stays behind the last whole one.
        let position = self.len;
        if let Err(error) = self.file.write_all_at(&frame, position) {
            let _ = self.file.set_len(position);
            return Err(error);
        }

        // The write only reached the page cache. The record is durable once `fdatasync` returns,
        // and only then may `append` report it as stored.
        self.file.sync_data()?;
        self.len += frame_len;
        Ok(position)
        // END SOLUTION
    }
    // ANCHOR_END: append

    /// Reads the record whose frame starts at byte `position`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `position` is at or past the end of the valid frames. `InvalidData` when
    /// the bytes at `position` are not a valid frame, which happens when `position` is not the start
    /// of a frame or the file was damaged after it was opened.
    // ANCHOR: read_at
    pub fn read_at(&self, position: u64) -> io::Result<Record> {
        // SOLUTION(read_at): Read the length, check the frame fits, read and decode it.
        if position >= self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "position {position} is at or past the end of the log ({} bytes)",
                    self.len
                ),
            ));
        }
        let invalid = |reason: String| {
            let message = format!(
                "no valid frame at byte {position} of {}: {reason}",
                self.path.display()
            );
            io::Error::new(io::ErrorKind::InvalidData, message)
        };

        // Read the length first, and check it against the file before trusting it with an
        // allocation: a damaged length could claim gigabytes.
        let available = self.len - position;
        if available < PREFIX_BYTES as u64 {
            return Err(invalid(format!("only {available} bytes remain")));
        }
        let mut prefix = [0; PREFIX_BYTES];
        self.file.read_exact_at(&mut prefix, position)?;
        let frame_len = FramePrefix::parse(&prefix).expect("4 bytes").frame_len();
        if frame_len > available {
            return Err(invalid(format!(
                "a frame of {frame_len} bytes does not fit in the {available} that remain"
            )));
        }

        let mut frame = vec![0; frame_len as usize];
        self.file.read_exact_at(&mut frame, position)?;
        record::decode(&frame).map_err(|error| invalid(error.to_string()))
        // END SOLUTION
    }
    // ANCHOR_END: read_at

    /// Returns an iterator over the records in file order, each with its byte position.
    ///
    /// The iterator yields one error and then stops if it meets bytes that are not a valid frame,
    /// which can only happen when something other than this `Log` changed the file.
    pub fn iter(&self) -> Records<'_> {
        Records {
            log: self,
            position: 0,
        }
    }

    /// Returns the bytes of valid frames, which is also the position of the next append.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Returns whether the log contains no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An iterator over the records of a [`Log`], created by [`Log::iter`].
#[derive(Debug)]
pub struct Records<'a> {
    log: &'a Log,
    position: u64,
}

// ANCHOR: iter
impl Iterator for Records<'_> {
    type Item = io::Result<(u64, Record)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.log.len {
            return None;
        }

        let position = self.position;
        match self.log.read_at(position) {
            Ok(record) => {
                self.position += record.frame_len();
                Some(Ok((position, record)))
            }
            Err(error) => {
                // Past a bad frame there is no way to find the next boundary: stop here.
                self.position = self.log.len;
                Some(Err(error))
            }
        }
    }
}
// ANCHOR_END: iter

/// Opens an existing file, or creates a new one and makes its directory entry durable.
fn open_or_create(path: &Path) -> io::Result<File> {
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path);
    match created {
        Ok(file) => {
            // A new file's name lives in its directory, which has to be synced on its own.
            sync_parent_dir(path)?;
            Ok(file)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            OpenOptions::new().read(true).write(true).open(path)
        }
        Err(error) => Err(error),
    }
}

/// Syncs the directory that contains `path`, making a file creation in it durable.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}
