//! Opening a new partition at a relative path of one component, such as `topic-0`.
//!
//! The test changes the working directory of its process, so it lives alone in this file: Cargo
//! runs each integration test file as its own process.

use std::path::Path;

use rustlog::storage::{Partition, PartitionConfig};

#[test]
fn new_partition_at_relative_path_opens() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();

    let result = Partition::open(Path::new("topic-0"), PartitionConfig::default());

    assert!(result.is_ok(), "{:?}", result.map(|(_, report)| report));
    assert!(dir.path().join("topic-0/00000000000000000000.log").exists());
}
