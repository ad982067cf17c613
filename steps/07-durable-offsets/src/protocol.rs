//! The wire protocol: newline-delimited JSON over TCP.
//!
//! A client sends one JSON object per line, and the server sends one JSON object per line back,
//! in the same order. Each request names its operation in `op` and may carry an `id`, any JSON
//! value, which the response repeats. A response has `"ok": true` and the operation's fields, or
//! `"ok": false` and an `error` object with a stable `code` and a `message` for people.
//!
//! # Format
//!
//! A `?` marks an optional field.
//!
//! ANCHOR: protocol_summary
//! | `op`        | request fields                                             | response fields                                  |
//! |-------------|------------------------------------------------------------|--------------------------------------------------|
//! | `produce`   | `topic`, `partition`, `records`: `[{key?, value}]`         | `offsets`: one per record                        |
//! | `fetch`     | `topic`, `partition`, `offset`?, `max_bytes`?, `group_id`? | `records`, `next_offset`, `log_end_offset`       |
//! | `commit`    | `group_id`, `topic`, `partition`, `offset`                 | nothing beyond `ok`                              |
//! | `committed` | `group_id`, `topic`, `partition`                           | `offset` (null when the group has not committed) |
//! ANCHOR_END: protocol_summary
//!
//! A fetch needs `offset`, or `group_id` to start where that group's last commit left off.
//!
//! Keys and values are bytes, which a JSON string cannot always carry. Valid UTF-8 travels as a
//! string in `key` or `value`. Any other bytes travel base64-encoded (standard alphabet, with
//! padding) in `key_b64` or `value_b64`. The server stores bytes, not the form they came in, and a
//! fetch uses the string form whenever the stored bytes are valid UTF-8.
//!
//! These messages are a subset of the finished broker's protocol in `rustlog/src/protocol.rs`,
//! field for field, so a client written against this step also works against the finished
//! broker. This module only describes the messages: it depends on neither storage nor sockets.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The operation names, in the order the summary table lists them.
pub const OPERATIONS: [&str; 4] = ["produce", "fetch", "commit", "committed"];

/// A request, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Append records to a partition.
    Produce(ProduceRequest),
    /// Read records from a partition.
    Fetch(FetchRequest),
    /// Store a consumer group's position in a partition.
    Commit(CommitRequest),
    /// Read a consumer group's stored position.
    Committed(CommittedRequest),
}

// ANCHOR: request_types
/// `produce`: append `records` to one partition, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    /// Topic name.
    pub topic: String,
    /// Partition number, from 0.
    pub partition: u32,
    /// The records, at least one.
    pub records: Vec<ProduceRecord>,
}

/// One record of a produce request: an optional key and a value, each as a string or as base64.
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

/// `fetch`: read whole records from `offset`, or from the group's committed offset, up to
/// `max_bytes` of frames.
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
    /// Upper bound on the frame bytes returned. At least one record is returned regardless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Consumer group whose committed offset is the start when `offset` is missing. A fetch
    /// never commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}
// ANCHOR_END: request_types

// ANCHOR: offset_request_types
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
    /// The next offset the group will read: one past the last record it processed, as in Kafka.
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
// ANCHOR_END: offset_request_types

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
    /// The offset to fetch next: one past the last record returned, or the request's offset when
    /// no record was returned.
    pub next_offset: u64,
    /// The partition's log end offset when the fetch ran.
    pub log_end_offset: u64,
}

/// A record in a fetch response. Each of the key and the value comes in exactly one form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedRecord {
    /// The record's offset.
    pub offset: u64,
    /// When the server stored it, in milliseconds since the Unix epoch.
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
    /// The committed offset, or `None` (`null` on the wire) when the group has not committed for
    /// this partition.
    pub offset: Option<u64>,
}

/// The body of a successful response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ResponseBody {
    /// The result of a `produce`.
    Produce(ProduceResponse),
    /// The result of a `fetch`.
    Fetch(FetchResponse),
    /// The result of a `commit`.
    Commit(CommitResponse),
    /// The result of a `committed`.
    Committed(CommittedResponse),
}

