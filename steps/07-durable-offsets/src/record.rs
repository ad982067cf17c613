//! A record is one message in a partition. This module frames records into bytes and reads them
//! back.
//!
//! A frame is self-describing. It starts with the record's offset and its own length, so a reader
//! can step from one frame to the next, and check that it is where it expects to be, without
//! understanding the payload. It carries a CRC-32C checksum, so a reader can tell a whole,
//! undamaged frame from a torn or corrupt one.
//!
//! # Format
//!
//! Every integer is big-endian.
//!
//! ANCHOR: frame_format
//! | field          | size (bytes) | type | meaning                                              |
//! |----------------|--------------|------|------------------------------------------------------|
//! | `offset`       | 8            | u64  | the record's offset in the partition                 |
//! | `length`       | 4            | u32  | bytes that follow this field: `crc` through `value`  |
//! | `crc`          | 4            | u32  | CRC-32C of every byte of the frame except this field |
//! | `timestamp_ms` | 8            | i64  | milliseconds since the Unix epoch, from the writer   |
//! | `key_length`   | 4            | i32  | length of `key`, or -1 when the record has no key    |
//! | `key`          | `key_length` | raw  | the key bytes                                        |
//! | `value`        | the rest     | raw  | the value bytes: `length - 16 - key bytes`           |
//! ANCHOR_END: frame_format
//!
//! A frame is therefore 28 bytes of header plus the key and the value. The CRC covers the offset
//! and the length too, so a damaged length is caught even when it still points at a plausible
//! place, and a frame copied to the wrong offset never passes as valid.

use crc32c::{crc32c, crc32c_append};

/// Size of `offset` plus `length`: what a scan reads to step from one frame to the next.
pub const PREFIX_BYTES: usize = 12;
/// Bytes from the start of a frame to the first key byte.
pub const HEADER_BYTES: usize = 28;
/// The smallest valid `length`: `crc`, `timestamp_ms` and `key_length`, with no key and no value.
pub const MIN_LENGTH: u32 = (HEADER_BYTES - PREFIX_BYTES) as u32;
/// The largest frame an append accepts, header included: 1 MiB.
///
/// The format itself allows frames up to 4 GiB. A limit far below that keeps one careless caller
/// from writing a frame that every reader must then hold in memory.
pub const MAX_FRAME_BYTES: u64 = 1024 * 1024;

/// Position of `offset` in a frame.
pub const OFFSET_AT: usize = 0;
/// Position of `length` in a frame.
pub const LENGTH_AT: usize = 8;
/// Position of `crc` in a frame.
pub const CRC_AT: usize = 12;
/// Position of `timestamp_ms` in a frame.
pub const TIMESTAMP_AT: usize = 16;
/// Position of `key_length` in a frame.
pub const KEY_LENGTH_AT: usize = 24;

// ANCHOR: record_types
/// A record as a reader gets it back: offset, timestamp, optional key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position of the record in its partition: 0 for the first, then one more for each record.
    pub offset: u64,
    /// Milliseconds since the Unix epoch, as given to the append.
    pub timestamp_ms: i64,
    /// Optional key. `None` and `Some(empty)` are different, and both round-trip.
    pub key: Option<Vec<u8>>,
    /// The payload: any bytes.
    pub value: Vec<u8>,
}

/// A record handed to an append, which assigns its offset. It borrows its bytes, so appending
/// copies them only once, into the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRecord<'a> {
    /// Milliseconds since the Unix epoch. The caller chooses it, so tests can fix it.
    pub timestamp_ms: i64,
    /// Optional key.
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub value: &'a [u8],
}
// ANCHOR_END: record_types

impl Record {
    /// Returns the size of this record's frame on disk.
    pub fn frame_len(&self) -> u64 {
        frame_len(self.key.as_ref().map_or(0, Vec::len), self.value.len())
    }
}

impl NewRecord<'_> {
    /// Returns the size of this record's frame on disk.
    pub fn frame_len(&self) -> u64 {
        frame_len(self.key.map_or(0, <[u8]>::len), self.value.len())
    }
}

/// Returns the size of a frame holding a key of `key_len` bytes and a value of `value_len` bytes.
pub fn frame_len(key_len: usize, value_len: usize) -> u64 {
    (HEADER_BYTES + key_len + value_len) as u64
}

/// Appends the frame of `record`, stored at `offset`, to `out`.
///
/// # Panics
///
/// When the frame is larger than [`MAX_FRAME_BYTES`]: the caller checks the size first.
// ANCHOR: encode
pub fn encode(offset: u64, record: &NewRecord<'_>, out: &mut Vec<u8>) {
    assert!(
        record.frame_len() <= MAX_FRAME_BYTES,
        "frame too large to encode"
    );
    let start = out.len();
    let key_len = record.key.map_or(0, <[u8]>::len);
    let length = (HEADER_BYTES - PREFIX_BYTES + key_len + record.value.len()) as u32;
    let key_length: i32 = match record.key {
        Some(key) => key.len() as i32,
        None => -1,
    };

    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // the CRC, filled in once the rest is in place
    out.extend_from_slice(&record.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&key_length.to_be_bytes());
    out.extend_from_slice(record.key.unwrap_or_default());
    out.extend_from_slice(record.value);

    let frame = &mut out[start..];
    let crc = checksum(frame);
    frame[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}
// ANCHOR_END: encode

/// The first bytes of a frame: enough to find the next frame without reading this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePrefix {
    /// The record's offset.
    pub offset: u64,
    /// Bytes after the `length` field.
    pub length: u32,
}

