//! Disk faults against the real broker binary: a data directory that cannot be written or
//! created, and a disk that fills up while producers write.
//!
//! The full-disk tests mount a 2 MiB tmpfs, which needs root. Where mounting is impossible (not
//! root, or no mount permission in a container) they fail with the reason, unless
//! `RUSTLOG_SKIP_MOUNT_TESTS=1` is set: then they print the reason and skip, so a skip is always
//! asked for, never silent. Each mount is unmounted when its test ends, also when the test fails.
//!
//! On a full disk, the broker must fail the produce request that could not be stored with
//! `storage_error`, and acknowledge nothing it did not store. It must keep serving fetches, and
//! take produce requests again once space is freed, without a restart.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{serve_expecting_exit, BrokerProcess, Exited, LineClient};

/// A tmpfs this test mounted; unmounted on drop.
struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs with `options` (such as `size=2m`) at `path`, or explains why it cannot.
    fn tmpfs(path: &Path, options: &str) -> Result<Mount, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|error| format!("cannot run id: {error}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("mounting a tmpfs needs root".into());
        }
        fs::create_dir_all(path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Mount {
            path: path.to_path_buf(),
        })
    }

    /// Mounts a tmpfs. When that is impossible, returns `None` so the test can skip if
    /// `RUSTLOG_SKIP_MOUNT_TESTS=1` is set, and fails otherwise.
    fn tmpfs_or_skip(test: &str, path: &Path, options: &str) -> Option<Mount> {
        match Mount::tmpfs(path, options) {
            Ok(mount) => Some(mount),
            Err(reason)
                if std::env::var_os("RUSTLOG_SKIP_MOUNT_TESTS").is_some_and(|v| v == "1") =>
            {
                eprintln!("skipping {test} (RUSTLOG_SKIP_MOUNT_TESTS=1): {reason}");
                None
            }
            Err(reason) => panic!(
                "{test} needs a tmpfs mount: {reason}; run the tests as root, or set \
                 RUSTLOG_SKIP_MOUNT_TESTS=1 to skip the tests that need one"
            ),
        }
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options} failed");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.path).status();
        if !matches!(status, Ok(status) if status.success()) {
            eprintln!("could not unmount {}: {status:?}", self.path.display());
        }
    }
}

fn assert_refused(exited: &Exited, path: &Path, cause: &str) {
    assert_eq!(exited.status.code(), Some(1), "{}", exited.stderr);
    assert!(!exited.stderr.contains("panicked"), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("cannot use data directory"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains(&path.display().to_string()),
        "{}",
        exited.stderr
    );
    assert!(exited.stderr.contains(cause), "{}", exited.stderr);
    assert!(exited.stderr.contains("writable"), "{}", exited.stderr);
}

/// Returns whether file permissions stop this process from writing (they do not for root).
fn permissions_bind(dir: &Path) -> bool {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join("probe");
    let bind = fs::File::create(&probe).is_err();
    let _ = fs::remove_file(&probe);
    bind
}

#[test]
fn unwritable_data_dir_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    fs::create_dir(&data_dir).unwrap();

    if permissions_bind(&data_dir) {
        let exited = serve_expecting_exit(&data_dir, &["--topic", "events:1"]);
        assert_refused(&exited, &data_dir, "Permission denied");
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o755)).unwrap();

    // Permissions do not bind for root, so a read-only mount makes the directory unwritable.
    eprintln!("chmod 555 does not stop root; using a read-only tmpfs instead");
    let Some(mount) = Mount::tmpfs_or_skip("unwritable_data_dir_is_refused", &data_dir, "size=1m")
    else {
        return;
    };
    {
        let mut broker = BrokerProcess::start(&data_dir, &["--topic", "events:1"]);
        let produced = LineClient::connect(&broker.addr).request(&json!({
            "op": "produce", "topic": "events", "partition": 0, "records": [{"value": "kept"}]
        }));
        assert_eq!(produced["offsets"], json!([0]));
        assert!(broker.terminate().success());
    }
    mount.remount("ro");

    let exited = serve_expecting_exit(&data_dir, &["--topic", "events:1"]);
    assert_refused(&exited, &data_dir, "Read-only file system");

    // Writable again, the broker starts and the record is still there.
    mount.remount("rw");
    let broker = BrokerProcess::start(&data_dir, &["--topic", "events:1"]);
    let fetched = LineClient::connect(&broker.addr).request(&json!({
        "op": "fetch", "topic": "events", "partition": 0, "offset": 0
    }));
    assert_eq!(fetched["records"][0]["value"], json!("kept"));
}

