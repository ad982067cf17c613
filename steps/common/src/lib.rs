//! Test helpers shared by the step crates.
//!
//! The step crates list this crate as a dev-dependency only, so nothing here is part of a lesson.
//! Two kinds of help live here:
//!
//! - [`redact_dir`] makes snapshots independent of the temporary directory a test runs in;
//! - [`cut_tail`], [`append_bytes`] and [`flip_byte`] damage a file the way a crash or a bad disk
//!   would, so recovery tests can start from a known broken state.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Returns insta settings that replace every occurrence of `dir` in a snapshot with `[DIR]`.
///
/// Bind them around the assertions of a test that renders paths, for example error messages:
///
/// ```ignore
/// let _redacted = step_common::redact_dir(dir.path()).bind_to_scope();
/// ```
pub fn redact_dir(dir: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&escape_regex(&dir.display().to_string()), "[DIR]");
    settings
}

/// Escapes the characters that have a meaning in a regular expression, so a path matches itself.
fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Cuts the last `bytes` bytes off the file at `path`, as a crash in the middle of a write does.
///
/// # Panics
///
/// When the file cannot be opened or is shorter than `bytes`: a test helper fails loudly.
pub fn cut_tail(path: &Path, bytes: u64) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the file to cut");
    let len = file.metadata().expect("read the file length").len();
    assert!(
        bytes <= len,
        "cannot cut {bytes} bytes from a file of {len} bytes"
    );
    file.set_len(len - bytes).expect("truncate the file");
}

/// Appends `bytes` to the file at `path`, for example zeros that a file system allocated but
/// never filled before a crash.
///
/// # Panics
///
/// When the file cannot be opened or written.
pub fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the file to extend");
    file.write_all(bytes).expect("append to the file");
}

/// Inverts the lowest bit of the byte at `position` in the file at `path`, as a bad disk might.
///
/// # Panics
///
/// When the file cannot be opened or has no byte at `position`.
pub fn flip_byte(path: &Path, position: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the file to damage");
    let mut byte = [0];
    file.read_exact_at(&mut byte, position)
        .expect("read the byte to flip");
    byte[0] ^= 0x01;
    file.write_all_at(&byte, position)
        .expect("write the flipped byte");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_regex_escapes_metacharacters() {
        assert_eq!(escape_regex("/tmp/.tmpA1-b"), "/tmp/\\.tmpA1\\-b");
    }
}
