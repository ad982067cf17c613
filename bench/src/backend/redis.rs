//! Redis Streams through the `redis` crate: each partition is one stream key.
//!
//! A produce request of n records is one pipeline of n `XADD key * v <value>` commands, sent
//! together and acknowledged when all n replies are back. With `appendfsync always`, Redis writes
//! and syncs its append-only file before it sends the replies of one pass of its event loop. A
//! small pipeline arrives in one read and costs one sync, as a RustLog produce request does. A
//! pipeline of 1,000 commands arrives in several reads, and the measured latency suggests one
//! sync for each. A fetch is one `XRANGE key (<last id> + COUNT n`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use super::{Backend, Consumer, Fetched, Producer};

/// The field name every entry stores its value under.
const FIELD: &str = "v";
/// How long a connection waits for a reply before it reports a timeout.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Redis server and the prefix of the stream keys to use.
#[derive(Debug)]
pub struct Redis {
    client: redis::Client,
    prefix: String,
}

impl Redis {
    /// Describes the Redis server at `addr` (`host:port`); streams are named `<prefix>-<partition>`.
    ///
    /// # Errors
    ///
    /// When `addr` does not form a valid Redis URL.
    pub fn new(addr: &str, prefix: String) -> anyhow::Result<Redis> {
        let client = redis::Client::open(format!("redis://{addr}/"))
            .with_context(|| format!("invalid Redis address `{addr}`"))?;
        Ok(Redis { client, prefix })
    }

    async fn connect(&self) -> anyhow::Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .context("cannot connect to Redis")
    }
}

fn stream_key(prefix: &str, partition: u32) -> String {
    format!("{prefix}-{partition}")
}

impl Backend for Redis {
    type Producer = RedisProducer;
    type Consumer = RedisConsumer;

    async fn prepare(&mut self, partitions: u32) -> anyhow::Result<()> {
        // Start from empty streams, so consumers read exactly this run's entries.
        let mut connection = self.connect().await?;
        for partition in 0..partitions {
            let key = stream_key(&self.prefix, partition);
            redis::cmd("DEL")
                .arg(&key)
                .exec_async(&mut connection)
                .await
                .with_context(|| format!("cannot delete stream `{key}`"))?;
        }
        Ok(())
    }

    async fn producer(&self, value: Vec<u8>) -> anyhow::Result<RedisProducer> {
        Ok(RedisProducer {
            connection: self.connect().await?,
            prefix: self.prefix.clone(),
            value,
            pipelines: HashMap::new(),
        })
    }

    async fn consumer(
        &self,
        max_records: usize,
        _max_bytes: usize,
    ) -> anyhow::Result<RedisConsumer> {
        // XRANGE bounds a read by entry count only; `max_records` is derived from the byte limit.
        Ok(RedisConsumer {
            connection: self.connect().await?,
            prefix: self.prefix.clone(),
            max_records,
            last_ids: HashMap::new(),
        })
    }
}

/// One producer connection.
pub struct RedisProducer {
    connection: MultiplexedConnection,
    prefix: String,
    value: Vec<u8>,
    /// Pipelines built so far, by partition and record count, so a request does not rebuild one.
    pipelines: HashMap<(u32, usize), redis::Pipeline>,
}

impl Producer for RedisProducer {
    async fn send(&mut self, partition: u32, count: usize) -> anyhow::Result<()> {
        let pipeline = self.pipelines.entry((partition, count)).or_insert_with(|| {
            let key = stream_key(&self.prefix, partition);
            let mut pipeline = redis::pipe();
            for _ in 0..count {
                pipeline
                    .cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg(FIELD)
                    .arg(&self.value);
            }
            pipeline
        });
        pipeline
            .exec_async(&mut self.connection)
            .await
            .context("XADD failed")
    }
}

/// One consumer connection.
pub struct RedisConsumer {
    connection: MultiplexedConnection,
    prefix: String,
    max_records: usize,
    /// The id of the last entry read from each partition.
    last_ids: HashMap<u32, String>,
}

/// One stream entry as XRANGE returns it: its id and its field-value pairs, flattened.
type Entry = (String, Vec<Vec<u8>>);

impl Consumer for RedisConsumer {
    async fn fetch(&mut self, partition: u32) -> anyhow::Result<Fetched> {
        // `(id` starts after that entry; `-` starts at the first entry of the stream.
        let start = match self.last_ids.get(&partition) {
            Some(id) => format!("({id}"),
            None => "-".to_owned(),
        };
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg(stream_key(&self.prefix, partition))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(self.max_records)
            .query_async(&mut self.connection)
            .await
            .context("XRANGE failed")?;

        let mut fetched = Fetched::default();
        for (_, fields) in &entries {
            // Fields and values alternate; every entry here has one field, `v`.
            fetched.records += 1;
            fetched.value_bytes += fields
                .iter()
                .skip(1)
                .step_by(2)
                .map(|value| value.len() as u64)
                .sum::<u64>();
        }
        if let Some((id, _)) = entries.into_iter().last() {
            self.last_ids.insert(partition, id);
        }
        Ok(fetched)
    }
}
