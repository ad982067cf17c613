//! Consumer offsets over real TCP. The tests cover commit and committed, fetches that start at a
//! group's committed offset, and the at-least-once consume loop with a consumer that crashes
//! between processing and committing. Commits survive a restart and a kill of the server.

mod support;

use std::net::SocketAddr;

use serde::Serialize;
use serde_json::{json, Value};
use step09_group_commit::client::Client;
use step09_group_commit::consumer::{ConsumeError, Consumer};
use step09_group_commit::server::Limits;
use support::{assert_transcript, config, TestServer, Transcript};

/// The byte budget of a consumer's fetch: two of the records of [`produce_five`], whose frames
/// are 41 bytes each.
const BATCH_BYTES: u64 = 90;

/// Appends `event 0` to `event 4` to partition 0 of `greetings`.
async fn produce_five(addr: SocketAddr) {
    let mut client = Client::connect(addr).await.unwrap();
    let records: Vec<Value> = (0..5)
        .map(|number| json!({"key": format!("user-{}", number % 2), "value": format!("event {number}")}))
        .collect();
    let produce =
        json!({"op": "produce", "topic": "greetings", "partition": 0, "records": records});
    let response = client.request(&produce).await.unwrap();
    assert_eq!(response["offsets"], json!([0, 1, 2, 3, 4]));
}

/// Returns a consumer of partition 0 of `greetings` in group `audit`, recording its exchanges.
async fn consumer(addr: SocketAddr) -> Consumer {
    let mut client = Client::connect(addr).await.unwrap();
    client.record_exchanges();
    Consumer::new(client, "audit", "greetings", 0, BATCH_BYTES)
}

/// Returns the committed offset of group `audit` for partition 0 of `greetings`.
async fn committed(addr: SocketAddr) -> Value {
    let mut client = Client::connect(addr).await.unwrap();
    let request =
        json!({"op": "committed", "group_id": "audit", "topic": "greetings", "partition": 0});
    client.request(&request).await.unwrap()["offset"].take()
}

/// What consumers processed, in order, and what went over the wire, for a snapshot.
#[derive(Serialize)]
struct ConsumeStory {
    /// The offsets passed to the processing function, in the order it saw them.
    processed: Vec<u64>,
    /// Each consumer's exchanges, in the order they ran.
    transcript: Transcript,
}

/// Moves the exchanges `consumer` recorded into `transcript`.
fn record(transcript: &mut Transcript, consumer: &mut Consumer) {
    for exchange in consumer.client_mut().take_exchanges() {
        transcript.push(&exchange.request, &exchange.response);
    }
}

#[tokio::test]
async fn commit_and_committed_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    produce_five(server.addr).await;
    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);

    let long_group = "g".repeat(256);
    let lines = [
        // A group has no offset until it commits.
        r#"{"op":"committed","id":1,"group_id":"audit","topic":"greetings","partition":0}"#,
        r#"{"op":"commit","id":2,"group_id":"audit","topic":"greetings","partition":0,"offset":3}"#,
        r#"{"op":"committed","id":3,"group_id":"audit","topic":"greetings","partition":0}"#,
        // A smaller offset replaces a larger one, and the log end is allowed.
        r#"{"op":"commit","id":4,"group_id":"audit","topic":"greetings","partition":0,"offset":1}"#,
        r#"{"op":"committed","id":5,"group_id":"audit","topic":"greetings","partition":0}"#,
        r#"{"op":"commit","id":6,"group_id":"audit","topic":"greetings","partition":0,"offset":5}"#,
        // Groups and partitions do not share offsets.
        r#"{"op":"committed","id":7,"group_id":"billing","topic":"greetings","partition":0}"#,
        r#"{"op":"committed","id":8,"group_id":"audit","topic":"greetings","partition":1}"#,
        // Commits that are rejected leave the stored offset alone.
        r#"{"op":"commit","id":9,"group_id":"audit","topic":"greetings","partition":0,"offset":6}"#,
        r#"{"op":"commit","id":10,"group_id":"audit","topic":"farewells","partition":0,"offset":0}"#,
        r#"{"op":"commit","id":11,"group_id":"audit","topic":"greetings","partition":2,"offset":0}"#,
        r#"{"op":"commit","id":12,"group_id":"","topic":"greetings","partition":0,"offset":0}"#,
        r#"{"op":"commit","id":13,"group_id":"audit","topic":"greetings","partition":0}"#,
        r#"{"op":"commit","id":14,"group_id":"audit","topic":"greetings","partition":0,"offset":-1}"#,
        r#"{"op":"committed","id":15,"group_id":"audit","topic":"greetings","partition":0}"#,
    ];
    for line in lines {
        transcript.send(&mut client, line).await;
    }
    let too_long = format!(
        r#"{{"op":"committed","id":16,"group_id":"{long_group}","topic":"greetings","partition":0}}"#
    );
    transcript.send(&mut client, &too_long).await;

    assert_transcript!(transcript);
    server.stop().await;
}

