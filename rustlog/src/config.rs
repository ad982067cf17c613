//! Broker configuration: where data lives, where to listen, limits, and the static list of topics.
//!
//! Settings come from an optional TOML file, then command-line flags override them. Topics are
//! static: the broker creates their directories at startup and recovers what they already hold.
//!
//! ```toml
//! addr = "127.0.0.1:7411"
//! data_dir = "./data"
//! max_request_bytes = 8388608   # longest request line accepted
//! max_connections = 1024
//! max_fetch_bytes = 16777216    # cap on a fetch's max_bytes
//! retention_check_interval_ms = 60000  # how often retention runs
//!
//! [topics.orders]
//! partitions = 3
//! segment_bytes = 67108864      # optional, per topic
//! index_interval_bytes = 4096   # optional
//! max_record_bytes = 1048576    # optional
//! flush = "every_append"        # or "never", for benchmarks only
//! retention_ms = 604800000      # optional: delete segments older than 7 days
//! retention_bytes = 1073741824  # optional: keep at most about 1 GiB per partition
//! group_commit = true           # share syncs between concurrent produce requests
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::storage::{FlushPolicy, PartitionConfig};

/// The address `serve` listens on and the clients connect to unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7411";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default longest request line: 8 MiB, room for a 1 MiB record even after base64 and escaping.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Default number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default cap on a fetch's `max_bytes`: 16 MiB.
pub const DEFAULT_MAX_FETCH_BYTES: u64 = 16 * 1024 * 1024;
/// Default time between two retention passes: one minute.
pub const DEFAULT_RETENTION_CHECK_INTERVAL_MS: u64 = 60_000;
/// Longest topic name, as in Kafka.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A configuration error, naming the setting and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser reported, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The whole broker configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Root of all data; topics live under `<data_dir>/topics/`.
    pub data_dir: PathBuf,
    /// Longest request line accepted, newline excluded.
    pub max_request_bytes: usize,
    /// Connections served at once; more are answered `too_many_connections` and closed.
    pub max_connections: usize,
    /// Cap applied to each fetch's `max_bytes`.
    pub max_fetch_bytes: u64,
    /// Milliseconds between two retention passes over every partition.
    pub retention_check_interval_ms: u64,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicConfig>,
}

/// One topic's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfig {
    /// Number of partitions.
    pub partitions: u32,
    /// Storage settings shared by its partitions.
    pub storage: PartitionConfig,
    /// Whether concurrent produce requests to a partition share syncs (see
    /// [`crate::storage::GroupCommit`]); `false` syncs each request on its own, under the
    /// partition's lock, which is only useful to measure the difference.
    pub group_commit: bool,
}

/// The file's schema: every field optional, defaults filled in by [`BrokerConfig::from_file`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    max_request_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_fetch_bytes: Option<u64>,
    retention_check_interval_ms: Option<u64>,
    #[serde(default)]
    topics: BTreeMap<String, FileTopic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTopic {
    partitions: u32,
    segment_bytes: Option<u64>,
    index_interval_bytes: Option<u64>,
    max_record_bytes: Option<u64>,
    flush: Option<FileFlush>,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
    group_commit: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FileFlush {
    EveryAppend,
    Never,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            addr: DEFAULT_ADDR.parse().expect("valid default address"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_fetch_bytes: DEFAULT_MAX_FETCH_BYTES,
            retention_check_interval_ms: DEFAULT_RETENTION_CHECK_INTERVAL_MS,
            topics: BTreeMap::new(),
        }
    }
}

impl BrokerConfig {
    /// Reads a TOML config file, filling in defaults for what it leaves out.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unreadable file, invalid TOML, an unknown key or an invalid value.
    pub fn from_file(path: &Path) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;

