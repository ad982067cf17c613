//! The errors of a partition. Each variant carries what a caller needs to act on it: which file,
//! which byte position, which offsets are valid.
//!
//! Step 1 made do with `io::Error`. Reading by offset brings a failure that is not about I/O at all
//! (an offset the partition does not hold), and several files make "which file?" a question every
//! error must answer, so from here on errors get their own type.

use std::io;
use std::path::{Path, PathBuf};

// ANCHOR: storage_error
/// An error from a partition or one of its segments.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A read named an offset outside `log_start..=log_end`.
    #[error(
        "offset {offset} is out of range: the partition holds offsets {log_start} to {log_end} \
         (the log end, {log_end}, is the next offset to be written); read from an offset in that range"
    )]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// The first offset stored.
        log_start: u64,
        /// The offset the next appended record will get.
        log_end: u64,
    },

    /// A record's frame is larger than the maximum frame size.
    #[error("record frame is {size} bytes, above the maximum of {max}; send a smaller record")]
    RecordTooLarge {
        /// The frame size the record would take on disk.
        size: u64,
        /// The maximum, [`MAX_FRAME_BYTES`](crate::record::MAX_FRAME_BYTES).
        max: u64,
    },

    /// A partition setting is out of its allowed range.
    #[error("invalid partition config: {field} = {value}: {reason}")]
    InvalidConfig {
        /// The setting's name.
        field: &'static str,
        /// The rejected value.
        value: u64,
        /// The condition the value breaks.
        reason: String,
    },

    /// Stored bytes are not what the format allows, in a place recovery does not repair.
    #[error("corrupt data in {} at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position where the damage starts.
        position: u64,
        /// Description of the damage.
        reason: String,
    },
}

// ANCHOR_END: storage_error

/// Returns a function that wraps an `io::Error` with the path it happened on, for `map_err`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}
