//! A readable rendering of a partition directory: the files in it, every frame of every `.log`
//! file field by field, and every entry of every `.index` file, with the bytes in hex and what
//! they mean. The consumer offsets file, `offsets.log`, gets the same treatment.
//!
//! The demo prints it and the tests snapshot it, so a change in the format shows up as a change in
//! one labelled line instead of somewhere in a wall of hex. It reads the files, not a
//! [`Partition`], so it shows a torn or damaged tail exactly as it is on disk, before recovery cuts
//! it off.
//!
//! [`Partition`]: crate::partition::Partition

use std::fmt::Write;
use std::fs;
use std::io;
use std::path::Path;

use crate::index::{ENTRY_BYTES, INDEX_HEADER_BYTES, INDEX_MAGIC, INDEX_VERSION};
use crate::offsets::{self, ENTRY_PREFIX_BYTES, FIXED_BODY_BYTES, OFFSETS_MAGIC, OFFSETS_VERSION};
use crate::record::{self, FrameError, FramePrefix, CRC_AT, HEADER_BYTES, KEY_LENGTH_AT};
use crate::record::{LENGTH_AT, OFFSET_AT, PREFIX_BYTES, TIMESTAMP_AT};
use crate::segment::{self, LOG_MAGIC, LOG_VERSION};

/// Maximum bytes of a field shown in hex. Longer fields end in `..`.
const HEX_BYTES_SHOWN: usize = 8;
/// Maximum characters of a key or value shown as text. Longer ones end in `...`.
const TEXT_CHARS_SHOWN: usize = 40;

/// Lists the files in `dir`, sorted by name, with their sizes.
///
/// # Errors
///
/// Any I/O failure while reading the directory.
pub fn list_dir(dir: &Path) -> io::Result<String> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.metadata()?.len(),
        ));
    }
    entries.sort();

    let mut out = String::new();
    for (name, len) in entries {
        let _ = writeln!(out, "{name:<28}{len:>8} bytes");
    }
    Ok(out)
}

/// Renders a partition directory: its listing, then every `.log` and `.index` file in offset
/// order.
///
/// # Errors
///
/// Any I/O failure while reading the directory or a file.
pub fn describe_dir(dir: &Path) -> io::Result<String> {
    let mut out = list_dir(dir)?;

    let mut segment_files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some((base_offset, extension @ ("log" | "index"))) = segment::parse_file_name(&name)
        {
            // Sort each `.log` before its `.index`.
            segment_files.push((base_offset, extension == "index", name));
        }
    }
    segment_files.sort();

    for (base_offset, is_index, name) in segment_files {
        let bytes = fs::read(dir.join(&name))?;
        let description = if is_index {
            describe_index(&name, base_offset, &bytes)
        } else {
            describe_log(&name, base_offset, &bytes)
        };
        let _ = write!(out, "\n{description}");
    }
    Ok(out)
}

/// Renders the content of the `.index` file `name` of the segment that starts at `base_offset`,
/// given as `bytes`: its header, then one line per entry.
pub fn describe_index(name: &str, base_offset: u64, bytes: &[u8]) -> String {
    let mut out = format!("{name}: {} bytes\n", bytes.len());
    let Some(mut position) = describe_header(&mut out, bytes, INDEX_MAGIC, INDEX_VERSION) else {
        return out;
    };
    if position < bytes.len() {
        let _ = writeln!(
            out,
            "\nentries from byte {position}, {ENTRY_BYTES} bytes each"
        );
    }

    while position < bytes.len() {
        let rest = &bytes[position..];
        if rest.len() < ENTRY_BYTES as usize {
            let _ = writeln!(
                out,
                "\nbyte {position}: {} bytes, not a whole entry",
                rest.len()
            );
            field(&mut out, "bytes", rest, &format!("{} bytes", rest.len()));
            return out;
        }

        let entry_bytes = &rest[..ENTRY_BYTES as usize];
        let relative_offset = record::read_u32(entry_bytes, 0);
        let entry_position = record::read_u32(entry_bytes, 4);
        let number = (position - INDEX_HEADER_BYTES as usize) / ENTRY_BYTES as usize;
        let meaning = format!(
            "relative offset {relative_offset} (offset {}) at byte {entry_position}",
            base_offset + u64::from(relative_offset)
        );
        field(&mut out, &format!("entry {number}"), entry_bytes, &meaning);
        position += ENTRY_BYTES as usize;
    }

    let _ = writeln!(out, "\nbyte {position}: end of file");
    out
}

