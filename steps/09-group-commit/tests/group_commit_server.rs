//! Group commit behind the server. Concurrent producers share syncs and read back every record
//! the broker acknowledged. A lone producer still gets one sync per request, and so does every
//! request to a topic with group commit off. A produce request is one batch with one sync.
//!
//! The concurrent tests run their syncs through [`SlowSync`], a disk that takes at least a
//! millisecond per sync. On tmpfs a sync costs almost nothing, requests hardly ever overlap one,
//! and there would be nothing to share.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use step09_group_commit::server::Limits;
use step09_group_commit::{BrokerConfig, PartitionConfig, SlowSync, SystemClock, TopicConfig};
use support::{config, TestServer};
use tokio::task::JoinSet;

/// Returns the test config plus topic `per-request`, one partition with group commit off. The
/// segments have the default size, so the producers measure syncs and not rolls.
fn two_modes(data_dir: &std::path::Path) -> BrokerConfig {
    let mut config = config(data_dir);
    config.partition = PartitionConfig::default();
    let per_request = TopicConfig {
        group_commit: false,
        ..TopicConfig::new(1)
    };
    config.topics.insert("per-request".to_string(), per_request);
    config
}

/// Starts a server for [`two_modes`] whose syncs take at least a millisecond.
async fn start_slow_disk(data_dir: &std::path::Path) -> TestServer {
    let slow = SlowSync {
        delay: Duration::from_millis(1),
    };
    TestServer::start_with(&two_modes(data_dir), Arc::new(SystemClock), Arc::new(slow)).await
}

/// Runs `producers` clients at once, each sending `requests` one-record produce requests to
/// partition 0 of `topic`, and returns each acknowledged offset with the value that was sent.
async fn produce_concurrently(
    addr: SocketAddr,
    topic: &'static str,
    producers: usize,
    requests: usize,
) -> Vec<(u64, String)> {
    let mut tasks = JoinSet::new();
    for producer in 0..producers {
        tasks.spawn(async move {
            let mut client = step09_group_commit::client::Client::connect(addr)
                .await
                .unwrap();
            let mut acknowledged = Vec::with_capacity(requests);
            for number in 0..requests {
                let value = format!("producer {producer} record {number}");
                let produce = json!({"op": "produce", "topic": topic, "partition": 0,
                                     "records": [{"value": value}]});
                let response = client.request(&produce).await.unwrap();
                let offset = response["offsets"][0].as_u64();
                acknowledged.push((offset.expect("the produce succeeds"), value));
            }
            acknowledged
        });
    }
    let mut acknowledged = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        acknowledged.extend(joined.expect("the producer does not panic"));
    }
    acknowledged
}

/// Fetches partition 0 of `topic` from offset 0 and returns every record.
async fn fetch_all(server: &TestServer, topic: &str) -> Vec<Value> {
    let mut client = server.connect().await;
    let fetch = json!({"op": "fetch", "topic": topic, "partition": 0, "offset": 0,
                       "max_bytes": 16 * 1024 * 1024});
    let mut response = client.request(&fetch).await.unwrap();
    match response["records"].take() {
        Value::Array(records) => records,
        other => panic!("the fetch returned no records: {other}"),
    }
}

/// Checks that the acknowledged offsets are exactly 0 to `count - 1`, each once, and that a fetch
/// returns every one of them with the value that was sent.
async fn assert_all_readable(server: &TestServer, topic: &str, acknowledged: &[(u64, String)]) {
    let mut offsets: Vec<u64> = acknowledged.iter().map(|(offset, _)| *offset).collect();
    offsets.sort_unstable();
    let expected: Vec<u64> = (0..acknowledged.len() as u64).collect();
    assert_eq!(offsets, expected, "each record got its own offset");

    let records = fetch_all(server, topic).await;
    assert_eq!(records.len(), acknowledged.len());
    for (offset, value) in acknowledged {
        let record = &records[*offset as usize];
        assert_eq!(record["offset"], json!(offset));
        assert_eq!(record["value"], json!(value), "offset {offset}");
    }
}

// ANCHOR: sixteen_producers_test
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_producers_share_syncs_and_every_record_is_readable() {
    const PRODUCERS: usize = 16;
    const REQUESTS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let server = start_slow_disk(dir.path()).await;

    let acknowledged = produce_concurrently(server.addr, "greetings", PRODUCERS, REQUESTS).await;

    // 400 requests, each acknowledged only after a sync covered its record. Requests that waited
    // at the same time shared a sync, so there were fewer syncs than requests.
    let requests = (PRODUCERS * REQUESTS) as u64;
    let syncs = server.broker.sync_count("greetings", 0).unwrap();
    assert!(syncs >= 1);
    assert!(
        syncs < requests,
        "{requests} concurrent requests needed {syncs} syncs: none were shared"
    );
    assert_all_readable(&server, "greetings", &acknowledged).await;
    server.stop().await;
}
// ANCHOR_END: sixteen_producers_test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_request_topic_syncs_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_slow_disk(dir.path()).await;

    let acknowledged = produce_concurrently(server.addr, "per-request", 16, 10).await;

    assert_eq!(server.broker.sync_count("per-request", 0), Some(160));
    assert_all_readable(&server, "per-request", &acknowledged).await;
    server.stop().await;
}

#[tokio::test]
async fn lone_producer_needs_one_sync_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&two_modes(dir.path()), Limits::default()).await;

    // A lone producer never waits for company: it leads the sync of its own request at once,
    // exactly as a request that syncs on its own does.
    for topic in ["greetings", "per-request"] {
        let acknowledged = produce_concurrently(server.addr, topic, 1, 20).await;
        assert_eq!(server.broker.sync_count(topic, 0), Some(20), "{topic}");
        assert_all_readable(&server, topic, &acknowledged).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn produce_request_is_one_batch_with_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&two_modes(dir.path()), Limits::default()).await;
    let mut client = server.connect().await;

    let records: Vec<Value> = (0..10)
        .map(|number| json!({"value": format!("record {number}")}))
        .collect();
    for topic in ["greetings", "per-request"] {
        let produce = json!({"op": "produce", "topic": topic, "partition": 0, "records": records});
        let response = client.request(&produce).await.unwrap();
        assert_eq!(
            response["offsets"],
            json!((0..10).collect::<Vec<u64>>()),
            "{topic}"
        );
        assert_eq!(server.broker.sync_count(topic, 0), Some(1), "{topic}");
    }
    server.stop().await;
}