        let defaults = BrokerConfig::default();
        let mut config = BrokerConfig {
            addr: file.addr.unwrap_or(defaults.addr),
            data_dir: file.data_dir.unwrap_or(defaults.data_dir),
            max_request_bytes: file.max_request_bytes.unwrap_or(defaults.max_request_bytes),
            max_connections: file.max_connections.unwrap_or(defaults.max_connections),
            max_fetch_bytes: file.max_fetch_bytes.unwrap_or(defaults.max_fetch_bytes),
            retention_check_interval_ms: file
                .retention_check_interval_ms
                .unwrap_or(defaults.retention_check_interval_ms),
            topics: BTreeMap::new(),
        };
        for (name, topic) in file.topics {
            let storage = PartitionConfig::default();
            let storage = PartitionConfig {
                segment_bytes: topic.segment_bytes.unwrap_or(storage.segment_bytes),
                index_interval_bytes: topic
                    .index_interval_bytes
                    .unwrap_or(storage.index_interval_bytes),
                max_record_bytes: topic.max_record_bytes.unwrap_or(storage.max_record_bytes),
                flush: match topic.flush {
                    Some(FileFlush::Never) => FlushPolicy::Never,
                    Some(FileFlush::EveryAppend) | None => FlushPolicy::EveryAppend,
                },
                retention_ms: topic.retention_ms,
                retention_bytes: topic.retention_bytes,
            };
            let group_commit = topic.group_commit.unwrap_or(true);
            config.add_topic(
                &name,
                TopicConfig {
                    partitions: topic.partitions,
                    storage,
                    group_commit,
                },
            )?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Adds or replaces a topic after checking its name and settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an invalid name, zero partitions or invalid storage settings.
    pub fn add_topic(&mut self, name: &str, topic: TopicConfig) -> Result<(), ConfigError> {
        validate_topic_name(name).map_err(ConfigError::Invalid)?;
        if topic.partitions == 0 {
            return Err(ConfigError::Invalid(format!(
                "topic `{name}` has 0 partitions; a topic needs at least 1"
            )));
        }
        topic
            .storage
            .validate()
            .map_err(|error| ConfigError::Invalid(format!("topic `{name}`: {error}")))?;
        self.topics.insert(name.to_owned(), topic);
        Ok(())
    }

    /// Checks the broker-wide limits.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_request_bytes < 1024 {
            return Err(ConfigError::Invalid(format!(
                "max_request_bytes = {} is too small; use at least 1024",
                self.max_request_bytes
            )));
        }
        if self.retention_check_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "retention_check_interval_ms = 0 would run retention in a busy loop; use at least 1".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "max_connections = 0 would reject every client; use at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Parses `NAME:PARTITIONS`, the form of the `--topic` flag.
///
/// # Errors
///
/// A message naming the value and the expected form.
pub fn parse_topic_flag(flag: &str) -> Result<(String, u32), String> {
    let (name, partitions) = flag.rsplit_once(':').ok_or_else(|| {
        format!("invalid topic `{flag}`: expected NAME:PARTITIONS, for example orders:3")
    })?;
    let partitions = partitions.parse::<u32>().map_err(|_| {
        format!("invalid partition count `{partitions}` in `{flag}`: expected a whole number, for example orders:3")
    })?;
    validate_topic_name(name)?;
    Ok((name.to_owned(), partitions))
}

/// Checks a topic name: 1 to 249 ASCII letters, digits, `.`, `_` or `-`, and not `.` or `..`.
///
/// These rules keep every topic name a single, harmless path component, so no name can reach
/// outside the data directory.
///
/// # Errors
///
/// A message naming the value and the rule it breaks.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "invalid topic name `{name}`: it must be 1 to {MAX_TOPIC_NAME_LEN} characters long"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!(
            "invalid topic name `{name}`: `.` and `..` are not allowed"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "invalid topic name `{name}`: character {bad:?} is not allowed; use ASCII letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_the_rules() {
        for good in ["orders", "a", "Orders.v2_eu-west", &"x".repeat(249)] {
            assert!(validate_topic_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../etc", "a/b", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topic_flag_parses_name_and_count() {
        assert_eq!(
            parse_topic_flag("orders:3").unwrap(),
            ("orders".to_owned(), 3)
        );
        assert!(parse_topic_flag("orders")
            .unwrap_err()
            .contains("NAME:PARTITIONS"));
        assert!(parse_topic_flag("orders:x").unwrap_err().contains("`x`"));
        assert!(parse_topic_flag("../x:1").is_err());
    }

    #[test]
    fn config_file_fills_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rustlog.toml");
        std::fs::write(
            &path,
            "data_dir = \"/tmp/x\"\n[topics.orders]\npartitions = 2\nflush = \"never\"\nretention_ms = 5000\n",
        )
        .unwrap();

        let config = BrokerConfig::from_file(&path).unwrap();
        assert_eq!(config.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.topics["orders"].partitions, 2);
        assert_eq!(config.topics["orders"].storage.flush, FlushPolicy::Never);
        assert_eq!(config.topics["orders"].storage.retention_ms, Some(5000));
        assert_eq!(config.topics["orders"].storage.retention_bytes, None);
    }

    #[test]
    fn config_file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rustlog.toml");
        std::fs::write(&path, "adress = \"127.0.0.1:1\"\n").unwrap();
        let message = BrokerConfig::from_file(&path).unwrap_err().to_string();
        assert!(message.contains("adress"), "{message}");
    }

    #[test]
    fn config_file_rejects_bad_topic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rustlog.toml");
        std::fs::write(&path, "[topics.\"a/b\"]\npartitions = 1\n").unwrap();
        assert!(BrokerConfig::from_file(&path)
            .unwrap_err()
            .to_string()
            .contains("a/b"));
    }
}
