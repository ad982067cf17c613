//! Malformed and hostile input against the real broker binary, beyond the cases in
//! `protocol.rs`: numbers out of range, wrong types, missing and extra fields, unknown
//! operations, bad base64, bytes that are not UTF-8, odd JSON shapes, over-long lines, partial
//! lines, connection churn, slow clients and clients that never read.
//!
//! Every bad line must get a clear error on a connection that stays usable, or the connection
//! must be cut off. Throughout, a second client, the witness, produces and fetches on its own
//! topic, and each of its round trips must succeed.

mod support;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{BrokerProcess, LineClient};

/// Small limits so the tests reach them: 4 KiB request lines and 32 connections.
const CONFIG: &str = r#"
max_request_bytes = 4096
max_connections = 32

[topics.events]
partitions = 1

[topics.witness]
partitions = 1
"#;

fn start(dir: &Path) -> BrokerProcess {
    let config = dir.join("rustlog.toml");
    std::fs::write(&config, CONFIG).unwrap();
    BrokerProcess::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

/// A client that produces a unique record to the `witness` topic and fetches it back.
struct Witness {
    client: LineClient,
    round_trips: u64,
    slowest: Duration,
}

impl Witness {
    fn connect(addr: &str) -> Witness {
        Witness {
            client: LineClient::connect(addr),
            round_trips: 0,
            slowest: Duration::ZERO,
        }
    }

    /// Produces one record and fetches it back; panics naming `after` when either fails.
    fn check(&mut self, after: &str) {
        let started = Instant::now();
        let value = format!("witness-{}", self.round_trips);
        let produced = self.client.request(&json!({
            "op": "produce", "topic": "witness", "partition": 0, "records": [{"value": value}]
        }));
        assert_eq!(
            produced["ok"],
            json!(true),
            "witness produce after {after}: {produced}"
        );
        let offset = produced["offsets"][0].as_u64().unwrap();

        let fetched = self.client.request(&json!({
            "op": "fetch", "topic": "witness", "partition": 0, "offset": offset, "max_bytes": 1
        }));
        assert_eq!(
            fetched["ok"],
            json!(true),
            "witness fetch after {after}: {fetched}"
        );
        assert_eq!(
            fetched["records"][0]["value"],
            json!(value),
            "after {after}"
        );

        self.round_trips += 1;
        self.slowest = self.slowest.max(started.elapsed());
    }

    /// Runs round trips in a thread until the returned handle is stopped.
    fn spawn(addr: &str) -> BackgroundWitness {
        let mut witness = Witness::connect(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                witness.check("a background round trip");
                std::thread::sleep(Duration::from_millis(10));
            }
            witness
        });
        BackgroundWitness { stop, thread }
    }
}

struct BackgroundWitness {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Witness>,
}

impl BackgroundWitness {
    /// Stops the witness and checks that it kept working: at least `min_round_trips`, none of
    /// them slower than two seconds.
    fn finish(self, min_round_trips: u64) {
        self.stop.store(true, Ordering::SeqCst);
        let witness = self.thread.join().expect("the witness failed");
        assert!(
            witness.round_trips >= min_round_trips,
            "the witness made {} round trips, expected at least {min_round_trips}",
            witness.round_trips
        );
        assert!(
            witness.slowest < Duration::from_secs(2),
            "the slowest witness round trip took {:?}",
            witness.slowest
        );
    }
}

/// Sends each line and checks the error code and a part of the message; then checks that the
/// same connection and the witness still work.
fn check_rejected(addr: &str, cases: &[(&[u8], &str, &str)]) {
    let mut client = LineClient::connect(addr);
    let mut witness = Witness::connect(addr);
    for &(line, code, expected) in cases {
        let printable = String::from_utf8_lossy(line);
        let printable = printable.get(..120).unwrap_or(&printable);
        client.send_raw(&[line, b"\n"].concat());
        let response = client.receive();

        assert_eq!(response["ok"], json!(false), "line {printable}: {response}");
        assert_eq!(
            response["error"]["code"],
            json!(code),
            "line {printable}: {response}"
        );
        let message = response["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "line {printable}: message {message:?} lacks {expected:?}"
        );

        let metadata = client.request(&json!({"op": "metadata"}));
        assert_eq!(
            metadata["ok"],
            json!(true),
            "connection unusable after {printable}"
        );
        witness.check(printable);
    }
}

