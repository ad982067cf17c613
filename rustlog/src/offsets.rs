//! Consumer offsets: for each (group, topic, partition), the next offset the group will read,
//! stored durably in an append-only file.
//!
//! A consumer group processes records and then *commits* the offset after the last one it
//! finished, so a restarted consumer resumes there. Processing before committing gives
//! at-least-once delivery: a consumer that crashes between the two reads some records again.
//!
//! Every commit appends one entry to `offsets.log` and syncs it before the commit returns, so an
//! acknowledged commit survives a crash. On startup the file is replayed: the last entry for a key
//! wins, and a torn or corrupt tail is cut off, so a crash during a commit leaves the old value,
//! never a wrong one. When the file holds many more entries than there are keys, it is compacted:
//! the live entries are written to `offsets.log.tmp`, synced, and renamed over the old file.
//!
//! Why a log and not a rewritten file per commit: rewriting costs a write of every group's
//! offsets, a file sync, a rename and a directory sync for each commit; the log costs one small
//! append and one data sync, and pays for the rewrite only once per many commits.
//!
//! # Format
//!
//! Every integer is big-endian. The file starts with the 4-byte magic `ROFF` and a u32 version
//! (`1`), then holds entries back to back:
//!
//! ANCHOR: offsets_format
//! | field        | size (bytes)  | type | meaning                                             |
//! |--------------|---------------|------|-----------------------------------------------------|
//! | `length`     | 4             | u32  | bytes that follow this field                        |
//! | `crc`        | 4             | u32  | CRC-32C of every byte after this field              |
//! | `partition`  | 4             | u32  | partition number                                    |
//! | `offset`     | 8             | u64  | the committed offset                                |
//! | `group_len`  | 2             | u16  | length of `group_id`                                |
//! | `group_id`   | `group_len`   | UTF-8| consumer group                                      |
//! | `topic_len`  | 2             | u16  | length of `topic`                                   |
//! | `topic`      | `topic_len`   | UTF-8| topic name                                          |
//! ANCHOR_END: offsets_format

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crc32c::crc32c;

/// The bytes `offsets.log` starts with.
const MAGIC: [u8; 4] = *b"ROFF";
/// The format version this code writes and reads.
const VERSION: u32 = 1;
/// Size of the file header.
const HEADER_BYTES: usize = 8;
/// `length` plus `crc`.
const ENTRY_PREFIX_BYTES: usize = 8;
/// `partition`, `offset` and the two string lengths: the fixed part of an entry body.
const FIXED_BODY_BYTES: usize = 4 + 8 + 2 + 2;
/// Compact when the file holds this many entries more than twice the live keys.
pub const COMPACTION_SLACK_ENTRIES: usize = 10_000;

/// Identifies one group's position: group, topic and partition.
type Key = (String, String, u32);

/// An error of the offsets store.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    /// A file operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not an offsets log of this version.
    #[error(
        "{} does not start with the ROFF version {VERSION} header; it is not a RustLog offsets file: \
         move it away (the groups then start from their reset position)",
        path.display()
    )]
    BadHeader {
        /// The file.
        path: PathBuf,
    },
    /// A group or topic name is too long to store.
    #[error("{field} is {len} bytes long; the maximum is {max}", max = u16::MAX)]
    NameTooLong {
        /// Which name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
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

/// The committed offsets of every consumer group, backed by `offsets.log`.
#[derive(Debug)]
pub struct ConsumerOffsets {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    dir: PathBuf,
    file: File,
    committed: HashMap<Key, u64>,
    /// Entries in the file, live or superseded.
    entries_in_file: usize,
    /// Superseded entries tolerated, beyond one per key, before a compaction.
    compaction_slack: usize,
    /// Set when a compaction renamed a new file into place but syncing the directory failed:
    /// until that sync succeeds, a crash could bring back the old file, so no later commit is
    /// acknowledged before it.
    dir_sync_pending: bool,
}

/// What loading the offsets found, for the startup log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetsRecovery {
    /// Distinct (group, topic, partition) keys loaded.
    pub keys: usize,
    /// Entries replayed.
    pub entries: usize,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
}

