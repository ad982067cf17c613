//! Group commit on a partition of its own, with threads in place of produce requests. Records
//! stay invisible until a sync covers them, appends that arrive during a sync share the next one,
//! and sixteen writers need far fewer syncs than appends.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use step09_group_commit::{
    GroupCommit, NewRecord, Partition, PartitionConfig, SlowSync, StorageError, Syncer,
};

/// Timestamp of every record: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
/// How long the tests wait for a thread to reach a point before they fail.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Returns a record whose value is `value`.
fn record(value: &[u8]) -> NewRecord<'_> {
    NewRecord {
        timestamp_ms: T0,
        key: None,
        value,
    }
}

/// Syncs what `partition` has written, makes it visible, and returns the end it synced to: what
/// a group-commit leader does. Records each sync's end in `ends`. When `gate` contains a receiver,
/// the first sync to take it waits for a message on it before it syncs, so a test can hold that
/// sync open.
fn sync_written(
    partition: &Mutex<Partition>,
    ends: &Mutex<Vec<u64>>,
    gate: &Mutex<Option<(mpsc::Sender<()>, Receiver<()>)>>,
) -> Result<u64, StorageError> {
    let (log, end) = partition.lock().unwrap().sync_target();
    ends.lock().unwrap().push(end);
    if let Some((started, release)) = gate.lock().unwrap().take() {
        started.send(()).unwrap();
        release
            .recv_timeout(WAIT_LIMIT)
            .expect("the test releases the sync");
    }
    log.sync_data().unwrap();
    partition.lock().unwrap().mark_durable(end);
    Ok(end)
}

/// Calls `condition` every millisecond until it returns `true`, for at most [`WAIT_LIMIT`].
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let attempts = WAIT_LIMIT.as_millis();
    for _ in 0..attempts {
        if condition() {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn unsynced_records_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let (mut partition, _) = Partition::open(dir.path(), PartitionConfig::default()).unwrap();

    let appended = partition
        .append_unsynced(&[record(b"one"), record(b"two")])
        .unwrap();
    assert_eq!((appended.first_offset, appended.end_offset), (0, 2));
    assert_eq!(partition.written_end(), 2);

    // Written but not synced: the log end offset has not moved, and a fetch returns nothing.
    assert_eq!(partition.log_end_offset(), 0);
    assert_eq!(partition.fetch(0, u64::MAX).unwrap(), []);
    let error = partition.fetch(1, u64::MAX).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::OffsetOutOfRange {
                offset: 1,
                log_start: 0,
                log_end: 0
            }
        ),
        "{error}"
    );

    // A sync covers both records, and marking them durable makes them visible.
    let (log, end) = partition.sync_target();
    log.sync_data().unwrap();
    partition.mark_durable(end);
    assert_eq!(partition.log_end_offset(), 2);
    assert_eq!(partition.fetch(0, u64::MAX).unwrap().len(), 2);
}

#[test]
fn roll_makes_sealed_records_durable() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of 100 bytes hold two 31-byte records each.
    let config = PartitionConfig {
        segment_bytes: 100,
        ..PartitionConfig::default()
    };
    let (mut partition, _) = Partition::open(dir.path(), config).unwrap();

    let values: Vec<Vec<u8>> = (0..5).map(|number| vec![b'0' + number; 3]).collect();
    let batch: Vec<NewRecord<'_>> = values.iter().map(|value| record(value)).collect();
    partition.append_unsynced(&batch).unwrap();

    // Sealing syncs a segment, so the records of the two sealed segments are durable and
    // visible, and the one in the active segment waits for a sync.
    assert_eq!(partition.segments().len(), 3);
    assert_eq!(partition.log_end_offset(), 4);
    assert_eq!(partition.written_end(), 5);
}

