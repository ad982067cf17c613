//! The protocol over real TCP: transcripts of produce and fetch sessions and of every error a
//! client can cause, framing cases, and the records surviving a restart of the server.
//!
//! Each test starts its own server on 127.0.0.1 with a port the system picks, with its data in a
//! temporary directory.

mod support;

use serde_json::json;
use step08_retention::segment::file_name;
use step08_retention::server::Limits;
use step_common::flip_byte;
use support::{assert_transcript, config, TestServer, Transcript};

/// A line limit small enough for a test to pass it: 1 KiB.
const SMALL_LIMITS: Limits = Limits {
    max_request_bytes: 1024,
};

#[tokio::test]
async fn produce_and_fetch_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), SMALL_LIMITS).await;
    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);

    // Frames of 33, 37 and 33 bytes: offsets 0 and 1 fill the first 100-byte segment, and the
    // third record rolls to a new one. Offset 2's key and value are not UTF-8.
    let lines = [
        r#"{"op":"produce","id":1,"topic":"greetings","partition":0,"records":[{"value":"hello"},{"key":"fr","value":"bonjour"}]}"#,
        r#"{"op":"produce","id":"two","topic":"greetings","partition":0,"records":[{"key_b64":"/w==","value_b64":"/v8A"}]}"#,
        r#"{"op":"fetch","id":3,"topic":"greetings","partition":0,"offset":0}"#,
        r#"{"op":"fetch","id":4,"topic":"greetings","partition":0,"offset":0,"max_bytes":70}"#,
        r#"{"op":"fetch","id":5,"topic":"greetings","partition":0,"offset":1,"max_bytes":0}"#,
        r#"{"op":"fetch","id":6,"topic":"greetings","partition":0,"offset":3}"#,
        r#"{"op":"produce","topic":"greetings","partition":1,"records":[{"key":"","value":""}]}"#,
        r#"{"topic":"greetings","op":"fetch","partition":1,"offset":0,"id":{"n":[7]}}"#,
    ];
    for line in lines {
        transcript.send(&mut client, line).await;
    }
    assert_transcript!(transcript);
    server.stop().await;
}

#[tokio::test]
async fn error_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), SMALL_LIMITS).await;
    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);

    let too_long = format!(
        r#"{{"op":"produce","id":20,"topic":"greetings","partition":0,"records":[{{"value":"{}"}}]}}"#,
        "x".repeat(1024)
    );
    let lines = [
        // Lines that are not requests.
        "hello",
        r#"["op","fetch"]"#,
        r#"{"id":3}"#,
        r#"{"op":7,"id":4}"#,
        r#"{"op":"delete","id":5}"#,
        // Requests with fields that are wrong.
        r#"{"op":"fetch","id":6,"topic":"greetings","partition":0,"ofset":0}"#,
        r#"{"op":"fetch","id":7,"topic":"greetings","partition":-1,"offset":0}"#,
        r#"{"op":"fetch","id":8,"topic":"greetings","partition":0}"#,
        r#"{"op":"fetch","id":9,"topic":"greetings","partition":0,"group_id":""}"#,
        r#"{"op":"produce","id":10,"topic":"greetings","partition":0,"records":[]}"#,
        r#"{"op":"produce","id":11,"topic":"greetings","partition":0,"records":[{"value":"ok"},{"key":"k"}]}"#,
        r#"{"op":"produce","id":12,"topic":"greetings","partition":0,"records":[{"value":"a","value_b64":"YQ=="}]}"#,
        r#"{"op":"produce","id":13,"topic":"greetings","partition":0,"records":[{"value_b64":"YQ"}]}"#,
        // Requests for things that do not exist.
        r#"{"op":"fetch","id":14,"topic":"farewells","partition":0,"offset":0}"#,
        r#"{"op":"produce","id":15,"topic":"greetings","partition":2,"records":[{"value":"a"}]}"#,
        r#"{"op":"fetch","id":16,"topic":"greetings","partition":0,"offset":1}"#,
        // A line over the limit, then a request that shows the connection still works and that
        // no rejected produce stored anything.
        &too_long,
        r#"{"op":"fetch","id":21,"topic":"greetings","partition":0,"offset":0}"#,
    ];
    for line in lines {
        transcript.send(&mut client, line).await;
    }
    assert_transcript!(transcript);
    server.stop().await;
}

#[tokio::test]
async fn record_too_large_rejects_whole_request() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_request_bytes: 2 * 1024 * 1024,
    };
    let server = TestServer::start(&config(dir.path()), limits).await;
    let mut client = server.connect().await;

    // A 1 MiB value makes a frame 28 bytes over the 1 MiB maximum.
    let large = "x".repeat(1024 * 1024);
    let produce = json!({
        "op": "produce", "topic": "greetings", "partition": 0,
        "records": [{"value": "small"}, {"value": large}],
    });
    let response = client.request(&produce).await.unwrap();
    assert_eq!(response["ok"], json!(false));
    assert_eq!(response["error"]["code"], json!("record_too_large"));
    assert_eq!(
        response["error"]["message"],
        json!("record 1 is 1048604 bytes on disk, above the maximum of 1048576; send a smaller record")
    );

    let fetch = json!({"op": "fetch", "topic": "greetings", "partition": 0, "offset": 0});
    let response = client.request(&fetch).await.unwrap();
    assert_eq!(
        response["records"],
        json!([]),
        "the small record was not stored"
    );
    assert_eq!(response["log_end_offset"], json!(0));
    server.stop().await;
}

