//! The main job on real data: produce every record of the Debian package index through the CLI,
//! kill the broker with SIGKILL, restart it, consume everything back and compare byte for byte;
//! then commit a group offset in the middle and check that the group resumes there.
//!
//! The full data set (63,697 records, 50 MB) is used when the workspace sits next to
//! `shared/data/`; otherwise the committed slice of its first 2,000 records.

mod support;

use std::io::Read;
use std::path::PathBuf;

use rustlog::client::Client;
use support::{run_cli, BrokerProcess};

/// Finds the data set: `RUSTLOG_DATASET`, the full file beside the workspace, or the slice.
fn dataset() -> PathBuf {
    if let Some(path) = std::env::var_os("RUSTLOG_DATASET") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let full = workspace.join("../shared/data/debian-packages.jsonl.gz");
    if full.exists() {
        return full;
    }
    workspace.join("tests/data/debian-packages-first-2000.jsonl.gz")
}

fn read_gzip(path: &PathBuf) -> Vec<u8> {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .expect("decompress data set");
    bytes
}

#[test]
fn real_data_survives_sigkill_byte_identical() {
    let path = dataset();
    let input = read_gzip(&path);
    assert_eq!(
        input.last(),
        Some(&b'\n'),
        "the data set ends with a newline"
    );
    let lines: Vec<&[u8]> = input[..input.len() - 1]
        .split(|&byte| byte == b'\n')
        .collect();
    let count = lines.len();
    eprintln!(
        "main job: using {} ({count} records, {} bytes)",
        path.display(),
        input.len()
    );

    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let input_file = temp.path().join("input.jsonl");
    std::fs::write(&input_file, &input).unwrap();

    // Produce every line through the CLI, then crash the broker.
    let mut broker = BrokerProcess::start(&data_dir, &["--topic", "debian:1"]);
    let stdin = std::fs::File::open(&input_file).unwrap();
    let produced = run_cli(
        &["produce", "--addr", &broker.addr, "--topic", "debian"],
        Some(stdin),
    );
    let produced = String::from_utf8(produced).unwrap();
    let expected = format!(
        "produced {count} records to topic `debian` partition 0, offsets 0 to {}",
        count - 1
    );
    assert_eq!(produced.trim(), expected);
    broker.kill();

    // Restart on the same data and read everything back.
    let broker = BrokerProcess::start(&data_dir, &["--topic", "debian:1"]);
    let consumed = run_cli(
        &[
            "consume",
            "--addr",
            &broker.addr,
            "--topic",
            "debian",
            "--from-beginning",
        ],
        None,
    );
    assert_eq!(consumed.len(), input.len(), "consumed byte count");
    assert!(consumed == input, "consumed bytes differ from the input");

    // A group reads half, commits, and a second run of the group resumes exactly there.
    let half = count / 2;
    let first_run = run_cli(
        &[
            "consume",
            "--addr",
            &broker.addr,
            "--topic",
            "debian",
            "--group",
            "audit",
            "--commit",
            "--max-records",
            &half.to_string(),
        ],
        None,
    );
    assert_eq!(first_run.split(|&byte| byte == b'\n').count() - 1, half);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let committed = runtime.block_on(async {
        let mut client = Client::connect(broker.addr.as_str()).await.unwrap();
        client.committed("audit", "debian", 0).await.unwrap()
    });
    assert_eq!(committed, Some(half as u64));

    let second_run = run_cli(
        &[
            "consume",
            "--addr",
            &broker.addr,
            "--topic",
            "debian",
            "--group",
            "audit",
            "--max-records",
            "10",
        ],
        None,
    );
    let resumed: Vec<&[u8]> = second_run[..second_run.len() - 1]
        .split(|&byte| byte == b'\n')
        .collect();
    assert_eq!(resumed, lines[half..half + 10].to_vec());
}
