//! Recovery: finding where the valid frames of a log file end.
//!
//! A crash during an append can leave the end of the file *torn*. Either the length prefix promises
//! more bytes than follow it, or the bytes are there but only some of them reached the disk, so the
//! CRC does not match. A file system may also extend a file and crash before the data lands,
//! leaving zeros, which read as a frame whose length is too small.
//!
//! The scan walks the frames from byte 0 and stops at the first one that is incomplete or invalid.
//! Everything before that position is kept. Everything from it on is cut off, because a reader has
//! no way to find the next frame boundary after a frame it cannot trust.
//!
//! A record whose append returned is safe: the append synced it before returning, so it lies before
//! any torn tail. The scan cannot tell a torn tail from damage in the middle of the file, though. A
//! flipped bit in an old record also stops the scan, and that record and every later one are cut.

use crate::record::{self, FrameError};

/// The outcome of scanning a log file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Length of the valid prefix: where the next append goes.
    pub valid_len: u64,
    /// Number of whole, valid frames in the prefix.
    pub records: u64,
    /// The first frame that is not whole and valid, when the scan stopped before the end.
    pub stop: Option<Stop>,
}

/// The frame a scan stopped at, before the end of the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Byte position of the first frame that is not whole and valid.
    pub position: u64,
    /// The problem with the frame, for logs and error messages.
    pub reason: String,
}

/// Scans `bytes`, the whole content of a log file, and returns the length of its valid prefix.
// ANCHOR: scan
pub fn scan(bytes: &[u8]) -> Scan {
    // SOLUTION(scan): Walk the frames from byte 0 and stop at the first bad one.
    let mut position = 0;
    let mut records = 0;
    let mut stop = None;

    while position < bytes.len() {
        match record::check(&bytes[position..]) {
            Ok(prefix) => {
                position += prefix.frame_len() as usize;
                records += 1;
            }
            Err(FrameError::Incomplete) => {
                let reason = format!(
                    "torn write: the last {} bytes are not a whole frame",
                    bytes.len() - position
                );
                stop = Some(Stop {
                    position: position as u64,
                    reason,
                });
                break;
            }
            Err(FrameError::Invalid(reason)) => {
                stop = Some(Stop {
                    position: position as u64,
                    reason,
                });
                break;
            }
        }
    }

    Scan {
        valid_len: position as u64,
        records,
        stop,
    }
    // END SOLUTION
}
// ANCHOR_END: scan

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode, NewRecord};

    fn two_frames() -> Vec<u8> {
        let mut bytes = Vec::new();
        for value in [&b"first"[..], b"second"] {
            let record = NewRecord {
                timestamp_ms: 0,
                key: None,
                value,
            };
            encode(&record, &mut bytes);
        }
        bytes
    }

    #[test]
    fn scan_of_whole_frames_keeps_everything() {
        let bytes = two_frames();
        let scan = scan(&bytes);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.records, 2);
        assert_eq!(scan.stop, None);
    }

    #[test]
    fn scan_of_empty_file_is_empty() {
        assert_eq!(
            scan(&[]),
            Scan {
                valid_len: 0,
                records: 0,
                stop: None
            }
        );
    }

    #[test]
    fn scan_stops_at_every_possible_tear() {
        let bytes = two_frames();
        let first_end = bytes.len() - (record::HEADER_BYTES + b"second".len());
        for cut in first_end + 1..bytes.len() {
            let scan = scan(&bytes[..cut]);
            assert_eq!(scan.valid_len, first_end as u64, "cut at {cut}");
            assert_eq!(scan.records, 1, "cut at {cut}");
            assert!(scan.stop.is_some(), "cut at {cut}");
        }
    }
}
