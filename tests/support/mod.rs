//! Helpers shared by the end-to-end tests: start the real `rustlog` binary on 127.0.0.1 with an
//! ephemeral port and a temp data directory, and stop it with a signal.

#![allow(dead_code)] // each test file uses a different part of this module

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of the broker binary that Cargo built for this test run.
pub const RUSTLOG: &str = env!("CARGO_BIN_EXE_rustlog");

/// A running broker process.
pub struct BrokerProcess {
    child: Option<Child>,
    /// `host:port` the broker listens on.
    pub addr: String,
    /// The broker's data directory.
    pub data_dir: PathBuf,
    /// File receiving the broker's stderr (its logs).
    pub log_path: PathBuf,
}

impl BrokerProcess {
    /// Starts `rustlog serve --data-dir DATA_DIR --addr 127.0.0.1:0 EXTRA...` and waits for it to
    /// print the address it bound.
    pub fn start(data_dir: &Path, extra: &[&str]) -> BrokerProcess {
        let log_path = data_dir.with_extension(format!("{}.log", unique_suffix()));
        let log = File::create(&log_path).expect("create broker log file");
        let mut child = serve_command(data_dir, extra)
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn rustlog serve");

        // The first stdout line is `listening on ADDR`; read it on a thread so a hung broker
        // fails the test after a timeout instead of blocking it forever.
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("broker did not start; stdout: {line:?}; log:\n{log}");
        };

        BrokerProcess {
            addr: addr.to_owned(),
            child: Some(child),
            data_dir: data_dir.to_path_buf(),
            log_path,
        }
    }

    /// Kills the broker with SIGKILL, as a crash would, and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("send SIGKILL");
            child.wait().expect("wait for the killed broker");
        }
    }

    /// Sends SIGTERM and waits (at most 60 s) for the broker to exit; returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker is running");
        signal(&child, "TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("poll broker") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("broker did not exit within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns the broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Returns the broker's process id, or `None` once it was stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// What a `rustlog serve` that was expected to stop on its own printed.
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stderr: its logs and its error message.
    pub stderr: String,
}

/// Builds `rustlog serve --data-dir DATA_DIR --addr 127.0.0.1:0 EXTRA...` with `RUST_LOG=info`
/// and a piped stdout, where the broker prints the address it bound.
fn serve_command(data_dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(RUSTLOG);
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped());
    command
}

/// Runs `rustlog serve --data-dir DATA_DIR --addr 127.0.0.1:0 EXTRA...` and waits (at most 60 s)
/// for it to exit, as a broker that rejects its data directory does. Panics if it starts serving
/// instead, or does not exit in time.
pub fn serve_expecting_exit(data_dir: &Path, extra: &[&str]) -> Exited {
    let mut child = serve_command(data_dir, extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rustlog serve");

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll broker") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rustlog serve did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let mut stdout = String::new();
    let mut stderr = String::new();
    use std::io::Read as _;
    let _ = child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout);
    let _ = child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr);
    assert!(
        !stdout.contains("listening on"),
        "the broker started although it should have refused: {stderr}"
    );
    Exited { status, stderr }
}

/// A blocking connection that sends request lines and reads response lines as JSON values.
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    /// Connects to `addr`; reads time out after 30 s so a silent broker fails the test.
    pub fn connect(addr: &str) -> LineClient {
        let stream = TcpStream::connect(addr).expect("connect to the broker");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set read timeout");
        LineClient {
            reader: BufReader::new(stream.try_clone().expect("clone the socket")),
            writer: stream,
        }
    }

    /// Sends `request` as one line and returns the response line.
    pub fn request(&mut self, request: &Value) -> Value {
        self.send_raw(format!("{request}\n").as_bytes());
        self.receive()
    }

    /// Writes `bytes` exactly as given, newline or not.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the broker");
    }

    /// Reads one response line.
    pub fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .expect("read a response line");
        serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("response {line:?} is not JSON: {error}"))
    }

    /// Returns the socket, for tests that need to shut it down or set options.
    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal by name (`TERM`, `INT`) to a child process with the `kill` command.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// Runs `rustlog ARGS` with `stdin` (a file, or nothing), returning stdout; panics on failure.
pub fn run_cli(args: &[&str], stdin: Option<File>) -> Vec<u8> {
    let output = Command::new(RUSTLOG)
        .args(args)
        .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
        .stderr(Stdio::piped())
        .output()
        .expect("run rustlog");
    assert!(
        output.status.success(),
        "rustlog {args:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
