//! Demo for step 6: starts the server on 127.0.0.1 with a port the system picks and runs a
//! scripted session of a consumer group. Consumer A processes a batch and commits it. It processes
//! a second batch and crashes before it commits, so consumer B, which takes over, processes the
//! second batch again. Then the server restarts, and the group's commit is gone, because this step
//! keeps offsets in memory.
//!
//! ```text
//! cargo run -p step06-consumer-offsets -- /tmp/rustlog-06
//! cargo run -p step06-consumer-offsets -- /tmp/rustlog-06 --listen 127.0.0.1:7411   # then: nc 127.0.0.1 7411
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use step06_consumer_offsets::client::Client;
use step06_consumer_offsets::consumer::Consumer;
use step06_consumer_offsets::server::{self, Limits};
use step06_consumer_offsets::{Broker, BrokerConfig};
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

/// A server started by the scripted session, and the way to stop it.
struct RunningServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Opens the broker and serves it on 127.0.0.1 with a port the system picks.
    async fn start(config: &BrokerConfig) -> anyhow::Result<RunningServer> {
        let broker = Arc::new(Broker::open(config)?);
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

    println!("\n# Consumer A processes one batch, then commits it.");
    let mut processed = Vec::new();
    let mut consumer_a = new_consumer(server.addr, &topic).await?;
    consumer_a
        .process_next_batch(|record| {
            processed.push(record.offset);
            Ok(())
        })
        .await?;
    print_exchanges(consumer_a.client_mut());
    println!("processed so far: {processed:?}");

    println!("\n# Consumer A processes the next batch and crashes before it commits.");
    let batch = consumer_a.fetch().await?;
    processed.extend(batch.records.iter().map(|record| record.offset));
    print_exchanges(consumer_a.client_mut());
    println!("processed so far: {processed:?}");
    drop(consumer_a);

    println!("\n# Consumer B of the same group takes over where the group's commit points.");
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
    println!("processed in all: {processed:?}: the batch consumer A did not commit came twice");

    println!("\n# The server restarts. Offsets are kept in memory, so the group's commit is lost.");
    drop(consumer_b);
    server.stop().await?;
    let server = RunningServer::start(&config).await?;
    let mut client = Client::connect(server.addr).await?;
    client.record_exchanges();
    let committed = json!({"op": "committed", "group_id": GROUP, "topic": topic, "partition": 0});
    client.request(&committed).await?;
    print_exchanges(&mut client);
    drop(client);
    server.stop().await
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
