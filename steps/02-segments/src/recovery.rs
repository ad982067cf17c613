//! Recovery: finding where the valid frames of a segment's log file end.
//!
//! Only the active segment is ever written, so only its end can be *torn* by a crash during an
//! append. Either the length prefix promises more bytes than follow it, or the bytes are there but
//! only some of them reached the disk, so the CRC does not match. A file system may also extend a
//! file and crash before the data lands, leaving zeros, which read as a frame whose length is too
//! small.
//!
//! The scan walks the frames from byte 0 and stops at the first one that is incomplete, invalid, or
//! carries an offset other than the next one in sequence. Everything before that position is kept.
//! Everything from it on is cut off, because a reader has no way to find the next frame boundary
//! after a frame it cannot trust.
//!
//! A record whose append returned is safe: the append synced it before returning, so it lies before
//! any torn tail. The scan cannot tell a torn tail from damage in the middle of the file, though. A
//! flipped bit in an old record also stops the scan, and that record and every later one are cut.

use crate::record::{self, FrameError};

/// The outcome of scanning a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Length of the valid prefix: where the next append goes.
    pub valid_len: u64,
    /// One past the offset of the last valid record: the offset the next append gets.
    pub next_offset: u64,
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

/// Scans `bytes`, the whole content of the `.log` file of the segment that starts at
/// `base_offset`, and returns the length of its valid prefix.
// ANCHOR: scan
pub fn scan(bytes: &[u8], base_offset: u64) -> Scan {
    // SOLUTION(scan): Walk the frames and stop at the first bad or out-of-order one.
    let mut position = 0;
    let mut next_offset = base_offset;
    let mut stop = None;

    while position < bytes.len() {
        match record::check(&bytes[position..]) {
            Ok(prefix) if prefix.offset != next_offset => {
                let reason = format!("expected offset {next_offset}, found {}", prefix.offset);
                stop = Some(Stop {
                    position: position as u64,
                    reason,
                });
                break;
            }
            Ok(prefix) => {
                position += prefix.frame_len() as usize;
                next_offset += 1;
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
        next_offset,
        stop,
    }
    // END SOLUTION
}
// ANCHOR_END: scan

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode, NewRecord};

    /// Frames for offsets 10 and 11.
    fn two_frames() -> Vec<u8> {
        let mut bytes = Vec::new();
        for (offset, value) in [(10, &b"first"[..]), (11, b"second")] {
            let record = NewRecord {
                timestamp_ms: 0,
                key: None,
                value,
            };
            encode(offset, &record, &mut bytes);
        }
        bytes
    }

    #[test]
    fn scan_of_whole_frames_keeps_everything() {
        let bytes = two_frames();
        let scan = scan(&bytes, 10);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.next_offset, 12);
        assert_eq!(scan.stop, None);
    }

    #[test]
    fn scan_of_empty_file_is_empty() {
        let expected = Scan {
            valid_len: 0,
            next_offset: 10,
            stop: None,
        };
        assert_eq!(scan(&[], 10), expected);
    }

    #[test]
    fn scan_stops_at_every_possible_tear() {
        let bytes = two_frames();
        let first_end = bytes.len() - (record::HEADER_BYTES + b"second".len());
        for cut in first_end + 1..bytes.len() {
            let scan = scan(&bytes[..cut], 10);
            assert_eq!(scan.valid_len, first_end as u64, "cut at {cut}");
            assert_eq!(scan.next_offset, 11, "cut at {cut}");
            assert!(scan.stop.is_some(), "cut at {cut}");
        }
    }

    #[test]
    fn scan_stops_at_an_offset_out_of_sequence() {
        let bytes = two_frames();
        let scan = scan(&bytes, 11);
        assert_eq!(scan.valid_len, 0);
        assert_eq!(scan.next_offset, 11);
        let stop = scan.stop.unwrap();
        assert_eq!(stop.reason, "expected offset 11, found 10");
    }
}
