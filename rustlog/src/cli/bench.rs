//! `rustlog bench`: a load generator for a running broker.
//!
//! Producers send fixed-size records in batches of `--batch` per request, each on its own
//! connection, and time every request from send to acknowledgement. Then consumers read every
//! record produced from the start and time each fetch. Latencies go into HDR histograms, so the
//! percentiles are exact to three significant digits however many requests run.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use rustlog::client::Client;
use rustlog::protocol::{FetchRequest, ProduceRecord};

use super::BenchArgs;

/// What one phase (produce or consume) measured.
struct Phase {
    records: u64,
    bytes: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// Runs the produce phase, then the consume phase, and prints a report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.producers == 0 || args.batch == 0 || args.records == 0 {
        bail!("--producers, --batch and --records must each be at least 1");
    }
    let partitions = partition_count(&args).await?;
    let start_offsets = end_offsets(&args, partitions).await?;

    let produce = produce_phase(&args, partitions).await?;
    let consume = if args.consumers > 0 {
        let end = end_offsets(&args, partitions).await?;
        Some(consume_phase(&args, &start_offsets, &end).await?)
    } else {
        None
    };

    println!(
        "workload: {} records of {} B, {} per request, {} producer(s), {} partition(s)",
        args.records, args.record_size, args.batch, args.producers, partitions
    );
    print_phase("produce", &produce, "request");
    if let Some(consume) = &consume {
        print_phase("consume", consume, "fetch");
    }
    if args.json {
        println!("{}", json_report(&args, &produce, consume.as_ref()));
    }
    Ok(())
}

async fn produce_phase(args: &BenchArgs, partitions: u32) -> anyhow::Result<Phase> {
    let value = vec![b'x'; args.record_size];
    let per_producer = args.records.div_ceil(args.producers);
    let started = Instant::now();

    let mut tasks = Vec::new();
    for producer in 0..args.producers {
        let first = producer * per_producer;
        let count = per_producer.min(args.records.saturating_sub(first));
        let (addr, topic, value) = (args.broker.addr.clone(), args.topic.clone(), value.clone());
        let (batch, partition) = (args.batch, (producer % u64::from(partitions)) as u32);
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr.as_str()).await?;
            let mut latency = new_histogram();
            let mut sent = 0;
            while sent < count {
                let size = batch.min(count - sent);
                let records = (0..size)
                    .map(|_| ProduceRecord::from_bytes(None, &value))
                    .collect();
                let request_started = Instant::now();
                client.produce(&topic, partition, records).await?;
                latency.saturating_record(request_started.elapsed().as_micros() as u64);
                sent += size;
            }
            anyhow::Ok(latency)
        }));
    }

    let mut latency = new_histogram();
    for task in tasks {
        latency.add(task.await.context("producer task panicked")??)?;
    }
    Ok(Phase {
        records: args.records,
        bytes: args.records * args.record_size as u64,
        elapsed: started.elapsed(),
        latency,
    })
}

async fn consume_phase(args: &BenchArgs, start: &[u64], end: &[u64]) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for consumer in 0..args.consumers {
        // Consumer i reads partitions i, i + C, i + 2C, ...
        let ranges: Vec<(u32, u64, u64)> = (0..start.len())
            .filter(|partition| *partition as u64 % args.consumers == consumer)
            .map(|partition| (partition as u32, start[partition], end[partition]))
            .collect();
        let (addr, topic, max_bytes) = (
            args.broker.addr.clone(),
            args.topic.clone(),
            args.fetch_bytes,
        );
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr.as_str()).await?;
            let (mut latency, mut records, mut bytes) = (new_histogram(), 0u64, 0u64);
            for (partition, mut next, end) in ranges {
                while next < end {
                    let request = FetchRequest {
                        topic: topic.clone(),
                        partition,
                        offset: Some(next),
                        max_bytes: Some(max_bytes),
                        group_id: None,
                    };
                    let fetch_started = Instant::now();
                    let response = client.fetch(request).await?;
                    latency.saturating_record(fetch_started.elapsed().as_micros() as u64);
                    for record in &response.records {
                        bytes += record.value_bytes()?.len() as u64;
                    }
                    records += response.records.len() as u64;
                    next = response.next_offset;
                }
            }
            anyhow::Ok((latency, records, bytes))
        }));
    }

    let (mut latency, mut records, mut bytes) = (new_histogram(), 0, 0);
    for task in tasks {
        let (task_latency, task_records, task_bytes) =
            task.await.context("consumer task panicked")??;
        latency.add(task_latency)?;
        records += task_records;
        bytes += task_bytes;
    }
    Ok(Phase {
        records,
        bytes,
        elapsed: started.elapsed(),
        latency,
    })
}

async fn partition_count(args: &BenchArgs) -> anyhow::Result<u32> {
    let mut client = Client::connect(args.broker.addr.as_str()).await?;
    let metadata = client.metadata().await?;
    let Some(topic) = metadata
        .topics
        .iter()
        .find(|topic| topic.name == args.topic)
    else {
        bail!(
            "topic `{}` does not exist; start the broker with --topic {}:N",
            args.topic,
            args.topic
        );
    };
    Ok(topic.partitions.len() as u32)
}

async fn end_offsets(args: &BenchArgs, partitions: u32) -> anyhow::Result<Vec<u64>> {
    let mut client = Client::connect(args.broker.addr.as_str()).await?;
    let metadata = client.metadata().await?;
    let topic = metadata
        .topics
        .iter()
        .find(|topic| topic.name == args.topic)
        .context("topic vanished")?;
    Ok((0..partitions as usize)
        .map(|partition| topic.partitions[partition].log_end_offset)
        .collect())
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to 100 s, three significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

fn print_phase(name: &str, phase: &Phase, unit: &str) {
    let seconds = phase.elapsed.as_secs_f64();
    println!(
        "{name}: {:.0} records/s, {:.1} MB/s, {} records in {seconds:.2} s; {unit} latency p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        phase.records as f64 / seconds,
        phase.bytes as f64 / seconds / 1e6,
        phase.records,
        phase.latency.value_at_quantile(0.5),
        phase.latency.value_at_quantile(0.99),
        phase.latency.value_at_quantile(0.999),
        phase.latency.max(),
    );
}

/// One JSON object with every figure, for scripts that build tables.
fn json_report(args: &BenchArgs, produce: &Phase, consume: Option<&Phase>) -> String {
    let phase = |phase: &Phase| {
        let seconds = phase.elapsed.as_secs_f64();
        serde_json::json!({
            "records_per_second": phase.records as f64 / seconds,
            "megabytes_per_second": phase.bytes as f64 / seconds / 1e6,
            "seconds": seconds,
            "p50_us": phase.latency.value_at_quantile(0.5),
            "p99_us": phase.latency.value_at_quantile(0.99),
            "p999_us": phase.latency.value_at_quantile(0.999),
        })
    };
    serde_json::json!({
        "records": args.records,
        "record_size": args.record_size,
        "batch": args.batch,
        "producers": args.producers,
        "consumers": args.consumers,
        "produce": phase(produce),
        "consume": consume.map(phase),
    })
    .to_string()
}
