//! Consumer offsets that survive a restart: every commit is appended to `offsets.log` and synced
//! before the broker acknowledges it.
//!
//! The offsets themselves mean what they meant in chapter 6: for each consumer group, topic and
//! partition, the *next* offset the group will read. What changes is where they live. The map in
//! memory is now a cache of a file, and the file is the truth:
//!
//! - **commit**: encode one entry, append it, `fdatasync`, and only then update the map and
//!   return. A commit that returned is on disk.
//! - **open**: read the file from the start and apply every entry to an empty map, so the last
//!   entry for a key wins. This is the *replay*.
//! - **torn tail**: a crash in the middle of a commit leaves part of an entry at the end of the
//!   file. Each entry carries its length and a CRC-32C, so the replay stops at the first entry that
//!   is incomplete or fails its checksum, and opening cuts the file there. The commit that was torn
//!   was never acknowledged, and the key keeps the value of its previous entry. A torn entry is
//!   never read as a wrong offset.
//! - **compaction**: the file grows by one entry per commit, and most entries are superseded by
//!   later ones. Once the file contains enough dead entries, the live ones are written to
//!   `offsets.log.tmp`, that file is synced and renamed over `offsets.log`, and the directory is
//!   synced. A crash at any point leaves either the old file or the new one, both complete.
//!
//! See [`ConsumerOffsets`] for why a log and not a file rewritten on every commit.
//!
//! # Format
//!
//! Every integer is big-endian. The file starts with an 8-byte header, the magic `ROFF` and the
//! version `1` as a u32. Then the entries follow, back to back:
//!
//! ANCHOR: offsets_format
//! | field       | size (bytes) | type  | meaning                                           |
//! |-------------|--------------|-------|---------------------------------------------------|
//! | `length`    | 4            | u32   | bytes that follow this field: `crc` to `topic`    |
//! | `crc`       | 4            | u32   | CRC-32C of every byte after this field            |
//! | `partition` | 4            | u32   | partition number                                  |
//! | `offset`    | 8            | u64   | the committed offset: the next offset to read     |
//! | `group_len` | 2            | u16   | length of `group_id` in bytes                     |
//! | `group_id`  | `group_len`  | UTF-8 | consumer group                                    |
//! | `topic_len` | 2            | u16   | length of `topic` in bytes                        |
//! | `topic`     | `topic_len`  | UTF-8 | topic name                                        |
//! ANCHOR_END: offsets_format
//!
//! The finished broker writes the same file, in the same place (`<data_dir>/offsets/`), so it can
//! take over a data directory written by this step.
//!
//! What this module leaves out: forgetting groups. An offset, once committed, stays in the file
//! and in memory for as long as the data directory exists.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crc32c::crc32c;

/// Name of the offsets file inside the offsets directory.
pub const OFFSETS_FILE: &str = "offsets.log";
/// Name of the file a compaction writes before it renames it over [`OFFSETS_FILE`].
pub const COMPACTION_FILE: &str = "offsets.log.tmp";
/// The bytes every offsets file starts with.
pub const OFFSETS_MAGIC: [u8; 4] = *b"ROFF";
/// The offsets format version this code writes and reads.
pub const OFFSETS_VERSION: u32 = 1;
/// Size of the file header: magic and version.
pub const OFFSETS_HEADER_BYTES: usize = 8;
/// Size of `length` plus `crc`, the part of an entry before its body.
pub const ENTRY_PREFIX_BYTES: usize = 8;
/// Size of the fixed fields of an entry's body: `partition`, `offset` and the two lengths.
pub const FIXED_BODY_BYTES: usize = 4 + 8 + 2 + 2;
/// Default number of superseded entries the file may hold, beyond one per live key, before a
/// commit compacts it.
pub const DEFAULT_COMPACTION_SLACK: usize = 10_000;

/// Identifies one group's position: group, topic and partition.
type Key = (String, String, u32);

/// An error of the offsets store.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    /// A file operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the `ROFF` version 1 header.
    #[error(
        "{} does not start with the ROFF version {OFFSETS_VERSION} header, so it is not an offsets \
         file this code can read; move it out of the way (every group then starts again from the \
         log start)",
        path.display()
    )]
    BadHeader {
        /// The file.
        path: PathBuf,
    },
    /// A group id or topic name is longer than a u16 length field can describe.
    #[error("{field} is {len} bytes long, above the maximum of {} bytes", u16::MAX)]
    NameTooLong {
        /// `group_id` or `topic`.
        field: &'static str,
        /// The name's length in bytes.
        len: usize,
    },
}

