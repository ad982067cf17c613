//! RustLog through its own client, [`rustlog::client::Client`]: one TCP connection per producer
//! or consumer, one request in flight on each.
//!
//! A topic cannot be emptied, so `prepare` reads each partition's log end offset and consumers
//! start there: they read exactly the records this run produces.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustlog::client::Client;
use rustlog::protocol::{FetchRequest, ProduceRecord};

use super::{Backend, Consumer, Fetched, Producer};

/// A running RustLog broker and the topic to write to.
#[derive(Debug)]
pub struct RustLog {
    addr: String,
    topic: String,
    /// Log end offset of each partition when `prepare` ran.
    start_offsets: Arc<Vec<u64>>,
}

impl RustLog {
    /// Describes the broker at `addr` and its existing `topic`.
    pub fn new(addr: String, topic: String) -> RustLog {
        RustLog {
            addr,
            topic,
            start_offsets: Arc::new(Vec::new()),
        }
    }
}

impl Backend for RustLog {
    type Producer = RustLogProducer;
    type Consumer = RustLogConsumer;

    async fn prepare(&mut self, partitions: u32) -> anyhow::Result<()> {
        let mut client = Client::connect(self.addr.as_str()).await?;
        let metadata = client.metadata().await?;
        let Some(topic) = metadata.topics.iter().find(|t| t.name == self.topic) else {
            bail!(
                "topic `{}` does not exist; start the broker with --topic {}:{partitions}",
                self.topic,
                self.topic
            );
        };
        if topic.partitions.len() < partitions as usize {
            bail!(
                "topic `{}` has {} partitions and the workload needs {partitions}; start the \
                 broker with --topic {}:{partitions}",
                self.topic,
                topic.partitions.len(),
                self.topic
            );
        }

        let start = topic.partitions[..partitions as usize]
            .iter()
            .map(|partition| partition.log_end_offset)
            .collect();
        self.start_offsets = Arc::new(start);
        Ok(())
    }

    async fn producer(&self, value: Vec<u8>) -> anyhow::Result<RustLogProducer> {
        Ok(RustLogProducer {
            client: Client::connect(self.addr.as_str()).await?,
            topic: self.topic.clone(),
            record: ProduceRecord::from_bytes(None, &value),
            records: Vec::new(),
        })
    }

    async fn consumer(
        &self,
        _max_records: usize,
        max_bytes: usize,
    ) -> anyhow::Result<RustLogConsumer> {
        // RustLog bounds a fetch by bytes only; `max_bytes` already limits the record count.
        Ok(RustLogConsumer {
            client: Client::connect(self.addr.as_str()).await?,
            topic: self.topic.clone(),
            max_bytes: max_bytes as u64,
            start_offsets: Arc::clone(&self.start_offsets),
            next_offsets: HashMap::new(),
        })
    }
}

/// One producer connection.
#[derive(Debug)]
pub struct RustLogProducer {
    client: Client,
    topic: String,
    /// The record every request carries copies of, already in its wire form.
    record: ProduceRecord,
    /// Copies of `record`, as many as the largest request so far needed.
    records: Vec<ProduceRecord>,
}

impl Producer for RustLogProducer {
    async fn send(&mut self, partition: u32, count: usize) -> anyhow::Result<()> {
        if self.records.len() < count {
            self.records.resize(count, self.record.clone());
        }
        let records = &self.records[..count];
        let response = self
            .client
            .produce_from_slice(&self.topic, partition, records)
            .await?;
        if response.offsets.len() != count {
            bail!(
                "the broker acknowledged {} of {count} records",
                response.offsets.len()
            );
        }
        Ok(())
    }
}

/// One consumer connection.
#[derive(Debug)]
pub struct RustLogConsumer {
    client: Client,
    topic: String,
    max_bytes: u64,
    start_offsets: Arc<Vec<u64>>,
    /// The next offset to read in each partition this consumer has read from.
    next_offsets: HashMap<u32, u64>,
}

impl Consumer for RustLogConsumer {
    async fn fetch(&mut self, partition: u32) -> anyhow::Result<Fetched> {
        let start = *self
            .start_offsets
            .get(partition as usize)
            .context("partition was not prepared")?;
        let offset = *self.next_offsets.entry(partition).or_insert(start);

        let request = FetchRequest {
            topic: self.topic.clone(),
            partition,
            offset: Some(offset),
            max_bytes: Some(self.max_bytes),
            group_id: None,
        };
        let response = self.client.fetch(request).await?;

        let mut fetched = Fetched::default();
        for record in &response.records {
            fetched.records += 1;
            fetched.value_bytes += record.value_bytes()?.len() as u64;
        }
        self.next_offsets.insert(partition, response.next_offset);
        Ok(fetched)
    }
}
