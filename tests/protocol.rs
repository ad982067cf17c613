//! Protocol tests over real TCP against the real broker binary: every operation, every error
//! code, malformed input on a connection that must stay usable, limits, concurrency, shutdown.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rustlog::client::Client;
use rustlog::protocol::{ErrorCode, FetchRequest, ProduceRecord};
use serde_json::{json, Value};
use support::{BrokerProcess, RUSTLOG};

/// A config with small limits so tests can reach them: 4 KiB request lines, 8 connections, and a
/// `small` topic with 4 KiB segments and 1 KiB records.
const SMALL_LIMITS: &str = r#"
max_request_bytes = 4096
max_connections = 8

[topics.events]
partitions = 2

[topics.small]
partitions = 1
segment_bytes = 4096
max_record_bytes = 1024
index_interval_bytes = 256
"#;

fn start(dir: &Path) -> BrokerProcess {
    let config = dir.join("rustlog.toml");
    std::fs::write(&config, SMALL_LIMITS).unwrap();
    BrokerProcess::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

/// A raw line-level connection, for sending exactly the bytes a test wants.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Raw {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Sends `line` plus a newline and returns the parsed response line.
    fn send(&mut self, line: &[u8]) -> Value {
        self.writer.write_all(line).unwrap();
        self.writer.write_all(b"\n").unwrap();
        self.receive()
    }

    fn receive(&mut self) -> Value {
        let mut response = String::new();
        self.reader.read_line(&mut response).unwrap();
        serde_json::from_str(&response)
            .unwrap_or_else(|error| panic!("bad response {response:?}: {error}"))
    }

    fn request(&mut self, request: Value) -> Value {
        self.send(request.to_string().as_bytes())
    }
}

fn error_code(response: &Value) -> &str {
    assert_eq!(
        response["ok"],
        json!(false),
        "expected an error: {response}"
    );
    response["error"]["code"].as_str().unwrap()
}

#[test]
fn produce_then_fetch_round_trips_bytes() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    let every_byte: Vec<u8> = (0..=255).collect();
    let every_byte_b64 = base64_encode(&every_byte);

    let produced = raw.request(json!({
        "op": "produce", "id": 7, "topic": "events", "partition": 1,
        "records": [
            {"value": "plain text"},
            {"key": "user-1", "value": "héllo wörld"},
            {"key_b64": "AP8=", "value_b64": every_byte_b64},
            {"key": "", "value": ""}
        ]
    }));
    assert_eq!(
        produced,
        json!({"id": 7, "ok": true, "offsets": [0, 1, 2, 3]})
    );

    let fetched = raw
        .request(json!({"op": "fetch", "id": "f", "topic": "events", "partition": 1, "offset": 0}));
    assert_eq!(fetched["id"], json!("f"));
    assert_eq!(fetched["next_offset"], json!(4));
    assert_eq!(fetched["log_end_offset"], json!(4));
    let records = fetched["records"].as_array().unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["value"], json!("plain text"));
    assert!(records[0].get("key").is_none());
    assert_eq!(records[1]["key"], json!("user-1"));
    assert_eq!(records[1]["value"], json!("héllo wörld"));
    assert_eq!(records[2]["key_b64"], json!("AP8="));
    assert_eq!(records[2]["value_b64"], json!(every_byte_b64));
    assert_eq!(records[3]["key"], json!(""));
    assert_eq!(records[3]["value"], json!(""));
    assert!(records
        .iter()
        .all(|record| record["timestamp_ms"].as_i64().unwrap() > 1_600_000_000_000));
}

#[test]
fn fetch_respects_max_bytes_but_returns_one_record() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    let records: Vec<Value> = (0..10)
        .map(|n| json!({"value": format!("record-{n:03}")}))
        .collect();
    raw.request(json!({"op": "produce", "topic": "events", "partition": 0, "records": records}));

    // Each frame is 28 header bytes plus a 10-byte value: 38 bytes.
    let three = raw.request(
        json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 2, "max_bytes": 3 * 38}),
    );
    assert_eq!(three["records"].as_array().unwrap().len(), 3);
    assert_eq!(three["next_offset"], json!(5));

    let zero = raw.request(
        json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 9, "max_bytes": 0}),
    );
    assert_eq!(zero["records"].as_array().unwrap().len(), 1);
    assert_eq!(zero["records"][0]["value"], json!("record-009"));

    let at_end =
        raw.request(json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 10}));
    assert_eq!(at_end["records"], json!([]));
    assert_eq!(at_end["next_offset"], json!(10));
}

