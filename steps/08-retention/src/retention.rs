//! Retention: deleting old records, so a partition does not grow forever.
//!
//! Retention works on whole segments, and that is why a partition is split into segments at all:
//! deleting a segment is two `unlink`s, while trimming the front of one big file would mean
//! copying everything after the cut. A pass looks at the sealed segments oldest first, deletes
//! each one that a rule no longer keeps, and stops at the first one that must stay. So the records
//! left always form one run of offsets, from the new log start to the log end, with no holes.
//!
//! Two rules, either of which deletes a segment:
//!
//! - **age**: the segment's newest record is older than `retention_ms`. A segment's age is the
//!   timestamp of its *last* record, because every record in it is at least that old, so no
//!   record is deleted before it has reached the limit.
//! - **size**: the partition's `.log` files add up to more than `retention_bytes`.
//!
//! The active segment is never deleted while it is active, because appends go to it. Once its
//! newest record is older than `retention_ms`, every record in it is, so the pass rolls it first.
//! The old active segment becomes a sealed one that the age rule deletes, and a new, empty active
//! segment starts at the log end offset. Its file name carries that offset, so after a restart the
//! partition is empty and its next record still gets the next offset, not 0. The size rule never
//! rolls, so a partition may stay above `retention_bytes` by up to one segment.
//!
//! The pass takes each segment out of the partition before it removes the segment's files (see
//! [`Partition::remove_oldest_segment`]), so the log start offset moves first. A fetch from an
//! offset that was deleted gets `offset_out_of_range` with the new range, never an I/O error.
//!
//! The current time is a parameter, so tests and the demo can move a clock instead of waiting.
//!
//! What this module leaves out: compaction by key (keeping the latest record for each key), and a
//! delay between taking a segment out and removing its files, which Kafka uses so that readers
//! still holding the segment can finish.

use crate::error::StorageError;
use crate::partition::Partition;

/// A topic's retention settings. `None` turns a rule off, and with both off a partition keeps
/// every record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Delete a sealed segment once its newest record is older than this many milliseconds.
    pub retention_ms: Option<u64>,
    /// Delete the oldest sealed segments while the partition's `.log` files, headers included,
    /// add up to more than this many bytes.
    pub retention_bytes: Option<u64>,
}

impl RetentionConfig {
    /// Returns whether either rule is on.
    pub fn is_enabled(&self) -> bool {
        self.retention_ms.is_some() || self.retention_bytes.is_some()
    }
}

/// The rule that deleted a segment, with the numbers that made it apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionReason {
    /// The segment's newest record was older than `retention_ms`.
    Age {
        /// Timestamp of the segment's newest record, in milliseconds since the Unix epoch.
        newest_timestamp_ms: i64,
        /// The limit.
        retention_ms: u64,
    },
    /// The partition was larger than `retention_bytes`.
    Size {
        /// The partition's size before this deletion, in bytes.
        partition_bytes: u64,
        /// The limit.
        retention_bytes: u64,
    },
}

/// A segment that a retention pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedSegment {
    /// The segment's base offset, which is also its file name.
    pub base_offset: u64,
    /// One past its last record: the log start offset after this deletion.
    pub next_offset: u64,
    /// Size of its `.log` file, header included.
    pub bytes: u64,
    /// The rule that deleted it.
    pub reason: RetentionReason,
}

impl Partition {
    /// Runs one retention pass at time `now_ms`: rolls the active segment when all of it has
    /// expired, then deletes sealed segments, oldest first, until the first one that `retention`
    /// keeps. Returns the deleted segments, oldest first.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when a segment's newest record cannot be read, and
    /// [`StorageError::Io`] when a roll or a removal fails. The segments deleted before the error
    /// stay deleted.
    // ANCHOR: enforce_retention
    pub fn enforce_retention(
        &mut self,
        retention: &RetentionConfig,
        now_ms: i64,
    ) -> Result<Vec<DeletedSegment>, StorageError> {
        // SOLUTION(retention_rule): Roll an expired active segment. Then delete the oldest sealed segments while they are too old or the partition is too large, and stop at the first one that stays.
        let mut deleted = Vec::new();

        // The active segment cannot be deleted, but once its newest record has expired, all of
        // it has: roll it, so the loop below deletes it like any sealed segment.
        if let Some(limit) = retention.retention_ms {
            let active = self
                .segments()
                .last()
                .expect("a partition always has a segment");
            if let Some(newest) = active.newest_timestamp()? {
                if is_expired(newest, now_ms, limit) {
                    self.roll()?;
                }
            }
        }

        // Oldest first, and only sealed segments: the last one is active and always stays.
        while self.segments().len() > 1 {
            let oldest = &self.segments()[0];
            let newest = oldest.newest_timestamp()?;
            let partition_bytes: u64 = self.segments().iter().map(|segment| segment.size()).sum();
            let reason = match (retention.retention_ms, newest) {
                (Some(limit), Some(newest)) if is_expired(newest, now_ms, limit) => {
                    RetentionReason::Age {
                        newest_timestamp_ms: newest,
                        retention_ms: limit,
                    }
                }
                _ => match retention.retention_bytes {
                    Some(limit) if partition_bytes > limit => RetentionReason::Size {
                        partition_bytes,
                        retention_bytes: limit,
                    },
                    // The first segment that must stay ends the pass, even if a later one has
                    // expired: deleting past it would leave a hole in the offsets.
                    _ => break,
                },
            };

            let segment = self.remove_oldest_segment()?;
            deleted.push(DeletedSegment {
                base_offset: segment.base_offset(),
                next_offset: segment.next_offset(),
                bytes: segment.size(),
                reason,
            });
        }
        Ok(deleted)
        // END SOLUTION
    }
    // ANCHOR_END: enforce_retention
}

/// Returns whether a record stamped `timestamp_ms` is older than `retention_ms` at `now_ms`.
///
/// A timestamp in the future (a clock that went back) has a negative age and never expires.
pub fn is_expired(timestamp_ms: i64, now_ms: i64, retention_ms: u64) -> bool {
    let age_ms = now_ms.saturating_sub(timestamp_ms);
    age_ms > 0 && age_ms as u64 > retention_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_must_pass_the_limit() {
        assert!(!is_expired(1_000, 1_500, 500), "exactly the limit is kept");
        assert!(is_expired(1_000, 1_501, 500));
        assert!(
            !is_expired(2_000, 1_000, 0),
            "a future timestamp never expires"
        );
        assert!(
            !is_expired(i64::MIN, i64::MAX, u64::MAX),
            "the age saturates"
        );
    }

    #[test]
    fn default_config_keeps_everything() {
        assert!(!RetentionConfig::default().is_enabled());
        let by_size = RetentionConfig {
            retention_bytes: Some(0),
            ..RetentionConfig::default()
        };
        assert!(by_size.is_enabled());
    }
}
