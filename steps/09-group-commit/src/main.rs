//! Demo for step 9: concurrent producers, and the syncs they needed.
//!
//! The scripted session serves two topics from DATA_DIR: `per-request`, whose produce requests
//! each sync on their own (`group_commit` off, as in step 8), and `grouped`, whose requests share
//! syncs. It sends the same load to both, first from one producer and then from N producers at
//! once, each producer sending one-record requests and waiting for each response. It prints the
//! syncs each run needed, counted by the broker, and the time it took. Then it fetches every
//! record the broker acknowledged and checks that each one is there.
//!
//! ```text
//! cargo run --release -p step09-group-commit -- /tmp/rustlog-09
//! cargo run --release -p step09-group-commit -- /tmp/rustlog-09 --producers 16 --requests 100
//! cargo run --release -p step09-group-commit -- /dev/shm/rustlog-09 --sync-delay-ms 1   # tmpfs, with a slow "disk"
//! cargo run -p step09-group-commit -- /tmp/rustlog-09 --listen 127.0.0.1:7411   # then: nc 127.0.0.1 7411
//! ```
//!
//! The times depend on the machine, its disk and what else runs on it. The sync counts depend on
//! how the requests happen to overlap, so they differ a little from run to run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::json;
use step09_group_commit::client::Client;
use step09_group_commit::server::{self, Limits};
use step09_group_commit::{
    Broker, BrokerConfig, Fdatasync, SlowSync, Syncer, SystemClock, TopicConfig,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tracing_subscriber::EnvFilter;

/// The topic whose requests sync one by one.
const PER_REQUEST: &str = "per-request";
/// The topic whose requests share syncs.
const GROUPED: &str = "grouped";

/// Runs concurrent producers against two topics, with and without group commit, and counts the
/// syncs they needed.
#[derive(Parser)]
struct Args {
    /// Data directory, created when missing.
    data_dir: PathBuf,
    /// Number of producers that send at the same time in the second run of each topic.
    #[arg(long, default_value_t = 16)]
    producers: usize,
    /// One-record produce requests that each producer sends, one after the other.
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Serve topic `greetings` (2 partitions) on this address until Ctrl-C, instead of running
    /// the scripted session.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// With --listen: sync each produce request on its own instead of sharing syncs.
    #[arg(long)]
    no_group_commit: bool,
    /// Wait this many milliseconds before each sync, as a slow disk would. Useful on tmpfs, where
    /// a sync costs nothing and requests hardly ever overlap one.
    #[arg(long, default_value_t = 0)]
    sync_delay_ms: u64,
}

/// The outcome of one run of concurrent producers.
struct Run {
    /// Each acknowledged record: its offset and the value that was sent.
    acknowledged: Vec<(u64, String)>,
    /// Syncs the broker ran for the run's requests.
    syncs: u64,
    /// Wall-clock time from the first request to the last response.
    elapsed: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.producers == 0 || args.requests == 0 {
        bail!("--producers and --requests must be at least 1");
    }

    let syncer: Arc<dyn Syncer> = match args.sync_delay_ms {
        0 => Arc::new(Fdatasync),
        delay_ms => Arc::new(SlowSync {
            delay: Duration::from_millis(delay_ms),
        }),
    };
    let mut config = BrokerConfig::new(&args.data_dir);
    if let Some(addr) = args.listen {
        let mut greetings = TopicConfig::new(2);
        greetings.group_commit = !args.no_group_commit;
        config.topics.insert("greetings".to_string(), greetings);
        return listen(&config, syncer, addr).await;
    }
    let mut per_request = TopicConfig::new(1);
    per_request.group_commit = false;
    config.topics.insert(PER_REQUEST.to_string(), per_request);
    config
        .topics
        .insert(GROUPED.to_string(), TopicConfig::new(1));

    let broker = Arc::new(Broker::open_with(&config, Arc::new(SystemClock), syncer)?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let server = tokio::spawn(server::run(
        listener,
        Arc::clone(&broker),
        Limits::default(),
        shutdown,
    ));
    println!("listening on {addr}");
    println!(
        "each producer sends {} one-record produce requests and waits for each response\n",
        args.requests
    );

    println!(
        "{:<12} {:>9} {:>9} {:>7} {:>17} {:>10} {:>10}",
        "topic", "producers", "requests", "syncs", "requests per sync", "time (ms)", "records/s"
    );
    let mut acknowledged = Vec::new();
    for topic in [PER_REQUEST, GROUPED] {
        for producers in [1, args.producers] {
            let run = run_producers(&broker, addr, topic, producers, args.requests).await?;
            let requests = run.acknowledged.len();
            println!(
                "{topic:<12} {producers:>9} {requests:>9} {:>7} {:>17.1} {:>10.1} {:>10.0}",
                run.syncs,
                requests as f64 / run.syncs.max(1) as f64,
                run.elapsed.as_secs_f64() * 1_000.0,
                requests as f64 / run.elapsed.as_secs_f64()
            );
            acknowledged.extend(run.acknowledged.into_iter().map(|record| (topic, record)));
        }
    }

    let readable = check_readable(addr, &acknowledged).await?;
    println!(
        "\nevery acknowledged record is readable: {readable} of {} found with the value that was sent",
        acknowledged.len()
    );

    drop(broker);
    let _ = stop.send(());
    server.await?;
    Ok(())
}

/// Starts `producers` clients at once, each sending `requests` one-record produce requests to
/// partition 0 of `topic`, and returns what the broker acknowledged and the syncs it ran.
async fn run_producers(
    broker: &Broker,
    addr: SocketAddr,
    topic: &'static str,
    producers: usize,
    requests: usize,
) -> anyhow::Result<Run> {
    let syncs_before = broker.sync_count(topic, 0).context("the topic is served")?;

    // Connect every producer first, so the clock measures requests only.
    let mut clients = Vec::with_capacity(producers);
    for _ in 0..producers {
        clients.push(Client::connect(addr).await?);
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (producer, mut client) in clients.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut acknowledged = Vec::with_capacity(requests);
            for number in 0..requests {
                let value = format!("producer {producer} record {number}");
                let produce = json!({"op": "produce", "topic": topic, "partition": 0,
                                     "records": [{"value": value}]});
                let response = client.request(&produce).await?;
                let Some(offset) = response["offsets"][0].as_u64() else {
                    bail!("produce to {topic} failed: {response}");
                };
                acknowledged.push((offset, value));
            }
            Ok(acknowledged)
        });
    }

    let mut acknowledged = Vec::with_capacity(producers * requests);
    while let Some(joined) = tasks.join_next().await {
        acknowledged.extend(joined??);
    }
    let elapsed = started.elapsed();
    let syncs = broker.sync_count(topic, 0).context("the topic is served")? - syncs_before;
    Ok(Run {
        acknowledged,
        syncs,
        elapsed,
    })
}

