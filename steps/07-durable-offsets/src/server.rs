//! The TCP server: accepts connections, serves each one on its own task, and shuts down
//! gracefully.
//!
//! Each connection is one Tokio task that reads a request line, applies it, and writes the
//! response line, one request at a time, so responses come back in request order. A slow or idle
//! client holds only its own task.
//!
//! Shutdown is a future that the caller passes in: Ctrl-C for the demo, a channel for the tests.
//! When it completes, the server stops accepting and closes the listener. Each connection
//! finishes the request it is working on, sends the response, and closes before reading another.
//! [`run`] returns once every connection task has ended, and the caller can then drop the
//! broker, knowing that no request is still using it. A connection that the kernel has completed
//! but the server has not accepted yet is reset when the listener closes, so its client sees
//! `ConnectionReset` rather than the end of the stream.
//!
//! What this module leaves out: a cap on the number of connections, and an idle timeout. The
//! finished broker caps connections, and like this server it has no idle timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::connection::{Connection, Incoming};
use crate::protocol::{parse_request, ErrorCode, ErrorResponse, Response};

/// Default maximum length of a request line, newline excluded: 8 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// Limits the server enforces on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length of a request line in bytes, newline excluded.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// Serves `listener` until `shutdown` completes, then waits for the open connections to finish.
// ANCHOR: run
pub async fn run(
    listener: TcpListener,
    broker: Arc<Broker>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // Every connection task watches this channel. Sending `true` tells them all to stop.
    let (stop_sender, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Usually the process is out of file descriptors. Wait instead of spinning.
                        tracing::error!(%error, "accept failed; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let broker = Arc::clone(&broker);
                let stop = stop.clone();
                connections.spawn(serve_connection(socket, peer, broker, limits, stop));
            }
            // Collect finished tasks, so the set does not grow with every connection ever made.
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = finished {
                    tracing::error!(%error, "connection task failed");
                }
            }
        }
    }

    drop(listener);
    let _ = stop_sender.send(true);
    tracing::info!(
        open_connections = connections.len(),
        "stopped accepting; waiting for requests in flight"
    );
    while let Some(finished) = connections.join_next().await {
        if let Err(error) = finished {
            tracing::error!(%error, "connection task failed");
        }
    }
    tracing::info!("server stopped");
}
// ANCHOR_END: run

/// Serves one client until it disconnects or the server stops.
// ANCHOR: serve_connection
async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let mut connection = Connection::new(socket, limits.max_request_bytes);
    tracing::debug!(%peer, "connection opened");

    loop {
        // Between requests, a stop wins over a read. A request already read always gets its
        // response, because the stop is only looked at here.
        let incoming = tokio::select! {
            biased;
            _ = stop.wait_for(|stopping| *stopping) => break,
            incoming = connection.read_line() => incoming,
        };

        let response = match incoming {
            Ok(Incoming::Line(line)) => {
                let (id, request) = parse_request(line);
                let result = match request {
                    Ok(request) => broker.handle(request).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = &result {
                    tracing::info!(%peer, code = error.code.as_str(), message = %error.message, "request failed");
                }
                Response { id, result }
            }
            Ok(Incoming::TooLong { len }) => {
                tracing::warn!(%peer, len, "request line too long");
                let message = format!(
                    "request line of {len} bytes is longer than the maximum of {} bytes; send \
                     smaller requests or raise max_request_bytes",
                    limits.max_request_bytes
                );
                Response {
                    id: None,
                    result: Err(ErrorResponse::new(ErrorCode::RequestTooLarge, message)),
                }
            }
            Ok(Incoming::Closed) => break,
            Ok(Incoming::ClosedMidLine { len }) => {
                tracing::info!(%peer, len, "client closed the connection in the middle of a request line");
                break;
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "reading from the client failed");
                break;
            }
        };

        if let Err(error) = connection.write_line(&response.to_line()).await {
            tracing::warn!(%peer, %error, "writing to the client failed");
            break;
        }
    }
    tracing::debug!(%peer, "connection closed");
}
// ANCHOR_END: serve_connection