/// Renders the 8-byte header that both file kinds start with: a 4-byte magic, then a big-endian
/// u32 version.
///
/// Returns the position after the header, or `None` when the header is not the expected one.
fn describe_header(out: &mut String, bytes: &[u8], magic: [u8; 4], version: u32) -> Option<usize> {
    let header_len = magic.len() + 4;
    let valid = bytes.len() >= header_len
        && bytes[..4] == magic
        && bytes[4..header_len] == version.to_be_bytes();
    if !valid {
        let _ = writeln!(
            out,
            "\nbyte 0: not a {} version {version} header, so no reader goes further",
            magic.escape_ascii()
        );
        field(out, "bytes", bytes, &format!("{} bytes", bytes.len()));
        return None;
    }

    let _ = writeln!(out, "\nheader at byte 0, {header_len} bytes");
    field(out, "magic", &bytes[..4], &text(&magic));
    field(out, "version", &bytes[4..header_len], &version.to_string());
    Some(header_len)
}

/// Renders the content of the `.log` file `name` of the segment that starts at `base_offset`,
/// given as `bytes`, one line per field.
///
/// The rendering stops at the first frame that is not whole and valid, or that does not carry the
/// next offset in sequence, as every reader does.
pub fn describe_log(name: &str, base_offset: u64, bytes: &[u8]) -> String {
    let mut out = format!("{name}: {} bytes\n", bytes.len());
    let Some(mut position) = describe_header(&mut out, bytes, LOG_MAGIC, LOG_VERSION) else {
        return out;
    };

    let mut expected = base_offset;
    while position < bytes.len() {
        let rest = &bytes[position..];
        match record::check(rest) {
            Ok(prefix) if prefix.offset != expected => {
                let error = FrameError::Invalid(format!(
                    "expected offset {expected}, found {}",
                    prefix.offset
                ));
                describe_bad_frame(&mut out, position, rest, &error);
                return out;
            }
            Ok(prefix) => {
                let frame = &rest[..prefix.frame_len() as usize];
                describe_frame(&mut out, position, frame);
                position += frame.len();
                expected += 1;
            }
            Err(error) => {
                describe_bad_frame(&mut out, position, rest, &error);
                return out;
            }
        }
    }

    let _ = writeln!(out, "\nbyte {position}: end of file");
    out
}

/// Renders the content of an offsets file, given as `bytes`: its header, then every entry field
/// by field, up to the first entry that a replay would stop at.
// ANCHOR: describe_offsets
pub fn describe_offsets(name: &str, bytes: &[u8]) -> String {
    let mut out = format!("{name}: {} bytes\n", bytes.len());
    let Some(mut position) = describe_header(&mut out, bytes, OFFSETS_MAGIC, OFFSETS_VERSION)
    else {
        return out;
    };

    let mut number = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let Some((_, _, len)) = offsets::decode_entry(rest) else {
            describe_bad_entry(&mut out, position, rest);
            return out;
        };
        let _ = writeln!(out, "\nentry {number} at byte {position}, {len} bytes");
        describe_entry(&mut out, &rest[..len]);
        position += len;
        number += 1;
    }

    let _ = writeln!(out, "\nbyte {position}: end of file");
    out
}
// ANCHOR_END: describe_offsets

/// Renders one offsets entry that passed [`offsets::decode_entry`], field by field.
fn describe_entry(out: &mut String, entry: &[u8]) {
    let body = &entry[ENTRY_PREFIX_BYTES..];
    let length = record::read_u32(entry, 0);
    let crc = record::read_u32(entry, 4);
    field(
        out,
        "length",
        &entry[..4],
        &format!("{length} bytes follow"),
    );
    field(
        out,
        "crc",
        &entry[4..8],
        &format!("{crc:#010x}, matches the entry"),
    );
    field(
        out,
        "partition",
        &body[..4],
        &record::read_u32(body, 0).to_string(),
    );
    field(
        out,
        "offset",
        &body[4..12],
        &record::read_u64(body, 4).to_string(),
    );

    // Two names follow, each a u16 length and then that many bytes.
    let mut at = 12;
    for (length_name, name) in [("group_len", "group_id"), ("topic_len", "topic")] {
        let len = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
        field(out, length_name, &body[at..at + 2], &len.to_string());
        field(
            out,
            name,
            &body[at + 2..at + 2 + len],
            &text(&body[at + 2..at + 2 + len]),
        );
        at += 2 + len;
    }
}

