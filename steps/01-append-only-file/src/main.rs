//! Demo for step 1: appends three records to `DIR/records.log` and prints the file field by field.
//!
//! Run it twice to see the file grow, or cut bytes off its end between runs (`truncate -s -5
//! DIR/records.log`) to see recovery at work.

use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use step01_append_only_file::{inspect, Log, NewRecord};

/// Name of the log file inside the directory the user names.
const FILE_NAME: &str = "records.log";

/// Appends three records to DIR/records.log, then prints every frame in the file.
#[derive(Parser)]
struct Args {
    /// Directory for the log file, created when missing.
    dir: PathBuf,
    /// Print the file as it is on disk, without opening the log: nothing is appended or repaired.
    #[arg(long)]
    inspect: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.dir.join(FILE_NAME);

    if !args.inspect {
        fs::create_dir_all(&args.dir).with_context(|| format!("create {}", args.dir.display()))?;
        let (mut log, report) =
            Log::open(&path).with_context(|| format!("open {}", path.display()))?;
        println!(
            "opened {}: {} records in {} bytes",
            path.display(),
            report.records,
            report.valid_len
        );
        if let Some(stop) = &report.stop {
            println!(
                "recovery cut {} bytes at byte {}: {}",
                report.truncated_bytes, stop.position, stop.reason
            );
        }

        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let records = [
            (Some(&b"user-1"[..]), &b"signed up"[..]),
            (None, b"heartbeat"),
            (Some(b"user-1"), b"logged in"),
        ];
        for (key, value) in records {
            let record = NewRecord {
                timestamp_ms: now_ms,
                key,
                value,
            };
            let position = log.append(&record)?;
            println!(
                "appended a {}-byte frame at byte {position}",
                record.frame_len()
            );
        }
        println!();
    }

    let bytes = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    print!("{}", inspect::describe_log(FILE_NAME, &bytes));
    Ok(())
}
