//! `rustlog serve`: load the configuration, recover the data, serve until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustlog::broker::{self, Broker};
use rustlog::config::{BrokerConfig, TopicConfig};
use rustlog::server::{self, Limits};
use rustlog::storage::PartitionConfig;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::ServeArgs;

/// Runs the broker until SIGINT or SIGTERM; a second signal exits at once.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(args)?;
    // Installed first, so a signal during recovery leads to a clean stop, not an abrupt exit.
    let shutdown = shutdown_signal()?;

    // Recovery reads files, so it runs on the blocking pool.
    let opening = config.clone();
    let (broker, recovery) = tokio::task::spawn_blocking(move || Broker::open(&opening))
        .await
        .context("broker startup panicked")??;
    for partition in &recovery.partitions {
        let report = &partition.report;
        tracing::info!(
            topic = %partition.topic,
            partition = partition.partition,
            clean_shutdown = report.clean_shutdown,
            segments = report.segments,
            scanned_bytes = report.scanned_bytes,
            truncated_bytes = report.truncated_bytes,
            rebuilt_indexes = report.rebuilt_indexes,
            log_start_offset = report.log_start_offset,
            log_end_offset = report.log_end_offset,
            "recovered partition"
        );
    }
    tracing::info!(
        keys = recovery.offsets.keys,
        entries = recovery.offsets.entries,
        truncated_bytes = recovery.offsets.truncated_bytes,
        "loaded consumer offsets"
    );

    let listener = TcpListener::bind(config.addr).await.with_context(|| {
        format!(
            "cannot listen on {}; is another broker running there? choose another with --addr",
            config.addr
        )
    })?;
    let addr = listener.local_addr()?;
    // Tests and scripts read the bound address (useful with port 0) from this first stdout line.
    println!("listening on {addr}");
    tracing::info!(%addr, data_dir = %config.data_dir.display(), topics = ?broker.topic_names(), "rustlog started");

    let broker = Arc::new(broker);
    let (stop_retention, retention_stop) = watch::channel(false);
    let interval = Duration::from_millis(config.retention_check_interval_ms);
    let retention = tokio::spawn(broker::run_retention(
        Arc::clone(&broker),
        interval,
        retention_stop,
    ));

    let limits = Limits {
        max_request_bytes: config.max_request_bytes,
        max_connections: config.max_connections,
    };
    server::run(listener, Arc::clone(&broker), limits, shutdown).await;
    let _ = stop_retention.send(true);
    let _ = retention.await;

    // Every connection task has ended, so this is the only reference left.
    match Arc::try_unwrap(broker) {
        Ok(broker) => tokio::task::spawn_blocking(move || broker.close()).await?,
        Err(_) => tracing::warn!(
            "broker still shared at shutdown; partitions will be recovered on the next start"
        ),
    }
    tracing::info!("rustlog stopped");
    Ok(())
}

/// Merges the config file (if any) with the flags; flags win.
fn load_config(args: ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut config = match &args.config {
        Some(path) => BrokerConfig::from_file(path)?,
        None => BrokerConfig::default(),
    };
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    // A flag only sets the partition count; other settings come from the file or the defaults.
    for (name, partitions) in args.topics {
        let topic = match config.topics.get(&name) {
            Some(topic) => TopicConfig {
                partitions,
                ..*topic
            },
            None => TopicConfig {
                partitions,
                storage: PartitionConfig::default(),
                group_commit: true,
            },
        };
        config.add_topic(&name, topic)?;
    }
    Ok(config)
}

/// Completes on the first SIGINT or SIGTERM, and arranges for a second one to exit at once.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down; send the signal again to exit at once");
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::warn!("second signal: exiting without a clean shutdown");
            std::process::exit(130);
        });
    })
}
