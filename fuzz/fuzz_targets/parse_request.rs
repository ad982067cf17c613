//! Fuzzes the request parser with arbitrary bytes as one request line, then turns every record of
//! a parsed produce request into bytes and into a storage frame.
//!
//! Beyond "no panic", it checks three round trips. A parsed request that the broker's own
//! encoder writes out parses back to the same request. The borrowing and the owning conversions
//! of a record agree. The record's key and value survive a storage frame and a fetch response.

#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use rustlog::protocol::{parse_request, FetchedRecord, ProduceRecord, Request, Response};
use rustlog::storage::record::{decode, encode};
use rustlog::storage::NewRecord;

fuzz_target!(|line: &[u8]| {
    let (id, parsed) = parse_request(line);
    let request = match parsed {
        Ok(request) => request,
        Err(error) => {
            // Every error must still encode as one valid JSON line.
            let response = Response {
                id,
                result: Err(error),
            };
            let encoded = response.to_line();
            assert_eq!(encoded.last(), Some(&b'\n'));
            serde_json::from_slice::<serde_json::Value>(&encoded)
                .expect("an error response is JSON");
            return;
        }
    };

    // The protocol is one JSON object per line: nothing else may parse as a request.
    let value = serde_json::from_slice::<serde_json::Value>(line);
    assert!(
        matches!(value, Ok(serde_json::Value::Object(_))),
        "a line that is not a JSON object parsed as {request:?}"
    );

    let encoded = request.to_line(None);
    let (_, reparsed) = parse_request(&encoded[..encoded.len() - 1]);
    assert_eq!(reparsed.as_ref(), Ok(&request), "encoded as {encoded:?}");

    if let Request::Produce(produce) = request {
        for record in produce.records {
            check_record(record);
        }
    }
});

fn check_record(record: ProduceRecord) {
    let key = record.key_bytes().map(|key| key.map(Cow::into_owned));
    let value = record.value_bytes().map(Cow::into_owned);
    let owned = record.into_bytes();
    let (key, value) = match (key, value, owned) {
        (Ok(key), Ok(value), Ok(owned)) => {
            assert_eq!((&key, &value), (&owned.0, &owned.1));
            (key, value)
        }
        (_, _, Ok(owned)) => {
            panic!("into_bytes accepted a record the borrowing calls reject: {owned:?}")
        }
        (Ok(_), Ok(_), Err(error)) => panic!("into_bytes rejected a valid record: {error}"),
        _ => return,
    };

    let new_record = NewRecord {
        timestamp_ms: 1,
        key: key.as_deref(),
        value: &value,
    };
    let mut frame = Vec::new();
    encode(7, &new_record, &mut frame);
    let (stored, len) = decode(&frame).expect("a fresh frame decodes");
    assert_eq!(len, frame.len());
    assert_eq!(stored.key, key);
    assert_eq!(stored.value, value);

    let fetched = FetchedRecord::new(
        stored.offset,
        stored.timestamp_ms,
        stored.key.as_deref(),
        &stored.value,
    );
    let fetched_key = fetched.key_bytes().expect("a fetched key decodes");
    assert_eq!(fetched_key.as_deref(), key.as_deref());
    assert_eq!(
        fetched
            .value_bytes()
            .expect("a fetched value decodes")
            .as_ref(),
        value.as_slice()
    );
}
