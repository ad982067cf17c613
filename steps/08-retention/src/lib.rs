//! Step 8 of RustLog: retention.
//!
//! Until this step, a partition only grew. This step deletes old records, a whole segment at a
//! time, so a topic can keep a bounded window of its data:
//!
//! - [`retention`] contains the rule: per-topic `retention_ms` and `retention_bytes`, sealed
//!   segments deleted oldest first, the pass stopping at the first segment that must stay, and an
//!   expired active segment rolled before it can go;
//! - [`partition`] takes a segment out of the list before it removes the segment's files, so the
//!   log start offset moves first, and [`segment`] can read its newest record's timestamp;
//! - [`clock`] lets the broker read the time from a clock that tests move by hand;
//! - [`broker`] gains per-topic settings ([`TopicConfig`]), a retention pass over every partition,
//!   a background task that runs one at an interval, and a commit rule that also rejects offsets
//!   below the log start;
//! - [`inspect`] renders a partition's segments as a table, with each segment's newest record and
//!   its age;
//! - the rest is step 7's.
//!
//! What this step leaves out: sharing one sync between concurrent produce requests (chapter 9),
//! and compaction by key, which keeps the latest record for each key instead of the latest span
//! of time.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod broker;
pub mod client;
pub mod clock;
pub mod connection;
pub mod consumer;
pub mod error;
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
pub use index::{IndexEntry, IndexProblem};
pub use offsets::{ConsumerOffsets, OffsetsError, OffsetsReplay};
pub use partition::{Partition, PartitionConfig, RebuiltIndex, RecoveryReport};
pub use record::{NewRecord, Record};
pub use retention::{DeletedSegment, RetentionConfig, RetentionReason};
