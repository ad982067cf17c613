//! A small async client for the broker: one TCP connection, one request at a time.
//!
//! The command-line tools and the end-to-end tests use it; it is also the shortest description of
//! how to talk to the broker from code.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::protocol::{
    CommitRequest, CommitResponse, CommittedRequest, CommittedResponse, ErrorResponse,
    FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, OffsetsRequest,
    OffsetsResponse, ProduceRecord, ProduceRequest, ProduceResponse, Request,
};

/// A failed client call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made.
    #[error("cannot connect to the broker at {addr}: {source}; is `rustlog serve` running there?")]
    Connect {
        /// The address tried.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed or closed mid-call.
    #[error("connection to the broker failed: {0}")]
    Io(#[from] std::io::Error),
    /// The broker answered with an error.
    #[error("the broker returned {0}")]
    Broker(ErrorResponse),
    /// The broker's answer was not what the protocol says.
    #[error("unexpected response from the broker: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Returns the broker's error, when that is what this is.
    pub fn broker_error(&self) -> Option<&ErrorResponse> {
        match self {
            ClientError::Broker(error) => Some(error),
            _ => None,
        }
    }
}

/// A connection to a broker.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    line: Vec<u8>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the broker at `addr`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Connect`] naming the address.
    pub async fn connect(addr: impl ToSocketAddrs + fmt::Display) -> Result<Client, ClientError> {
        let shown = addr.to_string();
        let socket = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: shown,
                source,
            })?;
        socket.set_nodelay(true)?;
        let (read_half, write_half) = socket.into_split();
        Ok(Client {
            reader: BufReader::new(read_half),
            writer: write_half,
            next_id: 1,
            line: Vec::new(),
        })
    }

    /// Appends `records` to a partition; returns the offset of each.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; a broker-side failure is [`ClientError::Broker`].
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: u32,
        records: Vec<ProduceRecord>,
    ) -> Result<ProduceResponse, ClientError> {
        let request = ProduceRequest {
            topic: topic.to_owned(),
            partition,
            records,
        };
        self.call(Request::Produce(request)).await
    }

    /// Reads records.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; a broker-side failure is [`ClientError::Broker`].
    pub async fn fetch(&mut self, request: FetchRequest) -> Result<FetchResponse, ClientError> {
        self.call(Request::Fetch(request)).await
    }

    /// Commits `offset` as the next offset `group_id` reads from the partition.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; a broker-side failure is [`ClientError::Broker`].
    pub async fn commit(
        &mut self,
        group_id: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), ClientError> {
        let request = CommitRequest {
            group_id: group_id.to_owned(),
            topic: topic.to_owned(),
            partition,
            offset,
        };
        let _: CommitResponse = self.call(Request::Commit(request)).await?;
        Ok(())
    }

    /// Returns the group's committed offset, or `None` when it has not committed.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; a broker-side failure is [`ClientError::Broker`].
    pub async fn committed(
        &mut self,
        group_id: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, ClientError> {
        let request = CommittedRequest {
            group_id: group_id.to_owned(),
            topic: topic.to_owned(),
            partition,
        };
        let response: CommittedResponse = self.call(Request::Committed(request)).await?;
        Ok(response.offset)
    }

    /// Lists topics, partitions and offsets.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn metadata(&mut self) -> Result<MetadataResponse, ClientError> {
        self.call(Request::Metadata(MetadataRequest {})).await
    }

    /// Lists every consumer group's committed offsets and lag.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn offsets(&mut self) -> Result<OffsetsResponse, ClientError> {
        self.call(Request::Offsets(OffsetsRequest {})).await
    }

    /// Sends one request and reads its response.
    async fn call<T: DeserializeOwned>(&mut self, request: Request) -> Result<T, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.writer.write_all(&request.to_line(Some(id))).await?;

        self.line.clear();
        let read = self.reader.read_until(b'\n', &mut self.line).await?;
        if read == 0 || self.line.last() != Some(&b'\n') {
            return Err(ClientError::Protocol(
                "the broker closed the connection before answering".into(),
            ));
        }

        let mut response: serde_json::Map<String, Value> = serde_json::from_slice(&self.line)
            .map_err(|error| {
                ClientError::Protocol(format!("response is not a JSON object: {error}"))
            })?;
        match response.remove("id") {
            Some(Value::Number(echoed)) if echoed.as_u64() == Some(id) => {}
            // A response without an id answers a line the broker could not read as a request.
            None => {}
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected response id {id}, got {other:?}"
                )))
            }
        }
        match response.remove("ok") {
            Some(Value::Bool(true)) => {
                serde_json::from_value(Value::Object(response)).map_err(|error| {
                    ClientError::Protocol(format!("invalid {} response: {error}", request.op()))
                })
            }
            Some(Value::Bool(false)) => {
                let error = response.remove("error").unwrap_or(Value::Null);
                let error: ErrorResponse = serde_json::from_value(error).map_err(|error| {
                    ClientError::Protocol(format!("invalid error response: {error}"))
                })?;
                Err(ClientError::Broker(error))
            }
            _ => Err(ClientError::Protocol("response has no boolean `ok`".into())),
        }
    }
}
