//! Step 5 of RustLog: a TCP server that speaks newline-delimited JSON.
//!
//! Steps 1 to 4 built a partition that only a Rust program in the same process could use. This
//! step puts a network server in front of it, so any program that can open a socket and write a
//! line of JSON can produce and fetch records. The new modules, in the order a request passes
//! through them:
//!
//! - [`server`] accepts connections, runs one task for each, and shuts down gracefully when the
//!   future it was given completes;
//! - [`connection`] cuts the byte stream into lines, and enforces a maximum line length while the
//!   line is still being read;
//! - [`protocol`] turns a line into a [`Request`](protocol::Request), and a
//!   [`Response`](protocol::Response) into a line, with stable error codes;
//! - [`broker`] finds the partition a request names, among topics fixed by configuration, and
//!   runs the storage call on a blocking thread;
//! - [`client`] sends lines and reads responses, for the demo and the tests.
//!
//! The storage modules ([`partition`], [`segment`], [`index`], [`record`], [`recovery`],
//! [`error`], [`inspect`]) are step 4's. They know nothing of sockets or JSON.
//!
//! What this step leaves out: consumer groups and committed offsets (step 6), a cap on the
//! number of connections, and appending a whole request with one sync.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod broker;
pub mod client;
pub mod connection;
pub mod error;
pub mod index;
pub mod inspect;
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
