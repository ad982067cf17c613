//! Demo for step 8: retention with a clock the demo moves by hand.
//!
//! The scripted session serves topic `events`, whose records expire after an hour, from a new
//! data directory. A producer appends one record every ten minutes of the demo's clock, and the
//! demo prints the partition's segments. It then moves the clock forward and runs retention
//! passes: the first deletes the oldest segment and moves the log start, so a consumer group whose
//! commit pointed into it gets `offset_out_of_range`. The second pass finds every record
//! expired, rolls the active segment and deletes everything. After a restart the empty partition
//! still starts at the next offset, and the next record gets it.
//!
//! ```text
//! cargo run -p step08-retention -- /tmp/rustlog-08
//! cargo run -p step08-retention -- /tmp/rustlog-08 --listen 127.0.0.1:7411 --retention-ms 60000
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::json;
use step08_retention::broker::{self, partition_dir};
use step08_retention::client::Client;
use step08_retention::server::{self, Limits};
use step08_retention::{inspect, Broker, BrokerConfig, Clock, ManualClock, PartitionConfig};
use step08_retention::{RetentionConfig, RetentionDeletion, RetentionReason, TopicConfig};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing_subscriber::EnvFilter;

/// The topic of the scripted session.
const TOPIC: &str = "events";
/// The consumer group of the scripted session.
const GROUP: &str = "audit";
/// Start of the demo's clock: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
/// One minute of the demo's clock, in milliseconds.
const MINUTE: i64 = 60_000;
/// The scripted topic's `retention_ms`: one hour.
const RETENTION_MS: u64 = 60 * MINUTE as u64;
/// The scripted topic's segment size: the header and three of the script's 45-byte records.
const SEGMENT_BYTES: u64 = 150;

/// Runs a scripted retention session in DATA_DIR, or serves DATA_DIR until Ctrl-C.
#[derive(Parser)]
struct Args {
    /// Data directory. The scripted session needs it new or empty.
    data_dir: PathBuf,
    /// Serve on this address until Ctrl-C, instead of running the scripted session.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// With --listen: a topic to serve, as NAME:PARTITIONS. Repeat the option for more topics.
    #[arg(long = "topic", value_parser = parse_topic, default_value = "greetings:2")]
    topics: Vec<(String, u32)>,
    /// With --listen: delete segments whose newest record is older than this, in milliseconds.
    #[arg(long)]
    retention_ms: Option<u64>,
    /// With --listen: delete the oldest segments while a partition is larger than this, in bytes.
    #[arg(long)]
    retention_bytes: Option<u64>,
    /// With --listen: the size limit of a segment, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    segment_bytes: u64,
    /// With --listen: the time between two retention passes, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    retention_check_ms: u64,
}

fn parse_topic(text: &str) -> Result<(String, u32), String> {
    let (name, partitions) = text
        .split_once(':')
        .ok_or_else(|| format!("expected NAME:PARTITIONS, such as greetings:2, found `{text}`"))?;
    let partitions = partitions
        .parse()
        .map_err(|error| format!("invalid partition count `{partitions}` in `{text}`: {error}"))?;
    Ok((name.to_string(), partitions))
}

/// A server started by the scripted session, and the way to stop it.
struct RunningServer {
    broker: Arc<Broker>,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Opens the broker with `clock` and serves it on 127.0.0.1 with a port the system picks.
    async fn start(config: &BrokerConfig, clock: &Arc<ManualClock>) -> anyhow::Result<Self> {
        let broker = Arc::new(Broker::open_with_clock(config, clock.clone())?);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server::run(
            listener,
            Arc::clone(&broker),
            Limits::default(),
            shutdown,
        ));
        Ok(RunningServer {
            broker,
            addr,
            stop,
            task,
        })
    }

    /// Triggers the shutdown and waits until the server has stopped.
    async fn stop(self) -> anyhow::Result<()> {
        drop(self.broker);
        let _ = self.stop.send(());
        self.task.await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    if let Some(addr) = args.listen {
        return listen(&args, addr).await;
    }
    let is_empty = match std::fs::read_dir(&args.data_dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    };
    if !is_empty {
        bail!(
            "the scripted session needs a new or empty data directory, and {} is not empty; \
             remove it or name another one",
            args.data_dir.display()
        );
    }
    scripted_session(&args.data_dir).await
}

/// Serves the configured topics until Ctrl-C, with a retention pass at every interval.
async fn listen(args: &Args, addr: SocketAddr) -> anyhow::Result<()> {
    let mut config = BrokerConfig::new(&args.data_dir);
    config.partition = PartitionConfig {
        segment_bytes: args.segment_bytes,
        ..PartitionConfig::default()
    };
    let retention = RetentionConfig {
        retention_ms: args.retention_ms,
        retention_bytes: args.retention_bytes,
    };
    for (name, partitions) in &args.topics {
        let topic = TopicConfig {
            partitions: *partitions,
            retention,
        };
        config.topics.insert(name.clone(), topic);
    }

    let broker = Arc::new(Broker::open(&config)?);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let (stop_retention, stopped) = watch::channel(false);
    let interval = Duration::from_millis(args.retention_check_ms);
    let retention_task = tokio::spawn(broker::run_retention(
        Arc::clone(&broker),
        interval,
        stopped,
    ));

    println!("listening on {addr}; press Ctrl-C to stop");
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::run(listener, broker, Limits::default(), ctrl_c).await;
    let _ = stop_retention.send(true);
    retention_task.await?;
    println!("stopped");
    Ok(())
}

