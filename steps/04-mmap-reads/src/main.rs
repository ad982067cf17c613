//! Demo for step 4: fills a new partition in `DIR` with ten records spread over several small
//! segments, lists the segments and how each is read, then runs the fetches you name and prints
//! what each returned.
//!
//! ```text
//! cargo run -p step04-mmap-reads -- /tmp/rustlog-04
//! cargo run -p step04-mmap-reads -- /tmp/rustlog-04 --fetch 3:1 --fetch 0:10000
//! ```
//!
//! The records are only appended when the partition is empty, so later runs fetch from the same
//! data.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use step04_mmap_reads::{NewRecord, Partition, PartitionConfig, Record};

/// The fetches run when no `--fetch` is given. A one-byte budget still returns one whole record,
/// and a 100-byte budget ends inside the third frame. Then come a fetch that crosses from sealed
/// segments into the active one, a zero budget, the log end, and an offset past it.
const DEFAULT_FETCHES: [Fetch; 6] = [
    Fetch {
        offset: 0,
        max_bytes: 1,
    },
    Fetch {
        offset: 0,
        max_bytes: 100,
    },
    Fetch {
        offset: 4,
        max_bytes: 1000,
    },
    Fetch {
        offset: 7,
        max_bytes: 0,
    },
    Fetch {
        offset: 10,
        max_bytes: 1000,
    },
    Fetch {
        offset: 11,
        max_bytes: 1000,
    },
];

/// Fills the partition in DIR when it is empty, then prints the result of each fetch.
#[derive(Parser)]
struct Args {
    /// Partition directory, created when missing.
    dir: PathBuf,
    /// A fetch to run, as OFFSET:MAX_BYTES, for example `3:100`. Repeat the option for several
    /// fetches. Without it, a set of fetches that shows each case of the fetch rule runs.
    #[arg(long = "fetch", value_parser = parse_fetch)]
    fetches: Vec<Fetch>,
    /// Segment size limit in bytes, header included. The default is small, so the ten records
    /// fill several segments.
    #[arg(long, default_value_t = 150)]
    segment_bytes: u64,
}

/// One fetch to run: the first offset and the byte budget.
#[derive(Debug, Clone, Copy)]
struct Fetch {
    offset: u64,
    max_bytes: u64,
}

fn parse_fetch(text: &str) -> Result<Fetch, String> {
    let (offset, max_bytes) = text
        .split_once(':')
        .ok_or_else(|| format!("expected OFFSET:MAX_BYTES, such as 3:100, found `{text}`"))?;
    let number = |field: &str, value: &str| {
        value
            .parse::<u64>()
            .map_err(|error| format!("invalid {field} `{value}` in `{text}`: {error}"))
    };
    Ok(Fetch {
        offset: number("offset", offset)?,
        max_bytes: number("max_bytes", max_bytes)?,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = PartitionConfig {
        segment_bytes: args.segment_bytes,
        ..PartitionConfig::default()
    };
    let (mut partition, _) = Partition::open(&args.dir, config)
        .with_context(|| format!("open the partition in {}", args.dir.display()))?;

    if partition.log_end_offset() == 0 {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let users = ["user-1", "user-2", "user-3"];
        for (number, user) in users.iter().cycle().take(10).enumerate() {
            let value = format!("event {number}");
            partition.append(&NewRecord {
                timestamp_ms: now_ms,
                key: Some(user.as_bytes()),
                value: value.as_bytes(),
            })?;
        }
        println!("appended offsets 0 to 9 to {}", args.dir.display());
    }

    println!(
        "{}: log start offset {}, log end offset {}",
        args.dir.display(),
        partition.log_start_offset(),
        partition.log_end_offset()
    );
    for segment in partition.segments() {
        let how = if segment.is_mapped() {
            "sealed, read through a memory map"
        } else {
            "active, read with pread"
        };
        let records = if segment.is_empty() {
            "no records".to_string()
        } else {
            format!(
                "offsets {} to {}",
                segment.base_offset(),
                segment.next_offset() - 1
            )
        };
        println!(
            "  segment {:>2}: {records}, {:>3} bytes, {how}",
            segment.base_offset(),
            segment.size(),
        );
    }

    let fetches = if args.fetches.is_empty() {
        DEFAULT_FETCHES.to_vec()
    } else {
        args.fetches
    };
    for Fetch { offset, max_bytes } in fetches {
        println!();
        match partition.fetch(offset, max_bytes) {
            Ok(records) => print_records(offset, max_bytes, &records),
            Err(error) => println!("fetch(offset {offset}, max_bytes {max_bytes}): error: {error}"),
        }
    }
    Ok(())
}

fn print_records(offset: u64, max_bytes: u64, records: &[Record]) {
    let bytes: u64 = records.iter().map(Record::frame_len).sum();
    println!(
        "fetch(offset {offset}, max_bytes {max_bytes}): {} record(s), {bytes} bytes of frames",
        records.len()
    );
    for record in records {
        let key = record
            .key
            .as_deref()
            .map_or("no key".to_string(), |key| key.escape_ascii().to_string());
        println!(
            "  offset {:>2}  {key:<8}  \"{}\"  {} bytes",
            record.offset,
            record.value.escape_ascii(),
            record.frame_len()
        );
    }
}