#[test]
fn metadata_lists_topics_and_offsets() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    raw.request(json!({"op": "produce", "topic": "events", "partition": 1, "records": [{"value": "a"}, {"value": "b"}]}));

    let metadata = raw.request(json!({"op": "metadata"}));
    assert_eq!(
        metadata,
        json!({"ok": true, "topics": [
            {"name": "events", "partitions": [
                {"partition": 0, "log_start_offset": 0, "log_end_offset": 0},
                {"partition": 1, "log_start_offset": 0, "log_end_offset": 2}
            ]},
            {"name": "small", "partitions": [
                {"partition": 0, "log_start_offset": 0, "log_end_offset": 0}
            ]}
        ]})
    );
}

#[test]
fn commit_and_fetch_from_group() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    let records: Vec<Value> = (0..5).map(|n| json!({"value": n.to_string()})).collect();
    raw.request(json!({"op": "produce", "topic": "events", "partition": 0, "records": records}));

    let before =
        raw.request(json!({"op": "committed", "group_id": "g", "topic": "events", "partition": 0}));
    assert_eq!(before, json!({"ok": true, "offset": null}));

    // With no commit, a group fetch starts at the log start.
    let fresh =
        raw.request(json!({"op": "fetch", "topic": "events", "partition": 0, "group_id": "g"}));
    assert_eq!(fresh["records"][0]["offset"], json!(0));

    let commit = raw.request(
        json!({"op": "commit", "group_id": "g", "topic": "events", "partition": 0, "offset": 3}),
    );
    assert_eq!(commit, json!({"ok": true}));
    let after =
        raw.request(json!({"op": "committed", "group_id": "g", "topic": "events", "partition": 0}));
    assert_eq!(after["offset"], json!(3));

    let resumed =
        raw.request(json!({"op": "fetch", "topic": "events", "partition": 0, "group_id": "g"}));
    let offsets: Vec<u64> = resumed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [3, 4]);

    // Committing the log end is allowed (caught up); past it is not.
    let at_end = raw.request(
        json!({"op": "commit", "group_id": "g", "topic": "events", "partition": 0, "offset": 5}),
    );
    assert_eq!(at_end["ok"], json!(true));
    let past_end = raw.request(
        json!({"op": "commit", "group_id": "g", "topic": "events", "partition": 0, "offset": 6}),
    );
    assert_eq!(error_code(&past_end), "offset_out_of_range");
    assert_eq!(past_end["error"]["log_end_offset"], json!(5));
}