/// Runs the scripted session in `data_dir`, which is new or empty.
async fn scripted_session(data_dir: &Path) -> anyhow::Result<()> {
    let mut config = BrokerConfig::new(data_dir);
    config.partition = PartitionConfig {
        segment_bytes: SEGMENT_BYTES,
        ..PartitionConfig::default()
    };
    let topic = TopicConfig {
        partitions: 1,
        retention: RetentionConfig {
            retention_ms: Some(RETENTION_MS),
            retention_bytes: None,
        },
    };
    config.topics.insert(TOPIC.to_string(), topic);
    let partition = partition_dir(&data_dir.join("topics"), TOPIC, 0);
    let clock = Arc::new(ManualClock::new(T0));

    let server = RunningServer::start(&config, &clock).await?;
    println!("topic `{TOPIC}`: retention_ms = {RETENTION_MS} (one hour), segment_bytes = {SEGMENT_BYTES}");
    println!("the clock starts at {T0} ms; the script calls that minute 0");

    println!("\n# A producer appends one record every ten minutes, from minute 0 to minute 70.");
    let mut producer = Client::connect(server.addr).await?;
    for number in 0..8 {
        clock.set(T0 + number * 10 * MINUTE);
        let value = format!("reading {number}");
        let produce = json!({"op": "produce", "topic": TOPIC, "partition": 0,
                             "records": [{"key": "sensor-1", "value": value}]});
        producer.request(&produce).await?;
    }
    print_segments(&partition, clock.now_ms())?;

    println!("\n# Group `{GROUP}` has read offsets 0 and 1, and commits 2.");
    let mut client = Client::connect(server.addr).await?;
    client.record_exchanges();
    let commit =
        json!({"op": "commit", "group_id": GROUP, "topic": TOPIC, "partition": 0, "offset": 2});
    client.request(&commit).await?;
    print_exchanges(&mut client);

    println!("\n# The clock moves to minute 85, and a retention pass runs.");
    clock.set(T0 + 85 * MINUTE);
    print_deletions(&server.broker.enforce_retention().await);
    print_segments(&partition, clock.now_ms())?;

    println!("\n# The group's commit pointed into the deleted segment.");
    let fetch = json!({"op": "fetch", "topic": TOPIC, "partition": 0, "group_id": GROUP});
    let response = client.request(&fetch).await?;
    let log_start = response["error"]["log_start_offset"].clone();
    let stale =
        json!({"op": "commit", "group_id": GROUP, "topic": TOPIC, "partition": 0, "offset": 2});
    client.request(&stale).await?;
    let reset = json!({"op": "commit", "group_id": GROUP, "topic": TOPIC, "partition": 0, "offset": log_start});
    client.request(&reset).await?;
    let fetch_one =
        json!({"op": "fetch", "topic": TOPIC, "partition": 0, "group_id": GROUP, "max_bytes": 1});
    client.request(&fetch_one).await?;
    print_exchanges(&mut client);

    println!("\n# The clock moves to minute 200: every record is older than an hour, the active segment too.");
    clock.set(T0 + 200 * MINUTE);
    print_deletions(&server.broker.enforce_retention().await);
    print_segments(&partition, clock.now_ms())?;
    drop(producer);
    drop(client);
    server.stop().await?;

    println!(
        "\n# The broker restarts. The empty segment's name keeps the log start and the log end."
    );
    let server = RunningServer::start(&config, &clock).await?;
    let mut client = Client::connect(server.addr).await?;
    client.record_exchanges();
    let produce = json!({"op": "produce", "topic": TOPIC, "partition": 0,
                         "records": [{"key": "sensor-1", "value": "reading 8"}]});
    client.request(&produce).await?;
    let fetch_old = json!({"op": "fetch", "topic": TOPIC, "partition": 0, "offset": 0});
    client.request(&fetch_old).await?;
    print_exchanges(&mut client);
    print_segments(&partition, clock.now_ms())?;
    drop(client);
    server.stop().await
}

/// Prints the segments of the partition in `dir`, with ages at `now_ms`.
fn print_segments(dir: &Path, now_ms: i64) -> anyhow::Result<()> {
    let minute = (now_ms - T0) / MINUTE;
    println!("segments at minute {minute}:");
    print!("{}", inspect::segment_table(dir, now_ms)?);
    Ok(())
}

/// Prints what a retention pass deleted, one line per segment.
fn print_deletions(deletions: &[RetentionDeletion]) {
    if deletions.is_empty() {
        println!("retention deleted nothing");
    }
    for deletion in deletions {
        let segment = &deletion.segment;
        let why = match segment.reason {
            RetentionReason::Age {
                newest_timestamp_ms,
                retention_ms,
            } => format!(
                "its newest record, from minute {}, is older than retention_ms = {retention_ms}",
                (newest_timestamp_ms - T0) / MINUTE
            ),
            RetentionReason::Size {
                partition_bytes,
                retention_bytes,
            } => format!("the partition's {partition_bytes} bytes are above retention_bytes = {retention_bytes}"),
        };
        println!(
            "deleted segment {} of {} partition {} (offsets {} to {}, {} bytes): {why}; the log start is now {}",
            segment.base_offset,
            deletion.topic,
            deletion.partition,
            segment.base_offset,
            segment.next_offset - 1,
            segment.bytes,
            segment.next_offset
        );
    }
}

/// Prints the exchanges `client` recorded since the last call.
fn print_exchanges(client: &mut Client) {
    for exchange in client.take_exchanges() {
        println!("> {}", exchange.request);
        println!("< {}", exchange.response);
    }
}