// ANCHOR: covered_by_next_sync
#[test]
fn appends_during_sync_share_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, _) = Partition::open(dir.path(), PartitionConfig::default()).unwrap();
    let partition = Arc::new(Mutex::new(partition));
    let commit = Arc::new(GroupCommit::new(0));
    let ends = Arc::new(Mutex::new(Vec::new()));
    let (started_sender, started) = mpsc::channel();
    let (release, released) = mpsc::channel();
    let gate = Arc::new(Mutex::new(Some((started_sender, released))));

    // Each writer writes one record and waits until it is durable, as a produce request does.
    let spawn_writer = |value: &'static [u8]| {
        let (partition, commit, ends, gate) = (
            Arc::clone(&partition),
            Arc::clone(&commit),
            Arc::clone(&ends),
            Arc::clone(&gate),
        );
        thread::spawn(move || {
            let appended = partition
                .lock()
                .unwrap()
                .append_unsynced(&[record(value)])
                .unwrap();
            commit
                .wait_durable(appended.end_offset, || {
                    sync_written(&partition, &ends, &gate)
                })
                .unwrap();
            // Acknowledged only now, and a sync has covered the record.
            assert!(partition.lock().unwrap().log_end_offset() >= appended.end_offset);
        })
    };

    // A writes offset 0 and leads the first sync, which the gate keeps open.
    let writer_a = spawn_writer(b"a");
    started.recv_timeout(WAIT_LIMIT).expect("A starts a sync");

    // B and C write offsets 1 and 2 while that sync runs, and wait.
    let writer_b = spawn_writer(b"b");
    let writer_c = spawn_writer(b"c");
    wait_until("B and C wait for the running sync", || {
        commit.waiting() == 2
    });
    let during = {
        let partition = partition.lock().unwrap();
        format!(
            "while sync 1 ran: {} requests waiting, log end offset {}, written end {}, fetch from 0 returned {} records",
            commit.waiting(),
            partition.log_end_offset(),
            partition.written_end(),
            partition.fetch(0, u64::MAX).unwrap().len()
        )
    };

    release.send(()).unwrap();
    for writer in [writer_a, writer_b, writer_c] {
        writer.join().expect("the writer does not panic");
    }

    // Sync 1 covered A's record only. One of B and C led sync 2, which covered both.
    let log_end = partition.lock().unwrap().log_end_offset();
    insta::assert_snapshot!(format!(
        "{during}\nsyncs: {}\nend offset of each sync: {:?}\nlog end offset after: {log_end}",
        commit.syncs(),
        ends.lock().unwrap()
    ));
}
// ANCHOR_END: covered_by_next_sync

#[test]
fn sixteen_writers_share_syncs() {
    const WRITERS: usize = 16;
    const APPENDS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let (partition, _) = Partition::open(dir.path(), PartitionConfig::default()).unwrap();
    let partition = Arc::new(Mutex::new(partition));
    let commit = Arc::new(GroupCommit::new(0));

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (partition, commit) = (Arc::clone(&partition), Arc::clone(&commit));
            thread::spawn(move || {
                let mut acknowledged = Vec::with_capacity(APPENDS);
                for number in 0..APPENDS {
                    let value = format!("writer {writer} append {number}");
                    let appended = partition
                        .lock()
                        .unwrap()
                        .append_unsynced(&[record(value.as_bytes())])
                        .unwrap();
                    commit
                        .wait_durable(appended.end_offset, || {
                            let (log, end) = partition.lock().unwrap().sync_target();
                            // A disk that takes a millisecond per sync, so the writers overlap
                            // even on a file system whose syncs cost nothing.
                            let slow = SlowSync {
                                delay: Duration::from_millis(1),
                            };
                            slow.sync_data(&log).unwrap();
                            partition.lock().unwrap().mark_durable(end);
                            Ok(end)
                        })
                        .unwrap();
                    acknowledged.push((appended.first_offset, value));
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.join().expect("the writer does not panic"));
    }

    let appends = (WRITERS * APPENDS) as u64;
    let syncs = commit.syncs();
    assert!(
        syncs < appends,
        "{appends} appends needed {syncs} syncs: none were shared"
    );

    // Every acknowledged record is durable and readable at the offset it was given.
    let partition = partition.lock().unwrap();
    assert_eq!(partition.log_end_offset(), appends);
    let records = partition.fetch(0, u64::MAX).unwrap();
    assert_eq!(records.len() as u64, appends);
    for (offset, value) in acknowledged {
        assert_eq!(
            records[offset as usize].value,
            value.as_bytes(),
            "offset {offset}"
        );
    }
}
