//! RustLog: a single-node, Kafka-style log broker, written to be read.
//!
//! The crate is layered from the disk up. [`storage`] turns records into files: segments, a sparse
//! index, and recovery after a crash. The broker, protocol and server layers build on it.

#![warn(missing_docs)]

pub mod broker;
pub mod client;
pub mod config;
pub mod connection;
pub mod offsets;
pub mod protocol;
pub mod server;
pub mod storage;
