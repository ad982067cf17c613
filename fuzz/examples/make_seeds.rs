//! Writes the committed seed corpus: real request lines for `parse_request`, and real partition
//! directories, written by the storage layer and then encoded, for `recover_partition`.
//!
//! Run from the `fuzz/` directory with `cargo run --example make_seeds`. It replaces the files in
//! `seeds/`; the output is the same on every run, because every timestamp is fixed.

use std::path::{Path, PathBuf};

use rustlog::protocol::{
    CommitRequest, CommittedRequest, FetchRequest, MetadataRequest, OffsetsRequest, ProduceRecord,
    ProduceRequest, Request,
};
use rustlog::storage::partition::CLEAN_SHUTDOWN_FILE;
use rustlog::storage::segment::file_name;
use rustlog::storage::{FlushPolicy, NewRecord, Partition, PartitionConfig};
use rustlog_fuzz::{PartitionFiles, SegmentFiles};

fn main() -> std::io::Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    write_request_seeds(&seeds.join("parse_request"))?;
    write_partition_seeds(&seeds.join("recover_partition"))?;
    Ok(())
}

fn write_request_seeds(dir: &Path) -> std::io::Result<()> {
    replace_dir(dir)?;
    let requests = [
        Request::Produce(ProduceRequest {
            topic: "events".into(),
            partition: 0,
            records: vec![
                ProduceRecord::from_bytes(None, b"plain text"),
                ProduceRecord::from_bytes(Some(b"user-1"), "h\u{e9}llo".as_bytes()),
                ProduceRecord::from_bytes(Some(&[0, 255]), &[0xfe, 0xff, 0x00]),
                ProduceRecord::from_bytes(Some(b""), b""),
            ],
        }),
        Request::Fetch(FetchRequest {
            topic: "events".into(),
            partition: 1,
            offset: Some(42),
            max_bytes: Some(1024),
            group_id: None,
        }),
        Request::Fetch(FetchRequest {
            topic: "events".into(),
            partition: 0,
            offset: None,
            max_bytes: None,
            group_id: Some("audit".into()),
        }),
        Request::Commit(CommitRequest {
            group_id: "audit".into(),
            topic: "events".into(),
            partition: 0,
            offset: 7,
        }),
        Request::Committed(CommittedRequest {
            group_id: "audit".into(),
            topic: "events".into(),
            partition: 0,
        }),
        Request::Metadata(MetadataRequest {}),
        Request::Offsets(OffsetsRequest {}),
    ];
    for (number, request) in requests.iter().enumerate() {
        let mut line = request.to_line(Some(number as u64));
        line.pop();
        std::fs::write(dir.join(format!("{number:02}-{}", request.op())), line)?;
    }

    // Lines the broker must reject, each near a rule.
    let rejected: [&[u8]; 8] = [
        br#"{"op":"fetch","topic":"events","partition":0,"offset":18446744073709551616}"#,
        br#"{"op":"produce","topic":"events","partition":0,"records":[{"value_b64":"YQ"}]}"#,
        br#"{"op":"produce","topic":"events","partition":0,"records":[{"value":"a","value_b64":"YQ=="}]}"#,
        br#"{"op":"fetch","topic":"events","partition":-1,"offset":0,"colour":1}"#,
        br#"{"op":"commit","group_id":"","topic":"events","partition":0,"offset":0}"#,
        br#"{"op":"produce","topic":"events","partition":0,"records":[{"value":"\ud800"}]}"#,
        b"{\"op\":\"metadata\",\"id\":\"\xff\xfe\"}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]",
    ];
    for (number, line) in rejected.iter().enumerate() {
        std::fs::write(
            dir.join(format!("{:02}-rejected", requests.len() + number)),
            line,
        )?;
    }
    Ok(())
}

/// One partition seed: how to write it and what to do to its files afterwards.
struct Shape {
    name: &'static str,
    segment_bytes: u64,
    index_interval_bytes: u64,
    records: usize,
    clean_shutdown: bool,
    damage: fn(&mut PartitionFiles),
}

