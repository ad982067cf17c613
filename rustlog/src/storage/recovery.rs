//! Recovery: finding the valid prefix of a `.log` file after a crash.
//!
//! A crash can leave the end of the active segment torn (a frame only partly written) or holding
//! bytes that never became a record (space the file system extended but never filled). The scan
//! walks the frames from the start of the segment and stops at the first one that is incomplete,
//! fails its CRC, or carries the wrong offset. Everything before that point is kept; everything
//! after it is cut off. Records that were acknowledged were synced before the acknowledgement, so
//! they are always inside the valid prefix.
//!
//! The same scan rebuilds the index: it applies the append path's rule (one entry per
//! `index_interval_bytes`) to the frames it walks.

use super::index::IndexEntry;
use super::record::{self, FrameError};
use super::segment::LOG_HEADER_BYTES;

/// The outcome of scanning a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The segment's base offset.
    pub base_offset: u64,
    /// Length of the valid prefix, header included: where the next append goes.
    pub valid_len: u64,
    /// One past the offset of the last valid record.
    pub next_offset: u64,
    /// Index entries for the valid records, as the append path would have written them.
    pub entries: Vec<IndexEntry>,
    /// Bytes since the last index entry, so appends continue the interval rule.
    pub bytes_since_index_entry: u64,
    /// Why the scan stopped before the end of the bytes, if it did.
    pub stop: Option<Stop>,
}

/// Where and why a scan stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Byte position of the first invalid frame.
    pub position: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Scans `bytes`, the whole content of a `.log` file whose header was already checked.
// ANCHOR: scan
pub fn scan(bytes: &[u8], base_offset: u64, index_interval_bytes: u64) -> Scan {
    let mut position = LOG_HEADER_BYTES;
    let mut next_offset = base_offset;
    let mut entries = Vec::new();
    let mut since_entry = 0;
    let mut stop = None;

    while position < bytes.len() as u64 {
        let prefix = match record::check(&bytes[position as usize..]) {
            Ok(prefix) => prefix,
            Err(FrameError::Incomplete) => {
                let reason = format!(
                    "torn record: {} bytes at the end are not a whole frame",
                    bytes.len() as u64 - position
                );
                stop = Some(Stop { position, reason });
                break;
            }
            Err(FrameError::Invalid(reason)) => {
                stop = Some(Stop { position, reason });
                break;
            }
        };
        if prefix.offset != next_offset {
            let reason = format!("expected offset {next_offset}, found {}", prefix.offset);
            stop = Some(Stop { position, reason });
            break;
        }

        if since_entry >= index_interval_bytes {
            entries.push(IndexEntry {
                relative_offset: (next_offset - base_offset) as u32,
                position: position as u32,
            });
            since_entry = 0;
        }
        position += prefix.frame_len();
        since_entry += prefix.frame_len();
        next_offset += 1;
    }

    Scan {
        base_offset,
        valid_len: position.min(bytes.len() as u64),
        next_offset,
        entries,
        bytes_since_index_entry: since_entry,
        stop,
    }
}
// ANCHOR_END: scan
