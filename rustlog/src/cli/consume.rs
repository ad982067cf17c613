//! `rustlog consume`: write record values to standard output, one per line.
//!
//! With `--group` and `--commit` this is the at-least-once loop: write a batch, flush it, then
//! commit the offset after it. A consumer killed between the flush and the commit prints that
//! batch again on its next run.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use rustlog::client::Client;
use rustlog::protocol::FetchRequest;

use super::ConsumeArgs;

/// How long `--follow` waits before asking again at the end of the log.
const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Fetches and prints until the log end (or forever with `--follow`), or `--max-records`.
pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.broker.addr).await?;
    let start = start_offset(&mut client, &args).await?;
    let progress = super::progress_bar(args.max_records, "records");
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut next_offset = start;
    let mut printed: u64 = 0;

    loop {
        if args.max_records.is_some_and(|max| printed >= max) {
            break;
        }
        let request = FetchRequest {
            topic: args.topic.clone(),
            partition: args.partition,
            offset: Some(next_offset),
            max_bytes: Some(args.max_bytes),
            group_id: None,
        };
        let response = client.fetch(request).await.with_context(|| {
            format!(
                "fetch from topic `{}` partition {} at offset {next_offset} failed",
                args.topic, args.partition
            )
        })?;

        if response.records.is_empty() {
            if !args.follow {
                break;
            }
            tokio::time::sleep(FOLLOW_POLL_INTERVAL).await;
            continue;
        }

        // Write the batch (up to --max-records), flush it, and only then commit.
        let remaining = args.max_records.map_or(u64::MAX, |max| max - printed);
        for record in response
            .records
            .iter()
            .take(remaining.min(usize::MAX as u64) as usize)
        {
            let value = record
                .value_bytes()
                .map_err(|error| anyhow::anyhow!("record {}: {error}", record.offset))?;
            stdout
                .write_all(&value)
                .context("cannot write to standard output")?;
            stdout
                .write_all(b"\n")
                .context("cannot write to standard output")?;
            next_offset = record.offset + 1;
            printed += 1;
            progress.inc(1);
        }
        stdout.flush().context("cannot write to standard output")?;

        if let (true, Some(group)) = (args.commit, &args.group) {
            client
                .commit(group, &args.topic, args.partition, next_offset)
                .await?;
        }
    }
    progress.finish_and_clear();
    Ok(())
}

/// Picks the first offset: `--offset`, `--from-beginning`, the group's commit, or the log start.
async fn start_offset(client: &mut Client, args: &ConsumeArgs) -> anyhow::Result<u64> {
    if let Some(offset) = args.offset {
        return Ok(offset);
    }
    if !args.from_beginning {
        if let Some(group) = &args.group {
            if let Some(offset) = client.committed(group, &args.topic, args.partition).await? {
                return Ok(offset);
            }
        }
    }

    let metadata = client.metadata().await?;
    let partition = metadata
        .topics
        .iter()
        .find(|topic| topic.name == args.topic)
        .and_then(|topic| {
            topic
                .partitions
                .iter()
                .find(|partition| partition.partition == args.partition)
        });
    match partition {
        Some(partition) => Ok(partition.log_start_offset),
        None => anyhow::bail!(
            "topic `{}` partition {} does not exist on the broker at {}; `rustlog topics` lists what does",
            args.topic,
            args.partition,
            args.broker.addr
        ),
    }
}