impl ConsumerOffsets {
    /// Opens (or creates) the offsets store in `dir` and replays it.
    ///
    /// # Errors
    ///
    /// An I/O failure, or a file that is not an offsets log.
    pub fn open(dir: &Path) -> Result<(ConsumerOffsets, OffsetsRecovery), OffsetsError> {
        ConsumerOffsets::open_with_slack(dir, COMPACTION_SLACK_ENTRIES)
    }

    /// Opens the store with a chosen compaction threshold (see [`COMPACTION_SLACK_ENTRIES`]).
    ///
    /// # Errors
    ///
    /// As [`ConsumerOffsets::open`].
    pub fn open_with_slack(
        dir: &Path,
        compaction_slack: usize,
    ) -> Result<(ConsumerOffsets, OffsetsRecovery), OffsetsError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
            if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let path = dir.join("offsets.log");
        let leftover = dir.join("offsets.log.tmp");
        if leftover.exists() {
            // A compaction that crashed before its rename: the old file is still complete.
            fs::remove_file(&leftover).map_err(io_error(&leftover))?;
        }

        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                write_synced(&path, &HashMap::new())?;
                sync_dir(dir)?;
                header().to_vec()
            }
            Err(error) => return Err(io_error(&path)(error)),
        };
        if bytes.len() < HEADER_BYTES || bytes[..HEADER_BYTES] != header() {
            return Err(OffsetsError::BadHeader { path });
        }

        // ANCHOR: replay
        let mut committed = HashMap::new();
        let mut position = HEADER_BYTES;
        let mut entries = 0;
        while let Some((key, offset, len)) = decode_entry(&bytes[position..]) {
            committed.insert(key, offset);
            position += len;
            entries += 1;
        }
        // ANCHOR_END: replay

        let mut recovery = OffsetsRecovery {
            keys: committed.len(),
            entries,
            truncated_bytes: 0,
        };
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        if position < bytes.len() {
            recovery.truncated_bytes = (bytes.len() - position) as u64;
            tracing::warn!(
                file = %path.display(),
                position,
                truncated_bytes = recovery.truncated_bytes,
                "cut torn or corrupt tail of the offsets log"
            );
            file.set_len(position as u64).map_err(io_error(&path))?;
            file.sync_data().map_err(io_error(&path))?;
        }

        let state = State {
            dir: dir.to_path_buf(),
            file,
            committed,
            entries_in_file: entries,
            compaction_slack,
            dir_sync_pending: false,
        };
        Ok((
            ConsumerOffsets {
                state: Mutex::new(state),
            },
            recovery,
        ))
    }

    /// Stores `offset` as the group's position and syncs it before returning.
    ///
    /// # Errors
    ///
    /// A name too long to store, or an I/O failure; the old value then stays in effect.
    // ANCHOR: commit
    pub fn commit(
        &self,
        group_id: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), OffsetsError> {
        let entry = encode_entry(group_id, topic, partition, offset)?;
        let mut state = self.lock();

        // Durable first, visible second: a failed write leaves the map unchanged.
        let path = state.dir.join("offsets.log");
        state.file.write_all(&entry).map_err(io_error(&path))?;
        state.file.sync_data().map_err(io_error(&path))?;
        state
            .committed
            .insert((group_id.to_owned(), topic.to_owned(), partition), offset);
        state.entries_in_file += 1;

        // The commit is durable at this point, so a failed compaction is logged, not returned:
        // the old file stays in use and the next commit tries again.
        if state.entries_in_file > 2 * state.committed.len() + state.compaction_slack {
            if let Err(error) = state.compact() {
                tracing::warn!(%error, "compacting the offsets log failed; the next commit retries");
            }
        }
        state.sync_dir_if_pending()
    }
    // ANCHOR_END: commit

    /// Returns the group's position, or `None` when it never committed for this partition.
    pub fn committed(&self, group_id: &str, topic: &str, partition: u32) -> Option<u64> {
        let key = (group_id.to_owned(), topic.to_owned(), partition);
        self.lock().committed.get(&key).copied()
    }

    /// Returns every committed offset, sorted by group, topic and partition.
    pub fn list(&self) -> Vec<CommittedOffset> {
        let mut all: Vec<CommittedOffset> = self
            .lock()
            .committed
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the map happens after its write succeeded, so a panic elsewhere while
        // the lock was held leaves the state consistent, and a poisoned lock is safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Rewrites the file with one entry per key: write and sync a temp file, rename it over the
    /// old one, then sync the directory.
    fn compact(&mut self) -> Result<(), OffsetsError> {
        let path = self.dir.join("offsets.log");
        let temp = self.dir.join("offsets.log.tmp");
        let file = write_synced(&temp, &self.committed)?;
        fs::rename(&temp, &path).map_err(io_error(&path))?;

        // The handle opened on the temp file now refers to the renamed file, so commits from
        // here on go to the new file even if the directory sync below fails.
        self.file = file;
        tracing::info!(file = %path.display(), before = self.entries_in_file, after = self.committed.len(), "compacted offsets log");
        self.entries_in_file = self.committed.len();
        self.dir_sync_pending = true;
        self.sync_dir_if_pending()
    }

    fn sync_dir_if_pending(&mut self) -> Result<(), OffsetsError> {
        if self.dir_sync_pending {
            sync_dir(&self.dir)?;
            self.dir_sync_pending = false;
        }
        Ok(())
    }
}