/// The outcome of the replay that [`ConsumerOffsets::open`] ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetsReplay {
    /// Whole, valid entries read, superseded ones included.
    pub entries: usize,
    /// Distinct (group, topic, partition) keys they hold.
    pub keys: usize,
    /// Bytes cut from the end of the file because they were not a whole, valid entry.
    pub truncated_bytes: u64,
    /// Whether a compaction file left behind by a crash was removed.
    pub removed_compaction_file: bool,
}

/// The result of replaying the bytes of an offsets file.
#[derive(Debug, Default)]
struct Replay {
    /// The last offset of every key.
    committed: HashMap<Key, u64>,
    /// Whole, valid entries read.
    entries: usize,
    /// Length of the valid part of the file, header included: where the next entry goes.
    valid_len: usize,
}

/// The committed offsets of every consumer group, stored in `offsets.log`.
///
/// # Why an append-only log
///
/// A commit must be durable before it is acknowledged. There are two common ways to make a small
/// piece of state durable, and they cost very different amounts per commit:
///
/// | per commit                 | rewrite the whole file                       | append one entry |
/// |----------------------------|----------------------------------------------|------------------|
/// | bytes written              | every group's offsets                        | one entry, ~40 B |
/// | syncs                      | `fsync` the temp file, `fsync` the directory | one `fdatasync`  |
/// | metadata changes           | a new file and a rename                      | none             |
///
/// The rewrite writes the whole map to a temporary file, syncs it, renames it over the old file
/// and syncs the directory. The rename is atomic, so a crash leaves the old or the new file, never
/// a mix. It is simple, and replay is trivial, but every commit pays for every group, and two
/// syncs. The append-only log pays for one small write and one sync, and needs a replay with a
/// torn-tail check at startup. It grows without bound, though, so it is compacted now and then,
/// and a compaction *is* the rewrite, done once per many commits instead of once per commit.
///
/// The store is shared by every connection. Each method locks it for the length of one commit or
/// one lookup, and a commit holds the lock while it syncs, so commits of different groups wait
/// for each other.
#[derive(Debug)]
pub struct ConsumerOffsets {
    state: Mutex<State>,
}

/// The store's state, behind the mutex.
#[derive(Debug)]
struct State {
    /// The directory holding `offsets.log`.
    dir: PathBuf,
    /// `offsets.log`, opened for writing. Entries are written at `len` with positional writes.
    file: File,
    /// Length of the valid part of the file: where the next entry goes.
    len: u64,
    /// The last offset committed for each key: the file, replayed.
    committed: HashMap<Key, u64>,
    /// Entries in the file, superseded ones included.
    entries_in_file: usize,
    /// Superseded entries allowed beyond one per key before a compaction.
    compaction_slack: usize,
    /// Set when a compaction renamed its file into place but the directory sync after it failed.
    /// Until a directory sync succeeds, a crash could bring back the old file, which lacks the
    /// commits made since, so no commit is acknowledged before that sync.
    dir_sync_pending: bool,
}

impl ConsumerOffsets {
    /// Opens the offsets store in `dir`, creating the directory and an empty file when they are
    /// missing, and replays the file. Compacts after [`DEFAULT_COMPACTION_SLACK`] dead entries.
    ///
    /// # Errors
    ///
    /// [`OffsetsError::BadHeader`] when the file is not an offsets file, and
    /// [`OffsetsError::Io`] when a file operation fails.
    pub fn open(dir: &Path) -> Result<(ConsumerOffsets, OffsetsReplay), OffsetsError> {
        ConsumerOffsets::open_with_slack(dir, DEFAULT_COMPACTION_SLACK)
    }

