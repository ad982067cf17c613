//! A segment is one file of a partition's log: the records from its *base offset* up to the base
//! offset of the next segment.
//!
//! The file is named by the base offset as 20 zero-padded digits, so a directory listing sorts
//! segments in offset order (`00000000000000000000.log`, `00000000000000000042.log`), and 20
//! digits hold any u64.
//!
//! Only the last segment of a partition, the *active* one, is written. When the next record would
//! take the active segment past the partition's size limit, the partition *rolls*: it starts a new
//! segment at the next offset, and the old one is *sealed*. A sealed segment never changes again.
//!
//! The invariant is the one from step 1, per file: bytes `0..size` are whole, valid frames, and
//! their offsets run from the base offset up by one. What this module leaves out: finding an
//! offset other than by walking the frames from the start of the file. Step 3 adds an index.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{io_error, StorageError};
use crate::record::{self, FramePrefix, NewRecord, Record, PREFIX_BYTES};
use crate::recovery::{self, Stop};

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
}

/// One segment: its file and its place in the partition's offset space.
#[derive(Debug)]
pub struct Segment {
    base_offset: u64,
    /// One past the offset of the last record: the offset the next append here gets.
    next_offset: u64,
    /// Bytes of valid frames in the `.log` file: the position of the next append.
    size: u64,
    log_path: PathBuf,
    log: File,
}

