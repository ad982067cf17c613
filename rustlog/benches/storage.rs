//! Storage benchmarks: append throughput under each flush policy, and read throughput from a
//! sealed (memory-mapped) segment and from the active segment.
//!
//! Run with `cargo bench -p rustlog --bench storage`; a filter narrows the run, for example
//! `cargo bench -p rustlog --bench storage -- append/fsync`. Records have no key and a value of
//! 100 bytes or 1 KiB, so each frame on disk is 28 bytes longer. Partitions live in a temporary
//! directory (`TMPDIR`, else `/tmp`), so the figures describe that file system and its disk.
//!
//! Criterion 0.5 reports one throughput per benchmark: appends report records per second
//! (`Throughput::Elements`), reads report value bytes per second (`Throughput::BytesDecimal`,
//! in MB of 10^6 bytes). Multiply or divide by the value size to get the other figure.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use rustlog::storage::record::frame_len;
use rustlog::storage::{FlushPolicy, NewRecord, Partition, PartitionConfig};

/// Value sizes measured, with the label used in benchmark names.
const VALUE_SIZES: [(&str, usize); 2] = [("100B", 100), ("1KiB", 1024)];

/// Records per batch in the batched append benchmarks.
const BATCH_RECORDS: usize = 1000;

/// `max_bytes` of each read: frame bytes, headers included.
const READ_MAX_BYTES: u64 = 1024 * 1024;

fn open(dir: &Path, flush: FlushPolicy) -> Partition {
    let config = PartitionConfig {
        flush,
        ..PartitionConfig::default()
    };
    Partition::open(dir, config).unwrap().0
}

/// Times `iterations` appends of `batch` to a new partition with `flush`.
///
/// Each call starts from an empty partition in a new temporary directory, so the partition does
/// not grow from one sample to the next. Creating and deleting the directory is not timed.
fn time_appends(flush: FlushPolicy, batch: &[NewRecord<'_>], iterations: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut partition = open(dir.path(), flush);

    let start = Instant::now();
    for _ in 0..iterations {
        partition.append(batch).unwrap();
    }
    let elapsed = start.elapsed();

    drop(partition);
    elapsed
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));

    for (label, value_len) in VALUE_SIZES {
        let value = vec![0x5a; value_len];
        let record = NewRecord {
            timestamp_ms: 1_700_000_000_000,
            key: None,
            value: &value,
        };
        let batch = vec![record; BATCH_RECORDS];

        // One fdatasync per record: the latency of a durable, unbatched append.
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("fsync_every_record", label), |b| {
            b.iter_custom(|iterations| {
                time_appends(FlushPolicy::EveryAppend, &[record], iterations)
            });
        });

        // One fdatasync per batch of 1,000 records.
        group.throughput(Throughput::Elements(BATCH_RECORDS as u64));
        group.bench_function(BenchmarkId::new("fsync_every_1000_records", label), |b| {
            b.iter_custom(|iterations| time_appends(FlushPolicy::EveryAppend, &batch, iterations));
        });

        // No fdatasync: each append is one `pwrite` into the page cache.
        group.sample_size(20);
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("no_fsync_every_record", label), |b| {
            b.iter_custom(|iterations| time_appends(FlushPolicy::Never, &[record], iterations));
        });

        group.throughput(Throughput::Elements(BATCH_RECORDS as u64));
        group.bench_function(BenchmarkId::new("no_fsync_1000_records", label), |b| {
            b.iter_custom(|iterations| time_appends(FlushPolicy::Never, &batch, iterations));
        });
    }
    group.finish();
}

/// A partition with one full sealed segment of 64 MiB and an active segment of about 32 MiB.
struct ReadFixture {
    _dir: tempfile::TempDir,
    partition: Partition,
    /// Records one read returns: as many whole frames as fit in [`READ_MAX_BYTES`].
    records_per_read: u64,
    /// Offsets from which a read stays inside the sealed segment.
    sealed_starts: Vec<u64>,
    /// Offsets from which a read stays inside the active segment.
    active_starts: Vec<u64>,
}

impl ReadFixture {
    fn new(value_len: usize) -> ReadFixture {
        let dir = tempfile::tempdir().unwrap();
        let mut partition = open(dir.path(), FlushPolicy::Never);
        let value = vec![0x5a; value_len];
        let record = NewRecord {
            timestamp_ms: 1_700_000_000_000,
            key: None,
            value: &value,
        };
        let batch = vec![record; BATCH_RECORDS];

        // Fill one and a half segments, then sync, so reads come from the page cache.
        let frame = frame_len(0, value_len);
        let records = PartitionConfig::default().segment_bytes * 3 / 2 / frame;
        for _ in 0..records.div_ceil(BATCH_RECORDS as u64) {
            partition.append(&batch).unwrap();
        }
        partition.flush().unwrap();
        let segments = partition.segments();
        assert_eq!(
            segments.len(),
            2,
            "fixture: expected a sealed and an active segment"
        );
        assert!(
            segments[0].is_sealed(),
            "fixture: expected the first segment to be sealed"
        );

        let records_per_read = READ_MAX_BYTES / frame;
        let starts = |from: u64, to: u64| -> Vec<u64> {
            (from..to.saturating_sub(records_per_read))
                .step_by(records_per_read as usize)
                .collect()
        };
        let (sealed, active) = (&segments[0], &segments[1]);
        ReadFixture {
            records_per_read,
            sealed_starts: starts(sealed.base_offset(), sealed.next_offset()),
            active_starts: starts(active.base_offset(), active.next_offset()),
            partition,
            _dir: dir,
        }
    }
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_1MiB");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    for (label, value_len) in VALUE_SIZES {
        let fixture = ReadFixture::new(value_len);
        group.throughput(Throughput::BytesDecimal(
            fixture.records_per_read * value_len as u64,
        ));

        for (segment, starts) in [
            ("sealed", &fixture.sealed_starts),
            ("active", &fixture.active_starts),
        ] {
            group.bench_function(BenchmarkId::new(segment, label), |b| {
                let mut next = starts.iter().cycle();
                b.iter(|| {
                    let records = fixture
                        .partition
                        .read(*next.next().unwrap(), READ_MAX_BYTES)
                        .unwrap();
                    assert_eq!(records.len() as u64, fixture.records_per_read);
                    records
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
