//! Step 7 of RustLog: durable consumer offsets.
//!
//! Step 6 kept each group's committed offset in a map in memory, so a restart of the broker sent
//! every group back to the log start. This step stores the commits in a file:
//!
//! - [`offsets`] appends each commit to `offsets.log` with a length and a CRC, and syncs it before
//!   the commit returns. At startup it replays the file, cutting off a torn last entry so the key
//!   keeps its previous value. Now and then it compacts the file by writing a new one and renaming
//!   it into place;
//! - [`broker`] opens the offsets file next to the topics, stores each commit on the blocking
//!   thread pool and responds only after its sync, and explains a fetch whose group's commit
//!   points outside the partition;
//! - [`inspect`] renders `offsets.log` entry by entry, field by field;
//! - the rest is step 6's: [`protocol`], [`consumer`], [`client`], [`server`], [`connection`],
//!   and the storage modules ([`partition`], [`segment`], [`index`], [`record`], [`recovery`],
//!   [`error`]).
//!
//! What this step leaves out: deleting old records (retention, chapter 8), after which a commit
//! can point below the log start, and sharing one sync between concurrent produce requests
//! (chapter 9).

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
pub use offsets::{ConsumerOffsets, OffsetsError, OffsetsReplay};
pub use partition::{Partition, PartitionConfig, RebuiltIndex, RecoveryReport};
pub use record::{NewRecord, Record};