/// Writes `committed` to a new file at `path`, syncs it, and returns a handle positioned at its end.
fn write_synced(path: &Path, committed: &HashMap<Key, u64>) -> Result<File, OffsetsError> {
    let mut bytes = header().to_vec();
    for ((group_id, topic, partition), offset) in committed {
        bytes.extend_from_slice(&encode_entry(group_id, topic, *partition, *offset)?);
    }

    let mut file = File::create(path).map_err(io_error(path))?;
    file.write_all(&bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), OffsetsError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

fn header() -> [u8; HEADER_BYTES] {
    let mut header = [0; HEADER_BYTES];
    header[..4].copy_from_slice(&MAGIC);
    header[4..].copy_from_slice(&VERSION.to_be_bytes());
    header
}

fn encode_entry(
    group_id: &str,
    topic: &str,
    partition: u32,
    offset: u64,
) -> Result<Vec<u8>, OffsetsError> {
    let group_len = u16::try_from(group_id.len()).map_err(|_| OffsetsError::NameTooLong {
        field: "group_id",
        len: group_id.len(),
    })?;
    let topic_len = u16::try_from(topic.len()).map_err(|_| OffsetsError::NameTooLong {
        field: "topic",
        len: topic.len(),
    })?;

    let mut body = Vec::with_capacity(FIXED_BODY_BYTES + group_id.len() + topic.len());
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&group_len.to_be_bytes());
    body.extend_from_slice(group_id.as_bytes());
    body.extend_from_slice(&topic_len.to_be_bytes());
    body.extend_from_slice(topic.as_bytes());

    let mut entry = Vec::with_capacity(ENTRY_PREFIX_BYTES + body.len());
    entry.extend_from_slice(&((4 + body.len()) as u32).to_be_bytes());
    entry.extend_from_slice(&crc32c(&body).to_be_bytes());
    entry.extend_from_slice(&body);
    Ok(entry)
}

