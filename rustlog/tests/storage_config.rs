//! Partition settings that `Partition::open` must reject before it touches the disk.

use rustlog::storage::{Partition, PartitionConfig, StorageError};

#[test]
fn max_record_bytes_above_i32_max_is_rejected() {
    // A key of 2^31 bytes or more cannot be stored: the frame's key length field is an i32.
    let config = PartitionConfig {
        segment_bytes: u64::from(u32::MAX),
        max_record_bytes: i32::MAX as u64 + 1,
        ..PartitionConfig::default()
    };

    let error = config.validate().unwrap_err();

    assert!(
        matches!(
            error,
            StorageError::InvalidConfig {
                field: "max_record_bytes",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn max_record_bytes_of_i32_max_is_accepted() {
    let config = PartitionConfig {
        segment_bytes: u64::from(u32::MAX),
        max_record_bytes: i32::MAX as u64,
        ..PartitionConfig::default()
    };

    config.validate().unwrap();
}

#[test]
fn invalid_config_creates_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let partition_dir = dir.path().join("topic-0");
    let config = PartitionConfig {
        segment_bytes: 100,
        ..PartitionConfig::default()
    };

    let error = Partition::open(&partition_dir, config).unwrap_err();

    assert!(
        matches!(
            error,
            StorageError::InvalidConfig {
                field: "segment_bytes",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!partition_dir.exists());
}
