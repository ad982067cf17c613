//! `rustlog offsets`: every consumer group's committed offsets and lag, as a table.

use rustlog::client::Client;

use super::AddrArgs;

/// Prints one row per (group, topic, partition).
pub async fn run(args: AddrArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.addr).await?;
    let response = client.offsets().await?;
    if response.offsets.is_empty() {
        println!("no consumer group has committed an offset yet");
        return Ok(());
    }

    let group_width = response
        .offsets
        .iter()
        .map(|row| row.group_id.len())
        .max()
        .unwrap_or(0)
        .max("GROUP".len());
    let topic_width = response
        .offsets
        .iter()
        .map(|row| row.topic.len())
        .max()
        .unwrap_or(0)
        .max("TOPIC".len());
    println!(
        "{:<group_width$}  {:<topic_width$}  {:>9}  {:>16}  {:>14}  {:>10}",
        "GROUP", "TOPIC", "PARTITION", "COMMITTED OFFSET", "LOG END OFFSET", "LAG"
    );
    for row in &response.offsets {
        println!(
            "{:<group_width$}  {:<topic_width$}  {:>9}  {:>16}  {:>14}  {:>10}",
            row.group_id, row.topic, row.partition, row.offset, row.log_end_offset, row.lag
        );
    }
    Ok(())
}
