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
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::offsets::{ConsumerOffsets, OffsetsError, OffsetsReplay};
use crate::partition::{Partition, PartitionConfig};
use crate::protocol::{
    CommitRequest, CommitResponse, CommittedRequest, CommittedResponse, ErrorCode, ErrorResponse,
    FetchRequest, FetchResponse, FetchedRecord, ProduceRequest, ProduceResponse, Request,
    ResponseBody,
};
use crate::record::{self, NewRecord, MAX_FRAME_BYTES};
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

/// Settings of a broker: the topics it serves and where it keeps the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// The data directory, created when missing.
    pub data_dir: PathBuf,
    /// Each topic's name and number of partitions.
    pub topics: BTreeMap<String, u32>,
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
    // NOTE: one mutex serialises the fetches of a partition with its produces and with each
    // other. The finished broker uses a read-write lock, so fetches of one partition run in
    // parallel.
    partition: Mutex<Partition>,
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
        for (topic, &partitions) in &config.topics {
            validate_topic(topic, partitions)?;
        }

        let topics_dir = config.data_dir.join("topics");
        let mut topics = BTreeMap::new();
        for (topic, &partitions) in &config.topics {
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
                    "opened partition"
                );
                slots.push(Arc::new(PartitionSlot {
                    topic: topic.clone(),
                    number,
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
        let timestamp_ms = now_ms();

        // One lock for the whole request, so its records get consecutive offsets.
        // NOTE: each append syncs on its own, so a request of N records costs N syncs. If one
        // fails, the records before it stay stored although the client gets an error. The
        // finished broker appends a request as one batch with one sync.
        let offsets = run_blocking(&slot, move |partition| {
            let mut offsets = Vec::with_capacity(records.len());
            for (key, value) in &records {
                let record = NewRecord {
                    timestamp_ms,
                    key: key.as_deref(),
                    value,
                };
                offsets.push(partition.append(&record)?);
            }
            Ok(offsets)
        })
        .await?;

        tracing::debug!(topic = %slot.topic, partition = slot.number, first_offset = offsets[0], count = offsets.len(), "appended");
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

        // SOLUTION(commit_rule): Reject an offset past the log end; otherwise store it durably, and respond only after that.
        // The log end itself is allowed: it means the group has read everything. Past it, the
        // group would skip records that do not exist yet. The log only grows while the broker
        // runs, so an offset that is valid now stays valid after the check.
        if request.offset > log_end {
            let message = format!(
                "cannot commit offset {} for topic `{}` partition {}: the log end offset is \
                 {log_end}; commit at most {log_end}, the next offset to be written",
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

/// Runs a storage call on the blocking thread pool with the partition locked, and turns its
/// error into the client's error.
async fn run_blocking<T, F>(slot: &Arc<PartitionSlot>, call: F) -> Result<T, ErrorResponse>
where
    T: Send + 'static,
    F: FnOnce(&mut Partition) -> Result<T, StorageError> + Send + 'static,
{
    let owned = Arc::clone(slot);
    let joined = tokio::task::spawn_blocking(move || {
        // A panic in an earlier call poisons the lock. The partition is still consistent, because
        // it updates its state only after the I/O succeeded, so the poison is cleared.
        let mut partition = owned
            .partition
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        call(&mut partition)
    })
    .await;

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
/// Commits now survive restarts, and the records they point at may not: an operator may have
/// deleted old segments while the broker was stopped. The error keeps the valid range.
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

/// Returns the current time in milliseconds since the Unix epoch, the timestamp a produce gives
/// its records.
fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as i64
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
