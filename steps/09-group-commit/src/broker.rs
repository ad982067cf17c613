//! The broker: applies each request to the partition it names.
//!
//! This is the one layer that uses both the protocol types and the storage layer. It owns every
//! partition of every topic, each behind its own lock, and the consumer groups' committed
//! offsets. The topics are static: they come from the [`BrokerConfig`] given at start, and no
//! request can create or delete one. Consumer groups need no configuration: a group exists once
//! it has committed.
//!
//! Storage calls block: an append waits for `fdatasync`, a commit waits for the offsets file's
//! `fdatasync`, and a fetch from the active segment waits for `pread`. They run on Tokio's
//! blocking thread pool (`spawn_blocking`), so a slow disk holds up the requests that wait for
//! it, and not every other connection served by the same worker thread.
//!
//! A produce request writes its records as one batch with the partition locked, and then waits,
//! without the lock, until a sync covers them. With [`TopicConfig::group_commit`] on, the
//! default, the requests that wait at the same time share one sync (see [`crate::group_commit`]).
//! With it off, each request syncs on its own while it holds the lock, as in step 8. Either way
//! the response goes out only after its records are durable.
//!
//! Each topic may set retention limits ([`TopicConfig::retention`]).
//! [`Broker::enforce_retention`] runs one pass over every partition that has them, and
//! [`run_retention`] runs a pass at a fixed interval until the server stops. The broker reads the
//! time from a [`Clock`], which stamps produced records and ages segments, so tests can move time
//! by hand.
//!
//! # Data directory
//!
//! ```text
//! <data_dir>/topics/<topic>/partition-<n>/   one partition directory, as in chapters 2 to 4
//! <data_dir>/offsets/offsets.log             every group's commits, see crate::offsets
//! ```
//!
//! The finished broker uses the same layout, so it can open a data directory written by this step.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
use crate::error::io_error;
use crate::group_commit::{Fdatasync, GroupCommit, Syncer};
use crate::offsets::{ConsumerOffsets, OffsetsError, OffsetsReplay};
use crate::partition::{Appended, Partition, PartitionConfig};
use crate::protocol::{
    CommitRequest, CommitResponse, CommittedRequest, CommittedResponse, ErrorCode, ErrorResponse,
    FetchRequest, FetchResponse, FetchedRecord, ProduceRequest, ProduceResponse, Request,
    ResponseBody,
};
use crate::record::{self, NewRecord, MAX_FRAME_BYTES};
use crate::retention::{DeletedSegment, RetentionConfig};
use crate::StorageError;

/// `max_bytes` of a fetch that does not set it: 1 MiB.
pub const DEFAULT_FETCH_MAX_BYTES: u64 = 1024 * 1024;
/// Default of [`BrokerConfig::max_fetch_bytes`]: 16 MiB.
pub const DEFAULT_MAX_FETCH_BYTES: u64 = 16 * 1024 * 1024;
/// Maximum length of a consumer group id, in bytes.
pub const MAX_GROUP_ID_LEN: usize = 255;
/// Maximum length of a topic name, in bytes. The name becomes a directory name, and this keeps it
/// below the 255 bytes that most file systems allow.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Default interval between two retention passes of [`run_retention`]: one minute.
pub const DEFAULT_RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Settings of a broker: the topics it serves and where it keeps the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// The data directory, created when missing.
    pub data_dir: PathBuf,
    /// Each topic's name and settings.
    pub topics: BTreeMap<String, TopicConfig>,
    /// Settings of every partition.
    pub partition: PartitionConfig,
    /// Upper bound on a fetch's `max_bytes`. A larger value is lowered to it without an error.
    pub max_fetch_bytes: u64,
}

impl BrokerConfig {
    /// Returns a config for `data_dir` with no topics and the default settings.
    pub fn new(data_dir: impl Into<PathBuf>) -> BrokerConfig {
        BrokerConfig {
            data_dir: data_dir.into(),
            topics: BTreeMap::new(),
            partition: PartitionConfig::default(),
            max_fetch_bytes: DEFAULT_MAX_FETCH_BYTES,
        }
    }
}

/// Settings of one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfig {
    /// Number of partitions, at least 1.
    pub partitions: u32,
    /// When the topic's partitions delete old segments. The default keeps everything.
    pub retention: RetentionConfig,
    /// Whether produce requests that wait at the same time share one sync (`true`, the default),
    /// or each request syncs on its own while it holds the partition's lock (`false`).
    pub group_commit: bool,
}