#[test]
fn each_error_code_is_returned() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    raw.request(
        json!({"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "x"}]}),
    );

    let unknown_topic =
        raw.request(json!({"op": "fetch", "topic": "nope", "partition": 0, "offset": 0}));
    assert_eq!(error_code(&unknown_topic), "unknown_topic");
    assert!(unknown_topic["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`nope`"));

    let unknown_partition =
        raw.request(json!({"op": "fetch", "topic": "events", "partition": 2, "offset": 0}));
    assert_eq!(error_code(&unknown_partition), "unknown_partition");
    assert!(unknown_partition["error"]["message"]
        .as_str()
        .unwrap()
        .contains("partitions 0 to 1"));

    let out_of_range =
        raw.request(json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 5}));
    assert_eq!(error_code(&out_of_range), "offset_out_of_range");
    assert_eq!(out_of_range["error"]["log_start_offset"], json!(0));
    assert_eq!(out_of_range["error"]["log_end_offset"], json!(1));

    let invalid =
        raw.request(json!({"op": "produce", "topic": "events", "partition": 0, "records": []}));
    assert_eq!(error_code(&invalid), "invalid_request");

    let too_large = raw.request(json!({"op": "produce", "topic": "small", "partition": 0, "records": [{"value": "v".repeat(1000)}]}));
    assert_eq!(error_code(&too_large), "record_too_large");
    assert!(too_large["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1028 bytes"));

    let long_line = raw.request(json!({"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "v".repeat(5000)}]}));
    assert_eq!(error_code(&long_line), "request_too_large");

    // Nothing of the rejected requests was stored.
    let end = raw.request(json!({"op": "metadata"}));
    assert_eq!(
        end["topics"][0]["partitions"][0]["log_end_offset"],
        json!(1)
    );
    assert_eq!(
        end["topics"][1]["partitions"][0]["log_end_offset"],
        json!(0)
    );
}

#[test]
fn malformed_lines_keep_connection_usable() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    let cases: &[(&[u8], &str)] = &[
        (b"not json", "invalid JSON"),
        (b"{\"op\": \"fetch\"", "invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{\"topic\": \"events\"}", "missing field `op`"),
        (b"{\"op\": 5}", "`op` must be a string"),
        (b"{\"op\": \"destroy\"}", "unknown op `destroy`"),
        (b"{\"op\": \"fetch\", \"partition\": 0, \"offset\": 0}", "missing field `topic`"),
        (b"{\"op\": \"fetch\", \"topic\": \"events\", \"partition\": \"zero\", \"offset\": 0}", "invalid type"),
        (b"{\"op\": \"fetch\", \"topic\": \"events\", \"partition\": 0, \"offset\": -1}", "invalid value"),
        (b"{\"op\": \"fetch\", \"topic\": \"events\", \"partition\": 0, \"offset\": 0, \"colour\": 1}", "unknown field `colour`"),
        (b"{\"op\": \"fetch\", \"topic\": \"events\", \"partition\": 0}", "needs `offset`"),
        (b"{\"op\": \"metadata\", \"verbose\": true}", "unknown field `verbose`"),
        (b"{\"op\": \"produce\", \"topic\": \"events\", \"partition\": 0, \"records\": [{\"value_b64\": \"***\"}]}", "not valid base64"),
        (b"{\"op\": \"produce\", \"topic\": \"events\", \"partition\": 0, \"records\": [{\"key\": \"k\"}]}", "needs `value`"),
        (b"{\"op\": \"produce\", \"topic\": \"events\", \"partition\": 0, \"records\": [{\"value\": \"a\", \"value_b64\": \"YQ==\"}]}", "both `value` and `value_b64`"),
        (b"{\"op\": \"commit\", \"group_id\": \"\", \"topic\": \"events\", \"partition\": 0, \"offset\": 0}", "invalid group_id"),
        (b"{\"op\": \"metadata\", \"id\": \"\xff\xfe\"}", "invalid JSON"),
    ];

    for (line, expected) in cases {
        let response = raw.send(line);
        let shown = String::from_utf8_lossy(line);
        assert_eq!(error_code(&response), "invalid_request", "line {shown}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "line {shown}: message {message:?} lacks {expected:?}"
        );

        let good = raw.request(json!({"op": "metadata", "id": 1}));
        assert_eq!(good["ok"], json!(true), "after line {shown}");
    }

    // The id is echoed even when the rest of the request is invalid.
    let with_id = raw.request(json!({"op": "fetch", "id": 99, "topic": "events"}));
    assert_eq!(with_id["id"], json!(99));
}

#[test]
fn over_long_line_is_rejected_and_connection_continues() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);

    let huge = vec![b'x'; 1024 * 1024];
    let response = raw.send(&huge);
    assert_eq!(error_code(&response), "request_too_large");
    assert!(response["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1048576 bytes"));

    let good = raw.request(json!({"op": "metadata"}));
    assert_eq!(good["ok"], json!(true));
}

