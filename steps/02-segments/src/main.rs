//! Demo for step 2: appends records to the partition in `DIR`, with a small segment size so the
//! partition rolls, then lists the directory and prints every segment field by field.
//!
//! Run it twice to see offsets continue where they stopped, or cut bytes off the last segment
//! between runs (`truncate -s -5 DIR/<last>.log`) to see recovery at work.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use step02_segments::{inspect, NewRecord, Partition, PartitionConfig};

/// Appends five records to the partition in DIR, then prints every file in it.
#[derive(Parser)]
struct Args {
    /// Partition directory, created when missing.
    dir: PathBuf,
    /// Segment size limit in bytes. The default is small, so a few records fill a segment.
    #[arg(long, default_value_t = 120)]
    segment_bytes: u64,
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

        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let records = [
            (Some(&b"user-1"[..]), &b"signed up"[..]),
            (None, b"heartbeat"),
            (Some(b"user-1"), b"logged in"),
            (Some(b"user-2"), b"signed up"),
            (Some(b"user-1"), b"logged out"),
        ];
        for (key, value) in records {
            let record = NewRecord {
                timestamp_ms: now_ms,
                key,
                value,
            };
            let offset = partition.append(&record)?;
            println!("appended offset {offset} ({} bytes)", record.frame_len());
        }

        let first = partition.log_start_offset();
        let read = partition.read(first, 100)?;
        println!(
            "read({first}, max_bytes 100) returned offsets {:?}",
            offsets(&read)
        );
        println!();
    }

    print!("{}", inspect::describe_dir(&args.dir)?);
    Ok(())
}

fn offsets(records: &[step02_segments::Record]) -> Vec<u64> {
    records.iter().map(|record| record.offset).collect()
}
