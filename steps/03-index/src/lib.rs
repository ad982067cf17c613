//! Step 3 of RustLog: a sparse offset index.
//!
//! Step 2 found an offset by walking every frame of its segment from the start, which costs time in
//! proportion to the segment's size. This step adds an index next to each segment, and stamps both
//! file kinds with a magic number and a version now that the format is final:
//!
//! - [`index`] is the `.index` file: one 8-byte entry for every few KiB of log, searched by binary
//!   search;
//! - [`segment`] gains the `RLOG` header, keeps its index up to date on append, looks up the
//!   index before walking, and rebuilds the index from the log when it is missing or wrong;
//! - [`recovery`] produces the index entries as it scans;
//! - [`partition`] gains the index interval setting and reports rebuilt indexes;
//! - [`record`] and [`error`] are step 2's, plus a configuration error;
//! - [`inspect`] also renders `.index` files, for the demo and the tests.

#![warn(missing_docs)]

pub mod error;
pub mod index;
pub mod inspect;
pub mod partition;
pub mod record;
pub mod recovery;
pub mod segment;

pub use error::StorageError;
pub use index::{IndexEntry, IndexProblem};
pub use partition::{Partition, PartitionConfig, RebuiltIndex, RecoveryReport};
pub use record::{NewRecord, Record};