#[tokio::test]
async fn group_fetch_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    produce_five(server.addr).await;
    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);

    let lines = [
        // Before its first commit, a group starts at the log start offset.
        r#"{"op":"fetch","id":1,"topic":"greetings","partition":0,"group_id":"audit","max_bytes":1}"#,
        // A fetch never commits: the same fetch returns the same record.
        r#"{"op":"fetch","id":2,"topic":"greetings","partition":0,"group_id":"audit","max_bytes":1}"#,
        r#"{"op":"commit","id":3,"group_id":"audit","topic":"greetings","partition":0,"offset":3}"#,
        r#"{"op":"fetch","id":4,"topic":"greetings","partition":0,"group_id":"audit"}"#,
        // An explicit offset wins over the group's commit.
        r#"{"op":"fetch","id":5,"topic":"greetings","partition":0,"group_id":"audit","offset":1,"max_bytes":1}"#,
        // A group that has read everything gets no records.
        r#"{"op":"commit","id":6,"group_id":"audit","topic":"greetings","partition":0,"offset":5}"#,
        r#"{"op":"fetch","id":7,"topic":"greetings","partition":0,"group_id":"audit"}"#,
        // A fetch needs a start.
        r#"{"op":"fetch","id":8,"topic":"greetings","partition":0}"#,
        r#"{"op":"fetch","id":9,"topic":"greetings","partition":0,"group_id":""}"#,
    ];
    for line in lines {
        transcript.send(&mut client, line).await;
    }
    assert_transcript!(transcript);
    server.stop().await;
}

#[tokio::test]
async fn consumer_crash_before_commit_reprocesses_batch() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    produce_five(server.addr).await;
    let mut processed = Vec::new();
    let mut transcript = Transcript::new(server.addr);

    // Consumer A processes and commits offsets 0 and 1.
    let mut consumer_a = consumer(server.addr).await;
    let count = consumer_a
        .process_next_batch(|record| {
            processed.push(record.offset);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(count, 2);

    // It fetches and processes offsets 2 and 3, then crashes before its commit.
    let batch = consumer_a.fetch().await.unwrap();
    processed.extend(batch.records.iter().map(|record| record.offset));
    record(&mut transcript, &mut consumer_a);
    drop(consumer_a);
    assert_eq!(committed(server.addr).await, json!(2));

    // Consumer B of the same group starts from the commit, so it processes 2 and 3 again.
    let mut consumer_b = consumer(server.addr).await;
    let mut turns = 0;
    loop {
        let count = consumer_b
            .process_next_batch(|record| {
                processed.push(record.offset);
                Ok(())
            })
            .await
            .unwrap();
        turns += 1;
        if count == 0 || turns == 10 {
            break;
        }
    }
    record(&mut transcript, &mut consumer_b);

    assert_eq!(processed, [0, 1, 2, 3, 2, 3, 4]);
    assert_eq!(committed(server.addr).await, json!(5));
    let story = ConsumeStory {
        processed,
        transcript,
    };
    insta::assert_json_snapshot!(story, {
        ".transcript.server" => "127.0.0.1:[port]",
        ".transcript.exchanges[].response.records[].timestamp_ms" => "[timestamp_ms]",
    });
    server.stop().await;
}

#[tokio::test]
async fn failed_processing_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    produce_five(server.addr).await;

    // The first record of the batch is processed, the second fails: the batch is not committed.
    let mut consumer = consumer(server.addr).await;
    let mut processed = Vec::new();
    let error = consumer
        .process_next_batch(|record| {
            if record.offset == 1 {
                return Err("the database is down".to_string());
            }
            processed.push(record.offset);
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConsumeError::Process { offset: 1, reason } if reason == "the database is down"),
        "{error}"
    );
    assert_eq!(committed(server.addr).await, Value::Null);

    // The next turn fetches the same batch again, offset 0 included.
    consumer
        .process_next_batch(|record| {
            processed.push(record.offset);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(processed, [0, 0, 1]);
    assert_eq!(committed(server.addr).await, json!(2));
    server.stop().await;
}

#[tokio::test]
async fn consumer_without_crash_processes_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(dir.path()), Limits::default()).await;
    produce_five(server.addr).await;

    let mut consumer = consumer(server.addr).await;
    let mut values = Vec::new();
    for _ in 0..10 {
        let count = consumer
            .process_next_batch(|record| {
                values.push(record.value.clone().unwrap_or_default());
                Ok(())
            })
            .await
            .unwrap();
        if count == 0 {
            break;
        }
    }
    let expected: Vec<String> = (0..5).map(|number| format!("event {number}")).collect();
    assert_eq!(values, expected);
    assert_eq!(committed(server.addr).await, json!(5));
    server.stop().await;
}

