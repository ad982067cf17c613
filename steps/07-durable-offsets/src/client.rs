//! A minimal client: one TCP connection, one request line at a time.
//!
//! The demo and the tests use it to send exactly the bytes they want, including lines that are
//! not valid requests, and to read the server's response lines. Because the protocol is plain
//! text, the same exchange works with `nc` in a terminal.
//!
//! Every wait for a response is bounded by [`RESPONSE_TIMEOUT`], so a server that never responds
//! shows up as an error instead of a hang.
//!
//! A client can record each request line it sends with the response line it got
//! ([`Client::record_exchanges`]), so code that sends requests for you, such as a
//! [`Consumer`](crate::consumer::Consumer), can still show what went over the wire.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long the client waits for a response line before it gives up: 10 s.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A request line and the response line it got, both without their newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request line.
    pub request: String,
    /// The response line.
    pub response: String,
}

/// A connection to a server.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The exchanges of [`Client::send`] since recording started, or `None` when not recording.
    recorded: Option<Vec<Exchange>>,
}

impl Client {
    /// Connects to the server at `addr`.
    ///
    /// # Errors
    ///
    /// The connection error, such as `ConnectionRefused` when nothing listens at `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (read_half, write_half) = socket.into_split();
        Ok(Client {
            reader: BufReader::new(read_half),
            writer: write_half,
            recorded: None,
        })
    }

    /// Starts recording the exchanges of [`Client::send`] and [`Client::request`].
    pub fn record_exchanges(&mut self) {
        self.recorded.get_or_insert_with(Vec::new);
    }

    /// Returns the exchanges recorded since the last call, oldest first, and keeps recording.
    /// Returns nothing when recording was never started.
    pub fn take_exchanges(&mut self) -> Vec<Exchange> {
        self.recorded
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Sends `line` and a newline, and returns the response line without its newline.
    ///
    /// # Errors
    ///
    /// A socket error, [`io::ErrorKind::UnexpectedEof`] when the server closes the connection
    /// before it responds, and [`io::ErrorKind::TimedOut`] after [`RESPONSE_TIMEOUT`].
    pub async fn send(&mut self, line: &str) -> io::Result<String> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.send_bytes(&bytes).await?;
        let response = self.receive().await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection before it responded",
            )
        })?;

        if let Some(recorded) = &mut self.recorded {
            recorded.push(Exchange {
                request: line.to_string(),
                response: response.clone(),
            });
        }
        Ok(response)
    }

    /// Sends `request` as one compact JSON line and returns the response, parsed.
    ///
    /// # Errors
    ///
    /// The same as [`Client::send`], and [`io::ErrorKind::InvalidData`] when the response is not
    /// JSON.
    pub async fn request(&mut self, request: &Value) -> io::Result<Value> {
        let response = self.send(&request.to_string()).await?;
        serde_json::from_str(&response).map_err(|error| {
            let message = format!("the response {response:?} is not JSON: {error}");
            io::Error::new(io::ErrorKind::InvalidData, message)
        })
    }

    /// Writes `bytes` as they are, with no newline added, for tests of the framing.
    ///
    /// # Errors
    ///
    /// Any error of the socket.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Closes the client's sending side, so the server reads the end of the stream, while the
    /// client can still read.
    ///
    /// # Errors
    ///
    /// Any error of the socket.
    pub async fn close_sending(&mut self) -> io::Result<()> {
        self.writer.shutdown().await
    }

    /// Reads the next response line, without its newline, or returns `None` when the server
    /// closed the connection.
    ///
    /// # Errors
    ///
    /// A socket error, and [`io::ErrorKind::TimedOut`] after [`RESPONSE_TIMEOUT`].
    pub async fn receive(&mut self) -> io::Result<Option<String>> {
        let mut line = String::new();
        let read = tokio::time::timeout(RESPONSE_TIMEOUT, self.reader.read_line(&mut line))
            .await
            .map_err(|_| {
                let message = format!("no response within {RESPONSE_TIMEOUT:?}");
                io::Error::new(io::ErrorKind::TimedOut, message)
            })??;
        if read == 0 {
            return Ok(None);
        }
        if line.ends_with('\n') {
            line.pop();
        }
        Ok(Some(line))
    }
}
