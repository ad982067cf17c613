//! The wire protocol: newline-delimited JSON over TCP.
//!
//! A client sends one JSON object per line and the broker sends one JSON object per line back, in
//! the same order. Each request names an operation in `op` and may carry an `id` (any JSON value)
//! that the response echoes. A response has `"ok": true` and the operation's fields, or
//! `"ok": false` and an `error` with a stable `code` and a `message` for humans.
//!
//! ANCHOR: protocol_summary
//! | `op`        | request fields                                                     | response fields                                   |
//! |-------------|--------------------------------------------------------------------|---------------------------------------------------|
//! | `produce`   | `topic`, `partition`, `records`: `[{key?, value}]`                 | `offsets`: one per record                         |
//! | `fetch`     | `topic`, `partition`, `offset`?, `max_bytes`?, `group_id`?         | `records`, `next_offset`, `log_end_offset`        |
//! | `commit`    | `group_id`, `topic`, `partition`, `offset`                         | nothing beyond `ok`                               |
//! | `committed` | `group_id`, `topic`, `partition`                                   | `offset` (null when the group has not committed)  |
//! | `metadata`  | none                                                               | `topics`: names, partitions, start and end offsets|
//! | `offsets`   | none                                                               | `offsets`: every group's commits, with lag        |
//! ANCHOR_END: protocol_summary
//!
//! Keys and values are bytes. A UTF-8 key or value travels as a JSON string in `key` / `value`;
//! any other bytes travel base64-encoded (standard alphabet, with padding) in `key_b64` /
//! `value_b64`. The broker stores the bytes, so both forms round-trip exactly, and a fetch picks
//! the string form whenever the stored bytes are valid UTF-8.
//!
//! This module only describes the messages: it knows nothing of storage or sockets.

mod envelope;
mod record_lines;

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use envelope::present;
use envelope::{read_body, read_op_first, Envelope};
pub use record_lines::{fetch_response_line, produce_line};

/// The operation names, in the order the protocol summary lists them.
pub const OPERATIONS: [&str; 6] = [
    "produce",
    "fetch",
    "commit",
    "committed",
    "metadata",
    "offsets",
];

/// A request, after parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Append records to a partition.
    Produce(ProduceRequest),
    /// Read records from a partition.
    Fetch(FetchRequest),
    /// Store a consumer group's position in a partition.
    Commit(CommitRequest),
    /// Read a consumer group's stored position.
    Committed(CommittedRequest),
    /// List topics, partitions and their offsets.
    Metadata(MetadataRequest),
    /// List every consumer group's committed offsets and lag.
    Offsets(OffsetsRequest),
}

/// `produce`: append `records` to one partition, in order, as one batch with one sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    /// Topic name.
    pub topic: String,
    /// Partition number, from 0.
    pub partition: u32,
    /// The records, at least one.
    pub records: Vec<ProduceRecord>,
}

/// One record of a produce request: an optional key and a value, each as a string or base64.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRecord {
    /// The key as a UTF-8 string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key as base64-encoded bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    /// The value as a UTF-8 string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value as base64-encoded bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
}

/// `fetch`: read whole records from `offset` (or from the group's committed offset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// First offset to read. Without it, `group_id` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Upper bound on the record bytes returned; at least one record is returned regardless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Consumer group whose committed offset is the start when `offset` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// `commit`: store `offset` as the next offset `group_id` will read from the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// Consumer group.
    pub group_id: String,
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The next offset the group will read, as in Kafka: one past the last record processed.
    pub offset: u64,
}

/// `committed`: read the offset `group_id` last committed for the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommittedRequest {
    /// Consumer group.
    pub group_id: String,
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
}

/// `metadata`: takes no fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataRequest {}

/// `offsets`: takes no fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetsRequest {}

/// The offsets a produce assigned, one per record, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceResponse {
    /// Offset of each record.
    pub offsets: Vec<u64>,
}

/// The records a fetch read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Whole records, in offset order.
    pub records: Vec<FetchedRecord>,
    /// The offset to fetch next: one past the last record returned, or the request's offset.
    pub next_offset: u64,
    /// The partition's log end offset when the fetch ran.
    pub log_end_offset: u64,
}

/// A record in a fetch response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedRecord {
    /// The record's offset.
    pub offset: u64,
    /// When the broker stored it, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The key, when it is valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key as base64, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    /// The value, when it is valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value as base64, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
}

/// A successful commit carries no fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommitResponse {}