    /// Opens the store like [`ConsumerOffsets::open`], compacting once the file contains more than
    /// `compaction_slack` superseded entries beyond one per key. Tests use a small slack to see
    /// compactions.
    ///
    /// # Errors
    ///
    /// As [`ConsumerOffsets::open`].
    // ANCHOR: open
    pub fn open_with_slack(
        dir: &Path,
        compaction_slack: usize,
    ) -> Result<(ConsumerOffsets, OffsetsReplay), OffsetsError> {
        create_dir_durably(dir)?;
        let path = dir.join(OFFSETS_FILE);

        // A compaction file means a compaction crashed before its rename, so `offsets.log` is
        // still the complete, current file.
        let leftover = dir.join(COMPACTION_FILE);
        let removed_compaction_file = leftover.exists();
        if removed_compaction_file {
            fs::remove_file(&leftover).map_err(io_error(&leftover))?;
            sync_dir(dir)?;
            tracing::warn!(file = %leftover.display(), "removed the file of an unfinished compaction");
        }

        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                write_file_synced(&path, &HashMap::new())?;
                sync_dir(dir)?;
                header().to_vec()
            }
            Err(error) => return Err(io_error(&path)(error)),
        };
        if bytes.len() < OFFSETS_HEADER_BYTES || bytes[..OFFSETS_HEADER_BYTES] != header() {
            return Err(OffsetsError::BadHeader { path });
        }

        let replay = replay(&bytes);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;

        // Cut the torn or damaged tail, so the next commit starts on an entry boundary. Left in
        // place, the next replay would stop at the tail and lose every commit appended after it.
        let truncated_bytes = (bytes.len() - replay.valid_len) as u64;
        if truncated_bytes > 0 {
            file.set_len(replay.valid_len as u64)
                .map_err(io_error(&path))?;
            file.sync_data().map_err(io_error(&path))?;
            tracing::warn!(
                file = %path.display(),
                position = replay.valid_len,
                truncated_bytes,
                "cut a torn or damaged tail from the offsets file"
            );
        }
        // ANCHOR_END: open

        let report = OffsetsReplay {
            entries: replay.entries,
            keys: replay.committed.len(),
            truncated_bytes,
            removed_compaction_file,
        };
        let state = State {
            dir: dir.to_path_buf(),
            file,
            len: replay.valid_len as u64,
            committed: replay.committed,
            entries_in_file: replay.entries,
            compaction_slack,
            dir_sync_pending: false,
        };
        let offsets = ConsumerOffsets {
            state: Mutex::new(state),
        };
        Ok((offsets, report))
    }

    /// Stores `offset` as the next offset `group_id` will read from `topic` partition
    /// `partition`, replacing any earlier commit, and returns once the commit is on disk.
    ///
    /// The caller checks that the offset is valid for the partition. This call blocks on a sync,
    /// so async code runs it on the blocking thread pool.
    ///
    /// # Errors
    ///
    /// [`OffsetsError::NameTooLong`] for a name that does not fit its length field, and
    /// [`OffsetsError::Io`] when the write or the sync fails. After an error the commit is not
    /// acknowledged, and [`ConsumerOffsets::committed`] still returns the earlier value. After a
    /// failed sync the entry may still reach the disk and win at the next replay, so the group may
    /// find either value after a restart.
    // ANCHOR: commit
    pub fn commit(
        &self,
        group_id: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), OffsetsError> {
        // SOLUTION(commit_write): Encode the entry, append it and sync it, and only then update the map; compact when dead entries pile up.
        let entry = encode_entry(group_id, topic, partition, offset)?;
        let mut state = self.lock();
        let path = state.dir.join(OFFSETS_FILE);

        // Durable first, visible second: after a failed write or sync, the map keeps the old
        // value, so a later `committed` never reports a commit the disk may not have. A write that
        // fails part-way is cut off, and the next commit writes at the same position.
        let at = state.len;
        if let Err(error) = state.file.write_all_at(&entry, at) {
            let _ = state.file.set_len(at);
            return Err(io_error(&path)(error));
        }
        state.file.sync_data().map_err(io_error(&path))?;
        state.len += entry.len() as u64;
        let key = (group_id.to_string(), topic.to_string(), partition);
        state.committed.insert(key, offset);
        state.entries_in_file += 1;

        // The commit is durable here. A failed compaction leaves the old, complete file in use,
        // so it is logged and not returned, and the next commit tries again.
        let live = state.committed.len();
        if state.entries_in_file > 2 * live + state.compaction_slack {
            if let Err(error) = state.compact() {
                tracing::warn!(%error, "compacting the offsets file failed; the next commit retries");
            }
        }
        state.sync_dir_if_pending()
        // END SOLUTION
    }
    // ANCHOR_END: commit

    /// Returns the offset `group_id` last committed for `topic` partition `partition`, or `None`
    /// when it has not committed there.
    pub fn committed(&self, group_id: &str, topic: &str, partition: u32) -> Option<u64> {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.lock().committed.get(&key).copied()
    }

    /// Returns the number of (group, topic, partition) positions stored.
    pub fn len(&self) -> usize {
        self.lock().committed.len()
    }

    /// Returns whether no group has committed anything.
    pub fn is_empty(&self) -> bool {
        self.lock().committed.is_empty()
    }

    /// Returns the number of entries in the file, superseded ones included.
    pub fn entries_in_file(&self) -> usize {
        self.lock().entries_in_file
    }

    /// Locks the state. Every change to the map happens after its write succeeded, so a panic
    /// while the lock was held cannot have left the map ahead of the file, and a poisoned lock is
    /// used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Rewrites the file with one entry per key: write and sync `offsets.log.tmp`, rename it over
    /// `offsets.log`, then sync the directory so the rename itself is durable.
    // ANCHOR: compact
    fn compact(&mut self) -> Result<(), OffsetsError> {
        let path = self.dir.join(OFFSETS_FILE);
        let temp = self.dir.join(COMPACTION_FILE);
        let (file, len) = write_file_synced(&temp, &self.committed)?;
        fs::rename(&temp, &path).map_err(io_error(&path))?;

        // The handle opened on the temporary file now names `offsets.log`. Later commits go to
        // it, even if the directory sync below fails.
        tracing::info!(
            file = %path.display(),
            entries_before = self.entries_in_file,
            entries_after = self.committed.len(),
            "compacted the offsets file"
        );
        self.file = file;
        self.len = len;
        self.entries_in_file = self.committed.len();
        self.dir_sync_pending = true;
        self.sync_dir_if_pending()
    }
    // ANCHOR_END: compact

    /// Syncs the directory if a compaction's rename has not been made durable yet.
    fn sync_dir_if_pending(&mut self) -> Result<(), OffsetsError> {
        if self.dir_sync_pending {
            sync_dir(&self.dir)?;
            self.dir_sync_pending = false;
        }
        Ok(())
    }
}

