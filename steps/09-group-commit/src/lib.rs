//! Step 9 of RustLog: group commit.
//!
//! Every produce request so far paid for its own `fdatasync`, holding the partition's lock while
//! the disk worked, so concurrent producers took turns at the slowest step. This step lets the
//! requests that wait at the same time share one sync:
//!
//! - [`partition`] splits an append into a write and a sync: records are written without a sync,
//!   stay invisible to fetches, and become visible once a sync has covered them;
//! - [`group_commit`] chooses, among the requests waiting for a sync, one leader that syncs
//!   everything written so far, while the others wait on a condition variable, and runs the syncs
//!   through a [`Syncer`] that tests can slow down;
//! - [`segment`] no longer syncs on every append, and syncs when it is sealed instead;
//! - [`broker`] writes each produce request as one batch, waits for the shared sync without
//!   holding the partition's lock, counts the syncs, and keeps the old behaviour, one sync per
//!   request, for a topic with [`TopicConfig::group_commit`] off;
//! - the rest is step 8's.
//!
//! What this step leaves out: fetches that run in parallel with each other and with writes, which
//! the finished broker gets from a read-write lock. It also leaves out the clean-shutdown marker
//! that lets the finished broker skip the scan of the active segment at startup.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod broker;
pub mod client;
pub mod clock;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod group_commit;
pub mod index;
pub mod inspect;
pub mod offsets;
pub mod partition;
pub mod protocol;
pub mod record;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod server;

pub use broker::{Broker, BrokerConfig, BrokerError, RetentionDeletion, TopicConfig};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StorageError;
pub use group_commit::{Fdatasync, GroupCommit, SlowSync, Syncer};
pub use index::{IndexEntry, IndexProblem};
pub use offsets::{ConsumerOffsets, OffsetsError, OffsetsReplay};
pub use partition::{Appended, Partition, PartitionConfig, RebuiltIndex, RecoveryReport};
pub use record::{NewRecord, Record};
pub use retention::{DeletedSegment, RetentionConfig, RetentionReason};
