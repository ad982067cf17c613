//! NATS JetStream through `async-nats`: each partition is one stream with file storage and one
//! subject, `<prefix>.<partition>`.
//!
//! A produce request of n records publishes n messages and then waits for all n
//! acknowledgements (`PubAck`), so the messages travel together, as a RustLog batch does. A fetch
//! is one pull request for up to n messages on an ephemeral consumer that needs no acks and
//! starts at the stream's first message.
//!
//! With its default `sync_interval` of two minutes, JetStream acknowledges a message once it is
//! written to the operating system and syncs its files on that timer, not before each `PubAck`.

use std::collections::HashMap;

use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{Backend, Consumer, Fetched, Producer};

/// A running NATS server with JetStream enabled, and the prefix of the stream names to use.
#[derive(Debug)]
pub struct Nats {
    addr: String,
    prefix: String,
}

impl Nats {
    /// Describes the NATS server at `addr` (`host:port`); streams are named `<prefix>-<partition>`.
    pub fn new(addr: String, prefix: String) -> Nats {
        Nats { addr, prefix }
    }

    async fn connect(&self) -> anyhow::Result<jetstream::Context> {
        let client = async_nats::connect(self.addr.as_str())
            .await
            .with_context(|| format!("cannot connect to NATS at {}", self.addr))?;
        Ok(jetstream::new(client))
    }
}

fn stream_name(prefix: &str, partition: u32) -> String {
    format!("{prefix}-{partition}")
}

fn subject(prefix: &str, partition: u32) -> String {
    format!("{prefix}.{partition}")
}

impl Backend for Nats {
    type Producer = NatsProducer;
    type Consumer = NatsConsumer;

    async fn prepare(&mut self, partitions: u32) -> anyhow::Result<()> {
        // Start from new, empty streams, so consumers read exactly this run's messages.
        let context = self.connect().await?;
        for partition in 0..partitions {
            let name = stream_name(&self.prefix, partition);
            // A stream left by an earlier run is removed. "Not found" is the usual result.
            let _ = context.delete_stream(&name).await;
            let config = Config {
                name: name.clone(),
                subjects: vec![subject(&self.prefix, partition)],
                storage: StorageType::File,
                ..Config::default()
            };
            context
                .create_stream(config)
                .await
                .map_err(|error| anyhow::anyhow!("cannot create stream `{name}`: {error}"))?;
        }
        Ok(())
    }

    async fn producer(&self, value: Vec<u8>) -> anyhow::Result<NatsProducer> {
        Ok(NatsProducer {
            context: self.connect().await?,
            prefix: self.prefix.clone(),
            value: Bytes::from(value),
            pending: Vec::new(),
        })
    }

    async fn consumer(
        &self,
        max_records: usize,
        _max_bytes: usize,
    ) -> anyhow::Result<NatsConsumer> {
        Ok(NatsConsumer {
            context: self.connect().await?,
            prefix: self.prefix.clone(),
            max_records,
            consumers: HashMap::new(),
        })
    }
}

/// One producer connection.
pub struct NatsProducer {
    context: jetstream::Context,
    prefix: String,
    value: Bytes,
    /// Acknowledgements not received yet, reused between requests.
    pending: Vec<PublishAckFuture>,
}

impl Producer for NatsProducer {
    async fn send(&mut self, partition: u32, count: usize) -> anyhow::Result<()> {
        let subject = subject(&self.prefix, partition);
        for _ in 0..count {
            let ack = self
                .context
                .publish(subject.clone(), self.value.clone())
                .await
                .map_err(|error| anyhow::anyhow!("publish to `{subject}` failed: {error}"))?;
            self.pending.push(ack);
        }
        for ack in self.pending.drain(..) {
            ack.await
                .map_err(|error| anyhow::anyhow!("no acknowledgement from `{subject}`: {error}"))?;
        }
        Ok(())
    }
}

/// One consumer connection, with one pull consumer per partition it has read.
pub struct NatsConsumer {
    context: jetstream::Context,
    prefix: String,
    max_records: usize,
    consumers: HashMap<u32, PullConsumer>,
}

impl NatsConsumer {
    async fn pull_consumer(&mut self, partition: u32) -> anyhow::Result<&PullConsumer> {
        if !self.consumers.contains_key(&partition) {
            let name = stream_name(&self.prefix, partition);
            let stream = self
                .context
                .get_stream(&name)
                .await
                .map_err(|error| anyhow::anyhow!("cannot open stream `{name}`: {error}"))?;
            let config = pull::Config {
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::None,
                ..pull::Config::default()
            };
            let consumer = stream.create_consumer(config).await.map_err(|error| {
                anyhow::anyhow!("cannot create a consumer on `{name}`: {error}")
            })?;
            self.consumers.insert(partition, consumer);
        }
        Ok(&self.consumers[&partition])
    }
}

impl Consumer for NatsConsumer {
    async fn fetch(&mut self, partition: u32) -> anyhow::Result<Fetched> {
        // A byte limit would make the server end the pull with an error (409) when the next
        // message does not fit, so the limit is a message count derived from the byte budget.
        let max_records = self.max_records;
        let consumer = self.pull_consumer(partition).await?;
        let mut messages = consumer
            .fetch()
            .max_messages(max_records)
            .messages()
            .await
            .map_err(|error| anyhow::anyhow!("pull request failed: {error}"))?;

        let mut fetched = Fetched::default();
        while let Some(message) = messages.next().await {
            let message =
                message.map_err(|error| anyhow::anyhow!("pull request failed: {error}"))?;
            fetched.records += 1;
            fetched.value_bytes += message.payload.len() as u64;
        }
        Ok(fetched)
    }
}
