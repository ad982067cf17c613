//! Consumer offsets: for each consumer group and partition, the next offset the group will read.
//!
//! A *consumer group* is a name that the consumers of one application share. The broker stores
//! one number per group and partition, the *committed offset*. A consumer fetches from it,
//! processes the records, and then *commits* the offset after the last record it processed. A
//! consumer that starts, or takes over after another one crashed, resumes from the group's
//! committed offset instead of from the start of the log.
//!
//! The committed offset is the *next* offset to read, as in Kafka: after processing offsets 0 to
//! 4, a consumer commits 5. A group that has not committed for a partition has no offset, and its
//! fetches start at the log start offset.
//!
//! The order "process, then commit" gives *at-least-once* delivery. A consumer that crashes after
//! processing a batch and before committing it leaves the old offset in place, and the next
//! consumer of the group processes that batch again. No record is skipped, but some may be
//! processed twice, so processing should tolerate duplicates. See [`crate::consumer`].
//!
//! What this module leaves out: durability. The offsets live in memory only, so a restart of the
//! broker loses every commit, and every group starts again from the log start.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Identifies one group's position: group, topic and partition.
type Key = (String, String, u32);

// ANCHOR: consumer_offsets
/// The committed offsets of every consumer group.
///
/// It is shared by every connection, so each method takes `&self` and locks the map for the
/// length of one lookup or insert. Nothing blocks while the lock is held.
#[derive(Debug, Default)]
pub struct ConsumerOffsets {
    // TODO: store the commits in a file so they survive a restart, which chapter 7 does.
    committed: Mutex<HashMap<Key, u64>>,
}

impl ConsumerOffsets {
    /// Creates a store with no commits.
    pub fn new() -> ConsumerOffsets {
        ConsumerOffsets::default()
    }

    /// Stores `offset` as the next offset `group_id` will read from `topic` partition
    /// `partition`, replacing any earlier commit, even a larger one.
    ///
    /// The caller checks that the offset is valid for the partition.
    pub fn commit(&self, group_id: &str, topic: &str, partition: u32, offset: u64) {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.lock().insert(key, offset);
    }

    /// Returns the offset `group_id` last committed for `topic` partition `partition`, or `None`
    /// when it has not committed there.
    pub fn committed(&self, group_id: &str, topic: &str, partition: u32) -> Option<u64> {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.lock().get(&key).copied()
    }
    // ANCHOR_END: consumer_offsets

    /// Returns the number of (group, topic, partition) positions stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Returns whether no group has committed anything.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Locks the map. A panic while the lock was held cannot have left a half-done change,
    /// because each change is one `insert`, so a poisoned lock is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, u64>> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_earlier_commit() {
        let offsets = ConsumerOffsets::new();
        assert_eq!(offsets.committed("audit", "greetings", 0), None);

        offsets.commit("audit", "greetings", 0, 5);
        assert_eq!(offsets.committed("audit", "greetings", 0), Some(5));

        // A smaller offset replaces a larger one: that is how a group rewinds.
        offsets.commit("audit", "greetings", 0, 2);
        assert_eq!(offsets.committed("audit", "greetings", 0), Some(2));
        assert_eq!(offsets.len(), 1);
    }

    #[test]
    fn groups_topics_and_partitions_are_separate() {
        let offsets = ConsumerOffsets::new();
        offsets.commit("audit", "greetings", 0, 5);

        assert_eq!(offsets.committed("billing", "greetings", 0), None);
        assert_eq!(offsets.committed("audit", "farewells", 0), None);
        assert_eq!(offsets.committed("audit", "greetings", 1), None);
        assert!(!offsets.is_empty());
    }
}