/// A group's committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedResponse {
    /// The committed offset, or `None` when the group has not committed for this partition.
    pub offset: Option<u64>,
}

/// Every topic the broker serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataResponse {
    /// Topics sorted by name.
    pub topics: Vec<TopicMetadata>,
}

/// One topic in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Its partitions, by number.
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMetadata {
    /// Partition number.
    pub partition: u32,
    /// First offset stored.
    pub log_start_offset: u64,
    /// Offset the next record will get.
    pub log_end_offset: u64,
}

/// Every committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetsResponse {
    /// Sorted by group, topic and partition.
    pub offsets: Vec<GroupOffset>,
}

/// One group's committed offset in one partition, and how far behind the log end it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffset {
    /// Consumer group.
    pub group_id: String,
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The committed offset: the next offset the group will read.
    pub offset: u64,
    /// The partition's log end offset.
    pub log_end_offset: u64,
    /// Records the group has not read yet: `log_end_offset - offset`.
    pub lag: u64,
}

/// The body of a successful response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ResponseBody {
    /// Response to `produce`.
    Produce(ProduceResponse),
    /// Response to `fetch`.
    Fetch(FetchResponse),
    /// Response to `commit`.
    Commit(CommitResponse),
    /// Response to `committed`.
    Committed(CommittedResponse),
    /// Response to `metadata`.
    Metadata(MetadataResponse),
    /// Response to `offsets`.
    Offsets(OffsetsResponse),
}

/// The stable error codes. Clients match on these; messages may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The topic does not exist on this broker.
    UnknownTopic,
    /// The topic exists but has no partition with that number.
    UnknownPartition,
    /// The offset is outside the partition's stored range; the error carries the range.
    OffsetOutOfRange,
    /// The request is not valid JSON, or not a valid request.
    InvalidRequest,
    /// A record is larger than the partition's maximum record size.
    RecordTooLarge,
    /// The request line is longer than the broker's maximum request size.
    RequestTooLarge,
    /// The broker already serves its maximum number of connections.
    TooManyConnections,
    /// The broker failed to read or write its files.
    StorageError,
}

impl ErrorCode {
    /// Returns the code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownTopic => "unknown_topic",
            ErrorCode::UnknownPartition => "unknown_partition",
            ErrorCode::OffsetOutOfRange => "offset_out_of_range",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::RecordTooLarge => "record_too_large",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::StorageError => "storage_error",
        }
    }
}

/// The `error` object of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, naming the value and the fix.
    pub message: String,
    /// For `offset_out_of_range`: the first valid offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_start_offset: Option<u64>,
    /// For `offset_out_of_range`: the log end offset (valid for a read that returns nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_end_offset: Option<u64>,
}

impl ErrorResponse {
    /// Creates an error with no offset range.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorResponse {
        ErrorResponse {
            code,
            message: message.into(),
            log_start_offset: None,
            log_end_offset: None,
        }
    }

    /// Creates an `invalid_request` error.
    pub fn invalid(message: impl Into<String>) -> ErrorResponse {
        ErrorResponse::new(ErrorCode::InvalidRequest, message)
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ErrorResponse {}

/// A response: the echoed request id and either a body or an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's `id`, if it had one.
    pub id: Option<Value>,
    /// What happened.
    pub result: Result<ResponseBody, ErrorResponse>,
}

impl Response {
    /// Encodes the response as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Line<'a, T: Serialize> {
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a Value>,
            ok: bool,
            #[serde(flatten)]
            body: T,
        }
        #[derive(Serialize)]
        struct ErrorField<'a> {
            error: &'a ErrorResponse,
        }

        let id = self.id.as_ref();
        let mut line = match &self.result {
            Ok(ResponseBody::Fetch(body)) => return fetch_response_line(id, body),
            Ok(body) => serde_json::to_vec(&Line { id, ok: true, body }),
            Err(error) => serde_json::to_vec(&Line {
                id,
                ok: false,
                body: ErrorField { error },
            }),
        }
        .expect("response types always serialize");
        line.push(b'\n');
        line
    }
}

