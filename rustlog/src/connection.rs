//! A client connection: reads request lines with a length limit and writes response lines.
//!
//! Framing is a newline after each JSON object. The reader never holds more than
//! `max_request_bytes` of one line: past that it stops storing bytes and skips to the next
//! newline, then reports the line as too long, so the connection stays in step and usable.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Bytes read from the socket per system call, at most. Tokio's default of 8 KiB took 14 reads
/// for one produce request of 1,000 records of 100 bytes; 64 KiB takes 2.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// What the next read from the client produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A complete line, without its newline (or a trailing `\r\n`).
    Line(&'a [u8]),
    /// A line longer than the limit; its bytes were skipped.
    TooLong {
        /// The line's length in bytes.
        len: u64,
    },
    /// The client closed the connection between requests.
    Closed,
    /// The client closed the connection in the middle of a line.
    ClosedMidLine {
        /// Bytes of the unfinished line.
        len: u64,
    },
}

/// A framed connection to one client.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    max_line_bytes: usize,
    line: Vec<u8>,
}

impl Connection {
    /// Wraps a socket; lines longer than `max_line_bytes` are rejected.
    pub fn new(socket: TcpStream, max_line_bytes: usize) -> Connection {
        let (read_half, write_half) = socket.into_split();
        Connection {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, read_half),
            writer: BufWriter::new(write_half),
            max_line_bytes,
            line: Vec::new(),
        }
    }

    /// Reads the next non-empty line.
    ///
    /// Cancel-safe between lines only: dropping the future mid-line loses the partial line,
    /// which is fine for the one caller that does it, the shutdown path.
    // ANCHOR: read_line
    pub async fn read_line(&mut self) -> io::Result<Incoming<'_>> {
        self.line.clear();
        let mut len: u64 = 0;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(if len == 0 {
                    Incoming::Closed
                } else {
                    Incoming::ClosedMidLine { len }
                });
            }

            // Store bytes up to the limit; past it, only count them.
            // memchr compares many bytes per instruction, where a plain loop compares one.
            let newline = memchr::memchr(b'\n', available);
            let chunk = &available[..newline.unwrap_or(available.len())];
            len += chunk.len() as u64;
            if len <= self.max_line_bytes as u64 {
                self.line.extend_from_slice(chunk);
            } else {
                self.line.clear();
            }
            let consumed = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(consumed);

            if newline.is_none() {
                continue;
            }
            if len > self.max_line_bytes as u64 {
                return Ok(Incoming::TooLong { len });
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            // Blank lines (an extra Enter in `nc`) are skipped, not answered.
            if self.line.iter().all(u8::is_ascii_whitespace) {
                self.line.clear();
                len = 0;
                continue;
            }
            return Ok(Incoming::Line(&self.line));
        }
    }
    // ANCHOR_END: read_line

    /// Writes one response line. It is flushed at once unless more requests are already
    /// buffered, so a client that pipelines requests gets its responses in fewer writes.
    pub async fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.writer.write_all(line).await?;
        if self.reader.buffer().is_empty() {
            self.writer.flush().await?;
        }
        Ok(())
    }

    /// Flushes any buffered response bytes.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().await
    }
}
