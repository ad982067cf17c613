//! Results: one JSON line per run, and the markdown tables built from many runs.
//!
//! `rustlog-bench run --results FILE` appends one [`RunResult`] line to FILE;
//! `rustlog-bench table FILE` reads them back and prints a produce table and a consume table per
//! record size, the project's performance targets with their ratios, and the disk's own limits
//! as fio measured them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::workload::{Phase, Workload};

/// Run id of the RustLog configuration that syncs every produce request, in results files.
pub const RUSTLOG_DURABLE_ID: &str = "rustlog";
/// Run id of Redis with `appendfsync always`, the durable baseline of the ratio column.
pub const REDIS_ALWAYS_ID: &str = "redis-always";

/// Batched durable produce target: 1,000 records of 100 B per request, records per second.
const BATCH_TARGET: f64 = 1_500_000.0;
/// Consume target for 100 B records, records per second.
const CONSUME_TARGET: f64 = 1_000_000.0;

/// Everything one run measured, with the labels a table needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Short id of the system and configuration, such as `rustlog` or `redis-always`.
    pub id: String,
    /// The system's name and version, as the table shows it.
    pub system: String,
    /// When the system syncs acknowledged data, as the table shows it.
    pub durability: String,
    /// Records produced.
    pub records: u64,
    /// Size of each record's value in bytes.
    pub record_size: usize,
    /// Records per produce request.
    pub batch: usize,
    /// Producer connections.
    pub producers: u32,
    /// Consumer connections.
    pub consumers: u32,
    /// Partitions.
    pub partitions: u32,
    /// The produce phase.
    pub produce: PhaseFigures,
    /// The consume phase, when it ran.
    pub consume: Option<PhaseFigures>,
}

/// The figures of one phase.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PhaseFigures {
    /// Records per second over the whole phase.
    pub records_per_second: f64,
    /// Megabytes (10^6 bytes) of record values per second.
    pub megabytes_per_second: f64,
    /// Duration of the phase in seconds.
    pub seconds: f64,
    /// Median request latency in microseconds.
    pub p50_us: u64,
    /// 99th percentile request latency in microseconds.
    pub p99_us: u64,
    /// 99.9th percentile request latency in microseconds.
    pub p999_us: u64,
    /// Slowest request in microseconds.
    pub max_us: u64,
}

impl PhaseFigures {
    /// Summarizes a measured phase.
    pub fn new(phase: &Phase) -> PhaseFigures {
        let seconds = phase.elapsed.as_secs_f64();
        PhaseFigures {
            records_per_second: phase.records as f64 / seconds,
            megabytes_per_second: phase.bytes as f64 / seconds / 1e6,
            seconds,
            p50_us: phase.latency.value_at_quantile(0.5),
            p99_us: phase.latency.value_at_quantile(0.99),
            p999_us: phase.latency.value_at_quantile(0.999),
            max_us: phase.latency.max(),
        }
    }

    /// Returns one line for a terminal.
    pub fn summary(&self, name: &str, unit: &str) -> String {
        format!(
            "{name}: {:.0} records/s, {:.1} MB/s in {:.2} s; {unit} latency p50 {} µs, p99 {} µs, \
             p99.9 {} µs, max {} µs",
            self.records_per_second,
            self.megabytes_per_second,
            self.seconds,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us
        )
    }
}

impl RunResult {
    /// Combines a run's labels, its workload and what it measured.
    pub fn new(
        labels: [String; 3],
        workload: &Workload,
        produce: &Phase,
        consume: Option<&Phase>,
    ) -> RunResult {
        let [id, system, durability] = labels;
        RunResult {
            id,
            system,
            durability,
            records: workload.records,
            record_size: workload.record_size,
            batch: workload.batch,
            producers: workload.producers,
            consumers: workload.consumers,
            partitions: workload.partitions,
            produce: PhaseFigures::new(produce),
            consume: consume.map(PhaseFigures::new),
        }
    }

    /// Describes the workload, such as "16 producers × 1 record/request".
    pub fn workload_name(&self) -> String {
        let producers = match self.producers {
            1 => "1 producer".to_owned(),
            n => format!("{n} producers"),
        };
        let batch = match self.batch {
            1 => "1 record/request".to_owned(),
            n => format!("{} records/request", thousands(n as f64)),
        };
        format!("{producers} × {batch}")
    }

    fn same_workload(&self, other: &RunResult) -> bool {
        (
            self.record_size,
            self.batch,
            self.producers,
            self.partitions,
        ) == (
            other.record_size,
            other.batch,
            other.producers,
            other.partitions,
        )
    }
}

