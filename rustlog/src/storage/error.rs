//! The errors of the storage layer. Each variant carries the values a caller needs to act on it:
//! which file, which byte position, which offsets are valid.

use std::io;
use std::path::{Path, PathBuf};

/// An error from a partition, a segment or recovery.
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

    /// A read asked for an offset outside `log_start..=log_end`.
    #[error(
        "offset {offset} is out of range: valid offsets run from the log start, {log_start}, to the \
         log end, {log_end}, the offset after the last readable record (reading there returns \
         nothing yet); read from an offset in that range"
    )]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// The first offset still stored.
        log_start: u64,
        /// The offset the next appended record will get.
        log_end: u64,
    },

    /// A record's frame is larger than the partition's maximum record size.
    #[error(
        "record {index} of the batch is {size} bytes on disk, above the maximum record size of \
         {max} bytes; send a smaller record or raise max_record_bytes"
    )]
    RecordTooLarge {
        /// Position of the record in its batch, from 0.
        index: usize,
        /// The frame size the record would take on disk.
        size: u64,
        /// The configured maximum.
        max: u64,
    },

    /// An append carried no records.
    #[error("an append needs at least one record, and this batch is empty")]
    EmptyBatch,

    /// A partition configuration value is out of its allowed range.
    #[error("invalid partition config: {field} = {value}: {reason}")]
    InvalidConfig {
        /// The setting's name.
        field: &'static str,
        /// The rejected value.
        value: u64,
        /// What the value must satisfy.
        reason: String,
    },

    /// A file in a partition directory ends in `.log` but is not named as a segment.
    #[error(
        "{} ends in .log but is not named as a segment: 20 digits of base offset, at most {}, \
         then .log; rename it to the offset of its first record as 20 digits (for example \
         00000000000000000042.log), or move it out of the partition directory",
        path.display(),
        super::partition::MAX_BASE_OFFSET
    )]
    MisnamedSegment {
        /// The file.
        path: PathBuf,
    },

    /// Stored bytes are not what the format allows and cannot be repaired automatically.
    #[error("corrupt data in {} at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where the damage starts.
        position: u64,
        /// What is wrong and, where there is one, what to do about it.
        reason: String,
    },
}

/// Wraps an `io::Error` with the path it happened on.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}
