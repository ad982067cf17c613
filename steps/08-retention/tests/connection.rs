//! Line framing: what `Connection::read_line` returns for the bytes a client sends, read on the
//! server's side of a real TCP connection on 127.0.0.1.

use std::time::Duration;

use step08_retention::connection::{Connection, Incoming};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The line limit of these tests: 16 bytes, newline excluded.
const MAX_LINE_BYTES: usize = 16;

/// The most `read_line` calls one case may take, so a framing bug ends the test instead of
/// hanging it.
const MAX_READS: usize = 20;

/// Sends `writes` one after the other from a client, closes the client, and returns what each
/// `read_line` on the server's side returned, up to and including the end of the stream.
async fn read_all(writes: &[&[u8]]) -> Vec<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    let (socket, _) = listener.accept().await.unwrap();
    let mut connection = Connection::new(socket, MAX_LINE_BYTES);

    // The pauses let the server see each write on its own, as a slow client's bytes arrive.
    for bytes in writes {
        client.write_all(bytes).await.unwrap();
        client.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown().await.unwrap();

    let mut results = Vec::new();
    for _ in 0..MAX_READS {
        let incoming = tokio::time::timeout(Duration::from_secs(10), connection.read_line())
            .await
            .expect("read_line returns within 10 s")
            .unwrap();
        let end = matches!(incoming, Incoming::Closed | Incoming::ClosedMidLine { .. });
        results.push(match incoming {
            Incoming::Line(line) => format!("Line({:?})", String::from_utf8_lossy(line)),
            other => format!("{other:?}"),
        });
        if end {
            return results;
        }
    }
    panic!("no end of stream after {MAX_READS} reads: {results:?}");
}

#[tokio::test]
async fn read_line_results_table() {
    let cases: [(&str, &[&[u8]]); 10] = [
        ("two lines in one write", &[b"one\ntwo\n"]),
        ("a line in three writes", &[b"sp", b"li", b"t\n"]),
        ("nothing", &[]),
        ("no newline before the end", &[b"partial"]),
        ("CRLF line ending", &[b"crlf\r\n"]),
        ("blank lines", &[b"\n\r\n \t \n", b"after blanks\n"]),
        ("exactly the limit", &[b"0123456789abcdef\n"]),
        (
            "one byte over the limit",
            &[b"0123456789abcdefg\n", b"next\n"],
        ),
        (
            "long line in pieces",
            &[b"0123456789", b"0123456789", b"0123456789\nok\n"],
        ),
        ("long line at the end", &[b"0123456789abcdefghijklmnop"]),
    ];

    let mut table = String::new();
    for (name, writes) in cases {
        let rendered_writes: Vec<String> = writes
            .iter()
            .map(|bytes| format!("{:?}", String::from_utf8_lossy(bytes)))
            .collect();
        table += &format!("{name}: [{}]\n", rendered_writes.join(", "));
        for result in read_all(writes).await {
            table += &format!("  {result}\n");
        }
    }
    insta::assert_snapshot!(table);
}

#[tokio::test]
async fn stored_line_never_exceeds_limit() {
    // A megabyte without a newline: the reader counts it but keeps at most the limit in memory,
    // which the result can only show through the reported length.
    let long = vec![b'x'; 1024 * 1024];
    let results = read_all(&[&long, b"\nok\n"]).await;
    assert_eq!(
        results,
        ["TooLong { len: 1048576 }", "Line(\"ok\")", "Closed"]
    );
}