impl FramePrefix {
    /// Parses the prefix at the start of `bytes`, or returns `None` when fewer than
    /// [`PREFIX_BYTES`] remain.
    pub fn parse(bytes: &[u8]) -> Option<FramePrefix> {
        let prefix = bytes.get(..PREFIX_BYTES)?;
        Some(FramePrefix {
            offset: read_u64(prefix, OFFSET_AT),
            length: read_u32(prefix, LENGTH_AT),
        })
    }

    /// Returns the size of the whole frame, prefix included.
    pub fn frame_len(&self) -> u64 {
        PREFIX_BYTES as u64 + u64::from(self.length)
    }
}

/// The reason the bytes at a position are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes end inside the frame: a torn write, or a read that stopped early.
    Incomplete,
    /// The bytes are all there but do not form a valid frame. The text names the rule they break.
    Invalid(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete => write!(f, "the bytes end inside the frame"),
            FrameError::Invalid(reason) => write!(f, "{reason}"),
        }
    }
}

/// Checks the frame at the start of `bytes` without copying it, and returns its prefix.
///
/// # Errors
///
/// [`FrameError::Incomplete`] when `bytes` ends inside the frame. [`FrameError::Invalid`] when the
/// length is impossible, the CRC does not match, or the key length does not fit in the frame.
// ANCHOR: check
pub fn check(bytes: &[u8]) -> Result<FramePrefix, FrameError> {
    let prefix = FramePrefix::parse(bytes).ok_or(FrameError::Incomplete)?;
    if prefix.length < MIN_LENGTH {
        return Err(FrameError::Invalid(format!(
            "length {} is below the minimum of {MIN_LENGTH}",
            prefix.length
        )));
    }
    let frame = bytes
        .get(..prefix.frame_len() as usize)
        .ok_or(FrameError::Incomplete)?;

    let stored_crc = read_u32(frame, CRC_AT);
    let computed_crc = checksum(frame);
    if stored_crc != computed_crc {
        return Err(FrameError::Invalid(format!(
            "CRC mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"
        )));
    }

    // The CRC matched, so a bad key length was written that way: a bug, not a torn write.
    let key_length = read_u32(frame, KEY_LENGTH_AT) as i32;
    let payload_len = frame.len() - HEADER_BYTES;
    let key_fits = key_length == -1 || (key_length >= 0 && key_length as usize <= payload_len);
    if !key_fits {
        return Err(FrameError::Invalid(format!(
            "key length {key_length} does not fit in a payload of {payload_len} bytes"
        )));
    }
    Ok(prefix)
}
// ANCHOR_END: check

/// Checks and decodes the frame at the start of `bytes`, and returns the record.
///
/// # Errors
///
/// The same as [`check`].
pub fn decode(bytes: &[u8]) -> Result<Record, FrameError> {
    let prefix = check(bytes)?;
    let frame = &bytes[..prefix.frame_len() as usize];

    let timestamp_ms = read_u64(frame, TIMESTAMP_AT) as i64;
    let key_length = read_u32(frame, KEY_LENGTH_AT) as i32;
    let payload = &frame[HEADER_BYTES..];
    let (key, value) = match usize::try_from(key_length) {
        Ok(len) => (Some(payload[..len].to_vec()), &payload[len..]),
        Err(_) => (None, payload),
    };

    Ok(Record {
        offset: prefix.offset,
        timestamp_ms,
        key,
        value: value.to_vec(),
    })
}

/// Reads the big-endian u32 that starts at byte `at` of `bytes`.
///
/// # Panics
///
/// When `bytes` ends before `at + 4`.
pub fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("slice of 4 bytes"))
}

/// Reads the big-endian u64 that starts at byte `at` of `bytes`.
///
/// # Panics
///
/// When `bytes` ends before `at + 8`.
pub fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("slice of 8 bytes"))
}

/// Computes the CRC-32C of a frame, skipping its own `crc` field.
fn checksum(frame: &[u8]) -> u32 {
    crc32c_append(crc32c(&frame[..CRC_AT]), &frame[TIMESTAMP_AT..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(offset: u64, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let record = NewRecord {
            timestamp_ms: 1_700_000_000_000,
            key,
            value,
        };
        encode(offset, &record, &mut out);
        out
    }

    #[test]
    fn round_trip_with_and_without_key() {
        for key in [None, Some(&b""[..]), Some(&b"user-42"[..])] {
            let bytes = encoded(7, key, b"hello");
            let record = decode(&bytes).unwrap();

            assert_eq!(record.frame_len(), bytes.len() as u64);
            assert_eq!(record.offset, 7);
            assert_eq!(record.timestamp_ms, 1_700_000_000_000);
            assert_eq!(record.key.as_deref(), key);
            assert_eq!(record.value, b"hello");
        }
    }

    #[test]
    fn frame_len_matches_encoding() {
        let record = NewRecord {
            timestamp_ms: 0,
            key: Some(b"k"),
            value: b"value",
        };
        let mut out = Vec::new();
        encode(0, &record, &mut out);
        assert_eq!(out.len() as u64, record.frame_len());
    }

    #[test]
    fn every_cut_is_incomplete() {
        let bytes = encoded(0, Some(b"k"), b"value");
        for cut in 0..bytes.len() {
            let result = decode(&bytes[..cut]);
            assert_eq!(result, Err(FrameError::Incomplete), "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let bytes = encoded(3, Some(b"k"), b"value");
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            // A flip in `length` can make the frame look longer than the bytes: that reads as torn.
            assert!(decode(&damaged).is_err(), "flip at byte {at} was accepted");
        }
    }

    #[test]
    fn short_length_is_invalid() {
        let mut bytes = encoded(0, None, b"");
        bytes[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&3u32.to_be_bytes());
        let error = decode(&bytes).unwrap_err();
        assert_eq!(
            error,
            FrameError::Invalid("length 3 is below the minimum of 16".into())
        );
    }
}
