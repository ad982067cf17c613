//! The storage layer: records, segments, the sparse index, partitions and crash recovery.
//!
//! This layer knows nothing of sockets, JSON or async runtimes. Everything here is plain
//! synchronous file I/O, so it can be read, tested and benchmarked on its own.

pub mod config;
pub mod error;
pub mod group_commit;
pub mod index;
pub mod partition;
pub mod record;
pub mod recovery;
pub mod retention;
pub mod segment;

pub use config::{FlushPolicy, PartitionConfig};
pub use error::StorageError;
pub use group_commit::GroupCommit;
pub use partition::{Appended, Partition, RecoveryReport};
pub use record::{NewRecord, Record};
pub use retention::{DeletedSegment, RetentionReason};