// ANCHOR: error_code
/// The stable error codes. Clients match on these, while messages may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The server does not serve the topic.
    UnknownTopic,
    /// The topic has no partition with that number.
    UnknownPartition,
    /// The offset is outside the partition's stored range. The error carries the range.
    OffsetOutOfRange,
    /// The line is not valid JSON, or not a valid request.
    InvalidRequest,
    /// A record's frame is larger than the maximum frame size.
    RecordTooLarge,
    /// The request line is longer than the server's maximum.
    RequestTooLarge,
    /// The server failed to read or write its files, or found damaged data.
    StorageError,
}
// ANCHOR_END: error_code

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
            ErrorCode::StorageError => "storage_error",
        }
    }
}

/// The `error` object of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Stable code.
    pub code: ErrorCode,
    /// Description of the failure, naming the value and the fix.
    pub message: String,
    /// With `offset_out_of_range`: the first offset stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_start_offset: Option<u64>,
    /// With `offset_out_of_range`: the log end offset, where a fetch returns no records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_end_offset: Option<u64>,
}

impl ErrorResponse {
    /// Creates an error without an offset range.
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

/// A response: the request's `id`, if it had one, and a body or an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's `id`.
    pub id: Option<Value>,
    /// What happened.
    pub result: Result<ResponseBody, ErrorResponse>,
}

impl Response {
    /// Encodes the response as one JSON line, newline included: `id` (when there is one), then
    /// `ok`, then the body's fields or `error`.
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
        let encoded = match &self.result {
            Ok(body) => serde_json::to_vec(&Line { id, ok: true, body }),
            Err(error) => serde_json::to_vec(&Line {
                id,
                ok: false,
                body: ErrorField { error },
            }),
        };
        let mut line = encoded.expect("response types always serialize");
        line.push(b'\n');
        line
    }
}

/// Parses one request line, without its newline.
///
/// Returns the request's `id` next to the result, even when the rest of the request is invalid,
/// so that the error response can repeat it.
// ANCHOR: parse_request
pub fn parse_request(line: &[u8]) -> (Option<Value>, Result<Request, ErrorResponse>) {
    let mut object = match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(object)) => object,
        Ok(other) => {
            let message = format!("a request must be a JSON object, got {}", json_kind(&other));
            return (None, Err(ErrorResponse::invalid(message)));
        }
        Err(error) => {
            let message = format!("invalid JSON ({error}); send one JSON object per line");
            return (None, Err(ErrorResponse::invalid(message)));
        }
    };
    let id = object.remove("id");

    // SOLUTION(dispatch): Take `op` out of the object, then turn the remaining fields into that operation's request type.
    let op = match object.remove("op") {
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

    // What is left of the object must be exactly the operation's fields: the request types
    // reject unknown fields, so a misspelt name is reported instead of ignored.
    let request = match op.as_str() {
        "produce" => fields(&op, object).map(Request::Produce),
        "fetch" => fields(&op, object).map(Request::Fetch),
        "commit" => fields(&op, object).map(Request::Commit),
        "committed" => fields(&op, object).map(Request::Committed),
        unknown => Err(ErrorResponse::invalid(format!(
            "unknown op `{unknown}`; expected one of: {}",
            OPERATIONS.join(", ")
        ))),
    };
    (id, request)
    // END SOLUTION
}
// ANCHOR_END: parse_request

/// Deserializes the fields left after `op` and `id` into the request type of `op`.
fn fields<T: serde::de::DeserializeOwned>(
    op: &str,
    object: Map<String, Value>,
) -> Result<T, ErrorResponse> {
    serde_json::from_value(Value::Object(object))
        .map_err(|error| ErrorResponse::invalid(format!("invalid {op} request: {error}")))
}

