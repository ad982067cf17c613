//! `crash-test`: kill the real broker with SIGKILL under load, again and again, and check after
//! each restart that no acknowledged record was lost, duplicated, reordered or torn.
//!
//! Each cycle starts the broker on the same data directory, runs concurrent producers against
//! several partitions, kills the broker at a random moment, restarts it and reads every partition
//! from the start. The checks:
//! - offsets are dense: the records of a partition are numbered 0, 1, 2, ... with no gap;
//! - every acknowledged record is stored at the offset its acknowledgement named, with its value;
//! - no value is stored twice (producers never retry, so a duplicate would be a broker bug);
//! - every stored value is one a producer sent (a torn or corrupt record would not be).
//!
//! Records that were sent but not acknowledged when the broker died may or may not be stored.
//! The data directory starts afresh every `RESET_EVERY` cycles so a check stays fast.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustlog::client::Client;
use rustlog::protocol::{FetchRequest, ProduceRecord};

/// Partitions of the test topic.
const PARTITIONS: u32 = 4;
/// Concurrent producer connections.
const PRODUCERS: u64 = 6;
/// Cycles between fresh data directories.
const RESET_EVERY: u64 = 50;

/// Options of one crash-test run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Kill-and-restart cycles.
    pub cycles: u64,
    /// Seed for the kill moments and batch sizes; the same seed gives the same schedule.
    pub seed: u64,
    /// Use the release build of the broker.
    pub release: bool,
}

/// Acknowledged records: (partition, offset) to value.
type Acknowledged = Arc<Mutex<HashMap<(u32, u64), String>>>;

/// Runs the crash test and prints one line per cycle and a summary.
pub fn crash_test(root: &Path, options: &Options) -> Result<()> {
    let binary = build_broker(root, options.release)?;
    let work = tempdir(root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut random = SplitMix64(options.seed);
    let mut totals = Totals::default();
    let started = Instant::now();

    let mut data_dir = work.join("data-0");
    let mut broker = Broker::start(&binary, &data_dir)?;
    let mut acknowledged: Acknowledged = Arc::default();

    for cycle in 0..options.cycles {
        if cycle > 0 && cycle % RESET_EVERY == 0 {
            broker.kill();
            data_dir = work.join(format!("data-{cycle}"));
            broker = Broker::start(&binary, &data_dir)?;
            acknowledged = Arc::default();
        }

        // Load, then a kill at a random moment while producers are mid-request.
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let addr = broker.addr.clone();
                let acknowledged = Arc::clone(&acknowledged);
                let batch_seed = random.next();
                runtime.spawn(produce_until_error(
                    addr,
                    producer,
                    cycle,
                    batch_seed,
                    acknowledged,
                ))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10 + random.next() % 190));
        broker.kill();
        for producer in producers {
            runtime
                .block_on(producer)
                .context("producer task panicked")?;
        }

        broker = Broker::start(&binary, &data_dir)?;
        let check = runtime.block_on(verify(&broker.addr, &acknowledged))?;
        totals.add(&check);
        println!(
            "cycle {cycle}: {} acknowledged records intact, {} stored in all, {} unacknowledged landed",
            check.acknowledged, check.stored, check.unacknowledged_stored
        );
    }
    broker.kill();
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "crash test passed: {} cycles, seed {}, {} acknowledged records checked after kills, {:.1} s",
        options.cycles,
        options.seed,
        totals.acknowledged,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Produces small batches with unique values until the broker stops answering.
async fn produce_until_error(
    addr: String,
    producer: u64,
    cycle: u64,
    seed: u64,
    acknowledged: Acknowledged,
) {
    let Ok(mut client) = Client::connect(addr.as_str()).await else {
        return;
    };
    let mut random = SplitMix64(seed);
    for sequence in 0u64.. {
        let partition = ((producer + sequence) % u64::from(PARTITIONS)) as u32;
        let batch = 1 + random.next() % 5;
        let values: Vec<String> = (0..batch)
            .map(|n| format!("c{cycle}-p{producer}-s{sequence}-{n}"))
            .collect();
        let records = values
            .iter()
            .map(|value| ProduceRecord::from_bytes(None, value.as_bytes()))
            .collect();

        let Ok(response) = client.produce("crash", partition, records).await else {
            return;
        };
        let mut acknowledged = acknowledged.lock().expect("no panics while locked");
        for (offset, value) in response.offsets.into_iter().zip(values) {
            acknowledged.insert((partition, offset), value);
        }
    }
}

#[derive(Debug, Default)]
struct Check {
    acknowledged: u64,
    stored: u64,
    unacknowledged_stored: u64,
}

#[derive(Debug, Default)]
struct Totals {
    acknowledged: u64,
}

impl Totals {
    fn add(&mut self, check: &Check) {
        self.acknowledged += check.acknowledged;
    }
}

/// Reads every partition from offset 0 and checks it against the acknowledgements.
async fn verify(addr: &str, acknowledged: &Acknowledged) -> Result<Check> {
    let acknowledged = acknowledged.lock().expect("no panics while locked").clone();
    let mut client = Client::connect(addr).await?;
    let mut check = Check {
        acknowledged: acknowledged.len() as u64,
        ..Check::default()
    };
    let mut seen = std::collections::HashSet::new();

    for partition in 0..PARTITIONS {
        let mut next = 0;
        loop {
            let request = FetchRequest {
                topic: "crash".into(),
                partition,
                offset: Some(next),
                max_bytes: Some(1 << 20),
                group_id: None,
            };
            let response = client.fetch(request).await?;
            if response.records.is_empty() {
                break;
            }
            for record in response.records {
                if record.offset != next {
                    bail!(
                        "partition {partition}: expected offset {next}, got {}",
                        record.offset
                    );
                }
                let Some(value) = record.value else {
                    bail!("partition {partition} offset {next}: value is not the UTF-8 a producer sent");
                };
                if !value.starts_with('c') || !value.contains("-p") {
                    bail!("partition {partition} offset {next}: value {value:?} was never sent");
                }
                if !seen.insert(value.clone()) {
                    bail!("partition {partition} offset {next}: value {value:?} is stored twice");
                }
                match acknowledged.get(&(partition, next)) {
                    Some(expected) if *expected != value => {
                        bail!("partition {partition} offset {next}: acknowledged {expected:?}, stored {value:?}")
                    }
                    Some(_) => {}
                    None => check.unacknowledged_stored += 1,
                }
                check.stored += 1;
                next += 1;
            }
        }
        if let Some(((_, offset), value)) = acknowledged
            .iter()
            .find(|((p, offset), _)| *p == partition && *offset >= next)
        {
            bail!("partition {partition}: acknowledged record {value:?} at offset {offset} is missing (log ends at {next})");
        }
    }
    Ok(check)
}

/// A broker process started for the test.
struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    fn start(binary: &Path, data_dir: &Path) -> Result<Broker> {
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--topic",
                &format!("crash:{PARTITIONS}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("the broker did not start: {line:?}");
        };
        Ok(Broker {
            addr: addr.to_owned(),
            child,
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn build_broker(root: &Path, release: bool) -> Result<PathBuf> {
    let mut args = vec!["build", "--quiet", "-p", "rustlog", "--bin", "rustlog"];
    if release {
        args.push("--release");
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(&args)
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("building the broker failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("rustlog"))
}

fn tempdir(root: &Path) -> Result<PathBuf> {
    let dir = root
        .join("target/crash-test")
        .join(std::process::id().to_string());
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A small, seedable pseudo-random generator (SplitMix64), so a run can be repeated exactly.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