/// Reads a results file: one JSON [`RunResult`] per line.
///
/// # Errors
///
/// An unreadable file, or a line that is not a result, named by its number.
pub fn read_results(path: &Path) -> anyhow::Result<Vec<RunResult>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read results file {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "line {} of {} is not a run result",
                    number + 1,
                    path.display()
                )
            })
        })
        .collect()
}

/// Renders the produce and consume tables of every record size, then the targets.
pub fn render_tables(results: &[RunResult]) -> String {
    let mut sizes: BTreeMap<usize, Vec<&RunResult>> = BTreeMap::new();
    for result in results {
        sizes.entry(result.record_size).or_default().push(result);
    }

    let mut out = String::new();
    for (size, runs) in &sizes {
        let _ = writeln!(out, "### Produce, {} records\n", size_name(*size));
        out.push_str(&produce_table(runs, results));
        let _ = writeln!(
            out,
            "\n### Consume from the start, {} records\n",
            size_name(*size)
        );
        out.push_str(&consume_table(runs));
        out.push('\n');
    }
    out.push_str("### Targets\n\n");
    out.push_str(&targets_table(results));
    out
}

fn produce_table(runs: &[&RunResult], all: &[RunResult]) -> String {
    let mut out = String::from(
        "| workload | system | durability | records | records/s | MB/s | p50 µs | p99 µs | p99.9 µs | × Redis always |\n\
         |---|---|---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for run in runs {
        let baseline = all
            .iter()
            .find(|other| other.id == REDIS_ALWAYS_ID && other.same_workload(run));
        let ratio = baseline.map_or("".to_owned(), |baseline| {
            format!(
                "{:.2}",
                run.produce.records_per_second / baseline.produce.records_per_second
            )
        });
        let figures = &run.produce;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {ratio} |",
            run.workload_name(),
            run.system,
            run.durability,
            thousands(run.records as f64),
            thousands(figures.records_per_second),
            figures.megabytes_per_second,
            figures.p50_us,
            figures.p99_us,
            figures.p999_us,
        );
    }
    out
}

fn consume_table(runs: &[&RunResult]) -> String {
    let mut out = String::from(
        "| after | system | records | records/s | MB/s | fetch p50 µs | p99 µs | p99.9 µs |\n\
         |---|---|--:|--:|--:|--:|--:|--:|\n",
    );
    for run in runs {
        let Some(figures) = &run.consume else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} ({}) | {} | {} | {:.1} | {} | {} | {} |",
            run.workload_name(),
            run.system,
            run.durability,
            thousands(run.records as f64),
            thousands(figures.records_per_second),
            figures.megabytes_per_second,
            figures.p50_us,
            figures.p99_us,
            figures.p999_us,
        );
    }
    out
}

/// Lists each target with the measured figure and the ratio; a target without its runs is
/// listed as not measured.
fn targets_table(results: &[RunResult]) -> String {
    let find = |id: &str, size: usize, batch: usize, producers: u32| {
        results.iter().find(|run| {
            run.id == id
                && run.record_size == size
                && run.batch == batch
                && run.producers == producers
        })
    };
    let mut out = String::from("| target | goal | measured | ratio |\n|---|--:|--:|--:|\n");
    let mut row = |name: &str, goal: Option<f64>, measured: Option<f64>| {
        let goal_text = goal.map_or("–".to_owned(), thousands);
        let measured_text = measured.map_or("not measured".to_owned(), thousands);
        let ratio = match (goal, measured) {
            (Some(goal), Some(measured)) => format!("{:.2}", measured / goal),
            _ => "–".to_owned(),
        };
        let _ = writeln!(out, "| {name} | {goal_text} | {measured_text} | {ratio} |");
    };

    let batched = find(RUSTLOG_DURABLE_ID, 100, 1000, 1);
    row(
        "RustLog durable produce, 1,000 × 100 B per request (records/s)",
        Some(BATCH_TARGET),
        batched.map(|run| run.produce.records_per_second),
    );
    for size in [100, 1024] {
        let redis = find(REDIS_ALWAYS_ID, size, 1, 1).map(|run| run.produce.records_per_second);
        let rustlog =
            find(RUSTLOG_DURABLE_ID, size, 1, 1).map(|run| run.produce.records_per_second);
        row(
            &format!(
                "RustLog durable produce, 1 producer × 1 record of {}, vs Redis appendfsync always (records/s)",
                size_name(size)
            ),
            redis,
            rustlog,
        );
    }
    let consume = batched.and_then(|run| run.consume.map(|figures| figures.records_per_second));
    row(
        "RustLog consume of 100 B records (records/s)",
        Some(CONSUME_TARGET),
        consume,
    );
    out
}

