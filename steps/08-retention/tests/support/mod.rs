//! Helpers for the tests that talk to a real server: start one on 127.0.0.1 with a port the
//! system picks, stop it, and record request and response lines as a transcript for a snapshot.

// Each test file uses a different part of this module.
#![allow(dead_code, unused_imports, unused_macros)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use step08_retention::client::Client;
use step08_retention::server::{self, Limits};
use step08_retention::{Broker, BrokerConfig, Clock, PartitionConfig, TopicConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for the server to stop before it fails.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Request lines longer than this are shortened in transcripts.
const SHOWN_REQUEST_BYTES: usize = 200;

/// Returns the config of the test server: topic `greetings` with two partitions, and segments
/// of 100 bytes, so a few records already fill a sealed segment.
pub fn config(data_dir: &Path) -> BrokerConfig {
    let mut config = BrokerConfig::new(data_dir);
    config
        .topics
        .insert("greetings".to_string(), TopicConfig::new(2));
    config.partition = PartitionConfig {
        segment_bytes: 100,
        index_interval_bytes: 40,
    };
    config
}

/// A server running on its own task, listening on 127.0.0.1.
pub struct TestServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The broker it serves, for calls that have no request, such as a retention pass.
    pub broker: Arc<Broker>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Opens the broker for `config` and starts serving it with `limits`.
    pub async fn start(config: &BrokerConfig, limits: Limits) -> TestServer {
        let broker = Broker::open(config).expect("open the broker");
        TestServer::serve(broker, limits).await
    }

    /// Opens the broker for `config` with `clock` and starts serving it with the default limits.
    pub async fn start_with_clock(config: &BrokerConfig, clock: Arc<dyn Clock>) -> TestServer {
        let broker = Broker::open_with_clock(config, clock).expect("open the broker");
        TestServer::serve(broker, Limits::default()).await
    }

    /// Serves `broker` with `limits` on 127.0.0.1 with a port the system picks.
    async fn serve(broker: Broker, limits: Limits) -> TestServer {
        let broker = Arc::new(broker);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(server::run(listener, Arc::clone(&broker), limits, shutdown));
        TestServer {
            addr,
            broker,
            stop,
            task,
        }
    }

    /// Connects a new client.
    pub async fn connect(&self) -> Client {
        Client::connect(self.addr)
            .await
            .expect("connect to the test server")
    }

    /// Ends the server the way a crash would, as far as one process can: the server task and
    /// every connection task are dropped where they are, with no shutdown.
    pub async fn kill(self) {
        drop(self.broker);
        self.task.abort();
        let _ = self.task.await;
    }

    /// Triggers the shutdown and waits until `server::run` has returned.
    ///
    /// # Panics
    ///
    /// When the server has not stopped within [`STOP_TIMEOUT`].
    pub async fn stop(self) {
        drop(self.broker);
        let _ = self.stop.send(());
        tokio::time::timeout(STOP_TIMEOUT, self.task)
            .await
            .expect("the server stops within the timeout")
            .expect("the server task does not panic");
    }
}

/// One request line and the response line it got, both as JSON where they parse.
#[derive(Debug, Serialize)]
pub struct Exchange {
    /// The request, or a string when the line was not JSON or was too long to show.
    pub request: Value,
    /// The response.
    pub response: Value,
}

/// The request and response lines of one connection, and the server's address.
#[derive(Debug, Serialize)]
pub struct Transcript {
    /// The server's address, redacted in snapshots because the port differs on every run.
    pub server: String,
    /// The exchanges, in order.
    pub exchanges: Vec<Exchange>,
}

impl Transcript {
    /// Starts an empty transcript of a session with the server at `addr`.
    pub fn new(addr: SocketAddr) -> Transcript {
        Transcript {
            server: addr.to_string(),
            exchanges: Vec::new(),
        }
    }

    /// Sends `line` through `client`, records the exchange, and returns the response.
    pub async fn send(&mut self, client: &mut Client, line: &str) -> Value {
        let response = client.send(line).await.expect("a response line");
        self.push(line, &response)
    }

    /// Records a request line and the response line it got, and returns the response parsed.
    pub fn push(&mut self, line: &str, response: &str) -> Value {
        let response: Value = serde_json::from_str(response).expect("the response is JSON");
        let request = if line.len() > SHOWN_REQUEST_BYTES {
            Value::String(format!(
                "({} bytes) {}...",
                line.len(),
                &line[..SHOWN_REQUEST_BYTES / 2]
            ))
        } else {
            serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.to_string()))
        };
        self.exchanges.push(Exchange {
            request,
            response: response.clone(),
        });
        response
    }
}

// ANCHOR: assert_transcript
/// Snapshots a [`Transcript`] as JSON, with the server's address and the record timestamps
/// redacted: the port and the clock differ on every run.
macro_rules! assert_transcript {
    ($transcript:expr) => {
        insta::assert_json_snapshot!($transcript, {
            ".server" => "127.0.0.1:[port]",
            ".exchanges[].response.records[].timestamp_ms" => "[timestamp_ms]",
        })
    };
}
pub(crate) use assert_transcript;
// ANCHOR_END: assert_transcript
