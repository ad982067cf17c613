//! Per-partition settings: segment size, index density, maximum record size and flush policy.

use super::error::StorageError;
use super::record::HEADER_BYTES;
use super::segment::LOG_HEADER_BYTES;

/// When an append's data is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// Every append call ends with an `fdatasync` of the active segment, so a returned append
    /// survives a crash or power loss. One append of a batch costs one sync.
    #[default]
    EveryAppend,
    /// Appends return after the write reaches the OS page cache; data survives a process crash but
    /// may be lost on power loss. For tests and benchmarks that say so, never for acknowledged data.
    Never,
}

/// Settings for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionConfig {
    /// Size limit of a segment's `.log` file, header included. A segment rolls when the next
    /// record would pass it.
    pub segment_bytes: u64,
    /// Log bytes appended between two index entries.
    pub index_interval_bytes: u64,
    /// Largest record frame accepted, header included (28 bytes plus key plus value).
    pub max_record_bytes: u64,
    /// When appends are synced.
    pub flush: FlushPolicy,
    /// Delete sealed segments whose newest record is older than this many milliseconds;
    /// `None` keeps them regardless of age.
    pub retention_ms: Option<u64>,
    /// Delete the oldest sealed segments while the partition is larger than this many bytes;
    /// `None` keeps them regardless of size.
    pub retention_bytes: Option<u64>,
}

/// Default segment size: 64 MiB.
///
/// After an unclean shutdown, recovery reads the whole active segment, so this bounds restart
/// time (64 MiB reads in well under a second from page cache or SSD). It is also the unit that
/// retention deletes. Kafka's 1 GiB suits machines with many partitions and long retention; for a
/// course broker smaller segments make rolling and recovery visible on laptop-sized data.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Default index interval: one entry per 4 KiB of log, as Kafka does.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u64 = 4096;
/// Default maximum record frame: 1 MiB, close to Kafka's default `message.max.bytes`.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 1024 * 1024;

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            flush: FlushPolicy::EveryAppend,
            retention_ms: None,
            retention_bytes: None,
        }
    }
}

impl PartitionConfig {
    /// Checks that the settings fit together.
    ///
    /// A record never spans two segments, so the largest record plus the `.log` header must fit
    /// in one segment: that is how a record larger than `segment_bytes` is ruled out. Index
    /// entries store byte positions as u32, which caps `segment_bytes` at 4 GiB. A frame stores
    /// its key length as i32, which caps `max_record_bytes` at 2 GiB - 1.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidConfig`] naming the first setting that is out of range.
    pub fn validate(&self) -> Result<(), StorageError> {
        let invalid = |field, value, reason: String| {
            Err(StorageError::InvalidConfig {
                field,
                value,
                reason,
            })
        };

        if self.max_record_bytes < HEADER_BYTES as u64 {
            return invalid(
                "max_record_bytes",
                self.max_record_bytes,
                format!("must be at least {HEADER_BYTES}, the size of an empty record"),
            );
        }
        if self.max_record_bytes > i32::MAX as u64 {
            return invalid(
                "max_record_bytes",
                self.max_record_bytes,
                format!(
                    "must be at most {} because key lengths are stored as i32",
                    i32::MAX
                ),
            );
        }
        if self.segment_bytes > u64::from(u32::MAX) {
            return invalid(
                "segment_bytes",
                self.segment_bytes,
                format!(
                    "must be at most {} because index positions are 32-bit",
                    u32::MAX
                ),
            );
        }
        if self.segment_bytes < LOG_HEADER_BYTES + self.max_record_bytes {
            return invalid(
                "segment_bytes",
                self.segment_bytes,
                format!(
                    "must be at least max_record_bytes + {LOG_HEADER_BYTES} = {}, so the largest \
                     record fits in an empty segment; raise segment_bytes or lower max_record_bytes",
                    LOG_HEADER_BYTES + self.max_record_bytes
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        PartitionConfig::default().validate().unwrap();
    }

    #[test]
    fn segment_smaller_than_max_record_is_rejected() {
        let config = PartitionConfig {
            segment_bytes: 1000,
            max_record_bytes: 1000,
            ..Default::default()
        };
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("segment_bytes = 1000"), "{message}");
        assert!(
            message.contains("at least max_record_bytes + 8 = 1008"),
            "{message}"
        );
    }

    #[test]
    fn oversized_segment_is_rejected() {
        let config = PartitionConfig {
            segment_bytes: 1 << 33,
            ..Default::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn tiny_max_record_is_rejected() {
        let config = PartitionConfig {
            max_record_bytes: 10,
            ..Default::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_record_bytes = 10"));
    }
}