impl Request {
    /// Returns the operation name.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Produce(_) => "produce",
            Request::Fetch(_) => "fetch",
            Request::Commit(_) => "commit",
            Request::Committed(_) => "committed",
            Request::Metadata(_) => "metadata",
            Request::Offsets(_) => "offsets",
        }
    }

    /// Encodes the request as one JSON line with `op` and, when given, `id`; newline included.
    pub fn to_line(&self, id: Option<u64>) -> Vec<u8> {
        #[derive(Serialize)]
        struct Line<'a, T: Serialize> {
            op: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<u64>,
            #[serde(flatten)]
            body: &'a T,
        }

        let op = self.op();
        let mut line = match self {
            Request::Produce(body) => {
                return produce_line(&body.topic, body.partition, &body.records, id)
            }
            Request::Fetch(body) => serde_json::to_vec(&Line { op, id, body }),
            Request::Commit(body) => serde_json::to_vec(&Line { op, id, body }),
            Request::Committed(body) => serde_json::to_vec(&Line { op, id, body }),
            Request::Metadata(body) => serde_json::to_vec(&Line { op, id, body }),
            Request::Offsets(body) => serde_json::to_vec(&Line { op, id, body }),
        }
        .expect("request types always serialize");
        line.push(b'\n');
        line
    }
}

/// Parses one request line (without its newline).
///
/// Returns the request's `id` even when the rest is invalid, so the error response can echo it.
///
/// No `serde_json::Value` tree is built for the request, because that would allocate a map and
/// a string for every record of a produce request before the records reach their own type. A
/// line whose first field is `op` is read in one pass; any other line, valid or not, is read in
/// two (see [`envelope`]).
// ANCHOR: parse_request
pub fn parse_request(line: &[u8]) -> (Option<Value>, Result<Request, ErrorResponse>) {
    if let Some((id, request)) = read_op_first(line) {
        return (id, Ok(request));
    }

    // A derived struct also reads a JSON array, taking its items as the fields in order, so the
    // line must start as an object too.
    let starts_as_object = line.trim_ascii_start().starts_with(b"{");
    let Envelope { id, op } = match serde_json::from_slice::<Envelope>(line) {
        Ok(envelope) if starts_as_object => envelope,
        result => return (None, Err(not_a_request(line, result.err()))),
    };

    let op = match op {
        Some(Value::String(op)) => op,
        Some(other) => {
            let message = format!("`op` must be a string, got {}", json_kind(&other));
            return (id, Err(ErrorResponse::invalid(message)));
        }
        None => {
            let message = format!(
                "missing field `op`; expected one of: {}",
                OPERATIONS.join(", ")
            );
            return (id, Err(ErrorResponse::invalid(message)));
        }
    };
    if !OPERATIONS.contains(&op.as_str()) {
        let message = format!(
            "unknown op `{op}`; expected one of: {}",
            OPERATIONS.join(", ")
        );
        return (id, Err(ErrorResponse::invalid(message)));
    }

    let request = read_body(&op, line).map_err(|error| {
        let message = without_position(&error);
        ErrorResponse::invalid(format!("invalid {op} request: {message}"))
    });
    (id, request)
}
// ANCHOR_END: parse_request

/// Explains why a line has no readable `op` and `id`: it is not JSON, not an object, or an
/// object whose envelope fields are invalid (such as a repeated `op`, which `envelope_error`
/// describes).
fn not_a_request(line: &[u8], envelope_error: Option<serde_json::Error>) -> ErrorResponse {
    let message = match (serde_json::from_slice::<Value>(line), envelope_error) {
        (Err(error), _) => format!("invalid JSON ({error}); send one JSON object per line"),
        (Ok(Value::Object(_)), Some(error)) => format!("invalid request: {error}"),
        (Ok(other), _) => format!("a request must be a JSON object, got {}", json_kind(&other)),
    };
    ErrorResponse::invalid(message)
}

