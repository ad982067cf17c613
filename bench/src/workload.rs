//! The workload every backend runs: produce a fixed number of records, then read them all back.
//!
//! Producers each open their own connection and write to partition `i % partitions`, sending
//! `batch` records per request and timing each request from send to acknowledgement. Once every
//! producer has finished, consumers each open their own connection; consumer `j` reads partitions
//! `j`, `j + C`, `j + 2C`, ... from where the run started until it has every record produced
//! there, timing each fetch. Connections are opened before the clock starts, so the figures
//! measure requests, not handshakes.
//!
//! Latencies go into HDR histograms in microseconds, so the percentiles are exact to three
//! significant digits however many requests run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use crate::backend::{Backend, Consumer, Producer};

/// How long a consumer waits for a partition that returns no records before it gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Records to produce in all.
    pub records: u64,
    /// Size of each record's value in bytes.
    pub record_size: usize,
    /// Records per produce request.
    pub batch: usize,
    /// Producer connections.
    pub producers: u32,
    /// Consumer connections; 0 skips the consume phase.
    pub consumers: u32,
    /// Partitions written to and read from.
    pub partitions: u32,
    /// Upper bound on the value bytes of one fetch.
    pub fetch_bytes: usize,
}

/// The measurements of one phase, produce or consume.
#[derive(Debug)]
pub struct Phase {
    /// Records produced or consumed.
    pub records: u64,
    /// Bytes of record values produced or consumed.
    pub bytes: u64,
    /// Wall-clock time from the first request to the last response.
    pub elapsed: Duration,
    /// Latency of each request (produce) or fetch (consume), in microseconds.
    pub latency: Histogram<u64>,
}

impl Workload {
    /// Checks that the numbers make a runnable workload.
    ///
    /// # Errors
    ///
    /// A message naming the setting that is out of range.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.records == 0 || self.record_size == 0 || self.batch == 0 {
            bail!("--records, --record-size and --batch must each be at least 1");
        }
        if self.producers == 0 || self.partitions == 0 {
            bail!("--producers and --partitions must each be at least 1");
        }
        if self.fetch_bytes < self.record_size {
            bail!(
                "--fetch-bytes {} is smaller than one record of {} B; raise it",
                self.fetch_bytes,
                self.record_size
            );
        }
        Ok(())
    }

    /// Returns how many records producer `producer` sends: an even share, the remainder spread
    /// over the first producers.
    fn share(&self, producer: u32) -> u64 {
        let producers = u64::from(self.producers);
        self.records / producers + u64::from(u64::from(producer) < self.records % producers)
    }

    /// Returns how many records each partition receives.
    fn records_per_partition(&self) -> Vec<u64> {
        let mut counts = vec![0; self.partitions as usize];
        for producer in 0..self.producers {
            counts[(producer % self.partitions) as usize] += self.share(producer);
        }
        counts
    }
}

/// Runs the produce phase, then (with at least one consumer) the consume phase.
///
/// # Errors
///
/// The first error of any connection, or a consumer that stops finding records before it has
/// read all of them.
pub async fn run<B: Backend>(
    mut backend: B,
    workload: Workload,
) -> anyhow::Result<(Phase, Option<Phase>)> {
    workload.validate()?;
    backend.prepare(workload.partitions).await?;
    let backend = Arc::new(backend);

    let produce = produce(&backend, workload).await?;
    let consume = if workload.consumers > 0 {
        Some(consume(&backend, workload).await?)
    } else {
        None
    };
    Ok((produce, consume))
}

async fn produce<B: Backend>(backend: &Arc<B>, workload: Workload) -> anyhow::Result<Phase> {
    let value = vec![b'x'; workload.record_size];
    let mut producers = Vec::with_capacity(workload.producers as usize);
    for _ in 0..workload.producers {
        producers.push(backend.producer(value.clone()).await?);
    }

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(producers.len());
    for (number, mut producer) in (0..workload.producers).zip(producers) {
        let partition = number % workload.partitions;
        let count = workload.share(number);
        tasks.push(tokio::spawn(async move {
            let mut latency = new_histogram();
            let mut sent = 0;
            while sent < count {
                let size = workload.batch.min((count - sent) as usize);
                let request_started = Instant::now();
                producer.send(partition, size).await?;
                record_latency(&mut latency, request_started);
                sent += size as u64;
            }
            anyhow::Ok(latency)
        }));
    }

    let mut latency = new_histogram();
    for task in tasks {
        latency.add(task.await.context("producer task panicked")??)?;
    }
    Ok(Phase {
        records: workload.records,
        bytes: workload.records * workload.record_size as u64,
        elapsed: started.elapsed(),
        latency,
    })
}

async fn consume<B: Backend>(backend: &Arc<B>, workload: Workload) -> anyhow::Result<Phase> {
    let max_records = (workload.fetch_bytes / workload.record_size).max(1);
    let mut consumers = Vec::with_capacity(workload.consumers as usize);
    for _ in 0..workload.consumers {
        consumers.push(backend.consumer(max_records, workload.fetch_bytes).await?);
    }
    let expected = workload.records_per_partition();

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(consumers.len());
    for (number, mut consumer) in (0..workload.consumers).zip(consumers) {
        let assigned: Vec<(u32, u64)> = (number..workload.partitions)
            .step_by(workload.consumers as usize)
            .map(|partition| (partition, expected[partition as usize]))
            .collect();
        tasks.push(tokio::spawn(async move {
            let (mut latency, mut records, mut bytes) = (new_histogram(), 0, 0);
            for (partition, wanted) in assigned {
                let mut read = 0;
                let mut last_progress = Instant::now();
                while read < wanted {
                    let fetch_started = Instant::now();
                    let fetched = consumer.fetch(partition).await?;
                    record_latency(&mut latency, fetch_started);
                    read += fetched.records;
                    bytes += fetched.value_bytes;

                    // Every record was acknowledged before this phase began, so an empty
                    // fetch means records are missing, unless the system is only slow.
                    if fetched.records > 0 {
                        last_progress = Instant::now();
                    } else if last_progress.elapsed() > STALL_TIMEOUT {
                        bail!(
                            "partition {partition} returned no records for {} s after {read} of \
                             {wanted}",
                            STALL_TIMEOUT.as_secs()
                        );
                    }
                }
                records += read;
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

fn new_histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to 100 s, three significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

fn record_latency(histogram: &mut Histogram<u64>, started: Instant) {
    histogram.saturating_record(started.elapsed().as_micros() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(records: u64, producers: u32, partitions: u32) -> Workload {
        Workload {
            records,
            record_size: 100,
            batch: 1,
            producers,
            consumers: 1,
            partitions,
            fetch_bytes: 1024,
        }
    }

    #[test]
    fn shares_add_up_to_records() {
        let workload = workload(1_000_003, 16, 1);
        let total: u64 = (0..16).map(|producer| workload.share(producer)).sum();
        assert_eq!(total, 1_000_003);
        assert_eq!(workload.share(0), 62_501);
        assert_eq!(workload.share(15), 62_500);
    }

    #[test]
    fn partitions_receive_their_producers_records() {
        let workload = workload(10, 3, 2);
        // Producers 0 and 2 write to partition 0 (4 + 3 records), producer 1 to partition 1.
        assert_eq!(workload.records_per_partition(), vec![7, 3]);
    }

    #[test]
    fn fetch_smaller_than_a_record_is_rejected() {
        let mut workload = workload(10, 1, 1);
        workload.fetch_bytes = 10;
        assert!(workload.validate().is_err());
    }
}
