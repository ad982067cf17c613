//! Step 2 of RustLog: a partition as a directory of segments, with offsets.
//!
//! Step 1 kept one file and named records by byte position. A broker needs names that do not
//! depend on where a record happens to sit, and it needs to delete old data without rewriting new
//! data. This step numbers records with offsets and splits the log into segment files:
//!
//! - [`record`] adds the offset to the front of each frame;
//! - [`segment`] is step 1's log file, now one of many, named by the offset of its first record;
//! - [`partition`] assigns offsets, rolls to a new segment at a size limit, and reads by offset
//!   across segments;
//! - [`recovery`] also checks that offsets run in sequence;
//! - [`error`] is the error type that reading by offset calls for;
//! - [`inspect`] renders a partition directory field by field, for the demo and the tests.

#![warn(missing_docs)]

pub mod error;
pub mod inspect;
pub mod partition;
pub mod record;
pub mod recovery;
pub mod segment;

pub use error::StorageError;
pub use partition::{Partition, PartitionConfig, RecoveryReport};
pub use record::{NewRecord, Record};
