//! Group commit: concurrent appends to one partition share one `fdatasync`.
//!
//! A sync costs the same whether it covers one record or a thousand, so when many producers
//! append at once, syncing once per request wastes most of the disk's time. Here each producer
//! writes its batch without syncing, then asks for everything up to its batch's end to be made
//! durable. If no sync is running, it becomes the *leader*: it syncs everything written so far,
//! which also covers the batches that other producers wrote meanwhile. If a sync is running, it
//! waits; when that sync ends, either its batch was covered, or one of the waiters leads the next
//! sync. Every producer still answers its client only after its own records are durable.
//!
//! With a single producer nothing changes: it always finds no sync running, leads, and syncs its
//! own batch, exactly as an inline sync would.

use std::sync::{Condvar, Mutex, MutexGuard};

use super::error::StorageError;

/// Coordinates the syncs of one partition. Share it beside the partition.
#[derive(Debug)]
pub struct GroupCommit {
    state: Mutex<State>,
    sync_finished: Condvar,
}

#[derive(Debug)]
struct State {
    /// Every record below this offset is durable.
    durable_end: u64,
    /// Whether a leader is syncing now.
    syncing: bool,
}

impl GroupCommit {
    /// Creates a coordinator for a partition whose records below `durable_end` are durable.
    pub fn new(durable_end: u64) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                durable_end,
                syncing: false,
            }),
            sync_finished: Condvar::new(),
        }
    }

    /// Blocks until every record below `end` is durable.
    ///
    /// `sync` is called by at most one caller at a time: it must sync the partition's written
    /// data, make it visible, and return the offset it made durable up to (at least `end`, since
    /// the caller's own batch was written before this call).
    ///
    /// # Errors
    ///
    /// The error of the sync that this caller led. A caller whose records a failed sync would
    /// have covered tries again by leading the next sync.
    // ANCHOR: wait_durable
    pub fn wait_durable(
        &self,
        end: u64,
        sync: impl Fn() -> Result<u64, StorageError>,
    ) -> Result<(), StorageError> {
        let mut state = self.lock();
        loop {
            if state.durable_end >= end {
                return Ok(());
            }
            if state.syncing {
                // Another caller leads; its sync may cover us.
                state = self
                    .sync_finished
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }

            // Lead: sync without holding the lock, so new callers can queue behind this sync.
            state.syncing = true;
            drop(state);
            let result = sync();
            state = self.lock();
            state.syncing = false;
            if let Ok(synced_end) = result {
                state.durable_end = state.durable_end.max(synced_end);
            }
            self.sync_finished.notify_all();
            result?;
        }
    }
    // ANCHOR_END: wait_durable

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields updated together; a poisoned lock still holds valid values.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn covered_caller_does_not_sync() {
        let commit = GroupCommit::new(10);
        let syncs = AtomicU64::new(0);
        commit
            .wait_durable(5, || {
                syncs.fetch_add(1, Ordering::SeqCst);
                Ok(10)
            })
            .unwrap();
        assert_eq!(syncs.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn concurrent_callers_share_syncs() {
        let commit = Arc::new(GroupCommit::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicU64::new(0));

        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (commit, written, syncs) = (
                    Arc::clone(&commit),
                    Arc::clone(&written),
                    Arc::clone(&syncs),
                );
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let end = written.fetch_add(1, Ordering::SeqCst) + 1;
                        commit
                            .wait_durable(end, || {
                                syncs.fetch_add(1, Ordering::SeqCst);
                                let target = written.load(Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(1));
                                Ok(target)
                            })
                            .unwrap();
                        assert!(commit.lock().durable_end >= end);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }

        let syncs = syncs.load(Ordering::SeqCst);
        assert!(
            syncs < 800,
            "800 appends needed {syncs} syncs; none were shared"
        );
        assert_eq!(commit.lock().durable_end, 800);
    }

    #[test]
    fn failed_sync_reaches_its_leader_and_next_caller_retries() {
        let commit = GroupCommit::new(0);
        let error = commit.wait_durable(1, || {
            Err(StorageError::Io {
                path: "x".into(),
                source: std::io::Error::other("disk full"),
            })
        });
        assert!(error.is_err());

        commit.wait_durable(1, || Ok(1)).unwrap();
        assert_eq!(commit.lock().durable_end, 1);
    }
}
