//! The TCP server: accepts connections, serves each on its own task, and shuts down gracefully.
//!
//! Each connection is one Tokio task that reads a request, applies it, and writes the response,
//! in order. A slow or idle client therefore only ever holds its own task. A semaphore caps the
//! number of connections; a client past the cap gets one `too_many_connections` line and is
//! closed.
//!
//! Shutdown: when the `shutdown` future completes, the listener closes, each connection finishes
//! the request it is working on and stops before reading another, and `run` returns once every
//! connection task has ended. The caller then closes the storage.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::connection::{Connection, Incoming};
use crate::protocol::{parse_request, ErrorCode, ErrorResponse, Response};

/// Limits the server enforces per connection and overall.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest request line, newline excluded.
    pub max_request_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `listener` until `shutdown` completes, then waits for open connections to finish.
// ANCHOR: run
pub async fn run(
    listener: TcpListener,
    broker: Arc<Broker>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::error!(%error, "accept failed; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    tracing::warn!(%peer, max_connections = limits.max_connections, "rejected connection: too many connections");
                    connections.spawn(reject(socket, peer, limits.max_connections));
                    continue;
                };
                let broker = Arc::clone(&broker);
                let stop = stop.clone();
                connections.spawn(async move {
                    serve_connection(socket, peer, broker, limits, stop).await;
                    drop(permit);
                });
            }
            // Reap finished tasks so the set does not grow with every connection ever made.
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
    while connections.join_next().await.is_some() {}
}
// ANCHOR_END: run

/// Serves one client until it disconnects or the server stops.
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
        // Between requests, stop promptly; a request already read always gets its response.
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
                let message = format!(
                    "request line of {len} bytes is longer than the maximum of {} bytes; send smaller batches \
                     or raise max_request_bytes",
                    limits.max_request_bytes
                );
                tracing::warn!(%peer, len, "request too large");
                Response {
                    id: None,
                    result: Err(ErrorResponse::new(ErrorCode::RequestTooLarge, message)),
                }
            }
            Ok(Incoming::Closed) => break,
            Ok(Incoming::ClosedMidLine { len }) => {
                tracing::info!(%peer, len, "client disconnected in the middle of a request line");
                break;
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "reading from client failed");
                break;
            }
        };

        if let Err(error) = connection.write_line(&response.to_line()).await {
            tracing::warn!(%peer, %error, "writing to client failed");
            break;
        }
    }

    let _ = connection.flush().await;
    tracing::debug!(%peer, "connection closed");
}

/// Tells a client past the connection cap why it is being closed.
async fn reject(socket: TcpStream, peer: SocketAddr, max_connections: usize) {
    let message = format!(
        "the broker already serves its maximum of {max_connections} connections; retry later"
    );
    let response = Response {
        id: None,
        result: Err(ErrorResponse::new(ErrorCode::TooManyConnections, message)),
    };
    let mut connection = Connection::new(socket, 0);
    if let Err(error) = connection.write_line(&response.to_line()).await {
        tracing::debug!(%peer, %error, "could not send the rejection");
    }
}
