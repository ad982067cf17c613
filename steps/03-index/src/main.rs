//! Demo for step 3: appends records to the partition in `DIR`, with a small segment size and index
//! interval so the partition rolls and indexes, then lists the directory and prints every `.log`
//! and `.index` file field by field.
//!
//! Run it twice to see offsets continue where they stopped. Delete an `.index` file, or cut bytes
//! off the last `.log` file (`truncate -s -5 DIR/<last>.log`), between runs to see recovery at work.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use step03_index::{inspect, NewRecord, Partition, PartitionConfig, Record};

/// Appends ten records to the partition in DIR, then prints every file in it.
#[derive(Parser)]
struct Args {
    /// Partition directory, created when missing.
    dir: PathBuf,
    /// Segment size limit in bytes, header included. The default is small, so a few records fill
    /// a segment.
    #[arg(long, default_value_t = 300)]
    segment_bytes: u64,
    /// Bytes of frames between two index entries. The default is small, so a few records get an
    /// entry.
    #[arg(long, default_value_t = 60)]
    index_interval_bytes: u64,
    /// Print the files as they are on disk, without opening the partition: nothing is appended or
    /// repaired.
    #[arg(long)]
    inspect: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();

    if !args.inspect {
        let config = PartitionConfig {
            segment_bytes: args.segment_bytes,
            index_interval_bytes: args.index_interval_bytes,
        };
        let (mut partition, report) = Partition::open(&args.dir, config)
            .with_context(|| format!("open the partition in {}", args.dir.display()))?;
        println!(
            "opened {}: segments: {}, log start offset: {}, log end offset: {}",
            args.dir.display(),
            report.segments,
            report.log_start_offset,
            report.log_end_offset
        );
        if let Some(stop) = &report.stop {
            println!(
                "recovery cut {} bytes at byte {} of the active segment: {}",
                report.truncated_bytes, stop.position, stop.reason
            );
        }
        for rebuilt in &report.rebuilt_indexes {
            println!(
                "rebuilt the index of segment {}: {}",
                rebuilt.base_offset, rebuilt.problem
            );
        }

        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let users = ["user-1", "user-2", "user-3", "user-4"];
        for (number, user) in users.iter().cycle().take(10).enumerate() {
            let value = format!("event {number}");
            let record = NewRecord {
                timestamp_ms: now_ms,
                key: Some(user.as_bytes()),
                value: value.as_bytes(),
            };
            let offset = partition.append(&record)?;
            println!("appended offset {offset} ({} bytes)", record.frame_len());
        }

        let middle = partition.log_start_offset()
            + (partition.log_end_offset() - partition.log_start_offset()) / 2;
        let read = partition.read(middle, 100)?;
        println!(
            "read({middle}, max_bytes 100) returned offsets {:?}",
            offsets(&read)
        );
        println!();
    }

    print!("{}", inspect::describe_dir(&args.dir)?);
    Ok(())
}

fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|record| record.offset).collect()
}