/// Decodes the entry at the start of `bytes`: its key, offset and total length, or `None` when
/// the bytes end inside it or it fails a check.
fn decode_entry(bytes: &[u8]) -> Option<(Key, u64, usize)> {
    let length = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let total = 4 + length;
    let entry = bytes.get(..total)?;
    let body = entry.get(ENTRY_PREFIX_BYTES..)?;
    let crc = u32::from_be_bytes(entry[4..8].try_into().ok()?);
    if body.len() < FIXED_BODY_BYTES || crc32c(body) != crc {
        return None;
    }

    let partition = u32::from_be_bytes(body[..4].try_into().ok()?);
    let offset = u64::from_be_bytes(body[4..12].try_into().ok()?);
    let (group_id, rest) = take_string(&body[12..])?;
    let (topic, rest) = take_string(rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(((group_id, topic, partition), offset, total))
}

/// Splits a u16-length-prefixed UTF-8 string off the front of `bytes`.
fn take_string(bytes: &[u8]) -> Option<(String, &[u8])> {
    let len = u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?) as usize;
    let text = std::str::from_utf8(bytes.get(2..2 + len)?).ok()?;
    Some((text.to_owned(), &bytes[2 + len..]))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OffsetsError + '_ {
    move |source| OffsetsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> ConsumerOffsets {
        ConsumerOffsets::open(dir).unwrap().0
    }

    #[test]
    fn commit_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = open(dir.path());
        assert_eq!(offsets.committed("g", "t", 0), None);

        offsets.commit("g", "t", 0, 5).unwrap();
        offsets.commit("g", "t", 0, 7).unwrap();
        offsets.commit("g", "t", 1, 2).unwrap();

        assert_eq!(offsets.committed("g", "t", 0), Some(7));
        assert_eq!(offsets.committed("g", "t", 1), Some(2));
        assert_eq!(offsets.committed("other", "t", 0), None);
        assert_eq!(offsets.list().len(), 2);
    }

    #[test]
    fn commits_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let offsets = open(dir.path());
            offsets.commit("g", "t", 0, 5).unwrap();
            offsets.commit("g", "t", 0, 9).unwrap();
            offsets.commit("h", "u", 3, 1).unwrap();
        }

        let (offsets, recovery) = ConsumerOffsets::open(dir.path()).unwrap();
        assert_eq!(offsets.committed("g", "t", 0), Some(9));
        assert_eq!(offsets.committed("h", "u", 3), Some(1));
        assert_eq!(
            recovery,
            OffsetsRecovery {
                keys: 2,
                entries: 3,
                truncated_bytes: 0
            }
        );
    }

    #[test]
    fn torn_last_entry_keeps_old_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.log");
        {
            let offsets = open(dir.path());
            offsets.commit("group", "topic", 0, 100).unwrap();
        }
        let before_second = fs::metadata(&path).unwrap().len();
        {
            let offsets = open(dir.path());
            offsets.commit("group", "topic", 0, 200).unwrap();
        }
        let full = fs::read(&path).unwrap();

        // Every cut inside the second entry must give back exactly the first value.
        for cut in before_second..full.len() as u64 {
            fs::write(&path, &full[..cut as usize]).unwrap();
            let (offsets, recovery) = ConsumerOffsets::open(dir.path()).unwrap();
            assert_eq!(
                offsets.committed("group", "topic", 0),
                Some(100),
                "cut at {cut}"
            );
            assert_eq!(
                recovery.truncated_bytes,
                cut - before_second,
                "cut at {cut}"
            );

            // And the store accepts new commits after the repair.
            offsets.commit("group", "topic", 0, 300).unwrap();
            drop(offsets);
            assert_eq!(
                open(dir.path()).committed("group", "topic", 0),
                Some(300),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn flipped_byte_drops_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.log");
        {
            let offsets = open(dir.path());
            offsets.commit("g", "t", 0, 1).unwrap();
            offsets.commit("g", "t", 0, 2).unwrap();
        }
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();

        assert_eq!(open(dir.path()).committed("g", "t", 0), Some(1));
    }

    #[test]
    fn compaction_keeps_latest_values() {
        let dir = tempfile::tempdir().unwrap();
        const SLACK: usize = 20;
        const COMMITS: u64 = 100;
        {
            let (offsets, _) = ConsumerOffsets::open_with_slack(dir.path(), SLACK).unwrap();
            let mut max_entries = 0;
            for offset in 0..COMMITS {
                offsets
                    .commit("g", "t", (offset % 3) as u32, offset)
                    .unwrap();
                max_entries = max_entries.max(offsets.lock().entries_in_file);
            }
            assert!(
                max_entries <= 2 * 3 + SLACK + 1,
                "compaction kept the file small: {max_entries} entries"
            );
        }
        let bytes = fs::metadata(dir.path().join("offsets.log")).unwrap().len();
        assert!(bytes < 2_000, "compacted file is {bytes} bytes");
        let reopened = open(dir.path());
        let last = COMMITS - 1;
        for partition in 0..3u32 {
            let expected = (0..=last)
                .filter(|offset| offset % 3 == u64::from(partition))
                .max();
            assert_eq!(reopened.committed("g", "t", partition), expected);
        }
    }

    #[test]
    fn wrong_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("offsets.log"), b"not an offsets file").unwrap();
        let error = ConsumerOffsets::open(dir.path()).unwrap_err();
        assert!(error.to_string().contains("ROFF"), "{error}");
    }
}
