//! A consumer in a consumer group, and the at-least-once consume loop.
//!
//! The loop repeats one turn, [`Consumer::process_next_batch`]:
//!
//! 1. fetch with `group_id` and no `offset`, so the broker starts at the group's committed
//!    offset (or at the log start, before the group's first commit);
//! 2. process each record of the batch;
//! 3. commit `next_offset`, the offset after the last record processed.
//!
//! Processing comes before the commit, and that order decides what a crash costs. A consumer
//! that crashes between steps 2 and 3 has processed records that the group's offset does not
//! cover, so the next consumer of the group fetches and processes them again:
//!
//! ANCHOR: crash_timeline
//!     time ───────────────────────────────────────────────────────────────────────────────▶
//!     consumer A   fetch 2..=3   process 2, 3   crash: commit 4 never sent
//!     consumer B                                  fetch 2..=3   process 2, 3 again   commit 4
//!     committed    2             2              2             2                    4
//! ANCHOR_END: crash_timeline
//!
//! No record is skipped, but some are processed twice: *at-least-once* delivery. Processing must
//! therefore tolerate duplicates, for example by writing its results keyed by offset. Committing
//! first and processing second turns the trade around: a crash between the two skips the batch,
//! which is *at-most-once* delivery.

use std::io;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::Client;
use crate::protocol::{CommitResponse, ErrorResponse, FetchResponse, FetchedRecord};

/// The reason a turn of the consume loop failed. After a failed turn, the batch is not committed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The connection failed.
    #[error("connection to the server failed: {0}")]
    Io(#[from] io::Error),
    /// The server returned an error.
    #[error("the server returned {}: {}", .0.code.as_str(), .0.message)]
    Server(ErrorResponse),
    /// The server's response does not have the fields the protocol defines.
    #[error("unexpected response from the server: {0}")]
    Protocol(String),
    /// The processing function failed on a record. Nothing of the batch was committed, so the
    /// group fetches the whole batch again.
    #[error(
        "processing the record at offset {offset} failed: {reason}; the batch was not committed"
    )]
    Process {
        /// The record's offset.
        offset: u64,
        /// The processing function's error.
        reason: String,
    },
}

/// One consumer of one partition, in a consumer group.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    group_id: String,
    topic: String,
    partition: u32,
    max_bytes: u64,
}

impl Consumer {
    /// Creates a consumer that reads `topic` partition `partition` for `group_id` over `client`,
    /// fetching up to `max_bytes` of frames at a time.
    pub fn new(
        client: Client,
        group_id: impl Into<String>,
        topic: impl Into<String>,
        partition: u32,
        max_bytes: u64,
    ) -> Consumer {
        Consumer {
            client,
            group_id: group_id.into(),
            topic: topic.into(),
            partition,
            max_bytes,
        }
    }

    /// Runs one turn of the at-least-once loop: fetches the next batch from the group's committed
    /// offset, calls `process` on each record in order, and then commits the offset after the
    /// batch. Returns the number of records processed, 0 when the group has caught up.
    ///
    /// # Errors
    ///
    /// [`ConsumeError::Process`] when `process` fails on a record, and the other variants when a
    /// request fails. In every case the batch is not committed, and the next turn fetches it
    /// again, so records that `process` already handled are processed twice.
    // ANCHOR: process_next_batch
    pub async fn process_next_batch<F>(&mut self, mut process: F) -> Result<usize, ConsumeError>
    where
        F: FnMut(&FetchedRecord) -> Result<(), String>,
    {
        // SOLUTION(consume_loop): Fetch from the group's offset, process every record, and only then commit `next_offset`.
        let batch = self.fetch().await?;
        for record in &batch.records {
            process(record).map_err(|reason| ConsumeError::Process {
                offset: record.offset,
                reason,
            })?;
        }

        // A commit is a request too, so an empty batch skips it.
        if !batch.records.is_empty() {
            self.commit(batch.next_offset).await?;
        }
        Ok(batch.records.len())
        // END SOLUTION
    }
    // ANCHOR_END: process_next_batch

    /// Fetches the next batch from the group's committed offset, without committing anything.
    ///
    /// # Errors
    ///
    /// The request's failure, as a [`ConsumeError`].
    pub async fn fetch(&mut self) -> Result<FetchResponse, ConsumeError> {
        let request = json!({
            "op": "fetch",
            "topic": self.topic,
            "partition": self.partition,
            "group_id": self.group_id,
            "max_bytes": self.max_bytes,
        });
        self.call(&request).await
    }

    /// Commits `offset` as the next offset the group will read.
    ///
    /// # Errors
    ///
    /// The request's failure, as a [`ConsumeError`].
    pub async fn commit(&mut self, offset: u64) -> Result<(), ConsumeError> {
        let request = json!({
            "op": "commit",
            "group_id": self.group_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": offset,
        });
        let _: CommitResponse = self.call(&request).await?;
        Ok(())
    }

    /// Returns the consumer's connection, for example to read its recorded exchanges.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Sends `request` and turns a successful response into `T`, or an error response into
    /// [`ConsumeError::Server`].
    async fn call<T: DeserializeOwned>(&mut self, request: &Value) -> Result<T, ConsumeError> {
        let mut response = self.client.request(request).await?;
        if response["ok"] == Value::Bool(true) {
            return serde_json::from_value(response)
                .map_err(|error| ConsumeError::Protocol(error.to_string()));
        }
        let error = serde_json::from_value(response["error"].take())
            .map_err(|error| ConsumeError::Protocol(format!("invalid `error` object: {error}")))?;
        Err(ConsumeError::Server(error))
    }
}
