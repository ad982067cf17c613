//! Command-line interface: `serve` runs the broker; `produce`, `consume`, `topics` and `offsets`
//! talk to a running broker through [`rustlog::client`].

mod consume;
mod offsets;
mod produce;
mod serve;
mod topics;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rustlog::config::DEFAULT_ADDR;
use tracing_subscriber::EnvFilter;

/// A single-node, Kafka-style log broker.
#[derive(Debug, Parser)]
#[command(name = "rustlog", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// Send each line of standard input as one record.
    Produce(ProduceArgs),
    /// Write records' values to standard output, one per line.
    Consume(ConsumeArgs),
    /// List topics, partitions and their offsets.
    Topics(AddrArgs),
    /// List consumer groups, their committed offsets and their lag.
    Offsets(AddrArgs),
}

/// Options of `rustlog serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory for all data; topics live under DATA_DIR/topics/. [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port. [default: 127.0.0.1:7411]
    #[arg(long)]
    pub addr: Option<std::net::SocketAddr>,
    /// TOML configuration file; flags given here override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve a topic with this many partitions, as NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME:PARTITIONS", value_parser = rustlog::config::parse_topic_flag)]
    pub topics: Vec<(String, u32)>,
}

/// The broker address, shared by every client subcommand.
#[derive(Debug, Args)]
pub struct AddrArgs {
    /// Address of the broker.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: String,
}

/// Options of `rustlog produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub broker: AddrArgs,
    /// Topic to write to.
    #[arg(long)]
    pub topic: String,
    /// Partition to write to.
    #[arg(long, default_value_t = 0)]
    pub partition: u32,
    /// Key given to every record.
    #[arg(long)]
    pub key: Option<String>,
    /// Most records sent in one produce request.
    #[arg(long, default_value_t = 1000)]
    pub batch_records: usize,
    /// Most bytes of record values sent in one produce request.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub batch_bytes: usize,
}

/// Options of `rustlog consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub broker: AddrArgs,
    /// Topic to read from.
    #[arg(long)]
    pub topic: String,
    /// Partition to read from.
    #[arg(long, default_value_t = 0)]
    pub partition: u32,
    /// Offset to start at.
    #[arg(long, conflicts_with = "from_beginning")]
    pub offset: Option<u64>,
    /// Start at the partition's log start offset.
    #[arg(long)]
    pub from_beginning: bool,
    /// Consumer group: without --offset or --from-beginning, start at its committed offset.
    #[arg(long)]
    pub group: Option<String>,
    /// Commit the group's offset after each batch is written to standard output.
    #[arg(long, requires = "group")]
    pub commit: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub max_records: Option<u64>,
    /// Keep waiting for new records at the end of the log instead of exiting.
    #[arg(long)]
    pub follow: bool,
    /// Most record bytes per fetch request.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_bytes: u64,
}

/// Parses the command line, runs the subcommand, and turns an error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Produce(args) => produce::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Topics(args) => topics::run(args).await,
            Command::Offsets(args) => offsets::run(args).await,
        }
    });

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// Joins an error and its causes into one line, skipping a cause whose text the line already
/// contains (many error messages include their cause's text).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Returns a progress bar on stderr when stderr is a terminal, and a hidden one otherwise.
fn progress_bar(total: Option<u64>, unit: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = format!("{{spinner}} {{pos}} {unit} [{{elapsed_precise}}] {{per_sec}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
