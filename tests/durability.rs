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

#[test]
fn group_commit_keeps_acknowledged_records_after_sigkill() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let runtime = runtime();
    const PRODUCERS: usize = 16;

    let mut broker = BrokerProcess::start(&data_dir, &TOPIC_FLAG);
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let addr = broker.addr.clone();
            let acknowledged = Arc::clone(&acknowledged);
            runtime.spawn(async move {
                let mut client = Client::connect(addr.as_str()).await.unwrap();
                for sequence in 0.. {
                    let value = format!("p{producer}-{sequence}");
                    let record = ProduceRecord::from_bytes(None, value.as_bytes());
                    let Ok(response) = client.produce("events", 0, vec![record]).await else {
                        return;
                    };
                    acknowledged
                        .lock()
                        .unwrap()
                        .push((response.offsets[0], value));
                }
            })
        })
        .collect();

    // Let the producers run until a few hundred records are acknowledged, then crash.
    for _ in 0..1000 {
        if acknowledged.lock().unwrap().len() >= 500 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.kill();
    for producer in producers {
        runtime.block_on(producer).unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 500,
        "only {} records were acknowledged",
        acknowledged.len()
    );

    let broker = BrokerProcess::start(&data_dir, &TOPIC_FLAG);
    let stored = runtime.block_on(async {
        let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
        let mut stored = std::collections::HashMap::new();
        let mut next = 0;
        loop {
            let request = rustlog::protocol::FetchRequest {
                topic: "events".into(),
                partition: 0,
                offset: Some(next),
                max_bytes: None,
                group_id: None,
            };
            let response = client.fetch(request).await.unwrap();
            if response.records.is_empty() {
                break stored;
            }
            for record in response.records {
                assert_eq!(record.offset, next, "offsets are dense");
                stored.insert(record.offset, record.value.unwrap());
                next += 1;
            }
        }
    });
    for (offset, value) in &acknowledged {
        assert_eq!(
            stored.get(offset),
            Some(value),
            "acknowledged record at offset {offset}"
        );
    }
}

#[test]
fn retention_moves_log_start_and_group_sees_out_of_range() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("rustlog.toml");
    std::fs::write(
        &config,
        "retention_check_interval_ms = 50\n[topics.events]\npartitions = 1\nsegment_bytes = 2048\n\
         max_record_bytes = 1024\nretention_bytes = 4096\n",
    )
    .unwrap();
    let runtime = runtime();
    let broker = BrokerProcess::start(
        &temp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );

    runtime.block_on(async {
        let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
        client
            .produce("events", 0, vec![ProduceRecord::from_bytes(None, b"first")])
            .await
            .unwrap();
        client.commit("slow", "events", 0, 1).await.unwrap();
        for _ in 0..10 {
            let records = (0..20)
                .map(|_| ProduceRecord::from_bytes(None, &[b'x'; 100]))
                .collect();
            client.produce("events", 0, records).await.unwrap();
        }

        // Retention runs every 50 ms; wait (bounded) for it to move the log start.
        let mut log_start = 0;
        for _ in 0..200 {
            log_start = client.metadata().await.unwrap().topics[0].partitions[0].log_start_offset;
            if log_start > 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(log_start > 1, "retention never ran");

        // The group's committed offset is below the log start: reported, not silently moved.
        let request = rustlog::protocol::FetchRequest {
            topic: "events".into(),
            partition: 0,
            offset: None,
            max_bytes: None,
            group_id: Some("slow".into()),
        };
        let error = client.fetch(request).await.unwrap_err();
        let error = error.broker_error().expect("a broker error");
        assert_eq!(error.code, rustlog::protocol::ErrorCode::OffsetOutOfRange);
        assert_eq!(error.log_start_offset, Some(log_start));
        assert_eq!(error.log_end_offset, Some(201));

        // A new commit below the log start is rejected; one inside the range repairs the group.
        let below = client.commit("slow", "events", 0, 0).await.unwrap_err();
        let below = below.broker_error().expect("a broker error");
        assert_eq!(below.code, rustlog::protocol::ErrorCode::OffsetOutOfRange);
        client.commit("slow", "events", 0, log_start).await.unwrap();
    });
    assert!(broker.log().contains("deleted segment by retention"));
}
