//! The input format of the `recover_partition` fuzz target: one byte string that describes the
//! files of a partition directory, so the fuzzer can mutate segment files, index files and the
//! clean-shutdown marker together.
//!
//! # Format
//!
//! Every integer is big-endian.
//!
//! | field            | size (bytes)   | meaning                                                     |
//! |------------------|----------------|-------------------------------------------------------------|
//! | `flags`          | 1              | see below                                                   |
//! | `sealed_base`    | 8, if bit 1    | base offset of the sealed segment (its file name)           |
//! | `active_base`    | 8              | base offset of the active segment                           |
//! | `sealed_log`     | 2 + n, if bit 1| u16 length, then the sealed segment's `.log`                |
//! | `sealed_index`   | 2 + n, if bit 2| u16 length, then the sealed segment's `.index`              |
//! | `active_index`   | 2 + n, if bit 3| u16 length, then the active segment's `.index`              |
//! | `active_log`     | the rest       | the active segment's `.log`                                 |
//!
//! Flag bits: 0 writes the `clean_shutdown` marker; 1 adds a sealed segment; 2 and 3 add the
//! sealed and active `.index` files; 4 and 5 pick the index interval from [`INDEX_INTERVALS`].
//! A field cut short by the end of the input is read as far as it goes.
//!
//! "Sealed" and "active" name the roles the files are meant for. The partition decides the real
//! roles from the sorted base offsets, as it does after any restart.

use std::path::Path;

/// Index intervals the target can run with, picked by flag bits 4 and 5.
pub const INDEX_INTERVALS: [u64; 4] = [64, 256, 4096, 1];

/// The files of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFiles {
    /// Base offset, which names both files.
    pub base_offset: u64,
    /// Contents of the `.log` file.
    pub log: Vec<u8>,
    /// Contents of the `.index` file, or `None` to leave it out.
    pub index: Option<Vec<u8>>,
}

/// A partition directory as the fuzz target writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFiles {
    /// Whether the `clean_shutdown` marker is present.
    pub clean_shutdown: bool,
    /// The index interval of the partition's configuration.
    pub index_interval_bytes: u64,
    /// The sealed segment, when there is one.
    pub sealed: Option<SegmentFiles>,
    /// The active segment.
    pub active: SegmentFiles,
}

const CLEAN_SHUTDOWN: u8 = 1 << 0;
const HAS_SEALED: u8 = 1 << 1;
const HAS_SEALED_INDEX: u8 = 1 << 2;
const HAS_ACTIVE_INDEX: u8 = 1 << 3;
const INTERVAL_SHIFT: u8 = 4;

impl PartitionFiles {
    /// Decodes a fuzz input; returns `None` only for an empty input.
    pub fn decode(data: &[u8]) -> Option<PartitionFiles> {
        let (&flags, rest) = data.split_first()?;
        let mut reader = Reader(rest);

        let sealed_base = (flags & HAS_SEALED != 0).then(|| reader.u64());
        let active_base = reader.u64();
        let sealed_log = (flags & HAS_SEALED != 0).then(|| reader.section());
        let sealed_index = (flags & HAS_SEALED_INDEX != 0).then(|| reader.section());
        let active_index = (flags & HAS_ACTIVE_INDEX != 0).then(|| reader.section());
        let active_log = reader.0.to_vec();

        let sealed = sealed_base.map(|base_offset| SegmentFiles {
            base_offset,
            log: sealed_log.unwrap_or_default(),
            index: sealed_index,
        });
        Some(PartitionFiles {
            clean_shutdown: flags & CLEAN_SHUTDOWN != 0,
            index_interval_bytes: INDEX_INTERVALS[usize::from((flags >> INTERVAL_SHIFT) & 0b11)],
            sealed,
            active: SegmentFiles {
                base_offset: active_base,
                log: active_log,
                index: active_index,
            },
        })
    }

    /// Encodes the files as a fuzz input, the inverse of [`PartitionFiles::decode`].
    ///
    /// # Panics
    ///
    /// When a section other than the active `.log` is 64 KiB or longer, or the index interval
    /// is not one of [`INDEX_INTERVALS`].
    pub fn encode(&self) -> Vec<u8> {
        let interval = INDEX_INTERVALS
            .iter()
            .position(|&interval| interval == self.index_interval_bytes)
            .expect("an interval from INDEX_INTERVALS") as u8;
        let mut flags = interval << INTERVAL_SHIFT;
        if self.clean_shutdown {
            flags |= CLEAN_SHUTDOWN;
        }
        if let Some(sealed) = &self.sealed {
            flags |= HAS_SEALED;
            if sealed.index.is_some() {
                flags |= HAS_SEALED_INDEX;
            }
        }
        if self.active.index.is_some() {
            flags |= HAS_ACTIVE_INDEX;
        }

        let mut out = vec![flags];
        if let Some(sealed) = &self.sealed {
            out.extend_from_slice(&sealed.base_offset.to_be_bytes());
        }
        out.extend_from_slice(&self.active.base_offset.to_be_bytes());
        if let Some(sealed) = &self.sealed {
            push_section(&mut out, &sealed.log);
            if let Some(index) = &sealed.index {
                push_section(&mut out, index);
            }
        }
        if let Some(index) = &self.active.index {
            push_section(&mut out, index);
        }
        out.extend_from_slice(&self.active.log);
        out
    }

    /// Writes the files into the empty directory `dir`.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        use rustlog::storage::partition::CLEAN_SHUTDOWN_FILE;
        use rustlog::storage::segment::file_name;

        // The active segment is written last, so it wins if both segments have the same name.
        for segment in self.sealed.iter().chain([&self.active]) {
            std::fs::write(
                dir.join(file_name(segment.base_offset, "log")),
                &segment.log,
            )?;
            if let Some(index) = &segment.index {
                std::fs::write(dir.join(file_name(segment.base_offset, "index")), index)?;
            }
        }
        if self.clean_shutdown {
            std::fs::write(dir.join(CLEAN_SHUTDOWN_FILE), b"")?;
        }
        Ok(())
    }
}

fn push_section(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("a section is shorter than 64 KiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads fields from the front of the input. A field cut short is read as far as it goes.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Vec<u8> {
        let len = len.min(self.0.len());
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        field.to_vec()
    }

    fn u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        let field = self.take(8);
        bytes[..field.len()].copy_from_slice(&field);
        u64::from_be_bytes(bytes)
    }

    fn section(&mut self) -> Vec<u8> {
        let mut len = [0; 2];
        let field = self.take(2);
        len[..field.len()].copy_from_slice(&field);
        self.take(usize::from(u16::from_be_bytes(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips() {
        let files = PartitionFiles {
            clean_shutdown: true,
            index_interval_bytes: 256,
            sealed: Some(SegmentFiles {
                base_offset: 0,
                log: b"RLOG sealed".to_vec(),
                index: Some(b"RIDX".to_vec()),
            }),
            active: SegmentFiles {
                base_offset: 40,
                log: b"RLOG active".to_vec(),
                index: None,
            },
        };
        assert_eq!(PartitionFiles::decode(&files.encode()), Some(files));
    }
}