/// One fio job's figures, read from fio's JSON output.
#[derive(Debug, Clone, Copy)]
pub struct FioFigures {
    /// Writes per second; with a sync after every write, also syncs per second.
    pub writes_per_second: f64,
    /// Megabytes (10^6 bytes) written per second.
    pub megabytes_per_second: f64,
    /// Median sync latency in microseconds, when fio measured syncs.
    pub sync_p50_us: Option<f64>,
    /// 99th percentile sync latency in microseconds.
    pub sync_p99_us: Option<f64>,
}

/// Reads the first job of a file written by `fio --output-format=json`.
///
/// # Errors
///
/// An unreadable file, or JSON without the fields fio writes.
pub fn read_fio(path: &Path) -> anyhow::Result<FioFigures> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fio output {}", path.display()))?;
    // fio may print notes before its JSON object.
    let json = text.find('{').map_or("", |start| &text[start..]);
    let value: serde_json::Value = serde_json::from_str(json)
        .with_context(|| format!("{} is not fio JSON output", path.display()))?;
    let job = &value["jobs"][0];
    let write = &job["write"];
    let writes_per_second = write["iops"]
        .as_f64()
        .with_context(|| format!("{} has no jobs[0].write.iops", path.display()))?;
    let bytes_per_second = write["bw_bytes"].as_f64().unwrap_or(0.0);
    let sync_percentile = |key: &str| {
        job["sync"]["lat_ns"]["percentile"][key]
            .as_f64()
            .map(|nanoseconds| nanoseconds / 1000.0)
    };
    Ok(FioFigures {
        writes_per_second,
        megabytes_per_second: bytes_per_second / 1e6,
        sync_p50_us: sync_percentile("50.000000"),
        sync_p99_us: sync_percentile("99.000000"),
    })
}

/// Renders the fio jobs as a table, one row per `(label, figures)`.
pub fn render_fio(jobs: &[(String, FioFigures)]) -> String {
    let mut out = String::from(
        "| fio job | writes/s (= syncs/s) | MB/s | sync p50 µs | sync p99 µs |\n|---|--:|--:|--:|--:|\n",
    );
    let micros = |value: Option<f64>| value.map_or("–".to_owned(), |us| format!("{us:.0}"));
    for (label, figures) in jobs {
        let _ = writeln!(
            out,
            "| {label} | {} | {:.1} | {} | {} |",
            thousands(figures.writes_per_second),
            figures.megabytes_per_second,
            micros(figures.sync_p50_us),
            micros(figures.sync_p99_us),
        );
    }
    out
}

/// Formats a rate or count rounded to a whole number, with thousands separators: `1,234,567`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn size_name(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(records_per_second: f64) -> PhaseFigures {
        PhaseFigures {
            records_per_second,
            megabytes_per_second: records_per_second * 100.0 / 1e6,
            seconds: 1.0,
            p50_us: 10,
            p99_us: 20,
            p999_us: 30,
            max_us: 40,
        }
    }

    fn result(id: &str, batch: usize, produce: f64) -> RunResult {
        RunResult {
            id: id.to_owned(),
            system: id.to_owned(),
            durability: "fsync".to_owned(),
            records: 1000,
            record_size: 100,
            batch,
            producers: 1,
            consumers: 1,
            partitions: 1,
            produce: figures(produce),
            consume: Some(figures(2_000_000.0)),
        }
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn produce_ratio_uses_redis_always_of_same_workload() {
        let results = vec![
            result(REDIS_ALWAYS_ID, 1, 1000.0),
            result(RUSTLOG_DURABLE_ID, 1, 1500.0),
            result(RUSTLOG_DURABLE_ID, 1000, 900_000.0),
        ];
        let tables = render_tables(&results);
        assert!(tables.contains("| 1 producer × 1 record/request | rustlog | fsync | 1,000 | 1,500 | 0.1 | 10 | 20 | 30 | 1.50 |"), "{tables}");
        // No Redis run of the batched workload, so its ratio cell stays empty.
        assert!(
            tables.contains("| 900,000 | 90.0 | 10 | 20 | 30 |  |"),
            "{tables}"
        );
    }

    #[test]
    fn targets_list_goal_measured_and_ratio() {
        let results = vec![result(RUSTLOG_DURABLE_ID, 1000, 750_000.0)];
        let targets = targets_table(&results);
        assert!(
            targets.contains("| 1,500,000 | 750,000 | 0.50 |"),
            "{targets}"
        );
        assert!(
            targets.contains("| 1,000,000 | 2,000,000 | 2.00 |"),
            "{targets}"
        );
        assert!(targets.contains("| – | not measured | – |"), "{targets}");
    }

    #[test]
    fn results_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let line = serde_json::to_string(&result("rustlog", 1, 10.0)).unwrap();
        std::fs::write(&path, format!("{line}\n\n{line}\n")).unwrap();

        let results = read_results(&path).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].workload_name(), "1 producer × 1 record/request");
    }
}