impl TopicConfig {
    /// Returns the settings of a topic with `partitions` partitions that keeps every record and
    /// shares syncs.
    pub fn new(partitions: u32) -> TopicConfig {
        TopicConfig {
            partitions,
            retention: RetentionConfig::default(),
            group_commit: true,
        }
    }
}

/// A segment that a retention pass deleted, and the partition it belonged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionDeletion {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The deleted segment.
    pub segment: DeletedSegment,
}

/// An error that keeps the broker from starting.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A topic in the configuration has a name or a partition count that is not allowed.
    #[error("invalid topic `{topic}` in the configuration: {reason}")]
    InvalidTopic {
        /// The topic's name.
        topic: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A directory could not be created or synced.
    #[error("cannot create {}: {source}; check that the data directory is writable", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The consumer offsets could not be loaded.
    #[error("cannot load the consumer offsets: {0}")]
    Offsets(#[from] OffsetsError),
    /// A partition could not be opened or recovered.
    #[error("cannot open topic `{topic}` partition {partition}: {source}")]
    Partition {
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: u32,
        /// The storage layer's error.
        #[source]
        source: StorageError,
    },
}

/// One partition, with its topic and number for logs and error messages.
#[derive(Debug)]
struct PartitionSlot {
    topic: String,
    number: u32,
    /// The topic's retention settings.
    retention: RetentionConfig,
    // NOTE: one mutex serialises the fetches of a partition with its writes and with each other.
    // The finished broker uses a read-write lock, so fetches of one partition run in parallel.
    partition: Mutex<Partition>,
    /// Chooses the leader of each shared sync, when `use_group_commit` is on.
    group_commit: GroupCommit,
    /// The topic's [`TopicConfig::group_commit`].
    use_group_commit: bool,
    /// Syncs of the partition's data that produce requests ran since the broker opened.
    syncs: AtomicU64,
    /// Runs those syncs.
    syncer: Arc<dyn Syncer>,
}

/// The broker's state: every partition of every topic, and the consumer offsets.
#[derive(Debug)]
pub struct Broker {
    topics: BTreeMap<String, Vec<Arc<PartitionSlot>>>,
    /// Shared with the blocking tasks that store commits.
    offsets: Arc<ConsumerOffsets>,
    /// The outcome of the offsets file's replay when the broker opened.
    offsets_replay: OffsetsReplay,
    max_fetch_bytes: u64,
    /// Stamps produced records and ages segments for retention.
    clock: Arc<dyn Clock>,
}

impl Broker {
    /// Opens every partition of every configured topic under `config.data_dir`, creating what is
    /// missing and recovering what is there, and replays the consumer offsets. Blocks on file
    /// I/O, so call it before the server starts, or from a blocking task.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidTopic`] for a topic name or partition count that is not allowed, and
    /// the other variants when a directory, a partition or the offsets file cannot be opened.
    pub fn open(config: &BrokerConfig) -> Result<Broker, BrokerError> {
        Broker::open_with_clock(config, Arc::new(SystemClock))
    }

    /// Opens the broker like [`Broker::open`], reading the time from `clock` instead of the
    /// system's wall clock.
    ///
    /// # Errors
    ///
    /// As [`Broker::open`].
    pub fn open_with_clock(
        config: &BrokerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Broker, BrokerError> {
        Broker::open_with(config, clock, Arc::new(Fdatasync))
    }

    /// Opens the broker like [`Broker::open_with_clock`], running the syncs of produce requests
    /// through `syncer` instead of a plain `fdatasync`.
    ///
    /// # Errors
    ///
    /// As [`Broker::open`].
    pub fn open_with(
        config: &BrokerConfig,
        clock: Arc<dyn Clock>,
        syncer: Arc<dyn Syncer>,
    ) -> Result<Broker, BrokerError> {
        for (topic, settings) in &config.topics {
            validate_topic(topic, settings.partitions)?;
        }

        let topics_dir = config.data_dir.join("topics");
        let mut topics = BTreeMap::new();
        for (topic, settings) in &config.topics {
            let partitions = settings.partitions;
            let topic_dir = topics_dir.join(topic);
            create_dir_durably(&topic_dir).map_err(|source| BrokerError::DataDir {
                path: topic_dir.clone(),
                source,
            })?;

            let mut slots = Vec::with_capacity(partitions as usize);
            for number in 0..partitions {
                let dir = partition_dir(&topics_dir, topic, number);
                let (partition, report) =
                    Partition::open(&dir, config.partition).map_err(|source| {
                        BrokerError::Partition {
                            topic: topic.clone(),
                            partition: number,
                            source,
                        }
                    })?;
                tracing::info!(
                    %topic,
                    partition = number,
                    segments = report.segments,
                    log_end_offset = report.log_end_offset,
                    truncated_bytes = report.truncated_bytes,
                    rebuilt_indexes = report.rebuilt_indexes.len(),
                    log_start_offset = report.log_start_offset,
                    "opened partition"
                );
                slots.push(Arc::new(PartitionSlot {
                    topic: topic.clone(),
                    number,
                    retention: settings.retention,
                    group_commit: GroupCommit::new(partition.log_end_offset()),
                    use_group_commit: settings.group_commit,
                    syncs: AtomicU64::new(0),
                    syncer: Arc::clone(&syncer),
                    partition: Mutex::new(partition),
                }));
            }
            topics.insert(topic.clone(), slots);
        }

        let offsets_dir = config.data_dir.join("offsets");
        let (offsets, offsets_replay) = ConsumerOffsets::open(&offsets_dir)?;
        tracing::info!(
            entries = offsets_replay.entries,
            keys = offsets_replay.keys,
            truncated_bytes = offsets_replay.truncated_bytes,
            "replayed the consumer offsets"
        );

        Ok(Broker {
            topics,
            offsets: Arc::new(offsets),
            offsets_replay,
            max_fetch_bytes: config.max_fetch_bytes,
            clock,
        })
    }

    /// Returns what replaying the offsets file found when the broker opened.
    pub fn offsets_replay(&self) -> &OffsetsReplay {
        &self.offsets_replay
    }

    /// Applies one request and returns the body of the response, or the error for the client.
    // ANCHOR: handle
    pub async fn handle(&self, request: Request) -> Result<ResponseBody, ErrorResponse> {
        match request {
            Request::Produce(request) => self.produce(request).await.map(ResponseBody::Produce),
            Request::Fetch(request) => self.fetch(request).await.map(ResponseBody::Fetch),
            Request::Commit(request) => self.commit(request).await.map(ResponseBody::Commit),
            Request::Committed(request) => self.committed(request).map(ResponseBody::Committed),
        }
    }
    // ANCHOR_END: handle

    /// Returns each topic's name and number of partitions, sorted by name.
    pub fn topics(&self) -> Vec<(&str, usize)> {
        self.topics
            .iter()
            .map(|(name, slots)| (name.as_str(), slots.len()))
            .collect()
    }

    /// Appends the records of a produce request to its partition, in order, and returns their
    /// offsets.
    // ANCHOR: produce
    async fn produce(&self, request: ProduceRequest) -> Result<ProduceResponse, ErrorResponse> {
        let slot = self.slot(&request.topic, request.partition)?;
        if request.records.is_empty() {
            return Err(ErrorResponse::invalid(
                "`records` is empty; a produce needs at least one record",
            ));
        }

        // Check every record before writing any, so one bad record rejects the whole request.
        let mut records = Vec::with_capacity(request.records.len());
        for (number, record) in request.records.iter().enumerate() {
            let (key, value) = record.to_bytes().map_err(|error| {
                ErrorResponse::invalid(format!("record {number}: {}", error.message))
            })?;
            let frame_len = record::frame_len(key.as_ref().map_or(0, Vec::len), value.len());
            if frame_len > MAX_FRAME_BYTES {
                let message = format!(
                    "record {number} is {frame_len} bytes on disk, above the maximum of \
                     {MAX_FRAME_BYTES}; send a smaller record"
                );
                return Err(ErrorResponse::new(ErrorCode::RecordTooLarge, message));
            }
            records.push((key, value));
        }
        let timestamp_ms = self.clock.now_ms();

        // One batch for the whole request: consecutive offsets, and one sync for all of them.
        let appended = run_blocking_on_slot(&slot, move |slot| {
            let batch: Vec<NewRecord<'_>> = records
                .iter()
                .map(|(key, value)| NewRecord {
                    timestamp_ms,
                    key: key.as_deref(),
                    value,
                })
                .collect();
            slot.append(&batch)
        })
        .await?;

        let offsets: Vec<u64> = (appended.first_offset..appended.end_offset).collect();
        tracing::debug!(topic = %slot.topic, partition = slot.number, first_offset = appended.first_offset, count = offsets.len(), "appended");
        Ok(ProduceResponse { offsets })
    }
    // ANCHOR_END: produce

    /// Fetches records from the partition a fetch request names, starting at the request's
    /// offset or at its group's committed offset.
    // ANCHOR: fetch
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, ErrorResponse> {
        let slot = self.slot(&request.topic, request.partition)?;
        if let Some(group_id) = &request.group_id {
            check_group_id(group_id)?;
        }
        let start = self.fetch_start(&request)?;
        let max_bytes = request
            .max_bytes
            .unwrap_or(DEFAULT_FETCH_MAX_BYTES)
            .min(self.max_fetch_bytes);

        let (start, records, log_end_offset) = run_blocking(&slot, move |partition| {
            let start = start.unwrap_or_else(|| partition.log_start_offset());
            let records = partition.fetch(start, max_bytes)?;
            Ok((start, records, partition.log_end_offset()))
        })
        .await
        .map_err(|error| explain_group_start(&request, start, error))?;

        let next_offset = records.last().map_or(start, |record| record.offset + 1);
        let records = records
            .iter()
            .map(|record| {
                FetchedRecord::new(
                    record.offset,
                    record.timestamp_ms,
                    record.key.as_deref(),
                    &record.value,
                )
            })
            .collect();
        Ok(FetchResponse {
            records,
            next_offset,
            log_end_offset,
        })
    }
    // ANCHOR_END: fetch

    /// Returns the offset a fetch starts at: its `offset` when it has one, or else its group's
    /// committed offset. `None` means the log start offset, which only the partition can tell.
    ///
    /// # Errors
    ///
    /// `invalid_request` when the fetch has neither `offset` nor `group_id`.
    // ANCHOR: fetch_start
    fn fetch_start(&self, request: &FetchRequest) -> Result<Option<u64>, ErrorResponse> {
        // SOLUTION(group_fetch_start): An explicit offset wins; otherwise the group's commit, or the log start when there is none.
        match (request.offset, &request.group_id) {
            (Some(offset), _) => Ok(Some(offset)),
            (None, Some(group_id)) => {
                Ok(self
                    .offsets
                    .committed(group_id, &request.topic, request.partition))
            }
            (None, None) => Err(ErrorResponse::invalid(
                "fetch needs `offset`, or `group_id` to start from the group's committed offset",
            )),
        }
        // END SOLUTION
    }
    // ANCHOR_END: fetch_start

    /// Stores a group's committed offset for a partition, durably, before it responds.
    // ANCHOR: commit
    async fn commit(&self, request: CommitRequest) -> Result<CommitResponse, ErrorResponse> {
        check_group_id(&request.group_id)?;
        let slot = self.slot(&request.topic, request.partition)?;

        // An append may hold the partition's lock while it waits for a sync, so even this short
        // read of two offsets runs on the blocking thread pool.
        let (log_start, log_end) = run_blocking(&slot, |partition| {
            Ok((partition.log_start_offset(), partition.log_end_offset()))
        })
        .await?;

        // SOLUTION(commit_rule): Reject an offset below the log start or past the log end; otherwise store it durably, and respond only after that.
        // The log end itself is allowed: it means the group has read everything. Past it, the
        // group would skip records that do not exist yet. Below the log start, it would point at
        // records that retention deleted, and its next fetch would fail.
        // NOTE: a retention pass may move the log start between this check and the store, so a
        // commit just below the new log start can still be stored. The group's next fetch then
        // reports it as out of range, with the valid range.
        if request.offset < log_start || request.offset > log_end {
            let message = format!(
                "cannot commit offset {} for topic `{}` partition {}: the partition holds offsets \
                 {log_start} to {log_end}; commit an offset in that range (the log end, \
                 {log_end}, means the group has read everything)",
                request.offset, request.topic, request.partition
            );
            return Err(ErrorResponse {
                code: ErrorCode::OffsetOutOfRange,
                message,
                log_start_offset: Some(log_start),
                log_end_offset: Some(log_end),
            });
        }
        self.store_commit(&request).await?;
        tracing::debug!(group_id = %request.group_id, topic = %request.topic, partition = request.partition, offset = request.offset, "committed");
        Ok(CommitResponse {})
        // END SOLUTION
    }
    // ANCHOR_END: commit

    /// Appends a commit to the offsets file and waits for its sync, on the blocking thread pool.
    ///
    /// # Errors
    ///
    /// `storage_error` when the write or the sync fails. The commit is then not acknowledged,
    /// and the group keeps its earlier offset.
    async fn store_commit(&self, request: &CommitRequest) -> Result<(), ErrorResponse> {
        let offsets = Arc::clone(&self.offsets);
        let commit = request.clone();
        let stored = tokio::task::spawn_blocking(move || {
            offsets.commit(
                &commit.group_id,
                &commit.topic,
                commit.partition,
                commit.offset,
            )
        })
        .await;

        let failure = match stored {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => error.to_string(),
            Err(join_error) => format!("the commit task failed: {join_error}"),
        };
        tracing::error!(group_id = %request.group_id, topic = %request.topic, partition = request.partition, offset = request.offset, error = %failure, "commit failed");
        Err(ErrorResponse::new(
            ErrorCode::StorageError,
            format!("cannot store the commit: {failure}; the group keeps its earlier offset"),
        ))
    }

    /// Returns a group's committed offset for a partition, or `null` when it has none.
    fn committed(&self, request: CommittedRequest) -> Result<CommittedResponse, ErrorResponse> {
        check_group_id(&request.group_id)?;
        self.slot(&request.topic, request.partition)?;
        let offset = self
            .offsets
            .committed(&request.group_id, &request.topic, request.partition);
        Ok(CommittedResponse { offset })
    }

    /// Runs one retention pass over every partition whose topic has retention settings, at the
    /// clock's current time, and returns the deleted segments. Logs each deletion.
    ///
    /// A partition whose pass fails is logged and skipped, and the other partitions still run.
    // ANCHOR: broker_enforce_retention
    pub async fn enforce_retention(&self) -> Vec<RetentionDeletion> {
        let now_ms = self.clock.now_ms();
        let mut deletions = Vec::new();
        for slot in self.topics.values().flatten() {
            if !slot.retention.is_enabled() {
                continue;
            }
            let retention = slot.retention;
            let pass = run_blocking(slot, move |partition| {
                partition.enforce_retention(&retention, now_ms)
            })
            .await;

            // `run_blocking` has logged a storage error with the topic and partition.
            let Ok(deleted) = pass else { continue };
            for segment in deleted {
                tracing::info!(
                    topic = %slot.topic,
                    partition = slot.number,
                    base_offset = segment.base_offset,
                    log_start_offset = segment.next_offset,
                    bytes = segment.bytes,
                    reason = ?segment.reason,
                    "retention deleted a segment"
                );
                deletions.push(RetentionDeletion {
                    topic: slot.topic.clone(),
                    partition: slot.number,
                    segment,
                });
            }
        }
        deletions
    }
    // ANCHOR_END: broker_enforce_retention

    /// Returns the number of syncs that produce requests to `topic` partition `partition` ran
    /// since the broker opened, or `None` for a partition the broker does not serve. Rolls and
    /// recovery sync too, and are not counted.
    pub fn sync_count(&self, topic: &str, partition: u32) -> Option<u64> {
        let slot = self.topics.get(topic)?.get(partition as usize)?;
        Some(slot.syncs.load(Ordering::Relaxed))
    }

    /// Finds a partition by topic name and number.
    ///
    /// A name from a request never becomes a path: an unknown or malformed topic name is only a
    /// missing map key, so a request cannot reach files outside the data directory.
    fn slot(&self, topic: &str, partition: u32) -> Result<Arc<PartitionSlot>, ErrorResponse> {
        let Some(slots) = self.topics.get(topic) else {
            let served: Vec<&str> = self.topics.keys().map(String::as_str).collect();
            return Err(ErrorResponse::new(
                ErrorCode::UnknownTopic,
                format!(
                    "unknown topic `{topic}`; this broker serves: {}",
                    served.join(", ")
                ),
            ));
        };
        slots.get(partition as usize).cloned().ok_or_else(|| {
            ErrorResponse::new(
                ErrorCode::UnknownPartition,
                format!(
                    "topic `{topic}` has no partition {partition}; it has partitions 0 to {}",
                    slots.len() - 1
                ),
            )
        })
    }
}

/// Runs [`Broker::enforce_retention`] every `interval` until `stop` turns `true`.
///
/// The task looks at `stop` only between passes, so a stop never interrupts a deletion.
pub async fn run_retention(
    broker: Arc<Broker>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        broker.enforce_retention().await;
    }
}

impl PartitionSlot {
    /// Writes `batch`, waits until a sync covers it, and returns its offsets.
    ///
    /// The write holds the partition's lock. With group commit, the sync does not: the batch
    /// waits in [`GroupCommit::wait_durable`], and the requests that write while a sync runs are
    /// covered together by the next one. Without it, the request syncs with the lock still held,
    /// so each request costs one sync.
    // ANCHOR: slot_append
    fn append(&self, batch: &[NewRecord<'_>]) -> Result<Appended, StorageError> {
        if !self.use_group_commit {
            let mut partition = self.lock();
            let appended = partition.append_unsynced(batch)?;
            let (log, written_end) = partition.sync_target();
            self.syncs.fetch_add(1, Ordering::Relaxed);
            self.syncer
                .sync_data(&log)
                .map_err(io_error(partition.dir()))?;
            partition.mark_durable(written_end);
            return Ok(appended);
        }

        let appended = self.lock().append_unsynced(batch)?;
        // NOTE: after a failed fsync, Linux may already have marked the unsynced pages clean, so
        // a later sync can succeed without them. A production broker stops writing to the
        // partition until a restart has read the log again. Here the error only reaches the
        // producers whose sync failed.
        self.group_commit
            .wait_durable(appended.end_offset, || self.sync_written())?;
        Ok(appended)
    }
    // ANCHOR_END: slot_append

    /// Syncs every record written so far and makes it visible. Returns the offset it made
    /// durable up to. Only the sync's leader calls this.
    // ANCHOR: sync_written
    fn sync_written(&self) -> Result<u64, StorageError> {
        // Take the handle and the written end with the lock, then let go of it, so that other
        // requests write their batches while this sync runs.
        let (log, written_end) = self.lock().sync_target();
        self.syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.syncer.sync_data(&log) {
            return Err(io_error(self.lock().dir())(error));
        }
        self.lock().mark_durable(written_end);
        Ok(written_end)
    }
    // ANCHOR_END: sync_written

    /// Locks the partition. A panic in an earlier call poisons the lock. The partition is still
    /// consistent, because it updates its state only after the I/O succeeded, so the poison is
    /// cleared.
    fn lock(&self) -> MutexGuard<'_, Partition> {
        self.partition
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a storage call on the blocking thread pool with the partition locked, and turns its
/// error into the client's error.
async fn run_blocking<T, F>(slot: &Arc<PartitionSlot>, call: F) -> Result<T, ErrorResponse>
where
    T: Send + 'static,
    F: FnOnce(&mut Partition) -> Result<T, StorageError> + Send + 'static,
{
    run_blocking_on_slot(slot, move |slot| call(&mut slot.lock())).await
}

/// Runs a call on the blocking thread pool with the partition's slot, which the call locks when
/// and for as long as it needs, and turns its error into the client's error.
async fn run_blocking_on_slot<T, F>(slot: &Arc<PartitionSlot>, call: F) -> Result<T, ErrorResponse>
where
    T: Send + 'static,
    F: FnOnce(&PartitionSlot) -> Result<T, StorageError> + Send + 'static,
{
    let owned = Arc::clone(slot);
    let joined = tokio::task::spawn_blocking(move || call(&owned)).await;

    match joined {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(storage_error(slot, error)),
        Err(join_error) => {
            tracing::error!(topic = %slot.topic, partition = slot.number, error = %join_error, "storage call panicked");
            Err(ErrorResponse::new(
                ErrorCode::StorageError,
                "internal error in the storage layer; see the server log",
            ))
        }
    }
}

/// Maps a storage error to the client's error, and logs the ones that are the server's fault.
// ANCHOR: storage_error
fn storage_error(slot: &PartitionSlot, error: StorageError) -> ErrorResponse {
    match error {
        StorageError::OffsetOutOfRange {
            log_start, log_end, ..
        } => ErrorResponse {
            code: ErrorCode::OffsetOutOfRange,
            message: format!("topic `{}` partition {}: {error}", slot.topic, slot.number),
            log_start_offset: Some(log_start),
            log_end_offset: Some(log_end),
        },
        StorageError::RecordTooLarge { .. } => {
            ErrorResponse::new(ErrorCode::RecordTooLarge, error.to_string())
        }
        StorageError::Io { .. }
        | StorageError::Corrupt { .. }
        | StorageError::InvalidConfig { .. } => {
            tracing::error!(topic = %slot.topic, partition = slot.number, %error, "storage error");
            ErrorResponse::new(ErrorCode::StorageError, error.to_string())
        }
    }
}
// ANCHOR_END: storage_error

/// Rewrites the `offset_out_of_range` error of a fetch that started at its group's committed
/// offset, so the client learns that the commit, not its request, points outside the partition.
///
/// A commit outlives the records it points at once retention deletes them: a group that stopped
/// reading for longer than `retention_ms` finds its offset below the log start. The error keeps
/// the valid range, so the client can choose where to start again.
// ANCHOR: explain_group_start
fn explain_group_start(
    request: &FetchRequest,
    start: Option<u64>,
    mut error: ErrorResponse,
) -> ErrorResponse {
    let (Some(group_id), None, Some(committed)) = (&request.group_id, request.offset, start) else {
        return error;
    };
    let (Some(log_start), Some(log_end)) = (error.log_start_offset, error.log_end_offset) else {
        return error;
    };
    error.message = format!(
        "group `{group_id}` committed offset {committed} for topic `{}` partition {}, which is \
         outside the partition's offsets {log_start} to {log_end}; commit an offset in that range, \
         such as the log start offset {log_start}, and fetch again",
        request.topic, request.partition
    );
    error
}
// ANCHOR_END: explain_group_start

/// Checks that a consumer group id is 1 to [`MAX_GROUP_ID_LEN`] bytes long.
fn check_group_id(group_id: &str) -> Result<(), ErrorResponse> {
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
        return Err(ErrorResponse::invalid(format!(
            "invalid group_id `{group_id}`: it must be 1 to {MAX_GROUP_ID_LEN} bytes long"
        )));
    }
    Ok(())
}

/// Checks a topic's name, which becomes a directory name, and its partition count.
fn validate_topic(topic: &str, partitions: u32) -> Result<(), BrokerError> {
    let invalid = |reason: String| BrokerError::InvalidTopic {
        topic: topic.to_string(),
        reason,
    };
    if topic.is_empty() || topic.len() > MAX_TOPIC_NAME_LEN {
        return Err(invalid(format!(
            "a name must be 1 to {MAX_TOPIC_NAME_LEN} characters long"
        )));
    }
    if topic == "." || topic == ".." {
        return Err(invalid("`.` and `..` are not allowed".to_string()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = topic.chars().find(|&c| !allowed(c)) {
        return Err(invalid(format!(
            "character {bad:?} is not allowed; use ASCII letters, digits, `.`, `_` and `-`"
        )));
    }
    if partitions == 0 {
        return Err(invalid("a topic needs at least 1 partition".to_string()));
    }
    Ok(())
}

/// Returns the directory of partition `number` of `topic`.
pub fn partition_dir(topics_dir: &Path, topic: &str, number: u32) -> PathBuf {
    topics_dir.join(topic).join(format!("partition-{number}"))
}

/// Creates `dir` and any missing parent, and syncs the parent of each directory it creates, so
/// the new names survive a crash.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().filter(|parent| !parent.as_os_str().is_empty());
    if let Some(parent) = parent {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(error) => return Err(error),
    }
    fs::File::open(parent.unwrap_or(Path::new(".")))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_the_rules() {
        for good in ["greetings", "a", "Orders.v2_eu-west", &"x".repeat(249)] {
            assert!(validate_topic(good, 1).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "with space", "ü", &"x".repeat(250)] {
            assert!(validate_topic(bad, 1).is_err(), "{bad:?}");
        }
        assert!(validate_topic("greetings", 0).is_err());
    }
}