/// Returns serde_json's message without the " at line 1 column N" that it appends when it reads
/// from bytes. The position adds little to a one-line request, and leaving it out keeps the
/// messages the same as when the broker read requests through a `serde_json::Value`.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => message,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl ProduceRecord {
    /// Creates a record from bytes, choosing the string form for valid UTF-8 and base64 otherwise.
    pub fn from_bytes(key: Option<&[u8]>, value: &[u8]) -> ProduceRecord {
        let (key, key_b64) = split_bytes(key);
        let (value, value_b64) = split_bytes(Some(value));
        ProduceRecord {
            key,
            key_b64,
            value,
            value_b64,
        }
    }

    /// Splits the record into owned key and value bytes, without copying the string forms.
    ///
    /// # Errors
    ///
    /// The same as [`ProduceRecord::value_bytes`] and [`ProduceRecord::key_bytes`].
    pub fn into_bytes(self) -> Result<(Option<Vec<u8>>, Vec<u8>), ErrorResponse> {
        let key = self.key_bytes()?.map(Cow::into_owned);
        let value = match (self.value, self.value_b64) {
            (Some(value), None) => value.into_bytes(),
            (value, value_b64) => {
                let record = ProduceRecord {
                    value,
                    value_b64,
                    ..ProduceRecord::default()
                };
                record.value_bytes()?.into_owned()
            }
        };
        Ok((key, value))
    }

    /// Returns the key bytes, decoding base64 when the key came in `key_b64`.
    ///
    /// # Errors
    ///
    /// `invalid_request` when both forms are set or the base64 does not decode.
    pub fn key_bytes(&self) -> Result<Option<Cow<'_, [u8]>>, ErrorResponse> {
        join_bytes("key", self.key.as_deref(), self.key_b64.as_deref())
    }

    /// Returns the value bytes, decoding base64 when the value came in `value_b64`.
    ///
    /// # Errors
    ///
    /// `invalid_request` when neither or both forms are set, or the base64 does not decode.
    pub fn value_bytes(&self) -> Result<Cow<'_, [u8]>, ErrorResponse> {
        join_bytes("value", self.value.as_deref(), self.value_b64.as_deref())?.ok_or_else(|| {
            ErrorResponse::invalid(
                "a record needs `value` (a UTF-8 string) or `value_b64` (base64 bytes)",
            )
        })
    }
}

impl FetchedRecord {
    /// Creates a fetched record, choosing the string form for valid UTF-8 and base64 otherwise.
    pub fn new(offset: u64, timestamp_ms: i64, key: Option<&[u8]>, value: &[u8]) -> FetchedRecord {
        let (key, key_b64) = split_bytes(key);
        let (value, value_b64) = split_bytes(Some(value));
        FetchedRecord {
            offset,
            timestamp_ms,
            key,
            key_b64,
            value,
            value_b64,
        }
    }

    /// Creates a fetched record from owned bytes, as [`FetchedRecord::new`] does, but moves
    /// valid UTF-8 into the string form instead of copying it.
    pub fn from_owned(
        offset: u64,
        timestamp_ms: i64,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> FetchedRecord {
        let (key, key_b64) = match key {
            Some(key) => split_owned(key),
            None => (None, None),
        };
        let (value, value_b64) = split_owned(value);
        FetchedRecord {
            offset,
            timestamp_ms,
            key,
            key_b64,
            value,
            value_b64,
        }
    }

    /// Returns the key bytes.
    ///
    /// # Errors
    ///
    /// `invalid_request` when the response carries invalid base64 or both forms.
    pub fn key_bytes(&self) -> Result<Option<Cow<'_, [u8]>>, ErrorResponse> {
        join_bytes("key", self.key.as_deref(), self.key_b64.as_deref())
    }

    /// Returns the value bytes (empty when the response carries neither form).
    ///
    /// # Errors
    ///
    /// `invalid_request` when the response carries invalid base64 or both forms.
    pub fn value_bytes(&self) -> Result<Cow<'_, [u8]>, ErrorResponse> {
        Ok(
            join_bytes("value", self.value.as_deref(), self.value_b64.as_deref())?
                .unwrap_or_default(),
        )
    }
}

/// Splits bytes into the string form (valid UTF-8) or the base64 form (anything else).
fn split_bytes(bytes: Option<&[u8]>) -> (Option<String>, Option<String>) {
    match bytes.map(std::str::from_utf8) {
        None => (None, None),
        Some(Ok(text)) => (Some(text.to_owned()), None),
        Some(Err(_)) => (None, Some(BASE64.encode(bytes.expect("checked above")))),
    }
}

/// Splits owned bytes into the string form or the base64 form, reusing the buffer for a string.
fn split_owned(bytes: Vec<u8>) -> (Option<String>, Option<String>) {
    match String::from_utf8(bytes) {
        Ok(text) => (Some(text), None),
        Err(error) => (None, Some(BASE64.encode(error.as_bytes()))),
    }
}