#[test]
fn data_dir_that_cannot_be_created_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("a-file");
    fs::write(&file, b"not a directory").unwrap();

    // The data directory is a regular file.
    let exited = serve_expecting_exit(&file, &["--topic", "events:1"]);
    assert_refused(&exited, &file, "File exists");

    // The data directory would have to be created inside a regular file.
    let inside = file.join("data");
    let exited = serve_expecting_exit(&inside, &["--topic", "events:1"]);
    assert_refused(&exited, &inside, "Not a directory");
}

/// 1000-byte values make 1028-byte frames; 64 of them and the header fill a segment exactly.
const VALUE_BYTES: usize = 1000;
const SEGMENT_BYTES: u64 = 8 + 64 * 1028;

/// A broker on a 2 MiB tmpfs, and what its producer sent and had acknowledged.
struct FullDisk {
    // Field order is drop order: the broker stops before the tmpfs is unmounted.
    broker: BrokerProcess,
    mount: Mount,
    client: LineClient,
    /// Acknowledged records: offset to value.
    acknowledged: BTreeMap<u64, String>,
    /// Values sent in produce requests that failed; they must never be acknowledged, and may
    /// only be served whole.
    failed: Vec<String>,
    sent: u64,
}

impl FullDisk {
    fn start(test: &str, temp: &Path) -> Option<FullDisk> {
        let mount = Mount::tmpfs_or_skip(test, &temp.join("disk"), "size=2m")?;
        let config = temp.join("rustlog.toml");
        fs::write(
            &config,
            format!(
                "[topics.events]\npartitions = 1\nsegment_bytes = {SEGMENT_BYTES}\nmax_record_bytes = 2048\n"
            ),
        )
        .unwrap();
        // The mount point itself is the data directory, so the broker's log, which the test
        // support writes beside the data directory, stays off the small tmpfs.
        let broker = BrokerProcess::start(&mount.path, &["--config", config.to_str().unwrap()]);
        let client = LineClient::connect(&broker.addr);
        Some(FullDisk {
            broker,
            mount,
            client,
            acknowledged: BTreeMap::new(),
            failed: Vec::new(),
            sent: 0,
        })
    }

    /// Sends one produce request of `count` records; returns the response.
    fn produce(&mut self, count: usize) -> Value {
        let values: Vec<String> = (0..count)
            .map(|_| {
                self.sent += 1;
                format!("{:0>width$}", self.sent, width = VALUE_BYTES)
            })
            .collect();
        let records: Vec<Value> = values
            .iter()
            .map(|value| json!({ "value": value }))
            .collect();
        let response = self.client.request(
            &json!({"op": "produce", "topic": "events", "partition": 0, "records": records}),
        );
        if response["ok"] == json!(true) {
            let offsets = response["offsets"].as_array().unwrap();
            assert_eq!(offsets.len(), count, "{response}");
            for (offset, value) in offsets.iter().zip(values) {
                let previous = self.acknowledged.insert(offset.as_u64().unwrap(), value);
                assert!(previous.is_none(), "offset {offset} acknowledged twice");
            }
        } else {
            self.failed.extend(values);
        }
        response
    }

