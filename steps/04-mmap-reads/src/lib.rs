//! Step 4 of RustLog: reading sealed segments through a memory map.
//!
//! Step 3 read every frame with two positional reads (`pread`), one for its 12-byte prefix and one
//! for the rest, and copied each into a buffer of its own. This step reads the bytes a fetch wants
//! in one go, and for sealed segments without a system call at all:
//!
//! - [`segment`] maps a segment's `.log` file read-only when it is sealed (or opened as sealed),
//!   reads the active segment with `pread`, and implements the fetch rule: whole records up to the
//!   byte budget, but always at least one. The one `unsafe` block of the crate, the map, is there
//!   with the argument for why it is sound;
//! - [`partition`] renames `read` to [`Partition::fetch`] and seals through `&mut`, because
//!   sealing now creates the map;
//! - [`index`], [`record`], [`recovery`], [`error`] and [`inspect`] are step 3's.
//!
//! What this step leaves out: sending mapped bytes to a socket without decoding them (Kafka's
//! zero-copy path), and mapping the index files.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

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
