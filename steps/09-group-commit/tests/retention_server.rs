//! Retention behind the server: per-topic settings, a consumer group whose commit pointed into a
//! deleted segment, the commit rule at the log start, an emptied partition across a restart, and
//! the background task that runs the passes.
//!
//! The broker reads a manual clock, so every timestamp in a transcript is known in advance.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use step09_group_commit::broker::run_retention;
use step09_group_commit::{
    BrokerConfig, ManualClock, PartitionConfig, RetentionConfig, TopicConfig,
};
use support::{config, TestServer, Transcript};
use tokio::sync::watch;

/// Minute 0 of the script: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
/// One minute, in milliseconds.
const MINUTE: i64 = 60_000;

// ANCHOR: events_config
/// The test config plus topic `events`: one partition, records kept for an hour, and segments of
/// three 45-byte records.
fn events_config(data_dir: &std::path::Path) -> BrokerConfig {
    let mut config = config(data_dir);
    config.partition = PartitionConfig {
        segment_bytes: 150,
        ..config.partition
    };
    let events = TopicConfig {
        retention: RetentionConfig {
            retention_ms: Some((60 * MINUTE) as u64),
            retention_bytes: None,
        },
        ..TopicConfig::new(1)
    };
    config.topics.insert("events".to_string(), events);
    config
}
// ANCHOR_END: events_config

/// Produces `reading 0` to `reading 7` to `events` at minutes 0, 10, ..., 70 of `clock`, and one
/// record to `greetings` partition 0 at minute 0.
async fn produce_script(server: &TestServer, clock: &ManualClock) {
    let mut client = server.connect().await;
    for number in 0..8 {
        clock.set(T0 + number * 10 * MINUTE);
        let produce = json!({"op": "produce", "topic": "events", "partition": 0,
                             "records": [{"key": "sensor-1", "value": format!("reading {number}")}]});
        let response = client.request(&produce).await.unwrap();
        assert_eq!(response["offsets"], json!([number]));
        if number == 0 {
            let greeting = json!({"op": "produce", "topic": "greetings", "partition": 0,
                                  "records": [{"value": "hello"}]});
            client.request(&greeting).await.unwrap();
        }
    }
}

#[tokio::test]
async fn group_inside_deleted_segment_transcript() {
    // ANCHOR: manual_clock
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(&events_config(dir.path()), clock.clone()).await;
    produce_script(&server, &clock).await;

    let mut client = server.connect().await;
    let mut transcript = Transcript::new(server.addr);
    let commit =
        r#"{"op":"commit","id":1,"group_id":"audit","topic":"events","partition":0,"offset":2}"#;
    transcript.send(&mut client, commit).await;

    // At minute 85 the first segment, offsets 0 to 2, has expired. `greetings` has no
    // retention settings, so its hour-old record stays.
    clock.set(T0 + 85 * MINUTE);
    let deletions = server.broker.enforce_retention().await;
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].topic, "events");
    assert_eq!(deletions[0].segment.next_offset, 3);
    // ANCHOR_END: manual_clock

    let lines = [
        // The group's commit, 2, now points below the log start.
        r#"{"op":"fetch","id":2,"topic":"events","partition":0,"group_id":"audit"}"#,
        // A commit below the log start is rejected with the range, like one past the log end.
        r#"{"op":"commit","id":3,"group_id":"audit","topic":"events","partition":0,"offset":2}"#,
        r#"{"op":"commit","id":4,"group_id":"audit","topic":"events","partition":0,"offset":9}"#,
        // The group moves to the log start and reads on.
        r#"{"op":"commit","id":5,"group_id":"audit","topic":"events","partition":0,"offset":3}"#,
        r#"{"op":"fetch","id":6,"topic":"events","partition":0,"group_id":"audit","max_bytes":1}"#,
        r#"{"op":"fetch","id":7,"topic":"greetings","partition":0,"offset":0}"#,
    ];
    for line in lines {
        transcript.send(&mut client, line).await;
    }
    // The clock is a manual one, so the timestamps are part of the snapshot.
    insta::assert_json_snapshot!(transcript, {".server" => "127.0.0.1:[port]"});
    server.stop().await;
}

// ANCHOR: emptied_partition_server_test
#[tokio::test]
async fn emptied_partition_restart_then_produce_continues() {
    let dir = tempfile::tempdir().unwrap();
    let config = events_config(dir.path());
    let clock = Arc::new(ManualClock::new(T0));

    let server = TestServer::start_with_clock(&config, clock.clone()).await;
    produce_script(&server, &clock).await;
    clock.set(T0 + 200 * MINUTE);
    let deletions = server.broker.enforce_retention().await;
    assert_eq!(deletions.len(), 3, "{deletions:?}");
    server.stop().await;

    let server = TestServer::start_with_clock(&config, clock.clone()).await;
    let mut client = server.connect().await;
    let produce = json!({"op": "produce", "topic": "events", "partition": 0,
                         "records": [{"value": "after the restart"}]});
    let produced = client.request(&produce).await.unwrap();
    assert_eq!(produced["offsets"], json!([8]));

    let fetch = json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 0});
    let error = client.request(&fetch).await.unwrap();
    assert_eq!(error["error"]["code"], "offset_out_of_range");
    assert_eq!(error["error"]["log_start_offset"], 8);
    assert_eq!(error["error"]["log_end_offset"], 9);
    server.stop().await;
}
// ANCHOR_END: emptied_partition_server_test

#[tokio::test]
async fn retention_task_runs_passes_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(&events_config(dir.path()), clock.clone()).await;
    produce_script(&server, &clock).await;
    clock.set(T0 + 200 * MINUTE);

    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run_retention(
        Arc::clone(&server.broker),
        Duration::from_millis(10),
        stopped,
    ));

    // Wait, at most 10 s, for a pass to empty the partition: offset 8, the log end, becomes the
    // log start, and a fetch from it succeeds.
    let mut client = server.connect().await;
    let fetch_new_start = json!({"op": "fetch", "topic": "events", "partition": 0, "offset": 8});
    let mut emptied = false;
    for _ in 0..1_000 {
        let response = client.request(&fetch_new_start).await.unwrap();
        if response["ok"] == true {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        emptied,
        "no retention pass emptied the partition within 10 s"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the retention task stops within 10 s")
        .expect("the retention task does not panic");
    server.stop().await;
}
