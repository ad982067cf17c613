//! A record is one message in a partition; this module frames records into the bytes of a `.log` file.
//!
//! A frame is self-describing: it says how long it is, which offset it holds, and carries a checksum,
//! so a reader can walk a segment from its first byte and tell a whole record from a torn or corrupt one.
//!
//! # Format
//!
//! Every integer is big-endian.
//!
//! ANCHOR: record_format
//! | field          | size (bytes) | type | meaning                                                |
//! |----------------|--------------|------|--------------------------------------------------------|
//! | `offset`       | 8            | u64  | the record's offset in the partition                   |
//! | `length`       | 4            | u32  | bytes that follow this field: `crc` through `value`    |
//! | `crc`          | 4            | u32  | CRC-32C of every byte of the frame except this field   |
//! | `timestamp_ms` | 8            | i64  | milliseconds since the Unix epoch, set by the broker   |
//! | `key_length`   | 4            | i32  | length of `key`, or -1 when the record has no key      |
//! | `key`          | `key_length` | raw  | the key bytes                                          |
//! | `value`        | the rest     | raw  | the value bytes: `length - 16 - key bytes`             |
//! ANCHOR_END: record_format
//!
//! A frame is therefore 28 bytes of header plus the key and the value. The CRC covers the offset and
//! the length too, so a frame copied to the wrong place or cut short never passes as valid.

use crc32c::{crc32c, crc32c_append};

/// Size of `offset` plus `length`: the part a scan reads to step from one frame to the next.
pub const PREFIX_BYTES: usize = 12;
/// Bytes from the start of a frame to the first key byte.
pub const HEADER_BYTES: usize = 28;
/// The smallest valid `length`: `crc`, `timestamp_ms` and `key_length` with no key and no value.
pub const MIN_LENGTH: u32 = (HEADER_BYTES - PREFIX_BYTES) as u32;

const OFFSET_AT: usize = 0;
const LENGTH_AT: usize = 8;
const CRC_AT: usize = 12;
const TIMESTAMP_AT: usize = 16;
const KEY_LENGTH_AT: usize = 24;

/// A record as the storage layer returns it: its offset, timestamp, optional key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position of the record in its partition, starting at 0 and increasing by 1 per record.
    pub offset: u64,
    /// Milliseconds since the Unix epoch, as given to the append.
    pub timestamp_ms: i64,
    /// Optional key; `None` and `Some(empty)` are different and both round-trip.
    pub key: Option<Vec<u8>>,
    /// The payload, any bytes.
    pub value: Vec<u8>,
}

/// A record handed to an append; the partition assigns its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRecord<'a> {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Optional key.
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub value: &'a [u8],
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

/// Appends the frame of `record` at `offset` to `out`.
///
/// The caller checks the record size first: a frame longer than `u32::MAX` cannot be encoded.
pub fn encode(offset: u64, record: &NewRecord<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    let key_len = record.key.map_or(0, <[u8]>::len);
    let length = (HEADER_BYTES - PREFIX_BYTES + key_len + record.value.len()) as u32;
    let key_length: i32 = match record.key {
        Some(key) => key.len() as i32,
        None => -1,
    };

    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // the CRC, filled in below
    out.extend_from_slice(&record.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&key_length.to_be_bytes());
    out.extend_from_slice(record.key.unwrap_or_default());
    out.extend_from_slice(record.value);

    let frame = &mut out[start..];
    let crc = checksum(frame);
    frame[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The first 12 bytes of a frame: enough to find the next frame without reading this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePrefix {
    /// The record's offset.
    pub offset: u64,
    /// Bytes after the `length` field.
    pub length: u32,
}

impl FramePrefix {
    /// Parses the prefix at the start of `bytes`, or returns `None` when fewer than 12 bytes remain.
    pub fn parse(bytes: &[u8]) -> Option<FramePrefix> {
        let prefix = bytes.get(..PREFIX_BYTES)?;
        Some(FramePrefix {
            offset: read_u64(prefix, OFFSET_AT),
            length: read_u32(prefix, LENGTH_AT),
        })
    }

    /// Returns the size of the whole frame.
    pub fn frame_len(&self) -> u64 {
        PREFIX_BYTES as u64 + u64::from(self.length)
    }
}

/// Why the bytes at a position are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes end inside the frame: a torn write, or a read that stopped early.
    Incomplete,
    /// The bytes are there but do not form a valid frame.
    Invalid(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete => write!(f, "the record frame ends early (a torn write)"),
            FrameError::Invalid(reason) => write!(f, "invalid record frame: {reason}"),
        }
    }
}

/// Checks the frame at the start of `bytes` without copying it, and returns its prefix.
///
/// # Errors
///
/// [`FrameError::Incomplete`] when `bytes` ends inside the frame, and [`FrameError::Invalid`] when
/// the length is impossible, the CRC does not match, or the key length does not fit the frame.
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

/// Decodes and checks the frame at the start of `bytes`, returning the record and the frame size.
///
/// # Errors
///
/// The same as [`check`].
pub fn decode(bytes: &[u8]) -> Result<(Record, usize), FrameError> {
    let prefix = check(bytes)?;
    let frame = &bytes[..prefix.frame_len() as usize];

    let timestamp_ms = read_u64(frame, TIMESTAMP_AT) as i64;
    let key_length = read_u32(frame, KEY_LENGTH_AT) as i32;
    let payload = &frame[HEADER_BYTES..];
    let (key, value) = match usize::try_from(key_length) {
        Ok(len) => (Some(payload[..len].to_vec()), &payload[len..]),
        Err(_) => (None, payload),
    };

    let record = Record {
        offset: prefix.offset,
        timestamp_ms,
        key,
        value: value.to_vec(),
    };
    Ok((record, frame.len()))
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("slice of 4 bytes"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
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
            let (record, len) = decode(&bytes).unwrap();

            assert_eq!(len, bytes.len());
            assert_eq!(record.offset, 7);
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
            assert_eq!(
                decode(&bytes[..cut]).unwrap_err(),
                FrameError::Incomplete,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_invalid() {
        let bytes = encoded(3, Some(b"k"), b"value");
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            // A flip in `length` may make the frame look longer than the bytes: that reads as torn.
            let result = decode(&damaged);
            assert!(result.is_err(), "flip at byte {at} was accepted");
        }
    }
}