fn write_partition_seeds(dir: &Path) -> std::io::Result<()> {
    replace_dir(dir)?;
    let shapes = [
        Shape {
            name: "empty",
            segment_bytes: 4096,
            index_interval_bytes: 64,
            records: 0,
            clean_shutdown: false,
            damage: |_| {},
        },
        Shape {
            name: "active-unclean",
            segment_bytes: 4096,
            index_interval_bytes: 64,
            records: 12,
            clean_shutdown: false,
            damage: |_| {},
        },
        Shape {
            name: "active-clean",
            segment_bytes: 4096,
            index_interval_bytes: 256,
            records: 30,
            clean_shutdown: true,
            damage: |_| {},
        },
        Shape {
            name: "sealed-and-active",
            segment_bytes: 1024,
            index_interval_bytes: 64,
            records: 30,
            clean_shutdown: false,
            damage: |_| {},
        },
        Shape {
            name: "sealed-and-active-clean",
            segment_bytes: 1024,
            index_interval_bytes: 256,
            records: 30,
            clean_shutdown: true,
            damage: |_| {},
        },
        Shape {
            name: "every-record-indexed",
            segment_bytes: 1024,
            index_interval_bytes: 1,
            records: 25,
            clean_shutdown: true,
            damage: |_| {},
        },
        Shape {
            name: "torn-active-tail",
            segment_bytes: 4096,
            index_interval_bytes: 64,
            records: 12,
            clean_shutdown: false,
            damage: |files| {
                let len = files.active.log.len();
                files.active.log.truncate(len - 5);
            },
        },
        Shape {
            name: "sealed-without-index",
            segment_bytes: 1024,
            index_interval_bytes: 64,
            records: 30,
            clean_shutdown: true,
            damage: |files| {
                if let Some(sealed) = &mut files.sealed {
                    sealed.index = None;
                }
            },
        },
        Shape {
            name: "sealed-flipped-byte",
            segment_bytes: 1024,
            index_interval_bytes: 64,
            records: 30,
            clean_shutdown: true,
            damage: |files| {
                if let Some(sealed) = &mut files.sealed {
                    sealed.log[100] ^= 0x01;
                }
            },
        },
        Shape {
            name: "sealed-cut-short",
            segment_bytes: 1024,
            index_interval_bytes: 64,
            records: 30,
            clean_shutdown: true,
            damage: |files| {
                if let Some(sealed) = &mut files.sealed {
                    let len = sealed.log.len();
                    sealed.log.truncate(len - 3);
                }
            },
        },
    ];

    for shape in &shapes {
        let scratch = std::env::temp_dir().join(format!(
            "rustlog-seed-{}-{}",
            std::process::id(),
            shape.name
        ));
        replace_dir(&scratch)?;
        let mut files = write_partition(&scratch, shape)?;
        std::fs::remove_dir_all(&scratch)?;
        (shape.damage)(&mut files);
        std::fs::write(dir.join(shape.name), files.encode())?;
    }
    Ok(())
}

/// Writes records with the storage layer and reads back the last two segments' files.
fn write_partition(dir: &Path, shape: &Shape) -> std::io::Result<PartitionFiles> {
    let config = PartitionConfig {
        segment_bytes: shape.segment_bytes,
        index_interval_bytes: shape.index_interval_bytes,
        max_record_bytes: 512,
        flush: FlushPolicy::Never,
        ..PartitionConfig::default()
    };
    let mut partition = Partition::open(dir, config)
        .map_err(std::io::Error::other)?
        .0;
    for n in 0..shape.records {
        let value = format!("record {n} {}", "x".repeat(n % 7 * 5));
        let key = (n % 3 == 0).then(|| format!("key-{n}"));
        let record = NewRecord {
            timestamp_ms: 1_700_000_000_000 + n as i64,
            key: key.as_deref().map(str::as_bytes),
            value: value.as_bytes(),
        };
        partition.append(&[record]).map_err(std::io::Error::other)?;
    }
    let bases: Vec<u64> = partition
        .segments()
        .iter()
        .map(|segment| segment.base_offset())
        .collect();
    if shape.clean_shutdown {
        partition.close().map_err(std::io::Error::other)?;
    } else {
        drop(partition);
    }

    let read_segment = |base_offset: u64| -> std::io::Result<SegmentFiles> {
        Ok(SegmentFiles {
            base_offset,
            log: std::fs::read(dir.join(file_name(base_offset, "log")))?,
            index: Some(std::fs::read(dir.join(file_name(base_offset, "index")))?),
        })
    };
    let active = read_segment(*bases.last().expect("a partition has a segment"))?;
    let sealed = match bases.len() {
        1 => None,
        n => Some(read_segment(bases[n - 2])?),
    };
    Ok(PartitionFiles {
        clean_shutdown: dir.join(CLEAN_SHUTDOWN_FILE).exists(),
        index_interval_bytes: shape.index_interval_bytes,
        sealed,
        active,
    })
}

fn replace_dir(dir: &Path) -> std::io::Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}
