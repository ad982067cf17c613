//! A readable rendering of a log file: every frame, field by field, with each field's bytes in hex
//! and what they mean.
//!
//! The demo prints it and the tests snapshot it, so a change in the format shows up as a change in
//! one labelled line instead of somewhere in a wall of hex. It reads raw bytes, not a [`Log`], so
//! it shows a torn or damaged tail exactly as it is on disk, before recovery cuts it off.
//!
//! [`Log`]: crate::log::Log

use std::fmt::Write;

use crate::record::{self, FrameError, FramePrefix, CRC_AT, HEADER_BYTES, KEY_LENGTH_AT};
use crate::record::{LENGTH_AT, PREFIX_BYTES, TIMESTAMP_AT};

/// Maximum bytes of a field shown in hex. Longer fields end in `..`.
const HEX_BYTES_SHOWN: usize = 8;
/// Maximum characters of a key or value shown as text. Longer ones end in `...`.
const TEXT_CHARS_SHOWN: usize = 40;

/// Renders the content of the log file `name`, given as `bytes`, one line per field.
///
/// The rendering stops at the first frame that is not whole and valid, as every reader does.
pub fn describe_log(name: &str, bytes: &[u8]) -> String {
    let mut out = format!("{name}: {} bytes\n", bytes.len());

    let mut position = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        match record::check(rest) {
            Ok(prefix) => {
                let frame = &rest[..prefix.frame_len() as usize];
                describe_frame(&mut out, position, frame);
                position += frame.len();
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

/// Renders one frame that passed [`record::check`].
fn describe_frame(out: &mut String, position: usize, frame: &[u8]) {
    let record = record::decode(frame).expect("the caller checked the frame");
    let length = record::read_u32(frame, LENGTH_AT);
    let crc = record::read_u32(frame, CRC_AT);

    let _ = writeln!(out, "\nframe at byte {position}, {} bytes", frame.len());
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
            "torn frame: {} bytes remain, fewer than the {PREFIX_BYTES}-byte length field",
            rest.len()
        ),
        (FrameError::Invalid(reason), _) => format!("invalid frame: {reason}"),
    };
    let _ = writeln!(out, "\nbyte {position}: {verdict}");
    field(out, "bytes", rest, &format!("{} bytes", rest.len()));
    let _ = writeln!(
        out,
        "A reader stops here, and opening the log cuts the file to {position} bytes."
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
