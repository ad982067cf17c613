//! Recovery: finding where the valid frames of a segment's log file end.
//!
//! Only the active segment is ever written, so only its end can be *torn* by a crash during an
//! append. Either the length prefix promises more bytes than follow it, or the bytes are there but
//! only some of them reached the disk, so the CRC does not match. A file system may also extend a
//! file and crash before the data lands, leaving zeros, which read as a frame whose length is too
//! small.
//!
//! The scan walks the frames from the end of the file header and stops at the first one that is
//! incomplete, invalid, or carries an offset other than the next one in sequence. Everything before
//! that position is kept. Everything from it on is cut off, because a reader has no way to find the
//! next frame boundary after a frame it cannot trust.
//!
//! The same walk rebuilds the index: it applies the append path's rule (one entry each time at
//! least `index_interval_bytes` were appended since the last) to the frames it passes.
//!
//! A record whose append returned is safe: the append synced it before returning, so it lies before
//! any torn tail. The scan cannot tell a torn tail from damage in the middle of the file, though. A
//! flipped bit in an old record also stops the scan, and that record and every later one are cut.

use crate::index::IndexEntry;
use crate::record::{self, FrameError};
use crate::segment::LOG_HEADER_BYTES;

/// The outcome of scanning a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Length of the valid prefix: where the next append goes.
    pub valid_len: u64,
    /// One past the offset of the last valid record: the offset the next append gets.
    pub next_offset: u64,
    /// Index entries for the valid frames, as the append path would have written them.
    pub entries: Vec<IndexEntry>,
    /// Frame bytes since the last index entry, so appends continue the interval rule.
    pub bytes_since_index_entry: u64,
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
/// `base_offset`, and returns the length of its valid prefix and the index entries for it.
///
/// The caller has checked the file header.
// ANCHOR: scan
pub fn scan(bytes: &[u8], base_offset: u64, index_interval_bytes: u64) -> Scan {
    // SOLUTION(scan): As in step 2, from the header's end, collecting index entries.
    let mut position = LOG_HEADER_BYTES as usize;
    let mut next_offset = base_offset;
    let mut entries = Vec::new();
    let mut since_entry = 0;
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
                if since_entry >= index_interval_bytes {
                    entries.push(IndexEntry {
                        relative_offset: (next_offset - base_offset) as u32,
                        position: position as u32,
                    });
                    since_entry = 0;
                }
                position += prefix.frame_len() as usize;
                since_entry += prefix.frame_len();
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
        entries,
        bytes_since_index_entry: since_entry,
        stop,
    }
    // END SOLUTION
}
// ANCHOR_END: scan

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode, NewRecord};
    use crate::segment::log_header;

    /// Returns a `.log` file with frames for offsets 10 and 11.
    fn two_frames() -> Vec<u8> {
        let mut bytes = log_header().to_vec();
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
        let scan = scan(&bytes, 10, 4096);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.next_offset, 12);
        assert_eq!(scan.stop, None);
    }

    #[test]
    fn scan_of_header_only_is_empty() {
        let scan = scan(&log_header(), 10, 4096);
        assert_eq!(scan.valid_len, LOG_HEADER_BYTES);
        assert_eq!(scan.next_offset, 10);
        assert_eq!(scan.entries, []);
        assert_eq!(scan.stop, None);
    }

    #[test]
    fn scan_stops_at_every_possible_tear() {
        let bytes = two_frames();
        let first_end = bytes.len() - (record::HEADER_BYTES + b"second".len());
        for cut in first_end + 1..bytes.len() {
            let scan = scan(&bytes[..cut], 10, 4096);
            assert_eq!(scan.valid_len, first_end as u64, "cut at {cut}");
            assert_eq!(scan.next_offset, 11, "cut at {cut}");
            assert!(scan.stop.is_some(), "cut at {cut}");
        }
    }

    #[test]
    fn scan_stops_at_an_offset_out_of_sequence() {
        let bytes = two_frames();
        let scan = scan(&bytes, 11, 4096);
        assert_eq!(scan.valid_len, LOG_HEADER_BYTES);
        assert_eq!(scan.next_offset, 11);
        let stop = scan.stop.unwrap();
        assert_eq!(stop.reason, "expected offset 11, found 10");
    }

    #[test]
    fn scan_applies_index_interval() {
        let bytes = two_frames();
        let first_len = record::frame_len(0, b"first".len());

        // An interval of 1 byte: every frame after the first gets an entry.
        let every_byte = scan(&bytes, 10, 1);
        let expected = IndexEntry {
            relative_offset: 1,
            position: (LOG_HEADER_BYTES + first_len) as u32,
        };
        assert_eq!(every_byte.entries, [expected]);
        assert_eq!(
            every_byte.bytes_since_index_entry,
            record::frame_len(0, b"second".len())
        );

        // An interval of 0: every frame gets an entry, the first one included.
        let every_frame = scan(&bytes, 10, 0);
        assert_eq!(every_frame.entries.len(), 2);
    }
}