fn log_end(client: &mut LineClient, topic: &str) -> u64 {
    let metadata = client.request(&json!({"op": "metadata"}));
    let topics = metadata["topics"].as_array().unwrap();
    let topic = topics
        .iter()
        .find(|entry| entry["name"] == json!(topic))
        .unwrap();
    topic["partitions"][0]["log_end_offset"].as_u64().unwrap()
}

/// Returns a value of `/proc/PID/status`, such as `VmRSS`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn numbers_out_of_range_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut client = LineClient::connect(&broker.addr);
    client.request(
        &json!({"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "x"}]}),
    );

    let max_offset = client
        .request(&json!({"op": "fetch", "topic": "events", "partition": 0, "offset": u64::MAX}));
    assert_eq!(max_offset["error"]["code"], json!("offset_out_of_range"));
    assert_eq!(max_offset["error"]["log_start_offset"], json!(0));
    assert_eq!(max_offset["error"]["log_end_offset"], json!(1));

    let many_digits = format!(
        r#"{{"op": "fetch", "topic": "events", "partition": 0, "offset": 1{}}}"#,
        "0".repeat(400)
    );
    let cases: &[(&[u8], &str, &str)] = &[
        (br#"{"op": "fetch", "topic": "events", "partition": 0, "offset": 18446744073709551616}"#, "invalid_request", "expected u64"),
        (br#"{"op": "fetch", "topic": "events", "partition": 0, "offset": 1e3}"#, "invalid_request", "expected u64"),
        (br#"{"op": "fetch", "topic": "events", "partition": 0, "offset": 1.5}"#, "invalid_request", "expected u64"),
        (br#"{"op": "fetch", "topic": "events", "partition": 0, "offset": "5"}"#, "invalid_request", "invalid type: string"),
        (many_digits.as_bytes(), "invalid_request", "number out of range"),
        (br#"{"op": "fetch", "topic": "events", "partition": 4294967296, "offset": 0}"#, "invalid_request", "expected u32"),
        (br#"{"op": "fetch", "topic": "events", "partition": -1, "offset": 0}"#, "invalid_request", "expected u32"),
        (br#"{"op": "fetch", "topic": "events", "partition": 4294967295, "offset": 0}"#, "unknown_partition", "no partition 4294967295"),
        (br#"{"op": "fetch", "topic": "events", "partition": 0, "offset": 0, "max_bytes": 18446744073709551616}"#, "invalid_request", "expected u64"),
        (br#"{"op": "fetch", "topic": "events", "partition": 0, "offset": 0, "max_bytes": -1}"#, "invalid_request", "expected u64"),
        (br#"{"op": "commit", "group_id": "g", "topic": "events", "partition": 0, "offset": 18446744073709551615}"#, "offset_out_of_range", "cannot commit offset 18446744073709551615"),
        (br#"{"op": "commit", "group_id": "g", "topic": "events", "partition": 0, "offset": 18446744073709551616}"#, "invalid_request", "expected u64"),
        (br#"{"op": "produce", "topic": "events", "partition": 4294967295, "records": [{"value": "x"}]}"#, "unknown_partition", "no partition 4294967295"),
    ];
    check_rejected(&broker.addr, cases);

    // None of the rejected requests stored or committed anything.
    assert_eq!(log_end(&mut client, "events"), 1);
    let committed = client
        .request(&json!({"op": "committed", "group_id": "g", "topic": "events", "partition": 0}));
    assert_eq!(committed["offset"], Value::Null);
}

#[test]
fn max_bytes_zero_and_max_return_whole_records() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut client = LineClient::connect(&broker.addr);
    client.request(&json!({"op": "produce", "topic": "events", "partition": 0,
        "records": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}));
    let fetch = |client: &mut LineClient, offset: u64, max_bytes: u64| {
        client.request(&json!({"op": "fetch", "topic": "events", "partition": 0,
            "offset": offset, "max_bytes": max_bytes}))
    };

    let zero = fetch(&mut client, 1, 0);
    assert_eq!(zero["records"].as_array().unwrap().len(), 1);
    assert_eq!(zero["records"][0]["value"], json!("b"));
    assert_eq!(zero["next_offset"], json!(2));

    let zero_at_end = fetch(&mut client, 3, 0);
    assert_eq!(zero_at_end["records"], json!([]));
    assert_eq!(zero_at_end["next_offset"], json!(3));

    let max = fetch(&mut client, 0, u64::MAX);
    assert_eq!(max["records"].as_array().unwrap().len(), 3);

    let zero_for_group = client.request(&json!({"op": "fetch", "topic": "events", "partition": 0,
        "group_id": "fresh", "max_bytes": 0}));
    assert_eq!(zero_for_group["records"][0]["offset"], json!(0));
    assert_eq!(zero_for_group["records"].as_array().unwrap().len(), 1);
}

#[test]
fn wrong_types_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let cases: &[(&[u8], &str, &str)] = &[
        (br#"{"op": "fetch", "topic": 5, "partition": 0, "offset": 0}"#, "invalid_request", "invalid type: integer `5`, expected a string"),
        (br#"{"op": "fetch", "topic": "events", "partition": true, "offset": 0}"#, "invalid_request", "invalid type: boolean"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": {}}"#, "invalid_request", "expected a sequence"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": null}"#, "invalid_request", "expected a sequence"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": ["x"]}"#, "invalid_request", "invalid type: string"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": 5}]}"#, "invalid_request", "invalid type: integer"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"key": [1], "value": "v"}]}"#, "invalid_request", "invalid type: sequence"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": null}]}"#, "invalid_request", "needs `value`"),
        (br#"{"op": "commit", "group_id": 7, "topic": "events", "partition": 0, "offset": 0}"#, "invalid_request", "invalid type: integer"),
        (br#"{"op": null}"#, "invalid_request", "`op`"),
        (br#"{"op": ["produce"]}"#, "invalid_request", "`op` must be a string, got an array"),
        (br#"{"op": {"name": "metadata"}}"#, "invalid_request", "`op` must be a string, got an object"),
    ];
    check_rejected(&broker.addr, cases);
}

#[test]
fn missing_and_extra_fields_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let cases: &[(&[u8], &str, &str)] = &[
        (br#"{}"#, "invalid_request", "missing field `op`"),
        (br#"{"op": "produce", "topic": "events", "partition": 0}"#, "invalid_request", "missing field `records`"),
        (br#"{"op": "produce", "topic": "events", "records": [{"value": "v"}]}"#, "invalid_request", "missing field `partition`"),
        (br#"{"op": "commit", "group_id": "g", "topic": "events", "partition": 0}"#, "invalid_request", "missing field `offset`"),
        (br#"{"op": "committed", "topic": "events", "partition": 0}"#, "invalid_request", "missing field `group_id`"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "v", "headers": {}}]}"#, "invalid_request", "unknown field `headers`"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "acks": "all", "records": [{"value": "v"}]}"#, "invalid_request", "unknown field `acks`"),
        (br#"{"op": "offsets", "group_id": "g"}"#, "invalid_request", "unknown field `group_id`"),
        (br#"{"op": "commit", "group_id": "g", "topic": "events", "partition": 0, "offset": 0, "metadata": ""}"#, "invalid_request", "unknown field `metadata`"),
    ];
    check_rejected(&broker.addr, cases);

    // An extra field in the last record rejects the whole batch: nothing was stored.
    assert_eq!(log_end(&mut LineClient::connect(&broker.addr), "events"), 0);
}

#[test]
fn unknown_operations_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let long_op = format!(r#"{{"op": "{}"}}"#, "x".repeat(3000));
    let cases: &[(&[u8], &str, &str)] = &[
        (br#"{"op": ""}"#, "invalid_request", "unknown op ``"),
        (
            br#"{"op": "PRODUCE"}"#,
            "invalid_request",
            "unknown op `PRODUCE`",
        ),
        (
            br#"{"op": "produce "}"#,
            "invalid_request",
            "unknown op `produce `",
        ),
        (br#"{"op": "fetch\u0000"}"#, "invalid_request", "unknown op"),
        (
            br#"{"op": "delete_topic", "topic": "events"}"#,
            "invalid_request",
            "expected one of: produce, fetch, commit, committed, metadata, offsets",
        ),
        (long_op.as_bytes(), "invalid_request", "unknown op `xxx"),
    ];
    check_rejected(&broker.addr, cases);
}

#[test]
fn invalid_base64_is_rejected_and_batch_not_stored() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let cases: &[(&[u8], &str, &str)] = &[
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value_b64": "YQ"}]}"#, "invalid_request", "`value_b64` is not valid base64"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value_b64": "YQ==="}]}"#, "invalid_request", "`value_b64` is not valid base64"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value_b64": "Y Q=="}]}"#, "invalid_request", "`value_b64` is not valid base64"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value_b64": "-_8="}]}"#, "invalid_request", "`value_b64` is not valid base64"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value_b64": "YR=="}]}"#, "invalid_request", "`value_b64` is not valid base64"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"key_b64": "%%%", "value": "v"}]}"#, "invalid_request", "`key_b64` is not valid base64"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "a"}, {"value": "b"}, {"value_b64": "!!"}]}"#, "invalid_request", "record 2:"),
    ];
    check_rejected(&broker.addr, cases);

    let mut client = LineClient::connect(&broker.addr);
    assert_eq!(
        log_end(&mut client, "events"),
        0,
        "a rejected batch stored records"
    );

    // The empty string is valid base64 for no bytes.
    let empty = client.request(&json!({"op": "produce", "topic": "events", "partition": 0,
        "records": [{"value_b64": ""}]}));
    assert_eq!(empty["offsets"], json!([0]));
}

#[test]
fn bytes_that_are_not_utf8_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let cases: &[(&[u8], &str, &str)] = &[
        (b"{\"op\": \"produce\", \"topic\": \"events\", \"partition\": 0, \"records\": [{\"value\": \"\xff\"}]}", "invalid_request", "invalid unicode code point"),
        (b"{\"op\": \"produce\", \"topic\": \"events\", \"partition\": 0, \"records\": [{\"value\": \"\xc3\x28\"}]}", "invalid_request", "invalid unicode code point"),
        (b"{\"op\": \"produce\", \"topic\": \"events\", \"partition\": 0, \"records\": [{\"value\": \"\xc0\xaf\"}]}", "invalid_request", "invalid unicode code point"),
        (b"{\"op\": \"produce\", \"topic\": \"ev\xe2\x82\", \"partition\": 0, \"records\": [{\"value\": \"v\"}]}", "invalid_request", "invalid unicode code point"),
        (b"\x80{\"op\": \"metadata\"}", "invalid_request", "expected value at line 1 column 1"),
        (b"\xef\xbb\xbf{\"op\": \"metadata\"}", "invalid_request", "expected value at line 1 column 1"),
        (b"{\"op\": \"metadata\", \"id\": \"a\x00b\"}", "invalid_request", "control character"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "\ud800"}]}"#, "invalid_request", "hex escape"),
        (br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "\udc00x"}]}"#, "invalid_request", "surrogate"),
    ];
    check_rejected(&broker.addr, cases);

    let mut client = LineClient::connect(&broker.addr);
    assert_eq!(log_end(&mut client, "events"), 0);

    // An escaped NUL and an escaped surrogate pair are valid JSON strings, stored as their bytes.
    let valid = client.request(&json!({"op": "produce", "topic": "events", "partition": 0,
        "records": [{"value": "a\u{0}b"}, {"value": "\u{1F600}"}]}));
    assert_eq!(valid["offsets"], json!([0, 1]));
    let fetched =
        client.request(&json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 0}));
    assert_eq!(fetched["records"][0]["value"], json!("a\u{0}b"));
    assert_eq!(fetched["records"][1]["value"], json!("\u{1F600}"));
}

#[test]
fn odd_json_shapes_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let deep_array = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let deep_id = format!(
        r#"{{"op": "metadata", "id": {}{}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let cases: &[(&[u8], &str, &str)] = &[
        (
            b"null",
            "invalid_request",
            "must be a JSON object, got null",
        ),
        (
            b"42",
            "invalid_request",
            "must be a JSON object, got a number",
        ),
        (
            b"\"metadata\"",
            "invalid_request",
            "must be a JSON object, got a string",
        ),
        (
            b"true",
            "invalid_request",
            "must be a JSON object, got a boolean",
        ),
        // serde can read a struct from an array of its fields in order; the protocol must not.
        (br#"["x", "metadata"]"#, "invalid_request", "JSON object"),
        (
            br#"{"op": "metadata"} {"op": "metadata"}"#,
            "invalid_request",
            "trailing characters",
        ),
        (
            br#"{"op": "metadata",}"#,
            "invalid_request",
            "trailing comma",
        ),
        (
            br#"{"op": "fetch", "op": "metadata"}"#,
            "invalid_request",
            "duplicate field `op`",
        ),
        (
            br#"{'op': 'metadata'}"#,
            "invalid_request",
            "key must be a string",
        ),
        (
            deep_array.as_bytes(),
            "invalid_request",
            "recursion limit exceeded",
        ),
        (
            deep_id.as_bytes(),
            "invalid_request",
            "recursion limit exceeded",
        ),
    ];
    check_rejected(&broker.addr, cases);

    // Blank lines get no response, so the next response belongs to the next request.
    let mut client = LineClient::connect(&broker.addr);
    client.send_raw(b"   \n\r\n\t\n\n");
    let answered = client.request(&json!({"op": "metadata", "id": "after-blank-lines"}));
    assert_eq!(answered["id"], json!("after-blank-lines"));
}

#[test]
fn pipelined_mixed_lines_are_answered_in_order() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut client = LineClient::connect(&broker.addr);

    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for n in 0..300 {
        match n % 3 {
            0 => {
                batch.extend_from_slice(
                    format!("{{\"op\": \"metadata\", \"id\": {n}}}\n").as_bytes(),
                );
                expected.push((Some(n), true));
            }
            1 => {
                batch.extend_from_slice(format!("{{\"op\": \"nope\", \"id\": {n}}}\n").as_bytes());
                expected.push((Some(n), false));
            }
            _ => {
                batch.extend_from_slice(b"{not json\n");
                expected.push((None, false));
            }
        }
    }
    client.send_raw(&batch);

    for (n, (id, ok)) in expected.into_iter().enumerate() {
        let response = client.receive();
        assert_eq!(response["ok"], json!(ok), "response {n}: {response}");
        match id {
            Some(id) => assert_eq!(response["id"], json!(id), "response {n}"),
            None => assert!(response.get("id").is_none(), "response {n}: {response}"),
        }
    }
}

#[test]
fn over_long_line_without_newline_is_discarded() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let pid = broker.pid().unwrap();
    let witness = Witness::spawn(&broker.addr);
    let rss_before = proc_status_kib(pid, "VmRSS");

    // 32 MiB with no newline: the broker must count and drop the bytes, not keep them.
    let mut flood = LineClient::connect(&broker.addr);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..32 {
        flood.send_raw(&chunk);
    }
    flood.send_raw(b"\n");
    let response = flood.receive();

    assert_eq!(
        response["error"]["code"],
        json!("request_too_large"),
        "{response}"
    );
    let message = response["error"]["message"].as_str().unwrap();
    assert!(message.contains("33554432 bytes"), "{message}");
    let rss_after = proc_status_kib(pid, "VmRSS");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_eq!(flood.request(&json!({"op": "metadata"}))["ok"], json!(true));

    // Another over-long line, cut off by a disconnect before its newline, is logged and dropped.
    flood.send_raw(&chunk);
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !broker.log().contains("len=1048576") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = broker.log();
    assert!(
        log.contains("client disconnected in the middle of a request line"),
        "{log}"
    );
    assert!(log.contains("len=1048576"), "{log}");
    witness.finish(5);
}

#[test]
fn partial_produce_then_disconnect_stores_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut witness = Witness::connect(&broker.addr);

    // A whole produce request except for its newline, then the connection closes.
    let mut leaving = TcpStream::connect(&broker.addr).unwrap();
    leaving
        .write_all(br#"{"op": "produce", "topic": "events", "partition": 0, "records": [{"value": "ghost"}]}"#)
        .unwrap();
    drop(leaving);

    let deadline = Instant::now() + Duration::from_secs(10);
    while !broker.log().contains("in the middle of a request line") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(broker
        .log()
        .contains("client disconnected in the middle of a request line"));
    let mut client = LineClient::connect(&broker.addr);
    assert_eq!(
        log_end(&mut client, "events"),
        0,
        "the partial request was applied"
    );
    witness.check("a partial produce and a disconnect");
}

#[test]
fn half_closed_client_gets_its_response() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let mut client = LineClient::connect(&broker.addr);

    client.send_raw(b"{\"op\": \"metadata\", \"id\": \"last\"}\n");
    client.stream().shutdown(Shutdown::Write).unwrap();

    assert_eq!(client.receive()["id"], json!("last"));
    let mut rest = Vec::new();
    use std::io::Read as _;
    let read = client.stream().read_to_end(&mut rest).unwrap();
    assert_eq!(read, 0, "the broker sent more after the last response");
}

#[test]
fn two_thousand_connections_opened_and_dropped() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let pid = broker.pid().unwrap();
    let descriptors_before = open_descriptors(pid);
    let witness = Witness::spawn(&broker.addr);

    // 2,000 connections in bursts of 50, each dropped in one of four ways.
    for burst in 0..40 {
        let mut open = Vec::new();
        for n in 0..50 {
            let mut stream = TcpStream::connect(&broker.addr).unwrap();
            let _ = match n % 4 {
                0 => Ok(()),
                1 => stream.write_all(b"{\"op\": \"meta"),
                2 => stream.write_all(b"{\"op\": \"metadata\"}\n"),
                _ => stream.shutdown(Shutdown::Write),
            };
            open.push(stream);
        }
        if burst % 2 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(open);
    }

    // Every slot comes back: 31 new clients plus the witness fill the 32 connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admitted = Vec::new();
    while admitted.len() < 31 && Instant::now() < deadline {
        let mut client = LineClient::connect(&broker.addr);
        if client.request(&json!({"op": "metadata"}))["ok"] == json!(true) {
            admitted.push(client);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(admitted.len(), 31, "connection slots were not all released");
    drop(admitted);
    witness.finish(5);

    // The broker closed its sockets: at most a few descriptors more than before the churn.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut descriptors = open_descriptors(pid);
    while descriptors > descriptors_before + 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        descriptors = open_descriptors(pid);
    }
    assert!(
        descriptors <= descriptors_before + 4,
        "{descriptors_before} descriptors before, {descriptors} after"
    );
}

#[test]
fn slow_client_is_served_without_blocking_others() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let witness = Witness::spawn(&broker.addr);
    let mut slow = LineClient::connect(&broker.addr);

    // One byte per second for five seconds, then the rest of the line.
    let line = b"{\"op\": \"metadata\", \"id\": \"slow\"}\n";
    for byte in &line[..5] {
        slow.send_raw(&[*byte]);
        std::thread::sleep(Duration::from_secs(1));
    }
    slow.send_raw(&line[5..]);

    let response = slow.receive();
    assert_eq!(response["id"], json!("slow"));
    assert_eq!(response["ok"], json!(true));
    witness.finish(50);
}

#[test]
fn client_that_never_reads_blocks_only_itself() {
    let temp = tempfile::tempdir().unwrap();
    let broker = start(temp.path());
    let witness = Witness::spawn(&broker.addr);

    // Pipeline requests without reading a single response, until the socket buffers on both
    // sides are full and writing stalls (bounded by the write timeout and a request count).
    let mut stuck = TcpStream::connect(&broker.addr).unwrap();
    stuck
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request = b"{\"op\": \"metadata\"}\n".repeat(1000);
    let mut stalled = false;
    for _ in 0..1000 {
        if stuck.write_all(&request).is_err() {
            stalled = true;
            break;
        }
    }
    assert!(
        stalled,
        "a million requests went through without reading a response"
    );

    // The witness kept working all along, and still does once the stuck client leaves.
    witness.finish(20);
    drop(stuck);
    Witness::connect(&broker.addr).check("a client that never read left");
}
