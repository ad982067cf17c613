//! `rustlog topics`: a table of topics, partitions and offsets.

use rustlog::client::Client;

use super::AddrArgs;

/// Prints one row per partition.
pub async fn run(args: AddrArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.addr).await?;
    let metadata = client.metadata().await?;

    let width = metadata
        .topics
        .iter()
        .map(|topic| topic.name.len())
        .max()
        .unwrap_or(0)
        .max("TOPIC".len());
    println!(
        "{:<width$}  {:>9}  {:>16}  {:>14}",
        "TOPIC", "PARTITION", "LOG START OFFSET", "LOG END OFFSET"
    );
    for topic in &metadata.topics {
        for partition in &topic.partitions {
            println!(
                "{:<width$}  {:>9}  {:>16}  {:>14}",
                topic.name,
                partition.partition,
                partition.log_start_offset,
                partition.log_end_offset
            );
        }
    }
    Ok(())
}