#[test]
fn disconnect_mid_line_leaves_broker_serving() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut other = Raw::connect(&broker.addr);

    {
        let mut leaving = TcpStream::connect(&broker.addr).unwrap();
        leaving
            .write_all(b"{\"op\": \"produce\", \"topic\": \"eve")
            .unwrap();
    }

    let response = other.request(json!({"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "still here"}]}));
    assert_eq!(response["offsets"], json!([0]));
    let fresh = Raw::connect(&broker.addr)
        .request(json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 0}));
    assert_eq!(fresh["records"].as_array().unwrap().len(), 1);
}

#[test]
fn too_many_connections_rejects_extra_client() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut held: Vec<Raw> = (0..8).map(|_| Raw::connect(&broker.addr)).collect();
    for raw in &mut held {
        assert_eq!(raw.request(json!({"op": "metadata"}))["ok"], json!(true));
    }

    let mut extra = Raw::connect(&broker.addr);
    let rejection = extra.receive();
    assert_eq!(error_code(&rejection), "too_many_connections");

    // Closing one frees a slot. The broker notices the close asynchronously, so retry briefly.
    drop(held.pop());
    let mut admitted = false;
    for _ in 0..100 {
        let mut next = Raw::connect(&broker.addr);
        let response = next.request(json!({"op": "metadata"}));
        if response["ok"] == json!(true) {
            admitted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        admitted,
        "a slot was freed but no new connection was admitted"
    );
}

