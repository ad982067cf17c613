//! Step 6 of RustLog: consumer groups and committed offsets.
//!
//! Step 5's consumer had to remember its own position: a restarted consumer had no way to know
//! where it stopped. This step lets the broker remember it, per consumer group and partition:
//!
//! - [`offsets`] stores each group's committed offset, in memory;
//! - [`protocol`] gains `commit` and `committed`, and a `group_id` on `fetch` that starts the
//!   fetch at the group's committed offset;
//! - [`broker`] applies the commit rule (never past the log end) and picks a fetch's start;
//! - [`consumer`] runs the at-least-once consume loop, process then commit, over a [`client`]
//!   that can now record its exchanges;
//! - [`server`] and [`connection`] are step 5's, and so are the storage modules ([`partition`],
//!   [`segment`], [`index`], [`record`], [`recovery`], [`error`], [`inspect`]).
//!
//! What this step leaves out: durable offsets (a restart loses every commit, which chapter 7
//! fixes), and group membership, which would let the broker hand each partition to one consumer
//! of a group. Here the consumers of a group must agree among themselves who reads what.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod broker;
pub mod client;
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
pub mod segment;
pub mod server;

pub use broker::{Broker, BrokerConfig, BrokerError};
pub use error::StorageError;
pub use index::{IndexEntry, IndexProblem};
pub use partition::{Partition, PartitionConfig, RebuiltIndex, RecoveryReport};
pub use record::{NewRecord, Record};