    /// Fills the rest of the disk with a file of our own; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.mount.path.join("filler");
        let mut file = fs::File::create(&filler).unwrap();
        let chunk = vec![0xAB; 64 * 1024];
        for _ in 0..64 {
            if let Err(error) = file.write_all(&chunk) {
                assert_eq!(error.raw_os_error(), Some(28), "expected ENOSPC: {error}");
                return filler;
            }
        }
        panic!("wrote 4 MiB to a 2 MiB tmpfs without running out of space");
    }

    /// Fetches the whole partition and checks it against what was acknowledged and sent.
    fn check_fetch_all(&mut self) {
        let mut next = 0;
        let mut served = BTreeMap::new();
        loop {
            let response = self.client.request(&json!({
                "op": "fetch", "topic": "events", "partition": 0, "offset": next, "max_bytes": 20_000
            }));
            assert_eq!(response["ok"], json!(true), "fetch at {next}: {response}");
            let records = response["records"].as_array().unwrap();
            if records.is_empty() {
                break;
            }
            for record in records {
                assert_eq!(record["offset"], json!(next), "offsets are dense");
                served.insert(next, record["value"].as_str().unwrap().to_owned());
                next += 1;
            }
        }

        for (offset, value) in &self.acknowledged {
            assert_eq!(
                served.get(offset),
                Some(value),
                "acknowledged record {offset}"
            );
        }
        for (offset, value) in &served {
            let known = self.acknowledged.get(offset) == Some(value) || self.failed.contains(value);
            assert!(
                known,
                "offset {offset} holds a value that was never sent whole"
            );
        }
    }

    fn assert_storage_error(response: &Value) {
        assert_eq!(response["ok"], json!(false), "{response}");
        assert_eq!(
            response["error"]["code"],
            json!("storage_error"),
            "{response}"
        );
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains("No space left on device"), "{message}");
    }
}

#[test]
fn full_disk_fails_produce_then_recovers() {
    let temp = tempfile::tempdir().unwrap();
    let Some(mut disk) = FullDisk::start("full_disk_fails_produce_then_recovers", temp.path())
    else {
        return;
    };
    for _ in 0..10 {
        assert_eq!(disk.produce(20)["ok"], json!(true));
    }

    // Fill the disk, then produce batches of 20 records until one fails.
    let filler = disk.fill();
    let mut failure = None;
    for _ in 0..100 {
        let response = disk.produce(20);
        if response["ok"] != json!(true) {
            failure = Some(response);
            break;
        }
    }
    let failure = failure.expect("100 produce requests succeeded on a full disk");
    FullDisk::assert_storage_error(&failure);

    // While the disk is full: fetches work, and further produce requests fail the same way.
    disk.check_fetch_all();
    for _ in 0..5 {
        let response = disk.produce(20);
        if response["ok"] != json!(true) {
            FullDisk::assert_storage_error(&response);
        }
    }
    disk.check_fetch_all();

    // Space freed: produce works again without a restart.
    fs::remove_file(&filler).unwrap();
    for _ in 0..5 {
        assert_eq!(disk.produce(20)["ok"], json!(true));
    }
    disk.check_fetch_all();

    // A crash now loses nothing that was acknowledged, and recovery serves no partial record.
    disk.broker.kill();
    disk.broker = BrokerProcess::start(
        &disk.broker.data_dir,
        &[
            "--config",
            temp.path().join("rustlog.toml").to_str().unwrap(),
        ],
    );
    disk.client = LineClient::connect(&disk.broker.addr);
    disk.check_fetch_all();
}

#[test]
fn full_disk_during_roll_fails_produce_then_recovers() {
    let temp = tempfile::tempdir().unwrap();
    let Some(mut disk) = FullDisk::start(
        "full_disk_during_roll_fails_produce_then_recovers",
        temp.path(),
    ) else {
        return;
    };

    // 64 records fill the active segment exactly, so the next record needs a new segment.
    assert_eq!(disk.produce(64)["ok"], json!(true));
    let filler = disk.fill();

    // The new segment's header cannot be written: each attempt fails on the full disk, and a
    // failed attempt must not leave a half-made segment that blocks the next one.
    for _ in 0..3 {
        FullDisk::assert_storage_error(&disk.produce(1));
    }
    disk.check_fetch_all();
    let partition_dir = disk.broker.data_dir.join("topics/events/partition-0");
    assert!(
        !partition_dir.join("00000000000000000064.log").exists(),
        "a failed roll left its half-made segment behind"
    );

    fs::remove_file(&filler).unwrap();
    let response = disk.produce(1);
    assert_eq!(response["offsets"], json!([64]), "{response}");
    disk.check_fetch_all();

    disk.broker.kill();
    disk.broker = BrokerProcess::start(
        &disk.broker.data_dir,
        &[
            "--config",
            temp.path().join("rustlog.toml").to_str().unwrap(),
        ],
    );
    disk.client = LineClient::connect(&disk.broker.addr);
    disk.check_fetch_all();
}