/// Replays the bytes of an offsets file, header included: applies each whole, valid entry in
/// order, so the last entry for a key wins, and stops at the first entry that is incomplete or
/// fails its checks. The caller has checked the header.
// ANCHOR: replay
fn replay(bytes: &[u8]) -> Replay {
    // SOLUTION(offsets_replay): Decode entries from the end of the header, the last one per key winning, and stop at the first that does not decode.
    let mut replay = Replay {
        valid_len: OFFSETS_HEADER_BYTES,
        ..Replay::default()
    };
    while let Some((key, offset, len)) = decode_entry(&bytes[replay.valid_len..]) {
        replay.committed.insert(key, offset);
        replay.entries += 1;
        replay.valid_len += len;
    }
    replay
    // END SOLUTION
}
// ANCHOR_END: replay

/// Encodes one entry.
///
/// # Errors
///
/// [`OffsetsError::NameTooLong`] when `group_id` or `topic` is longer than `u16::MAX` bytes.
pub fn encode_entry(
    group_id: &str,
    topic: &str,
    partition: u32,
    offset: u64,
) -> Result<Vec<u8>, OffsetsError> {
    let name_len = |field, name: &str| {
        u16::try_from(name.len()).map_err(|_| OffsetsError::NameTooLong {
            field,
            len: name.len(),
        })
    };
    let group_len = name_len("group_id", group_id)?;
    let topic_len = name_len("topic", topic)?;

    let mut body = Vec::with_capacity(FIXED_BODY_BYTES + group_id.len() + topic.len());
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&group_len.to_be_bytes());
    body.extend_from_slice(group_id.as_bytes());
    body.extend_from_slice(&topic_len.to_be_bytes());
    body.extend_from_slice(topic.as_bytes());

    // `length` counts the CRC and the body.
    let length = (4 + body.len()) as u32;
    let mut entry = Vec::with_capacity(ENTRY_PREFIX_BYTES + body.len());
    entry.extend_from_slice(&length.to_be_bytes());
    entry.extend_from_slice(&crc32c(&body).to_be_bytes());
    entry.extend_from_slice(&body);
    Ok(entry)
}

