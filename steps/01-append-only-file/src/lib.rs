//! Step 1 of RustLog: an append-only file of records.
//!
//! A broker stores each partition as a log: records are only ever added at the end, and each one
//! is read back from where it was written. This step builds the smallest such log, one file:
//!
//! - [`record`] frames a record as bytes, with a length prefix and a CRC-32C checksum;
//! - [`log`] appends frames to the file, syncs them, and reads them back by byte position;
//! - [`recovery`] finds where the valid frames end after a crash cut a write short;
//! - [`inspect`] renders the file field by field, for the demo and the tests.
//!
//! Records are named by their byte position for now. Step 2 numbers them.

#![warn(missing_docs)]

pub mod inspect;
pub mod log;
pub mod record;
pub mod recovery;

pub use log::{Log, RecoveryReport};
pub use record::{NewRecord, Record};
