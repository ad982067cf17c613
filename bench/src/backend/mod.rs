//! The systems under test, behind one interface, so every system runs the same workload code.
//!
//! A backend connects to one system and maps the workload's terms onto it:
//!
//! | workload term        | RustLog              | Redis Streams                  | NATS JetStream                   |
//! |----------------------|----------------------|--------------------------------|----------------------------------|
//! | partition            | topic partition      | one stream key per partition   | one stream per partition         |
//! | produce request      | one `produce` line   | one pipeline of `XADD`s        | publishes, then wait for each ack |
//! | acknowledgement      | the produce response | the pipeline's replies         | the last `PubAck`                |
//! | fetch request        | one `fetch` line     | one `XRANGE ... COUNT n`       | one pull request of n messages   |
//!
//! Each system acknowledges a write after its own durability step, which its configuration picks:
//! fsync per request, once a second, or never. The report names that setting next to every
//! figure, so no fsynced figure is compared with a buffered one without saying so.

pub mod nats;
pub mod redis;
pub mod rustlog;

use std::future::Future;

/// One system under test. `prepare` runs once, before any producer or consumer is opened.
pub trait Backend: Send + Sync + 'static {
    /// A producer connection.
    type Producer: Producer;
    /// A consumer connection.
    type Consumer: Consumer;

    /// Makes `partitions` partitions ready and remembers where each starts, so consumers read
    /// only the records this run produces.
    fn prepare(&mut self, partitions: u32) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Opens a producer connection whose requests carry copies of `value`.
    fn producer(
        &self,
        value: Vec<u8>,
    ) -> impl Future<Output = anyhow::Result<Self::Producer>> + Send;

    /// Opens a consumer connection whose fetches ask for at most `max_records` records and
    /// `max_bytes` bytes each, and which starts every partition at the position `prepare` found.
    fn consumer(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> impl Future<Output = anyhow::Result<Self::Consumer>> + Send;
}

/// A connection that appends records.
pub trait Producer: Send + 'static {
    /// Sends `count` records to `partition` as one request and returns once the system has
    /// acknowledged all of them.
    fn send(
        &mut self,
        partition: u32,
        count: usize,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A connection that reads records, keeping its own position in each partition.
pub trait Consumer: Send + 'static {
    /// Reads the records of `partition` that follow the last ones this consumer read, with one
    /// request, and moves its position past them.
    fn fetch(&mut self, partition: u32) -> impl Future<Output = anyhow::Result<Fetched>> + Send;
}

/// What one fetch returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Records read.
    pub records: u64,
    /// Bytes of record values read.
    pub value_bytes: u64,
}