impl Segment {
    /// Creates a new, empty segment in `dir` starting at `base_offset`.
    ///
    /// The caller syncs `dir` afterwards, so the new file name survives a crash.
    pub fn create(dir: &Path, base_offset: u64) -> Result<Segment, StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;

        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            log_path,
            log,
        })
    }

    /// Opens a sealed segment whose records run from `base_offset` to `next_offset - 1`.
    ///
    /// Its frames are not scanned: every append to it was synced, and it was sealed before the
    /// next segment existed, so a crash cannot have torn it.
    pub fn open_sealed(
        dir: &Path,
        base_offset: u64,
        next_offset: u64,
    ) -> Result<Segment, StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        let size = log.metadata().map_err(io_error(&log_path))?.len();

        Ok(Segment {
            base_offset,
            next_offset,
            size,
            log_path,
            log,
        })
    }

    /// Opens the active (last) segment of a partition, scans it, and cuts off a torn or invalid
    /// tail, syncing the cut.
    // ANCHOR: open_active
    pub fn open_active(dir: &Path, base_offset: u64) -> Result<(Segment, Repairs), StorageError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;

        // NOTE: the scan reads the whole segment into memory, which the segment size bounds.
        let bytes = std::fs::read(&log_path).map_err(io_error(&log_path))?;
        let scan = recovery::scan(&bytes, base_offset);
        if scan.valid_len < bytes.len() as u64 {
            log.set_len(scan.valid_len).map_err(io_error(&log_path))?;
            log.sync_data().map_err(io_error(&log_path))?;
        }

        let repairs = Repairs {
            truncated_bytes: bytes.len() as u64 - scan.valid_len,
            stop: scan.stop,
        };
        let segment = Segment {
            base_offset,
            next_offset: scan.next_offset,
            size: scan.valid_len,
            log_path,
            log,
        };
        Ok((segment, repairs))
    }
    // ANCHOR_END: open_active

    /// Appends `record` at the end of the segment with the next offset, syncs it, and returns the
    /// offset.
    ///
    /// The caller has checked the record's size and applied the roll rule.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when the write or the sync fails. After a failed sync the record's fate
    /// is unknown: it may or may not be in the file after a restart. The next append writes over it
    /// either way.
    // ANCHOR: append
    pub fn append(&mut self, record: &NewRecord<'_>) -> Result<u64, StorageError> {
        // SOLUTION(append): Encode at `next_offset`, write at `size`, sync, advance both.
        let offset = self.next_offset;
        let mut frame = Vec::with_capacity(record.frame_len() as usize);
        record::encode(offset, record, &mut frame);

        // If the write fails part-way, cut the file back so no partial frame stays behind.
        if let Err(error) = self.log.write_all_at(&frame, self.size) {
            let _ = self.log.set_len(self.size);
            return Err(io_error(&self.log_path)(error));
        }
        self.log.sync_data().map_err(io_error(&self.log_path))?;

        self.size += frame.len() as u64;
        self.next_offset += 1;
        Ok(offset)
        // END SOLUTION
    }
    // ANCHOR_END: append

    /// Reads records from `offset`, which must be in this segment, into `out`.
    ///
    /// `budget` is the number of frame bytes the caller still accepts. Each record taken is
    /// subtracted from it. The first record of a whole read (`out` still empty) is taken even when
    /// it alone is larger than the budget, so a reader always makes progress. Returns `true` when
    /// the read stopped because of the budget, and `false` when it reached the end of the segment.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when a frame fails its checks or carries an unexpected offset, and
    /// [`StorageError::Io`] when a read fails.
    // ANCHOR: read
    pub fn read(
        &self,
        offset: u64,
        budget: &mut u64,
        out: &mut Vec<Record>,
    ) -> Result<bool, StorageError> {
        if offset >= self.next_offset {
            return Ok(false);
        }
        let mut position = self.find_position(offset)?;
        let mut expected = offset;

        while position < self.size {
            let frame = self.frame_at(position)?;
            let frame_len = frame.len() as u64;
            if frame_len > *budget && !out.is_empty() {
                return Ok(true);
            }

            let record = record::decode(&frame)
                .map_err(|error| self.corrupt(position, error.to_string()))?;
            if record.offset != expected {
                let reason = format!("expected offset {expected}, found {}", record.offset);
                return Err(self.corrupt(position, reason));
            }

            *budget = budget.saturating_sub(frame_len);
            out.push(record);
            position += frame_len;
            expected += 1;
        }
        Ok(false)
    }
    // ANCHOR_END: read

    /// Finds the byte position of the frame holding `offset` by walking the frames from the start
    /// of the file, reading only each frame's 12-byte prefix.
    // ANCHOR: find_position
    fn find_position(&self, offset: u64) -> Result<u64, StorageError> {
        // SOLUTION(find_position): Walk the frame prefixes from byte 0 to `offset`.
        let mut position = 0;
        loop {
            let prefix = self.prefix_at(position)?;
            if prefix.offset == offset {
                return Ok(position);
            }
            if prefix.offset > offset || prefix.length < record::MIN_LENGTH {
                let reason = format!(
                    "looking for offset {offset}, found a frame for offset {} (length {})",
                    prefix.offset, prefix.length
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
        let mut bytes = [0; PREFIX_BYTES];
        self.log
            .read_exact_at(&mut bytes, position)
            .map_err(io_error(&self.log_path))?;
        Ok(FramePrefix::parse(&bytes).expect("12 bytes"))
    }

    /// Reads the whole frame at `position`, after checking that its length fits in the file.
    fn frame_at(&self, position: u64) -> Result<Vec<u8>, StorageError> {
        let frame_len = self.prefix_at(position)?.frame_len();
        if position + frame_len > self.size {
            let reason =
                format!("a frame of {frame_len} bytes runs past the end of the valid data");
            return Err(self.corrupt(position, reason));
        }
        let mut frame = vec![0; frame_len as usize];
        self.log
            .read_exact_at(&mut frame, position)
            .map_err(io_error(&self.log_path))?;
        Ok(frame)
    }

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

    /// Returns the bytes of valid frames in the `.log` file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Returns whether the segment contains no records.
    pub fn is_empty(&self) -> bool {
        self.next_offset == self.base_offset
    }

    /// Returns the path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
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
            parse_file_name(&file_name(u64::MAX, "log")),
            Some((u64::MAX, "log"))
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
}