/// Joins the string and base64 forms of a field back into bytes.
fn join_bytes<'a>(
    field: &str,
    text: Option<&'a str>,
    base64: Option<&str>,
) -> Result<Option<Cow<'a, [u8]>>, ErrorResponse> {
    match (text, base64) {
        (None, None) => Ok(None),
        (Some(text), None) => Ok(Some(Cow::Borrowed(text.as_bytes()))),
        (None, Some(encoded)) => BASE64.decode(encoded).map(|bytes| Some(Cow::Owned(bytes))).map_err(|error| {
            ErrorResponse::invalid(format!(
                "`{field}_b64` is not valid base64 ({error}); use the standard alphabet with padding"
            ))
        }),
        (Some(_), Some(_)) => Err(ErrorResponse::invalid(format!(
            "a record has both `{field}` and `{field}_b64`; send one of them"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<ProduceRecord> {
        vec![
            ProduceRecord::from_bytes(None, b"plain value"),
            ProduceRecord::from_bytes(
                Some(b"key"),
                "quote \" backslash \\ tab \t caf\u{e9}".as_bytes(),
            ),
            ProduceRecord::from_bytes(Some(&[0xff, 0x00]), &[0x80, 0x81]),
            ProduceRecord::default(),
        ]
    }

    #[test]
    fn parse_request_reads_its_own_lines() {
        let requests = [
            Request::Produce(ProduceRequest {
                topic: "t".to_owned(),
                partition: 1,
                records: records()[..3].to_vec(),
            }),
            Request::Fetch(FetchRequest {
                topic: "t".to_owned(),
                partition: 0,
                offset: Some(5),
                max_bytes: None,
                group_id: Some("g".to_owned()),
            }),
            Request::Metadata(MetadataRequest {}),
        ];
        for request in requests {
            let line = request.to_line(Some(9));
            let (id, parsed) = parse_request(&line[..line.len() - 1]);
            assert_eq!(id, Some(Value::from(9)));
            assert_eq!(parsed.unwrap(), request);
        }
    }

    #[test]
    fn parse_request_finds_id_after_fields() {
        let line = br#"{"op": "fetch", "topic": "t", "partition": 0, "offset": 1, "id": "last"}"#;
        let (id, request) = parse_request(line);
        assert_eq!(id, Some(Value::from("last")));
        assert!(matches!(request, Ok(Request::Fetch(_))));

        let line = br#"{"topic": "t", "op": "fetch", "partition": 0, "offset": 1, "id": 2}"#;
        let (id, request) = parse_request(line);
        assert_eq!(id, Some(Value::from(2)));
        assert!(matches!(request, Ok(Request::Fetch(_))));
    }

    #[test]
    fn parse_request_echoes_id_of_invalid_body() {
        let (id, request) = parse_request(br#"{"op": "fetch", "topic": 5, "id": 7}"#);
        assert_eq!(id, Some(Value::from(7)));
        let message = request.unwrap_err().message;
        assert!(
            message.starts_with("invalid fetch request: invalid type: integer `5`"),
            "{message}"
        );
    }

    #[test]
    fn parse_request_echoes_null_id() {
        for line in [
            br#"{"id": null, "op": "metadata"}"#.as_slice(),
            br#"{"op": "metadata", "id": null}"#.as_slice(),
        ] {
            let (id, request) = parse_request(line);
            assert_eq!(id, Some(Value::Null));
            assert!(request.is_ok());
        }
    }

    #[test]
    fn parse_request_rejects_fields_of_other_ops() {
        let (id, request) = parse_request(br#"{"op": "metadata", "id": 1, "topic": "t"}"#);
        assert_eq!(id, Some(Value::from(1)));
        let message = request.unwrap_err().message;
        assert_eq!(
            message,
            "invalid metadata request: unknown field `topic`, there are no fields"
        );

        let line = br#"{"op": "fetch", "topic": "t", "partition": 0, "offset": 0, "maxbytes": 10}"#;
        let message = parse_request(line).1.unwrap_err().message;
        assert_eq!(
            message,
            "invalid fetch request: unknown field `maxbytes`, expected one of `topic`, \
             `partition`, `offset`, `max_bytes`, `group_id`"
        );
    }

    #[test]
    fn parse_request_rejects_array() {
        let (id, request) = parse_request(b" [1, \"metadata\"]");
        assert_eq!(id, None);
        let message = request.unwrap_err().message;
        assert!(
            message.contains("must be a JSON object, got an array"),
            "{message}"
        );
    }

    #[test]
    fn parse_request_rejects_repeated_envelope_fields() {
        for (line, field) in [
            (br#"{"op": "metadata", "op": "offsets"}"#.as_slice(), "op"),
            (br#"{"op": "metadata", "id": 1, "id": 2}"#.as_slice(), "id"),
        ] {
            let message = parse_request(line).1.unwrap_err().message;
            assert!(
                message.contains(&format!("duplicate field `{field}`")),
                "{message}"
            );
        }
    }
}
