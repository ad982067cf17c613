//! Demo for step 7: starts the server on 127.0.0.1 with a port the system picks and shows that
//! committed offsets survive a crash. A consumer commits two batches. The server is killed (its
//! task is aborted, with no shutdown) and restarted, and the replay of `offsets.log` brings the
//! commit back. The consumer processes one more batch, and the broker dies while it writes that
//! commit: the demo appends the first bytes of the entry to the file, as such a crash would leave
//! it. After the next restart the replay cuts the torn entry, the group keeps its last whole
//! commit, and the next consumer processes that batch again.
//!
//! ```text
//! cargo run -p step07-durable-offsets -- /tmp/rustlog-07
//! cargo run -p step07-durable-offsets -- /tmp/rustlog-07 --listen 127.0.0.1:7411   # then: nc 127.0.0.1 7411
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use step07_durable_offsets::client::Client;
use step07_durable_offsets::consumer::Consumer;
use step07_durable_offsets::offsets::{self, OFFSETS_FILE};
use step07_durable_offsets::server::{self, Limits};
use step07_durable_offsets::{inspect, Broker, BrokerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing_subscriber::EnvFilter;

/// The consumer group of the scripted session.
const GROUP: &str = "audit";
/// The byte budget of each of the consumers' fetches: two records of the script's size.
const BATCH_BYTES: u64 = 90;
/// The maximum number of turns consumer B takes to catch up, so the demo ends even on a large
/// partition.
const MAX_TURNS: usize = 100;
/// How many bytes of the simulated torn commit entry reach the file.
const TORN_ENTRY_BYTES: usize = 20;

/// Serves the topics in DATA_DIR and runs a scripted consumer-group session against the server.
#[derive(Parser)]
struct Args {
    /// Data directory, created when missing.
    data_dir: PathBuf,
    /// A topic to serve, as NAME:PARTITIONS. Repeat the option for more topics. The scripted
    /// session uses partition 0 of the first one.
    #[arg(long = "topic", value_parser = parse_topic, default_value = "greetings:2")]
    topics: Vec<(String, u32)>,
    /// Serve on this address until Ctrl-C, instead of running the scripted session.
    #[arg(long)]
    listen: Option<SocketAddr>,
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

/// A server started by the scripted session, and the ways to end it.
struct RunningServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Opens the broker, prints what the replay of the offsets file found, and serves the broker
    /// on 127.0.0.1 with a port the system picks.
    async fn start(config: &BrokerConfig) -> anyhow::Result<RunningServer> {
        let broker = Arc::new(Broker::open(config)?);
        let replay = broker.offsets_replay();
        println!(
            "replayed offsets.log: whole entries {}, distinct keys {}, bytes cut from the tail {}",
            replay.entries, replay.keys, replay.truncated_bytes
        );
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server::run(listener, broker, Limits::default(), shutdown));
        Ok(RunningServer { addr, stop, task })
    }

    /// Triggers the shutdown and waits until the server has stopped.
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await?;
        Ok(())
    }

    /// Ends the server the way a crash would, as far as one process can: the server task and
    /// every connection task are dropped where they are, with no shutdown. Nothing is flushed,
    /// because nothing waits in memory: each acknowledged commit was synced before its response.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
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

    let mut config = BrokerConfig::new(&args.data_dir);
    config.topics = args.topics.iter().cloned().collect();

    if let Some(addr) = args.listen {
        let broker = Arc::new(Broker::open(&config)?);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        println!("listening on {addr}; press Ctrl-C to stop");
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(listener, broker, Limits::default(), ctrl_c).await;
        println!("stopped");
        return Ok(());
    }

    let topic = args.topics[0].0.clone();
    let offsets_file = args.data_dir.join("offsets").join(OFFSETS_FILE);
    let server = RunningServer::start(&config).await?;
    println!("listening on {}", server.addr);

    println!("\n# A producer appends five records to {topic} partition 0.");
    let mut producer = Client::connect(server.addr).await?;
    producer.record_exchanges();
    let records: Vec<_> = (0..5)
        .map(|number| json!({"key": format!("user-{}", number % 2), "value": format!("event {number}")}))
        .collect();
    let produce = json!({"op": "produce", "topic": topic, "partition": 0, "records": records});
    producer.request(&produce).await?;
    print_exchanges(&mut producer);
    drop(producer);

    println!("\n# Consumer A processes two batches and commits after each.");
    let mut processed = Vec::new();
    let mut consumer_a = new_consumer(server.addr, &topic).await?;
    for _ in 0..2 {
        consumer_a
            .process_next_batch(|record| {
                processed.push(record.offset);
                Ok(())
            })
            .await?;
    }
    print_exchanges(consumer_a.client_mut());
    println!("processed so far: {processed:?}");
    drop(consumer_a);

    println!("\n# The server is killed: no shutdown, nothing flushed. Each commit was synced before its response.");
    server.kill().await;
    print_offsets_file(&offsets_file)?;

    println!("\n# The server restarts, replays offsets.log, and the group's commit is back.");
    let server = RunningServer::start(&config).await?;
    print_committed(server.addr, &topic).await?;

    println!(
        "\n# Consumer A processes the next batch. The broker dies while it writes the commit."
    );
    let mut consumer_a = new_consumer(server.addr, &topic).await?;
    let batch = consumer_a.fetch().await?;
    processed.extend(batch.records.iter().map(|record| record.offset));
    print_exchanges(consumer_a.client_mut());
    drop(consumer_a);
    server.kill().await;

    // The demo writes the start of the entry itself: a real commit is synced before it returns,
    // so it cannot be torn after the fact.
    let entry = offsets::encode_entry(GROUP, &topic, 0, batch.next_offset)?;
    let torn_len = TORN_ENTRY_BYTES.min(entry.len());
    let mut file = OpenOptions::new().append(true).open(&offsets_file)?;
    file.write_all(&entry[..torn_len])?;
    drop(file);
    println!(
        "only the first {torn_len} bytes of the entry for offset {} reached the file:",
        batch.next_offset
    );
    print_offsets_file(&offsets_file)?;

    println!("\n# The server restarts. The replay cuts the torn entry, and the group keeps its last whole commit.");
    let server = RunningServer::start(&config).await?;
    print_committed(server.addr, &topic).await?;

    println!("\n# Consumer B takes over where the group's commit points.");
    let mut consumer_b = new_consumer(server.addr, &topic).await?;
    for _ in 0..MAX_TURNS {
        let count = consumer_b
            .process_next_batch(|record| {
                processed.push(record.offset);
                Ok(())
            })
            .await?;
        if count == 0 {
            break;
        }
    }
    print_exchanges(consumer_b.client_mut());
    println!(
        "processed in all: {processed:?}: the batch whose commit was torn came twice, and \
         nothing before it"
    );
    drop(consumer_b);
    server.stop().await
}

/// Prints the group's committed offset for partition 0 of `topic`, as a `committed` exchange.
async fn print_committed(addr: SocketAddr, topic: &str) -> anyhow::Result<()> {
    let mut client = Client::connect(addr).await?;
    client.record_exchanges();
    let committed = json!({"op": "committed", "group_id": GROUP, "topic": topic, "partition": 0});
    client.request(&committed).await?;
    print_exchanges(&mut client);
    Ok(())
}

/// Prints the offsets file, entry by entry.
fn print_offsets_file(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    print!("{}", inspect::describe_offsets(OFFSETS_FILE, &bytes));
    Ok(())
}

/// Connects a new consumer of partition 0 of `topic` in the demo's group, recording its
/// exchanges.
async fn new_consumer(addr: SocketAddr, topic: &str) -> anyhow::Result<Consumer> {
    let mut client = Client::connect(addr).await?;
    client.record_exchanges();
    Ok(Consumer::new(client, GROUP, topic, 0, BATCH_BYTES))
}

/// Prints the exchanges `client` recorded since the last call.
fn print_exchanges(client: &mut Client) {
    for exchange in client.take_exchanges() {
        println!("> {}", exchange.request);
        println!("< {}", exchange.response);
    }
}