#[tokio::test]
async fn commits_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());

    let server = TestServer::start(&config, Limits::default()).await;
    produce_five(server.addr).await;
    let mut consumer_before = consumer(server.addr).await;
    consumer_before.commit(3).await.unwrap();
    assert_eq!(committed(server.addr).await, json!(3));
    drop(consumer_before);
    server.stop().await;

    // The commit survives the restart, so the group resumes at offset 3, not at the log start.
    let server = TestServer::start(&config, Limits::default()).await;
    assert_eq!(committed(server.addr).await, json!(3));
    let mut consumer_after = consumer(server.addr).await;
    let batch = consumer_after.fetch().await.unwrap();
    assert_eq!(batch.records[0].offset, 3);
    assert_eq!(batch.log_end_offset, 5);
    server.stop().await;
}

#[tokio::test]
async fn commits_survive_kill() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());

    // Every acknowledged commit was synced, so a kill, with no shutdown, loses none of them.
    let server = TestServer::start(&config, Limits::default()).await;
    produce_five(server.addr).await;
    let mut consumer_before = consumer(server.addr).await;
    for offset in [1, 2, 4] {
        consumer_before.commit(offset).await.unwrap();
    }
    drop(consumer_before);
    server.kill().await;

    let server = TestServer::start(&config, Limits::default()).await;
    assert_eq!(committed(server.addr).await, json!(4));
    server.stop().await;
}

#[tokio::test]
async fn group_commit_below_log_start_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());

    // Segments of 100 bytes hold two records each: offsets 0 and 1 are in the first segment.
    let server = TestServer::start(&config, Limits::default()).await;
    produce_five(server.addr).await;
    consumer(server.addr).await.commit(1).await.unwrap();
    server.stop().await;

    // An operator deletes the first segment while the broker is stopped. The commit survives,
    // the records it points at do not.
    let partition_dir = dir.path().join("topics/greetings/partition-0");
    for extension in ["log", "index"] {
        std::fs::remove_file(partition_dir.join(format!("00000000000000000000.{extension}")))
            .unwrap();
    }

    let server = TestServer::start(&config, Limits::default()).await;
    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);
    let lines = [
        r#"{"op":"committed","id":1,"group_id":"audit","topic":"greetings","partition":0}"#,
        // The group's commit, 1, is below the new log start, 2: the error names the range.
        r#"{"op":"fetch","id":2,"topic":"greetings","partition":0,"group_id":"audit"}"#,
        // An explicit offset below the log start gets the plain out-of-range error.
        r#"{"op":"fetch","id":3,"topic":"greetings","partition":0,"offset":0}"#,
        // The group moves to the log start and reads again.
        r#"{"op":"commit","id":4,"group_id":"audit","topic":"greetings","partition":0,"offset":2}"#,
        r#"{"op":"fetch","id":5,"topic":"greetings","partition":0,"group_id":"audit","max_bytes":1}"#,
    ];
    for line in lines {
        transcript.send(&mut client, line).await;
    }
    assert_transcript!(transcript);
    server.stop().await;
}
