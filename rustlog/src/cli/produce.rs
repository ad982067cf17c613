//! `rustlog produce`: one record per line of standard input, sent in batches.

use std::io::BufRead;

use anyhow::Context;
use rustlog::client::Client;
use rustlog::protocol::ProduceRecord;

use super::ProduceArgs;

/// Reads lines until end of input and sends them; prints the count and offset range.
pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.broker.addr).await?;
    let key = args.key.as_deref().map(str::as_bytes);
    let progress = super::progress_bar(None, "records");

    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    let mut first_offset = None;
    let mut last_offset = None;
    let mut count: u64 = 0;

    loop {
        // Lines are bytes, not necessarily UTF-8: the record keeps them exactly.
        line.clear();
        let read = stdin
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?;
        let at_end = read == 0;
        if !at_end {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            batch_bytes += line.len();
            batch.push(ProduceRecord::from_bytes(key, &line));
        }

        let full = batch.len() >= args.batch_records || batch_bytes >= args.batch_bytes;
        if !batch.is_empty() && (full || at_end) {
            let sent = batch.len() as u64;
            let response = client
                .produce(&args.topic, args.partition, std::mem::take(&mut batch))
                .await
                .with_context(|| {
                    format!(
                        "produce to topic `{}` partition {} failed",
                        args.topic, args.partition
                    )
                })?;
            first_offset = first_offset.or(response.offsets.first().copied());
            last_offset = response.offsets.last().copied().or(last_offset);
            count += sent;
            batch_bytes = 0;
            progress.inc(sent);
        }
        if at_end {
            break;
        }
    }
    progress.finish_and_clear();

    match (first_offset, last_offset) {
        (Some(first), Some(last)) => println!(
            "produced {count} records to topic `{}` partition {}, offsets {first} to {last}",
            args.topic, args.partition
        ),
        _ => println!("produced 0 records: standard input was empty"),
    }
    Ok(())
}