/// Renders the bytes at `position` of an offsets file, which are not a whole, valid entry, and
/// what a replay does with them.
fn describe_bad_entry(out: &mut String, position: usize, rest: &[u8]) {
    let verdict = match rest.get(..4) {
        None => format!(
            "torn entry: {} bytes remain, fewer than the 4-byte length",
            rest.len()
        ),
        Some(length) => {
            let entry_len = 4 + u32::from_be_bytes(length.try_into().expect("4 bytes")) as usize;
            if entry_len > rest.len() {
                format!(
                    "torn entry: its length field gives an entry of {entry_len} bytes, but only {} remain",
                    rest.len()
                )
            } else if entry_len < ENTRY_PREFIX_BYTES + FIXED_BODY_BYTES {
                format!("invalid entry: {entry_len} bytes is shorter than any entry")
            } else {
                "invalid entry: the CRC or a name length does not match the bytes".to_string()
            }
        }
    };
    let _ = writeln!(out, "\nbyte {position}: {verdict}");
    field(out, "bytes", rest, &format!("{} bytes", rest.len()));
    let _ = writeln!(
        out,
        "A replay stops here, and opening the store cuts the file to {position} bytes."
    );
}

/// Renders one frame that passed [`record::check`].
fn describe_frame(out: &mut String, position: usize, frame: &[u8]) {
    let record = record::decode(frame).expect("the caller checked the frame");
    let length = record::read_u32(frame, LENGTH_AT);
    let crc = record::read_u32(frame, CRC_AT);

    let _ = writeln!(out, "\nframe at byte {position}, {} bytes", frame.len());
    field(
        out,
        "offset",
        &frame[OFFSET_AT..LENGTH_AT],
        &record.offset.to_string(),
    );
    field(
        out,
        "length",
        &frame[LENGTH_AT..CRC_AT],
        &format!("{length} bytes follow"),
    );
    field(
        out,
        "crc",
        &frame[CRC_AT..TIMESTAMP_AT],
        &format!("{crc:#010x}, matches the frame"),
    );
    field(
        out,
        "timestamp_ms",
        &frame[TIMESTAMP_AT..KEY_LENGTH_AT],
        &record.timestamp_ms.to_string(),
    );

    let key_length_bytes = &frame[KEY_LENGTH_AT..HEADER_BYTES];
    let value_at = match &record.key {
        Some(key) => {
            field(out, "key_length", key_length_bytes, &key.len().to_string());
            field(
                out,
                "key",
                &frame[HEADER_BYTES..HEADER_BYTES + key.len()],
                &text(key),
            );
            HEADER_BYTES + key.len()
        }
        None => {
            field(out, "key_length", key_length_bytes, "-1: no key");
            HEADER_BYTES
        }
    };
    field(out, "value", &frame[value_at..], &text(&record.value));
}

/// Renders the bytes at `position`, which are not a whole, valid frame, and what a reader does.
fn describe_bad_frame(out: &mut String, position: usize, rest: &[u8], error: &FrameError) {
    let verdict = match (error, FramePrefix::parse(rest)) {
        (FrameError::Incomplete, Some(prefix)) => format!(
            "torn frame: its length field gives a frame of {} bytes, but only {} remain",
            prefix.frame_len(),
            rest.len()
        ),
        (FrameError::Incomplete, None) => format!(
            "torn frame: {} bytes remain, fewer than the {PREFIX_BYTES}-byte offset and length",
            rest.len()
        ),
        (FrameError::Invalid(reason), _) => format!("invalid frame: {reason}"),
    };
    let _ = writeln!(out, "\nbyte {position}: {verdict}");
    field(out, "bytes", rest, &format!("{} bytes", rest.len()));
    let _ = writeln!(
        out,
        "A reader stops here. In the active segment, recovery cuts the file to {position} bytes."
    );
}

/// Writes one line: the field's name, its first bytes in hex, and their meaning.
fn field(out: &mut String, name: &str, bytes: &[u8], meaning: &str) {
    let _ = writeln!(out, "  {name:<16}{:<28}{meaning}", hex(bytes));
}

/// Formats up to [`HEX_BYTES_SHOWN`] bytes as hex pairs, or `-` for none.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    let pairs: Vec<String> = bytes
        .iter()
        .take(HEX_BYTES_SHOWN)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut hex = pairs.join(" ");
    if bytes.len() > HEX_BYTES_SHOWN {
        hex.push_str(" ..");
    }
    hex
}

/// Formats bytes as quoted text, with anything but printable ASCII escaped.
fn text(bytes: &[u8]) -> String {
    let escaped = bytes.escape_ascii().to_string();
    if escaped.chars().count() <= TEXT_CHARS_SHOWN {
        return format!("\"{escaped}\"");
    }
    let start: String = escaped.chars().take(TEXT_CHARS_SHOWN).collect();
    format!("\"{start}...\" ({} bytes)", bytes.len())
}