/// Fetches every acknowledged record by its offset and returns how many came back with the value
/// that was sent.
async fn check_readable(
    addr: SocketAddr,
    acknowledged: &[(&str, (u64, String))],
) -> anyhow::Result<usize> {
    let mut client = Client::connect(addr).await?;
    let mut readable = 0;
    for (topic, (offset, value)) in acknowledged {
        // A fetch returns at least one whole record, so a budget of 1 byte returns exactly one.
        let fetch = json!({"op": "fetch", "topic": topic, "partition": 0, "offset": offset,
                           "max_bytes": 1});
        let response = client.request(&fetch).await?;
        let record = &response["records"][0];
        if record["offset"] == json!(offset) && record["value"] == json!(value) {
            readable += 1;
        } else {
            println!("missing: {topic} offset {offset}: fetch returned {response}");
        }
    }
    Ok(readable)
}

/// Serves `config` on `addr` until Ctrl-C, syncing through `syncer`.
async fn listen(
    config: &BrokerConfig,
    syncer: Arc<dyn Syncer>,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    let broker = Arc::new(Broker::open_with(config, Arc::new(SystemClock), syncer)?);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    println!("listening on {addr}; press Ctrl-C to stop");
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::run(listener, broker, Limits::default(), ctrl_c).await;
    println!("stopped");
    Ok(())
}
