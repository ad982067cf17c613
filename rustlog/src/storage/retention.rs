//! Retention: deleting old data so a partition does not grow forever.
//!
//! Retention works on whole segments, which is why a partition is split into segments at all:
//! deleting a segment is two `unlink`s, where trimming the front of one big file would mean
//! rewriting it. Sealed segments are deleted oldest first, and the pass stops at the first one
//! that must stay, so the remaining records always form one contiguous range of offsets.
//!
//! Two rules, either of which deletes a segment:
//! - age: the segment's newest record is older than `retention_ms`;
//! - size: the partition is larger than `retention_bytes` (the active segment is never deleted
//!   for size, so a partition may stay above the limit by up to one segment).
//!
//! When every record of the active segment is older than `retention_ms`, the active segment is
//! rolled first so it can be deleted too; the new, empty active segment keeps the next offset in
//! its file name, so offsets continue after a restart instead of starting again at 0.
//!
//! Order matters for readers: the segment leaves the partition's list first, which moves the log
//! start offset, and only then are its files removed. A read already holding the segment's map
//! or file handle finishes from it, because an unlinked file lives on until its last handle closes.

use super::error::StorageError;
use super::partition::{sync_dir, Partition};

/// Why a segment was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionReason {
    /// Its newest record was older than `retention_ms`.
    Age {
        /// Timestamp of the segment's newest record.
        newest_timestamp_ms: i64,
        /// The configured limit.
        retention_ms: u64,
    },
    /// The partition was larger than `retention_bytes`.
    Size {
        /// The partition's size before the deletion.
        partition_bytes: u64,
        /// The configured limit.
        retention_bytes: u64,
    },
}

/// A segment that retention deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedSegment {
    /// Its base offset, which is also its file name.
    pub base_offset: u64,
    /// One past its last record: the new log start offset, unless later segments went too.
    pub next_offset: u64,
    /// Size of its `.log` file.
    pub bytes: u64,
    /// The rule that deleted it.
    pub reason: RetentionReason,
}

impl Partition {
    /// Deletes the sealed segments that the retention settings no longer keep.
    ///
    /// `now_ms` is the current time in milliseconds since the Unix epoch (a parameter so tests
    /// can move the clock). Returns the deleted segments, oldest first.
    ///
    /// # Errors
    ///
    /// An I/O error while reading a timestamp, rolling, or removing files. Segments deleted
    /// before the error stay deleted.
    // ANCHOR: enforce_retention
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<Vec<DeletedSegment>, StorageError> {
        let (retention_ms, retention_bytes) =
            (self.config.retention_ms, self.config.retention_bytes);
        let mut deleted = Vec::new();
        if retention_ms.is_none() && retention_bytes.is_none() {
            return Ok(deleted);
        }

        // An active segment that is entirely too old is rolled, so the loop below can delete it.
        if let Some(limit) = retention_ms {
            let active = self
                .segments
                .last()
                .expect("a partition always has a segment");
            if let Some(newest) = active.newest_timestamp()? {
                if is_expired(newest, now_ms, limit) {
                    self.roll()?;
                }
            }
        }

        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let partition_bytes: u64 = self.segments.iter().map(|segment| segment.size()).sum();
            let newest = oldest.newest_timestamp()?;
            let reason = match (retention_ms, newest) {
                (Some(limit), Some(newest)) if is_expired(newest, now_ms, limit) => {
                    RetentionReason::Age {
                        newest_timestamp_ms: newest,
                        retention_ms: limit,
                    }
                }
                _ => match retention_bytes {
                    Some(limit) if partition_bytes > limit => RetentionReason::Size {
                        partition_bytes,
                        retention_bytes: limit,
                    },
                    _ => break,
                },
            };

            // Leave the list first (the log start moves), then remove the files.
            let segment = self.segments.remove(0);
            segment.remove_files()?;
            sync_dir(&self.dir)?;
            // The broker logs each deletion at info level with its topic and partition.
            tracing::debug!(
                dir = %self.dir.display(),
                segment = segment.base_offset(),
                next_offset = segment.next_offset(),
                bytes = segment.size(),
                ?reason,
                "retention deleted segment"
            );
            deleted.push(DeletedSegment {
                base_offset: segment.base_offset(),
                next_offset: segment.next_offset(),
                bytes: segment.size(),
                reason,
            });
        }
        Ok(deleted)
    }
    // ANCHOR_END: enforce_retention
}

/// Returns whether a record stamped `timestamp_ms` is older than `retention_ms` at `now_ms`.
fn is_expired(timestamp_ms: i64, now_ms: i64, retention_ms: u64) -> bool {
    let age = now_ms.saturating_sub(timestamp_ms);
    age > 0 && age as u64 > retention_ms
}
