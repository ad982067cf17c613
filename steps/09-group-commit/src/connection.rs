//! A client connection seen from the server: request lines in, response lines out.
//!
//! TCP carries a stream of bytes, not messages. One read from the socket may return half a
//! request, or three requests and the start of a fourth. *Framing* is the rule that cuts the
//! stream back into messages, and here it is a newline after each JSON object. A JSON string
//! cannot contain a raw newline (it must be escaped as `\n`), so a client that writes each object
//! on one line, without pretty-printing, never sends a newline inside a message.
//!
//! The reader never stores more than `max_line_bytes` of one line. Past the limit it keeps
//! counting the line's bytes but drops them, up to the next newline, and then reports the line as
//! too long. The client gets an error and the connection stays usable, because the reader is back
//! at the start of a line. Without the limit, a client that never sends a newline would make the
//! server buffer bytes until it runs out of memory.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The result of reading the next line from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole line, without its newline or a `\r` before it.
    Line(&'a [u8]),
    /// A line longer than the limit. Its bytes were read and dropped.
    TooLong {
        /// The line's length in bytes, newline excluded.
        len: u64,
    },
    /// The client closed the connection between two lines.
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
    /// The line being read. It never contains more than `max_line_bytes`.
    line: Vec<u8>,
}

impl Connection {
    /// Wraps a socket. Lines longer than `max_line_bytes`, newline excluded, are rejected.
    pub fn new(socket: TcpStream, max_line_bytes: usize) -> Connection {
        let (read_half, write_half) = socket.into_split();
        Connection {
            reader: BufReader::new(read_half),
            writer: BufWriter::new(write_half),
            max_line_bytes,
            line: Vec::new(),
        }
    }

    /// Reads the next line that is not blank.
    ///
    /// Blank lines (only white space, such as an extra Enter typed into `nc`) are skipped.
    ///
    /// Cancelling the returned future between two lines loses nothing. Cancelling it in the middle
    /// of a line loses the part already read, so the one caller that cancels it, shutdown, closes
    /// the connection afterwards.
    ///
    /// # Errors
    ///
    /// Any error of the socket.
    // ANCHOR: read_line
    pub async fn read_line(&mut self) -> io::Result<Incoming<'_>> {
        // SOLUTION(line_framing): Read up to the next newline, storing at most `max_line_bytes` of the line.
        self.line.clear();
        let mut len: u64 = 0;
        loop {
            // `fill_buf` returns the bytes buffered so far, reading from the socket only when
            // there are none. An empty buffer means the client closed its side.
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if len == 0 {
                    return Ok(Incoming::Closed);
                }
                return Ok(Incoming::ClosedMidLine { len });
            }

            // Take the bytes up to the newline, or all of them if there is none yet. Store them
            // while the line is within the limit, and past it only count them.
            let newline = available.iter().position(|&byte| byte == b'\n');
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
            if self.line.iter().all(u8::is_ascii_whitespace) {
                self.line.clear();
                len = 0;
                continue;
            }
            return Ok(Incoming::Line(&self.line));
        }
        // END SOLUTION
    }
    // ANCHOR_END: read_line

    /// Writes one response line, which must end in a newline, and flushes it to the socket.
    ///
    /// # Errors
    ///
    /// Any error of the socket, such as a client that closed the connection.
    pub async fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        debug_assert!(line.ends_with(b"\n"), "a response line ends in a newline");
        self.writer.write_all(line).await?;
        self.writer.flush().await
    }
}