/// Names the kind of a JSON value, for error messages.
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
    /// Returns the record's key and value as bytes, decoding the base64 forms.
    ///
    /// # Errors
    ///
    /// `invalid_request` when the value is missing, when a field comes in both forms, or when
    /// base64 does not decode.
    pub fn to_bytes(&self) -> Result<(Option<Vec<u8>>, Vec<u8>), ErrorResponse> {
        let key = join_bytes("key", self.key.as_deref(), self.key_b64.as_deref())?;
        let value = join_bytes("value", self.value.as_deref(), self.value_b64.as_deref())?
            .ok_or_else(|| {
                ErrorResponse::invalid(
                    "a record needs `value` (a UTF-8 string) or `value_b64` (base64 bytes)",
                )
            })?;
        Ok((key, value))
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
}

/// Splits bytes into the string form, for valid UTF-8, or the base64 form, for anything else.
fn split_bytes(bytes: Option<&[u8]>) -> (Option<String>, Option<String>) {
    let Some(bytes) = bytes else {
        return (None, None);
    };
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(BASE64.encode(bytes))),
    }
}

/// Turns the string and base64 forms of the field `field` back into bytes.
fn join_bytes(
    field: &str,
    text: Option<&str>,
    base64: Option<&str>,
) -> Result<Option<Vec<u8>>, ErrorResponse> {
    match (text, base64) {
        (None, None) => Ok(None),
        (Some(text), None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(encoded)) => BASE64.decode(encoded).map(Some).map_err(|error| {
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

    #[test]
    fn parse_request_keeps_id_of_invalid_request() {
        let (id, result) = parse_request(br#"{"op": "delete", "id": [1, "a"]}"#);
        assert_eq!(id, Some(serde_json::json!([1, "a"])));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        assert_eq!(
            error.message,
            "unknown op `delete`; expected one of: produce, fetch, commit, committed"
        );
    }

    #[test]
    fn fetch_without_max_bytes_parses() {
        let (id, result) = parse_request(br#"{"op":"fetch","topic":"t","partition":1,"offset":7}"#);
        assert_eq!(id, None);
        assert_eq!(
            result.unwrap(),
            Request::Fetch(FetchRequest {
                topic: "t".into(),
                partition: 1,
                offset: Some(7),
                max_bytes: None,
                group_id: None,
            })
        );
    }

    #[test]
    fn committed_response_has_null_offset() {
        let response = Response {
            id: None,
            result: Ok(ResponseBody::Committed(CommittedResponse { offset: None })),
        };
        assert_eq!(
            String::from_utf8(response.to_line()).unwrap(),
            "{\"ok\":true,\"offset\":null}\n"
        );
        let commit = Response {
            id: None,
            result: Ok(ResponseBody::Commit(CommitResponse {})),
        };
        assert_eq!(
            String::from_utf8(commit.to_line()).unwrap(),
            "{\"ok\":true}\n"
        );
    }

    #[test]
    fn record_bytes_round_trip_in_both_forms() {
        for (key, value) in [
            (None, &b"hello"[..]),
            (Some(&b""[..]), &b""[..]),
            (Some(&b"\xff"[..]), &b"\xfe\xff\x00"[..]),
        ] {
            let fetched = FetchedRecord::new(0, 0, key, value);
            let produced = ProduceRecord {
                key: fetched.key,
                key_b64: fetched.key_b64,
                value: fetched.value,
                value_b64: fetched.value_b64,
            };
            let (key_back, value_back) = produced.to_bytes().unwrap();
            assert_eq!(key_back.as_deref(), key);
            assert_eq!(value_back, value);
        }
    }

    #[test]
    fn error_line_has_code_and_range() {
        let response = Response {
            id: Some(Value::from(3)),
            result: Err(ErrorResponse {
                code: ErrorCode::OffsetOutOfRange,
                message: "out".into(),
                log_start_offset: Some(0),
                log_end_offset: Some(2),
            }),
        };
        assert_eq!(
            String::from_utf8(response.to_line()).unwrap(),
            "{\"id\":3,\"ok\":false,\"error\":{\"code\":\"offset_out_of_range\",\"message\":\"out\",\"log_start_offset\":0,\"log_end_offset\":2}}\n"
        );
    }
}