/// Decodes the entry at the start of `bytes` and returns its key, its offset and its size in
/// bytes, or `None` when the bytes end inside it or it fails a check.
///
/// The CRC covers the body, so a damaged body, or a damaged `length` that makes the entry end
/// anywhere else, fails it. A torn entry and a damaged one are both `None`: a replay cannot tell
/// them apart, and stops at either.
pub fn decode_entry(bytes: &[u8]) -> Option<(Key, u64, usize)> {
    let length = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let entry = bytes.get(..4 + length)?;
    let body = entry.get(ENTRY_PREFIX_BYTES..)?;
    let stored_crc = u32::from_be_bytes(entry[4..8].try_into().ok()?);
    if body.len() < FIXED_BODY_BYTES || crc32c(body) != stored_crc {
        return None;
    }

    let partition = u32::from_be_bytes(body[..4].try_into().ok()?);
    let offset = u64::from_be_bytes(body[4..12].try_into().ok()?);
    let (group_id, rest) = take_name(&body[12..])?;
    let (topic, rest) = take_name(rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(((group_id, topic, partition), offset, entry.len()))
}

/// Splits a u16-length-prefixed UTF-8 name off the front of `bytes`.
fn take_name(bytes: &[u8]) -> Option<(String, &[u8])> {
    let len = u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(bytes.get(2..2 + len)?).ok()?;
    Some((name.to_string(), &bytes[2 + len..]))
}

/// Returns the 8-byte file header.
pub fn header() -> [u8; OFFSETS_HEADER_BYTES] {
    let mut header = [0; OFFSETS_HEADER_BYTES];
    header[..4].copy_from_slice(&OFFSETS_MAGIC);
    header[4..].copy_from_slice(&OFFSETS_VERSION.to_be_bytes());
    header
}

/// Writes a new file at `path` holding the header and one entry per key of `committed`, syncs
/// it, and returns a handle to it and its length.
fn write_file_synced(
    path: &Path,
    committed: &HashMap<Key, u64>,
) -> Result<(File, u64), OffsetsError> {
    // Sorted, so the file's bytes do not depend on the map's iteration order.
    let mut keys: Vec<_> = committed.iter().collect();
    keys.sort();

    let mut bytes = header().to_vec();
    for ((group_id, topic, partition), offset) in keys {
        bytes.extend_from_slice(&encode_entry(group_id, topic, *partition, *offset)?);
    }
    let file = File::create(path).map_err(io_error(path))?;
    file.write_all_at(&bytes, 0).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))?;
    Ok((file, bytes.len() as u64))
}

/// Creates `dir` when it is missing and syncs its parent, so the new name survives a crash.
fn create_dir_durably(dir: &Path) -> Result<(), OffsetsError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let parent = dir.parent().filter(|parent| !parent.as_os_str().is_empty());
    sync_dir(parent.unwrap_or(Path::new(".")))
}

/// Syncs a directory, making file creations, renames and removals in it durable.
fn sync_dir(dir: &Path) -> Result<(), OffsetsError> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(io_error(dir))
}

/// Returns a function that wraps an `io::Error` with the path it happened on, for `map_err`.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OffsetsError + '_ {
    move |source| OffsetsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips() {
        let entry = encode_entry("audit", "greetings", 3, 42).unwrap();
        assert_eq!(entry.len(), ENTRY_PREFIX_BYTES + FIXED_BODY_BYTES + 5 + 9);
        let ((group_id, topic, partition), offset, len) = decode_entry(&entry).unwrap();
        assert_eq!(group_id, "audit");
        assert_eq!(topic, "greetings");
        assert_eq!(partition, 3);
        assert_eq!(offset, 42);
        assert_eq!(len, entry.len());
    }

    #[test]
    fn every_cut_entry_is_rejected() {
        let entry = encode_entry("audit", "greetings", 0, 7).unwrap();
        for cut in 0..entry.len() {
            assert!(decode_entry(&entry[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let entry = encode_entry("audit", "greetings", 0, 7).unwrap();
        for at in 0..entry.len() {
            for bit in 0..8 {
                let mut damaged = entry.clone();
                damaged[at] ^= 1 << bit;
                let decoded = decode_entry(&damaged);
                assert!(
                    decoded.is_none(),
                    "flip of bit {bit} at byte {at} was accepted"
                );
            }
        }
    }

    #[test]
    fn long_name_is_rejected() {
        let long = "g".repeat(usize::from(u16::MAX) + 1);
        let error = encode_entry(&long, "greetings", 0, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "group_id is 65536 bytes long, above the maximum of 65535 bytes"
        );
    }

    #[test]
    fn replay_keeps_last_entry_per_key() {
        let mut bytes = header().to_vec();
        for offset in [5, 9, 2] {
            bytes.extend_from_slice(&encode_entry("audit", "greetings", 0, offset).unwrap());
        }
        bytes.extend_from_slice(&encode_entry("billing", "greetings", 0, 1).unwrap());
        let replay = replay(&bytes);
        assert_eq!(replay.entries, 4);
        assert_eq!(replay.valid_len, bytes.len());
        let key = ("audit".to_string(), "greetings".to_string(), 0);
        assert_eq!(replay.committed.get(&key), Some(&2));
    }
}
