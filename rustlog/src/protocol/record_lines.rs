//! Hand-written JSON for the two lines that carry records: produce requests and fetch responses.
//!
//! Every other line goes through serde. These two are mostly record values, and serde_json
//! escapes a string by looking up each byte in a table, which made escaping the largest single
//! cost of a batched produce (in the client) and of a fetch (in the broker). [`write_json_str`]
//! checks a whole string for bytes that need escaping in one pass the compiler vectorizes, and
//! copies the string as it is when there are none, the usual case. The tests check that both
//! lines are byte for byte what serde writes.

use serde::Serialize;
use serde_json::Value;

use super::{FetchResponse, ProduceRecord};

/// Encodes a produce request as one JSON line, newline included, exactly as serde would encode
/// [`super::Request::Produce`], but from borrowed records.
pub fn produce_line(
    topic: &str,
    partition: u32,
    records: &[ProduceRecord],
    id: Option<u64>,
) -> Vec<u8> {
    // An estimate that avoids regrowing the line: each record is its value plus `{"value":""},`.
    let values_len: usize = records
        .iter()
        .map(|record| record.value.as_ref().map_or(0, String::len) + 16)
        .sum();
    let mut line = Vec::with_capacity(values_len + topic.len() + 64);

    line.extend_from_slice(br#"{"op":"produce""#);
    if let Some(id) = id {
        line.extend_from_slice(format!(r#","id":{id}"#).as_bytes());
    }
    line.extend_from_slice(br#","topic":"#);
    write_json_str(&mut line, topic);
    line.extend_from_slice(format!(r#","partition":{partition},"records":["#).as_bytes());

    for (index, record) in records.iter().enumerate() {
        if index > 0 {
            line.push(b',');
        }
        let mut object = Object::start(&mut line);
        object.string("key", record.key.as_deref());
        object.string("key_b64", record.key_b64.as_deref());
        object.string("value", record.value.as_deref());
        object.string("value_b64", record.value_b64.as_deref());
        object.end();
    }

    line.extend_from_slice(b"]}\n");
    line
}

/// Encodes a successful fetch response as one JSON line, newline included, exactly as serde
/// would encode [`super::Response`] with a [`super::ResponseBody::Fetch`] body.
pub fn fetch_response_line(id: Option<&Value>, response: &FetchResponse) -> Vec<u8> {
    // An estimate that avoids regrowing the line: each record is its value plus about 60 bytes
    // for `{"offset":…,"timestamp_ms":…,"value":""},`.
    let values_len: usize = response
        .records
        .iter()
        .map(|record| record.value.as_ref().map_or(0, String::len) + 64)
        .sum();
    let mut line = Vec::with_capacity(values_len + 96);

    line.push(b'{');
    if let Some(id) = id {
        line.extend_from_slice(b"\"id\":");
        serde_json::to_writer(&mut line, id).expect("a JSON value always serializes");
        line.push(b',');
    }
    line.extend_from_slice(b"\"ok\":true,\"records\":[");

    for (index, record) in response.records.iter().enumerate() {
        if index > 0 {
            line.push(b',');
        }
        let mut object = Object::start(&mut line);
        object.number("offset", record.offset);
        object.number("timestamp_ms", record.timestamp_ms);
        object.string("key", record.key.as_deref());
        object.string("key_b64", record.key_b64.as_deref());
        object.string("value", record.value.as_deref());
        object.string("value_b64", record.value_b64.as_deref());
        object.end();
    }

    line.extend_from_slice(
        format!(
            "],\"next_offset\":{},\"log_end_offset\":{}}}\n",
            response.next_offset, response.log_end_offset
        )
        .as_bytes(),
    );
    line
}

/// A JSON object being written: fields in the order given, absent ones left out, as serde does
/// with `skip_serializing_if = "Option::is_none"`. Field names are constants of this module,
/// which need no escaping.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn start(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    fn name(&mut self, name: &'static str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn string(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.name(name);
            write_json_str(self.out, value);
        }
    }

    fn number(&mut self, name: &'static str, value: impl Serialize) {
        self.name(name);
        // serde_json writes integers with `itoa`, which is faster than `Display`.
        serde_json::to_writer(&mut *self.out, &value).expect("an integer always serializes");
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends `text` as a JSON string. JSON escapes only `"`, `\` and control characters below
/// U+0020, so a string without them is copied as it is. Any other string goes through serde_json.
fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // `fold` with `&` has no early exit, so the compiler checks many bytes per instruction.
    // `all` would stop at the first match and check one byte at a time.
    let plain = text.as_bytes().iter().fold(true, |plain, &byte| {
        plain & (byte >= 0x20) & (byte != b'"') & (byte != b'\\')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, text).expect("a string always serializes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FetchedRecord, ProduceRequest, Response, ResponseBody};

    fn records() -> Vec<ProduceRecord> {
        vec![
            ProduceRecord::from_bytes(None, b"plain value"),
            ProduceRecord::from_bytes(
                Some(b"key"),
                "quote \" backslash \\ tab \t caf\u{e9} \u{7f}".as_bytes(),
            ),
            ProduceRecord::from_bytes(Some(&[0xff, 0x00]), &[0x80, 0x81]),
            ProduceRecord::default(),
        ]
    }

    #[test]
    fn produce_line_matches_serde_encoding() {
        let request = ProduceRequest {
            topic: "orders \"eu\"".to_owned(),
            partition: 3,
            records: records(),
        };

        #[derive(Serialize)]
        struct Line<'a> {
            op: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<u64>,
            #[serde(flatten)]
            body: &'a ProduceRequest,
        }
        for id in [None, Some(7)] {
            let mut expected = serde_json::to_vec(&Line {
                op: "produce",
                id,
                body: &request,
            })
            .unwrap();
            expected.push(b'\n');
            let line = produce_line(&request.topic, request.partition, &request.records, id);
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn fetch_response_line_matches_serde_encoding() {
        let response = FetchResponse {
            records: vec![
                FetchedRecord::new(0, 1_700_000_000_000, None, b"plain"),
                FetchedRecord::new(1, -5, Some(b"k\"ey"), "line\nbreak \u{1f600}".as_bytes()),
                FetchedRecord::new(2, 0, Some(&[0xfe]), &[0xff, 0x01]),
            ],
            next_offset: 3,
            log_end_offset: 10,
        };
        let ids = [
            None,
            Some(Value::from(4)),
            Some(Value::Null),
            Some(Value::from("text id")),
        ];
        for id in ids {
            let expected = Response {
                id: id.clone(),
                result: Ok(ResponseBody::Fetch(response.clone())),
            };
            let line = fetch_response_line(id.as_ref(), &response);
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(serde_line(&expected)).unwrap()
            );
        }
    }

    #[test]
    fn fetch_response_line_without_records() {
        let response = FetchResponse {
            records: Vec::new(),
            next_offset: 7,
            log_end_offset: 7,
        };
        let line = fetch_response_line(None, &response);
        assert_eq!(
            line,
            b"{\"ok\":true,\"records\":[],\"next_offset\":7,\"log_end_offset\":7}\n"
        );
    }

    /// Encodes a response with serde only, as `Response::to_line` does for every other body.
    fn serde_line(response: &Response) -> Vec<u8> {
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a Value>,
            ok: bool,
            #[serde(flatten)]
            body: &'a ResponseBody,
        }
        let body = response.result.as_ref().unwrap();
        let mut line = serde_json::to_vec(&Line {
            id: response.id.as_ref(),
            ok: true,
            body,
        })
        .unwrap();
        line.push(b'\n');
        line
    }
}
