//! Consumer offsets: for each (group, topic, partition), the next offset the group will read.
//!
//! A consumer group processes records and then *commits* the offset after the last one it
//! finished, so a restarted consumer resumes there. Processing before committing gives
//! at-least-once delivery: a consumer that crashes between the two reads some records again.
//!
//! NOTE: offsets live in memory only and are lost when the broker stops. A production broker
//! stores them durably (Kafka uses an internal, compacted topic). The methods already return
//! `Result`, so a durable store can take this one's place without changing its callers.

use std::collections::HashMap;
use std::sync::Mutex;

/// Identifies one group's position: group, topic and partition.
type Key = (String, String, u32);

/// The committed offsets of every consumer group.
#[derive(Debug, Default)]
pub struct ConsumerOffsets {
    committed: Mutex<HashMap<Key, u64>>,
}

/// One group's committed offset for one partition, as listed by [`ConsumerOffsets::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Consumer group.
    pub group_id: String,
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The next offset the group will read.
    pub offset: u64,
}

impl ConsumerOffsets {
    /// Creates an empty store.
    pub fn new() -> ConsumerOffsets {
        ConsumerOffsets::default()
    }

    /// Stores `offset` as the group's position, replacing any earlier commit.
    ///
    /// # Errors
    ///
    /// None for this in-memory store; a durable store reports I/O errors here.
    pub fn commit(
        &self,
        group_id: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), std::io::Error> {
        let key = (group_id.to_owned(), topic.to_owned(), partition);
        self.lock().insert(key, offset);
        Ok(())
    }

    /// Returns the group's position, or `None` when it never committed for this partition.
    pub fn committed(&self, group_id: &str, topic: &str, partition: u32) -> Option<u64> {
        let key = (group_id.to_owned(), topic.to_owned(), partition);
        self.lock().get(&key).copied()
    }

    /// Returns every committed offset, sorted by group, topic and partition.
    pub fn list(&self) -> Vec<CommittedOffset> {
        let mut all: Vec<CommittedOffset> = self
            .lock()
            .iter()
            .map(|((group_id, topic, partition), offset)| CommittedOffset {
                group_id: group_id.clone(),
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect();
        all.sort_by(|a, b| {
            (&a.group_id, &a.topic, a.partition).cmp(&(&b.group_id, &b.topic, b.partition))
        });
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, u64>> {
        // A panic while holding this lock cannot leave the map half-updated: each operation is a
        // single insert or get. So a poisoned lock is safe to keep using.
        self.committed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_then_read_back() {
        let offsets = ConsumerOffsets::new();
        assert_eq!(offsets.committed("g", "t", 0), None);

        offsets.commit("g", "t", 0, 5).unwrap();
        offsets.commit("g", "t", 0, 7).unwrap();
        offsets.commit("g", "t", 1, 2).unwrap();

        assert_eq!(offsets.committed("g", "t", 0), Some(7));
        assert_eq!(offsets.committed("g", "t", 1), Some(2));
        assert_eq!(offsets.committed("other", "t", 0), None);
        assert_eq!(offsets.list().len(), 2);
    }
}