#[test]
fn topic_name_with_dot_dot_is_unknown() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);

    for topic in ["../events", "../../etc", "events/../events", "..", "/tmp"] {
        let produce = raw.request(
            json!({"op": "produce", "topic": topic, "partition": 0, "records": [{"value": "x"}]}),
        );
        assert_eq!(error_code(&produce), "unknown_topic", "topic {topic}");
        let fetch =
            raw.request(json!({"op": "fetch", "topic": topic, "partition": 0, "offset": 0}));
        assert_eq!(error_code(&fetch), "unknown_topic", "topic {topic}");
    }

    let mut entries: Vec<String> = std::fs::read_dir(broker.data_dir.join("topics"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["events", "small"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_get_dense_offsets() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    const REQUESTS: usize = 100;
    const BATCH: usize = 5;

    let producers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let addr = broker.addr.clone();
            tokio::spawn(async move {
                let mut client = Client::connect(addr.as_str()).await.unwrap();
                let mut offsets = Vec::new();
                for request in 0..REQUESTS {
                    let records = (0..BATCH)
                        .map(|n| {
                            ProduceRecord::from_bytes(
                                None,
                                format!("{name}-{request}-{n}").as_bytes(),
                            )
                        })
                        .collect();
                    offsets.extend(client.produce("events", 0, records).await.unwrap().offsets);
                }
                offsets
            })
        })
        .collect();
    let mut all = Vec::new();
    for producer in producers {
        let offsets = producer.await.unwrap();
        assert!(
            offsets.windows(2).all(|pair| pair[0] < pair[1]),
            "one producer's offsets increase"
        );
        all.extend(offsets);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (0..(2 * REQUESTS * BATCH) as u64).collect();
    assert_eq!(all, expected);

    // Every record is stored once, and each batch is contiguous.
    let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
    let mut values = Vec::new();
    let mut next = 0;
    while next < expected.len() as u64 {
        let request = FetchRequest {
            topic: "events".into(),
            partition: 0,
            offset: Some(next),
            max_bytes: None,
            group_id: None,
        };
        let response = client.fetch(request).await.unwrap();
        next = response.next_offset;
        values.extend(
            response
                .records
                .into_iter()
                .map(|record| record.value.unwrap()),
        );
    }
    for batch in values.chunks(BATCH) {
        let prefix = batch[0].rsplit_once('-').unwrap().0;
        for (n, value) in batch.iter().enumerate() {
            assert_eq!(value, &format!("{prefix}-{n}"));
        }
    }
    values.sort();
    values.dedup();
    assert_eq!(values.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_during_segment_roll_sees_dense_records() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    const RECORDS: u64 = 600;

    let addr = broker.addr.clone();
    let producer = tokio::spawn(async move {
        let mut client = Client::connect(addr.as_str()).await.unwrap();
        for n in 0..RECORDS {
            let record = ProduceRecord::from_bytes(None, format!("{n:0>100}").as_bytes());
            client.produce("small", 0, vec![record]).await.unwrap();
        }
    });

    // Read from the start over and over while segments roll underneath.
    let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
    let mut next = 0;
    let mut rounds = 0;
    while next < RECORDS && rounds < 100_000 {
        rounds += 1;
        let request = FetchRequest {
            topic: "small".into(),
            partition: 0,
            offset: Some(next),
            max_bytes: Some(1000),
            group_id: None,
        };
        let response = client.fetch(request).await.unwrap();
        for record in &response.records {
            assert_eq!(record.offset, next, "records arrive dense and in order");
            assert_eq!(
                record.value.as_deref(),
                Some(format!("{next:0>100}").as_str())
            );
            next += 1;
        }
        assert!(response.next_offset == next);
    }
    producer.await.unwrap();
    assert_eq!(next, RECORDS);

    let segments = std::fs::read_dir(broker.data_dir.join("topics/small/partition-0"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert!(
        segments > 10,
        "expected many 4 KiB segments, found {segments}"
    );
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    let mut broker = start(temp.path());
    let mut raw = Raw::connect(&broker.addr);
    raw.request(
        json!({"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "kept"}]}),
    );

    let status = broker.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(broker
        .data_dir
        .join("topics/events/partition-0/clean_shutdown")
        .exists());
    assert!(broker.log().contains("rustlog stopped"));

    let restarted = start(temp.path());
    assert!(restarted.log().contains("clean_shutdown=true"));
    let fetched = Raw::connect(&restarted.addr)
        .request(json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 0}));
    assert_eq!(fetched["records"][0]["value"], json!("kept"));
}

#[test]
fn lowering_partition_count_is_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut broker = BrokerProcess::start(&data_dir, &["--topic", "orders:3"]);
    broker.terminate();

    let output = Command::new(RUSTLOG)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--topic",
            "orders:2",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("topic `orders` has 3 partitions on disk but the configuration asks for 2"),
        "{stderr}"
    );

    // Raising the count adds partitions.
    let raised = BrokerProcess::start(&data_dir, &["--topic", "orders:4"]);
    let metadata = Raw::connect(&raised.addr).request(json!({"op": "metadata"}));
    assert_eq!(
        metadata["topics"][0]["partitions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn client_without_broker_prints_one_line() {
    // Bind and drop a listener to find a port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let output = Command::new(RUSTLOG)
        .args(["topics", "--addr", &addr])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to the broker at {addr}")),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("refused").count(),
        1,
        "the cause is printed once: {stderr}"
    );
}

#[test]
fn invalid_topic_flag_is_rejected() {
    let output = Command::new(RUSTLOG)
        .args(["serve", "--topic", "../etc:1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid topic name `../etc`"));
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn error_code_names_are_stable() {
    let codes = [
        (ErrorCode::UnknownTopic, "unknown_topic"),
        (ErrorCode::UnknownPartition, "unknown_partition"),
        (ErrorCode::OffsetOutOfRange, "offset_out_of_range"),
        (ErrorCode::InvalidRequest, "invalid_request"),
        (ErrorCode::RecordTooLarge, "record_too_large"),
        (ErrorCode::RequestTooLarge, "request_too_large"),
        (ErrorCode::TooManyConnections, "too_many_connections"),
        (ErrorCode::StorageError, "storage_error"),
    ];
    for (code, name) in codes {
        assert_eq!(code.as_str(), name);
        assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
    }
}

#[test]
fn second_broker_on_same_data_dir_is_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let first = BrokerProcess::start(&data_dir, &["--topic", "events:1"]);

    let output = Command::new(RUSTLOG)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--topic",
            "events:1",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is in use by another rustlog process"),
        "{stderr}"
    );

    // The first broker is untouched and still serves.
    let metadata = Raw::connect(&first.addr).request(json!({"op": "metadata"}));
    assert_eq!(metadata["ok"], json!(true));
}