#[tokio::test]
async fn damaged_record_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());

    let server = TestServer::start(&config, SMALL_LIMITS).await;
    let mut client = server.connect().await;
    let produce = r#"{"op":"produce","topic":"greetings","partition":0,"records":[{"value":"hello"},{"value":"world"},{"value":"again"}]}"#;
    client.send(produce).await.unwrap();
    drop(client);
    server.stop().await;

    // The last byte of offset 1's value, in the sealed segment 0. Opening does not scan sealed
    // segments, so only a fetch that reaches the record finds the damage.
    let segment = dir
        .path()
        .join("topics/greetings/partition-0")
        .join(file_name(0, "log"));
    flip_byte(&segment, 8 + 33 + 32);

    let server = TestServer::start(&config, SMALL_LIMITS).await;
    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);
    for line in [
        r#"{"op":"fetch","id":1,"topic":"greetings","partition":0,"offset":0,"max_bytes":1}"#,
        r#"{"op":"fetch","id":2,"topic":"greetings","partition":0,"offset":0}"#,
        r#"{"op":"fetch","id":3,"topic":"greetings","partition":0,"offset":2}"#,
    ] {
        transcript.send(&mut client, line).await;
    }
    // The CRC covers the timestamp, which differs on every run, so the CRC values are redacted.
    let mut settings = step_common::redact_dir(dir.path());
    settings.add_filter(r"0x[0-9a-f]{8}", "[crc]");
    let _redacted = settings.bind_to_scope();
    assert_transcript!(transcript);
    server.stop().await;
}

#[tokio::test]
async fn restart_keeps_produced_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let fetch = json!({"op": "fetch", "topic": "greetings", "partition": 0, "offset": 0});

    let server = TestServer::start(&config, SMALL_LIMITS).await;
    let mut client = server.connect().await;
    for value in ["one", "two", "three"] {
        let produce = json!({"op": "produce", "topic": "greetings", "partition": 0, "records": [{"value": value}]});
        client.request(&produce).await.unwrap();
    }
    let before = client.request(&fetch).await.unwrap();
    drop(client);
    server.stop().await;

    let server = TestServer::start(&config, SMALL_LIMITS).await;
    let mut client = server.connect().await;
    assert_eq!(client.request(&fetch).await.unwrap(), before);
    let produce = json!({"op": "produce", "topic": "greetings", "partition": 0, "records": [{"value": "four"}]});
    let response = client.request(&produce).await.unwrap();
    assert_eq!(response, json!({"ok": true, "offsets": [3]}));
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_get_responses_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), SMALL_LIMITS).await;
    let mut client = server.connect().await;

    // Three requests in one write, before reading any response.
    let lines = concat!(
        r#"{"op":"produce","id":1,"topic":"greetings","partition":0,"records":[{"value":"a"}]}"#,
        "\n",
        r#"{"op":"fetch","id":2,"topic":"greetings","partition":0,"offset":5}"#,
        "\n",
        r#"{"op":"produce","id":3,"topic":"greetings","partition":0,"records":[{"value":"b"}]}"#,
        "\n",
    );
    client.send_bytes(lines.as_bytes()).await.unwrap();

    let mut responses = Vec::new();
    for _ in 0..3 {
        responses.push(client.receive().await.unwrap().expect("a response line"));
    }
    assert_eq!(responses[0], r#"{"id":1,"ok":true,"offsets":[0]}"#);
    assert!(responses[1].starts_with(r#"{"id":2,"ok":false,"error":{"code":"offset_out_of_range""#));
    assert_eq!(responses[2], r#"{"id":3,"ok":true,"offsets":[1]}"#);
    server.stop().await;
}

#[tokio::test]
async fn request_split_across_writes_is_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), SMALL_LIMITS).await;
    let mut client = server.connect().await;

    // The pauses let the server read each piece on its own before the next one arrives.
    let line = r#"{"op":"produce","id":1,"topic":"greetings","partition":0,"records":[{"value":"split"}]}"#;
    let (first, rest) = line.split_at(10);
    let (second, third) = rest.split_at(30);
    for piece in [first, second, third, "\n"] {
        client.send_bytes(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let response = client.receive().await.unwrap();
    assert_eq!(
        response.as_deref(),
        Some(r#"{"id":1,"ok":true,"offsets":[0]}"#)
    );
    server.stop().await;
}

#[tokio::test]
async fn blank_lines_are_skipped_and_crlf_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), SMALL_LIMITS).await;
    let mut client = server.connect().await;

    let fetch = r#"{"op":"fetch","id":1,"topic":"greetings","partition":0,"offset":0}"#;
    let bytes = format!("\n\r\n  \t \n{fetch}\r\n");
    client.send_bytes(bytes.as_bytes()).await.unwrap();
    let response = client.receive().await.unwrap();
    assert_eq!(
        response.as_deref(),
        Some(r#"{"id":1,"ok":true,"records":[],"next_offset":0,"log_end_offset":0}"#)
    );

    // Exactly one response: the next response line belongs to the next request.
    let second = client
        .send(&fetch.replace("\"id\":1", "\"id\":2"))
        .await
        .unwrap();
    assert!(second.starts_with(r#"{"id":2,"#), "{second}");
    server.stop().await;
}

#[tokio::test]
async fn unfinished_line_at_close_gets_no_response() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), SMALL_LIMITS).await;
    let mut client = server.connect().await;

    // A produce without its newline is not a request: nothing may be stored.
    let line = r#"{"op":"produce","topic":"greetings","partition":0,"records":[{"value":"lost"}]}"#;
    client.send_bytes(line.as_bytes()).await.unwrap();
    client.close_sending().await.unwrap();
    assert_eq!(client.receive().await.unwrap(), None);

    let mut other = server.connect().await;
    let fetch = json!({"op": "fetch", "topic": "greetings", "partition": 0, "offset": 0});
    let response = other.request(&fetch).await.unwrap();
    assert_eq!(response["log_end_offset"], json!(0));
    server.stop().await;
}
