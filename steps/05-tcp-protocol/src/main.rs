//! Demo for step 5: starts the server on 127.0.0.1 with a port the system picks, and runs a
//! scripted client session against it that prints each request line and its response line. Then
//! it shuts the server down and shows that the client's connection was closed.
//!
//! ```text
//! cargo run -p step05-tcp-protocol -- /tmp/rustlog-05
//! cargo run -p step05-tcp-protocol -- /tmp/rustlog-05 --listen 127.0.0.1:7411   # then: nc 127.0.0.1 7411
//! ```
//!
//! Run the session twice to see the offsets continue: the records are on disk.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use step05_tcp_protocol::client::Client;
use step05_tcp_protocol::server::{self, Limits};
use step05_tcp_protocol::{Broker, BrokerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing_subscriber::EnvFilter;

/// Request lines longer than this are shown shortened.
const SHOWN_LINE_CHARS: usize = 160;

/// Serves the topics in DATA_DIR and runs a scripted session against the server.
#[derive(Parser)]
struct Args {
    /// Data directory, created when missing.
    data_dir: PathBuf,
    /// A topic to serve, as NAME:PARTITIONS. Repeat the option for more topics. The scripted
    /// session uses the first one.
    #[arg(long = "topic", value_parser = parse_topic, default_value = "greetings:2")]
    topics: Vec<(String, u32)>,
    /// Serve on this address until Ctrl-C, instead of running the scripted session.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Maximum length of a request line, in bytes. The default is small, so the scripted session
    /// can show what happens to a longer line.
    #[arg(long, default_value_t = 1024)]
    max_request_bytes: usize,
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
    let broker = Arc::new(Broker::open(&config)?);
    let limits = Limits {
        max_request_bytes: args.max_request_bytes,
    };

    if let Some(addr) = args.listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        println!("listening on {addr}; press Ctrl-C to stop");
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(listener, broker, limits, ctrl_c).await;
        println!("stopped");
        return Ok(());
    }

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let server = tokio::spawn(server::run(listener, broker, limits, shutdown));
    let topics: Vec<String> = args
        .topics
        .iter()
        .map(|(name, partitions)| format!("{name} ({partitions} partitions)"))
        .collect();
    println!("listening on {addr}, serving {}", topics.join(", "));
    println!();

    let mut client = Client::connect(addr).await?;
    for line in script(&args.topics[0].0, args.max_request_bytes) {
        println!("> {}", shorten(&line));
        println!("< {}", client.send(&line).await?);
    }

    println!();
    println!("shutting the server down");
    let _ = stop.send(());
    server.await?;
    match client.receive().await? {
        None => println!("the server closed the connection"),
        Some(line) => println!("unexpected line after shutdown: {line}"),
    }
    Ok(())
}

/// Returns the session's request lines: produces, fetches with and without a byte budget, each
/// kind of error a client can cause, and a last fetch to show that the connection still works.
fn script(topic: &str, max_request_bytes: usize) -> Vec<String> {
    let too_long = "x".repeat(max_request_bytes + 1);
    vec![
        format!(
            r#"{{"op":"produce","id":1,"topic":"{topic}","partition":0,"records":[{{"value":"hello"}},{{"key":"fr","value":"bonjour"}}]}}"#
        ),
        format!(
            r#"{{"op":"produce","id":2,"topic":"{topic}","partition":0,"records":[{{"key_b64":"aGk=","value_b64":"/v8A"}}]}}"#
        ),
        format!(r#"{{"op":"fetch","id":3,"topic":"{topic}","partition":0,"offset":0}}"#),
        format!(
            r#"{{"op":"fetch","id":4,"topic":"{topic}","partition":0,"offset":1,"max_bytes":1}}"#
        ),
        format!(r#"{{"op":"fetch","id":5,"topic":"{topic}","partition":0,"offset":1000000}}"#),
        format!(r#"{{"op":"fetch","id":6,"topic":"no-such-topic","partition":0,"offset":0}}"#),
        format!(r#"{{"op":"fetch","id":7,"topic":"{topic}","partition":99,"offset":0}}"#),
        "hello".to_string(),
        r#"{"op":"delete","id":9}"#.to_string(),
        format!(r#"{{"op":"fetch","id":10,"topic":"{topic}","partition":0,"ofset":0}}"#),
        format!(
            r#"{{"op":"produce","id":11,"topic":"{topic}","partition":0,"records":[{{"value":"{too_long}"}}]}}"#
        ),
        format!(r#"{{"op":"fetch","id":12,"topic":"{topic}","partition":1,"offset":0}}"#),
    ]
}

/// Shortens a line longer than [`SHOWN_LINE_CHARS`] to its start and its length.
fn shorten(line: &str) -> String {
    if line.chars().count() <= SHOWN_LINE_CHARS {
        return line.to_string();
    }
    let start: String = line.chars().take(SHOWN_LINE_CHARS).collect();
    format!("{start}... ({} bytes)", line.len())
}
