//! Group commit: produce requests to one partition that wait at the same time share one
//! `fdatasync`.
//!
//! A sync takes about as long for one small record as for a hundred, because most of its cost is
//! the round trip to the disk and the flush of the disk's cache. Up to step 8, every produce
//! request held the partition's lock while it synced, so sixteen producers queued for sixteen
//! syncs, one after the other. Group commit splits a produce in two:
//!
//! 1. **write**: with the partition locked, write the batch without syncing
//!    ([`Partition::append_unsynced`](crate::partition::Partition::append_unsynced)). This is
//!    quick, and the lock is let go right after.
//! 2. **wait until durable**: call [`GroupCommit::wait_durable`] with the batch's end offset.
//!
//! Inside `wait_durable`, a request whose records a finished sync already covered returns at
//! once. Otherwise, if no sync is running, the request becomes the *leader*: it syncs everything
//! written so far, its own batch and those of every request that wrote before the sync started.
//! If a sync is running, the request is a *waiter*, and it sleeps on a condition variable until
//! that sync ends. Then either the sync covered its records, or it becomes the leader of the next
//! sync, which covers everything written while the previous one ran:
//!
//! ANCHOR: timeline
//!     time ───────────────────────────────────────────────────────────────────────────────────▶
//!     request A   write 0   lead sync 1, covers 0 ───┤ respond
//!     request B        write 1   wait ···············┤ lead sync 2, covers 1 and 2 ───┤ respond
//!     request C          write 2   wait ·············┤ wait ··························┤ respond
//! ANCHOR_END: timeline
//!
//! Three requests, two syncs. The more requests arrive during a sync, the more share the next
//! one, so the syncs per request fall as the load rises. Under a light load nothing changes. A
//! lone producer finds no sync running, leads, and syncs its own batch right away, with no timer
//! and no waiting for company.
//!
//! Every request still responds only after a sync has covered its own records, so an
//! acknowledged record survives a crash exactly as before.
//!
//! The broker runs its syncs through a [`Syncer`]. The server uses [`Fdatasync`]. Tests and the
//! demo can use [`SlowSync`], which adds a fixed delay to each sync, the way a busy disk does:
//! on a file system whose syncs cost nothing, such as tmpfs, requests would hardly ever overlap a
//! sync, and there would be nothing to share.

use std::fmt;
use std::fs::File;
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::error::StorageError;

/// Makes the written data of a file durable.
pub trait Syncer: fmt::Debug + Send + Sync {
    /// Syncs `file`'s data to stable storage, as `fdatasync` does.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    fn sync_data(&self, file: &File) -> io::Result<()>;
}

/// The real sync: [`File::sync_data`], which is `fdatasync` on Linux.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fdatasync;

impl Syncer for Fdatasync {
    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}

/// The real sync, after a fixed delay: a disk that takes at least `delay` per sync.
#[derive(Debug, Clone, Copy)]
pub struct SlowSync {
    /// Time added before each sync.
    pub delay: Duration,
}

impl Syncer for SlowSync {
    fn sync_data(&self, file: &File) -> io::Result<()> {
        std::thread::sleep(self.delay);
        file.sync_data()
    }
}

/// Coordinates the syncs of one partition: which request leads the next sync, and which ones
/// wait for it.
#[derive(Debug)]
pub struct GroupCommit {
    state: Mutex<State>,
    /// Signalled when a sync ends, successfully or not.
    sync_finished: Condvar,
}

/// The coordinator's state, behind the mutex.
#[derive(Debug)]
struct State {
    /// Every record below this offset is durable.
    durable_end: u64,
    /// Whether a leader is syncing now.
    syncing: bool,
    /// Requests sleeping until the running sync ends.
    waiting: usize,
    /// Syncs that leaders have run, successful or not.
    syncs: u64,
}

impl GroupCommit {
    /// Creates a coordinator for a partition whose records below `durable_end` are durable.
    pub fn new(durable_end: u64) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                durable_end,
                syncing: false,
                waiting: 0,
                syncs: 0,
            }),
            sync_finished: Condvar::new(),
        }
    }

    /// Blocks until every record below `end` is durable, leading syncs or waiting for them.
    ///
    /// `sync` runs in at most one caller at a time, and without this coordinator's lock held. It
    /// must sync every record written so far, make them visible, and return the offset it made
    /// durable up to. That offset is at least `end`, because the caller wrote its records before
    /// it called this.
    ///
    /// # Errors
    ///
    /// The error of a sync that this caller led. The callers that were waiting for that sync try
    /// again: the first one to wake up leads the next sync.
    // ANCHOR: wait_durable
    pub fn wait_durable(
        &self,
        end: u64,
        mut sync: impl FnMut() -> Result<u64, StorageError>,
    ) -> Result<(), StorageError> {
        // SOLUTION(group_commit): Return once `durable_end` covers `end`. While a sync runs, wait on the condvar. Otherwise lead: mark `syncing`, sync without the lock, record the new durable end and wake every waiter.
        let mut state = self.lock();
        loop {
            if state.durable_end >= end {
                return Ok(());
            }

            // Waiter: a sync is running. It may cover this caller's records, and if it does not,
            // this caller may lead the next one. Either way, look again when it ends.
            if state.syncing {
                state.waiting += 1;
                state = self
                    .sync_finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting -= 1;
                continue;
            }

            // Leader: sync without holding the lock, so that new requests can queue up behind
            // this sync instead of behind the lock.
            state.syncing = true;
            state.syncs += 1;
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
        // END SOLUTION
    }
    // ANCHOR_END: wait_durable

    /// Returns the number of syncs that leaders have run, successful or not.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Returns the number of callers waiting for the running sync to end.
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// Returns the offset below which every record is durable.
    pub fn durable_end(&self) -> u64 {
        self.lock().durable_end
    }

    /// Locks the state. Its fields are plain values that each update leaves consistent, so a
    /// poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_caller_does_not_sync() {
        let commit = GroupCommit::new(10);
        commit
            .wait_durable(5, || panic!("records below 10 are durable already"))
            .unwrap();
        assert_eq!(commit.syncs(), 0);
    }

    #[test]
    fn lone_caller_leads_one_sync() {
        let commit = GroupCommit::new(0);
        for end in 1..=3 {
            commit.wait_durable(end, || Ok(end)).unwrap();
        }
        assert_eq!(commit.syncs(), 3);
        assert_eq!(commit.durable_end(), 3);
    }

    #[test]
    fn failed_sync_reaches_its_leader_and_next_caller_retries() {
        let commit = GroupCommit::new(0);
        let error = commit
            .wait_durable(1, || {
                Err(StorageError::Io {
                    path: "00000000000000000000.log".into(),
                    source: std::io::Error::other("disk full"),
                })
            })
            .unwrap_err();
        assert!(error.to_string().contains("disk full"), "{error}");
        assert_eq!(commit.durable_end(), 0);

        commit.wait_durable(1, || Ok(1)).unwrap();
        assert_eq!(commit.durable_end(), 1);
        assert_eq!(commit.syncs(), 2);
    }
}
