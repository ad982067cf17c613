//! A small async client for the broker: one TCP connection, one request at a time.
//!
//! The command-line tools and the end-to-end tests use it; it is also the shortest description of
//! how to talk to the broker from code.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::protocol::{
    present, produce_line, CommitRequest, CommitResponse, CommittedRequest, CommittedResponse,
    ErrorResponse, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, OffsetsRequest,
    OffsetsResponse, ProduceRecord, ProduceResponse, Request,
};

/// Bytes read from the socket per system call, at most. The response to a 1 MiB fetch of 100-byte
/// records is about 1.2 MB of JSON: at least 150 reads with Tokio's default of 8 KiB, and at
/// least 19 with 64 KiB.
const READ_BUFFER_BYTES: usize = 64 * 1024;

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

/// The fields every response line has, read before its body.
#[derive(Deserialize)]
struct Status {
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default)]
    ok: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Reads a response that starts with `"id": <id>, "ok": true` in one pass, and returns its body;
/// returns `None` for any other line.
fn read_success<T: DeserializeOwned>(line: &[u8], id: u64) -> Option<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let visitor = SuccessVisitor {
        id,
        body: PhantomData,
    };
    let body = deserializer.deserialize_map(visitor).ok()?;
    deserializer.end().ok()?;
    Some(body)
}

struct SuccessVisitor<T> {
    id: u64,
    body: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for SuccessVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "a response starting with \"id\": {}, \"ok\": true",
            self.id
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let id_matches = map.next_key::<String>()?.as_deref() == Some("id")
            && map.next_value::<u64>()? == self.id;
        let succeeded = id_matches
            && map.next_key::<String>()?.as_deref() == Some("ok")
            && map.next_value::<bool>()?;
        if !succeeded {
            return Err(A::Error::custom(
                "not a successful response to this request",
            ));
        }

        // The rest of the object is the body; its type ignores fields it does not know.
        T::deserialize(MapAccessDeserializer::new(map))
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
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, read_half),
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
        self.produce_from_slice(topic, partition, &records).await
    }

    /// Appends `records` to a partition, as [`Client::produce`] does, without taking ownership,
    /// so a caller can send the same records again without cloning them.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; a broker-side failure is [`ClientError::Broker`].
    pub async fn produce_from_slice(
        &mut self,
        topic: &str,
        partition: u32,
        records: &[ProduceRecord],
    ) -> Result<ProduceResponse, ClientError> {
        let id = self.take_id();
        let line = produce_line(topic, partition, records, Some(id));
        self.exchange(id, "produce", &line).await
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
        let id = self.take_id();
        self.exchange(id, request.op(), &request.to_line(Some(id)))
            .await
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends one encoded request `line` carrying `id` and reads the response to it.
    async fn exchange<T: DeserializeOwned>(
        &mut self,
        id: u64,
        op: &str,
        line: &[u8],
    ) -> Result<T, ClientError> {
        self.writer.write_all(line).await?;

        self.line.clear();
        let read = self.reader.read_until(b'\n', &mut self.line).await?;
        if read == 0 || self.line.last() != Some(&b'\n') {
            return Err(ClientError::Protocol(
                "the broker closed the connection before answering".into(),
            ));
        }

        // The broker writes `id` and `ok` first, so a success is read in one pass. Any other
        // line (an error, or a response from a broker that orders its fields differently) is
        // read in two.
        if let Some(body) = read_success(&self.line, id) {
            return Ok(body);
        }

        // First pass: only `id`, `ok` and `error`; the body's fields are skipped, not built.
        let status: Status = serde_json::from_slice(&self.line).map_err(|error| {
            ClientError::Protocol(format!("response is not a JSON object: {error}"))
        })?;
        match status.id {
            Some(Value::Number(echoed)) if echoed.as_u64() == Some(id) => {}
            // A response without an id answers a line the broker could not read as a request.
            None => {}
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected response id {id}, got {other:?}"
                )))
            }
        }
        match status.ok {
            // Second pass: the body straight into its type, which ignores `id` and `ok`.
            Some(Value::Bool(true)) => serde_json::from_slice(&self.line)
                .map_err(|error| ClientError::Protocol(format!("invalid {op} response: {error}"))),
            Some(Value::Bool(false)) => {
                let error = status.error.unwrap_or(Value::Null);
                let error: ErrorResponse = serde_json::from_value(error).map_err(|error| {
                    ClientError::Protocol(format!("invalid error response: {error}"))
                })?;
                Err(ClientError::Broker(error))
            }
            _ => Err(ClientError::Protocol("response has no boolean `ok`".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_success_takes_broker_order() {
        let line = br#"{"id":3,"ok":true,"offsets":[7,8]}"#;
        let response: ProduceResponse = read_success(line, 3).unwrap();
        assert_eq!(response.offsets, vec![7, 8]);
    }

    #[test]
    fn read_success_leaves_other_lines() {
        let lines: [&[u8]; 4] = [
            br#"{"id":3,"ok":false,"error":{"code":"unknown_topic","message":"m"}}"#,
            br#"{"id":4,"ok":true,"offsets":[7]}"#,
            br#"{"ok":true,"id":3,"offsets":[7]}"#,
            br#"{"id":3,"ok":true,"offsets":[7]} trailing"#,
        ];
        for line in lines {
            let read: Option<ProduceResponse> = read_success(line, 3);
            assert!(read.is_none(), "{}", String::from_utf8_lossy(line));
        }
    }
}
