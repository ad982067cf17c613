//! Durability across crashes of the real broker binary: committed consumer offsets survive a
//! SIGKILL, and a SIGKILL in the middle of a commit leaves either the old or the new value.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustlog::client::Client;
use rustlog::protocol::ProduceRecord;
use support::BrokerProcess;

const TOPIC_FLAG: [&str; 2] = ["--topic", "events:1"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn produce(addr: &str, count: usize) {
    let mut client = Client::connect(addr).await.unwrap();
    let records = (0..count)
        .map(|n| ProduceRecord::from_bytes(None, n.to_string().as_bytes()))
        .collect();
    client.produce("events", 0, records).await.unwrap();
}

#[test]
fn committed_offset_survives_sigkill() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let runtime = runtime();

    let mut broker = BrokerProcess::start(&data_dir, &TOPIC_FLAG);
    runtime.block_on(async {
        produce(&broker.addr, 100).await;
        let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
        client.commit("audit", "events", 0, 42).await.unwrap();
        client.commit("billing", "events", 0, 7).await.unwrap();
    });
    broker.kill();

    let broker = BrokerProcess::start(&data_dir, &TOPIC_FLAG);
    runtime.block_on(async {
        let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
        assert_eq!(
            client.committed("audit", "events", 0).await.unwrap(),
            Some(42)
        );
        assert_eq!(
            client.committed("billing", "events", 0).await.unwrap(),
            Some(7)
        );

        let listed = client.offsets().await.unwrap().offsets;
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].group_id, "audit");
        assert_eq!(listed[0].lag, 58);
    });
}

#[test]
fn sigkill_during_commits_keeps_old_or_new_value() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let runtime = runtime();
    const RECORDS: usize = 10_000;

    let mut broker = BrokerProcess::start(&data_dir, &TOPIC_FLAG);
    runtime.block_on(produce(&broker.addr, RECORDS));

    for cycle in 0..5u64 {
        // A client commits increasing offsets as fast as it can; the last acknowledged one is kept.
        let acknowledged = Arc::new(AtomicU64::new(0));
        let addr = broker.addr.clone();
        let last = Arc::clone(&acknowledged);
        let committer = runtime.spawn(async move {
            let mut client = Client::connect(addr.as_str()).await.unwrap();
            for offset in 1..=RECORDS as u64 {
                if client.commit("crash", "events", 0, offset).await.is_err() {
                    break;
                }
                last.store(offset, Ordering::SeqCst);
            }
        });

        // Kill only once this cycle's commits are flowing, at a different moment each cycle.
        for _ in 0..1000 {
            if acknowledged.load(Ordering::SeqCst) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            acknowledged.load(Ordering::SeqCst) > 0,
            "cycle {cycle}: no commit was acknowledged"
        );
        std::thread::sleep(Duration::from_millis(5 + 17 * cycle));
        broker.kill();
        let acked = acknowledged.load(Ordering::SeqCst);
        let _ = runtime.block_on(committer);

        broker = BrokerProcess::start(&data_dir, &TOPIC_FLAG);
        let committed = runtime.block_on(async {
            let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
            client.committed("crash", "events", 0).await.unwrap()
        });
        // The commit in flight at the kill may or may not have reached the disk; nothing else.
        let committed = committed.unwrap_or(0);
        assert!(
            committed == acked || committed == acked + 1,
            "cycle {cycle}: last acknowledged {acked}, after restart {committed}"
        );
    }
}
