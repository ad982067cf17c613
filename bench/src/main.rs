//! `rustlog-bench`: runs one produce-and-consume workload against RustLog, Redis Streams or NATS
//! JetStream, and renders the results of many runs as markdown tables.
//!
//! Every system runs the same workload code (`workload.rs`); only the few calls behind the
//! [`backend::Backend`] trait differ. `bench/compare.sh` starts each system, runs this binary
//! against it and builds `bench/results.md`.

mod backend;
mod report;
mod workload;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::backend::nats::Nats;
use crate::backend::redis::Redis;
use crate::backend::rustlog::RustLog;
use crate::report::RunResult;
use crate::workload::Workload;

/// Load generator for RustLog and the systems it is compared with.
#[derive(Debug, Parser)]
#[command(name = "rustlog-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce records, then consume them all from the start, and report both phases.
    Run(RunArgs),
    /// Print markdown tables from a results file written by `run --results`.
    Table(TableArgs),
}

/// The system a run talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum System {
    /// A RustLog broker; the topic must exist.
    Rustlog,
    /// A Redis server; one stream key per partition.
    Redis,
    /// A NATS server with JetStream; one file-backed stream per partition.
    Nats,
}

/// Options of `rustlog-bench run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// The system to drive.
    #[arg(long, value_enum)]
    system: System,
    /// Address of the server, as HOST:PORT.
    #[arg(long)]
    addr: String,
    /// RustLog topic, or prefix of the Redis stream keys and NATS stream names.
    #[arg(long, default_value = "bench")]
    topic: String,
    /// Records to produce in all.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Size of each record's value in bytes.
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    /// Records per produce request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Producer connections; producer i writes to partition i modulo --partitions.
    #[arg(long, default_value_t = 1)]
    producers: u32,
    /// Consumer connections for the read phase; 0 skips it.
    #[arg(long, default_value_t = 1)]
    consumers: u32,
    /// Partitions to spread the producers over.
    #[arg(long, default_value_t = 1)]
    partitions: u32,
    /// Upper bound on the value bytes of one fetch; for Redis and NATS it becomes a record count.
    #[arg(long, default_value_t = 1024 * 1024)]
    fetch_bytes: usize,
    /// Append the figures as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Short id of the configuration in the results file; `rustlog` and `redis-always` feed the
    /// targets table.
    #[arg(long)]
    id: Option<String>,
    /// Name and version of the system, for the tables. [default: the --system value]
    #[arg(long)]
    label: Option<String>,
    /// When the system syncs acknowledged data, for the tables.
    #[arg(long, default_value = "not stated")]
    durability: String,
}

/// Options of `rustlog-bench table`.
#[derive(Debug, Args)]
struct TableArgs {
    /// Results file written by `run --results`.
    results: PathBuf,
    /// A fio JSON output file to list under the disk's limits, as LABEL=FILE (repeatable).
    #[arg(long, value_name = "LABEL=FILE")]
    fio: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Table(args) => table(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let workload = Workload {
        records: args.records,
        record_size: args.record_size,
        batch: args.batch,
        producers: args.producers,
        consumers: args.consumers,
        partitions: args.partitions,
        fetch_bytes: args.fetch_bytes,
    };
    workload.validate()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (produce, consume) = runtime.block_on(async {
        match args.system {
            System::Rustlog => {
                let backend = RustLog::new(args.addr.clone(), args.topic.clone());
                workload::run(backend, workload).await
            }
            System::Redis => {
                let backend = Redis::new(&args.addr, args.topic.clone())?;
                workload::run(backend, workload).await
            }
            System::Nats => {
                let backend = Nats::new(args.addr.clone(), args.topic.clone());
                workload::run(backend, workload).await
            }
        }
    })?;

    let system_name = format!("{:?}", args.system).to_lowercase();
    let labels = [
        args.id.unwrap_or_else(|| system_name.clone()),
        args.label.unwrap_or(system_name),
        args.durability,
    ];
    let result = RunResult::new(labels, &workload, &produce, consume.as_ref());
    println!(
        "{} ({}): {} records of {} B, {}",
        result.system,
        result.durability,
        result.records,
        result.record_size,
        result.workload_name()
    );
    println!("  {}", result.produce.summary("produce", "request"));
    if let Some(consume) = &result.consume {
        println!("  {}", consume.summary("consume", "fetch"));
    }

    if let Some(path) = &args.results {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open results file {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(&result)?)
            .with_context(|| format!("cannot write results file {}", path.display()))?;
    }
    Ok(())
}

fn table(args: TableArgs) -> anyhow::Result<()> {
    let results = report::read_results(&args.results)?;
    print!("{}", report::render_tables(&results));

    if !args.fio.is_empty() {
        let mut jobs = Vec::new();
        for spec in &args.fio {
            let (label, file) = spec
                .split_once('=')
                .with_context(|| format!("invalid --fio `{spec}`: expected LABEL=FILE"))?;
            jobs.push((label.to_owned(), report::read_fio(file.as_ref())?));
        }
        print!(
            "\n### The disk's own limits (fio)\n\n{}",
            report::render_fio(&jobs)
        );
    }
    Ok(())
}
