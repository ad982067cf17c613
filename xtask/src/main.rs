//! Project automation, run as `cargo xtask <command>`.
//!
//! - `exercises [--step NN] --out DIR`: write a learner workspace in which the marked solution
//!   regions of each step crate are replaced by `todo!()`.
//! - `solve DIR`: put the reference solutions back into such a workspace.
//! - `regions [--write | --check]`: the table of solution regions that the instructors' chapter
//!   includes.
//! - `check-exercises [--step NN]`: prove, for each step, that its exercise compiles, fails its
//!   tests as shipped, and passes them once solved. CI runs this.
//! - `crash-test --cycles N --seed S`: SIGKILL the broker under load N times and check that every
//!   acknowledged record survives. CI runs a short version.

mod check;
mod crash;
mod exercises;
mod regions;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "RustLog project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a learner workspace with the solution regions replaced by todo!().
    Exercises {
        /// Only this step, by number (for example 3 or 03); every step when omitted.
        #[arg(long)]
        step: Option<u32>,
        /// Directory to write the workspace into; it must not exist yet, or be empty.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fill the solution regions of a generated workspace back in from the reference steps.
    Solve {
        /// A workspace written by `cargo xtask exercises`.
        dir: PathBuf,
    },
    /// Print the table of every step's solution regions, or write or check the book's copy.
    Regions {
        /// Write the table to the book's copy instead of printing it.
        #[arg(long, conflicts_with = "check")]
        write: bool,
        /// Fail when the book's copy differs from the step crates.
        #[arg(long)]
        check: bool,
    },
    /// Kill the broker under load again and again; check every acknowledged record survives.
    CrashTest {
        /// Kill-and-restart cycles.
        #[arg(long, default_value_t = 20)]
        cycles: u64,
        /// Seed for the kill moments; the same seed repeats the same schedule.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Test the release build of the broker.
        #[arg(long)]
        release: bool,
    },
    /// Check that each exercise compiles, fails as shipped, and passes once solved.
    CheckExercises {
        /// Only this step, by number; every step when omitted.
        #[arg(long)]
        step: Option<u32>,
    },
}

/// The book's copy of the regions table.
const REGIONS_PAGE: &str = "book/src/course/regions.md";

fn regions_command(root: &std::path::Path, write: bool, check: bool) -> anyhow::Result<()> {
    let table = exercises::regions_table(root)?;
    let page = root.join(REGIONS_PAGE);
    if write {
        std::fs::write(&page, &table)?;
        println!("wrote {REGIONS_PAGE}");
    } else if check {
        let committed = std::fs::read_to_string(&page).unwrap_or_default();
        if committed != table {
            anyhow::bail!(
                "{REGIONS_PAGE} is out of date; run `cargo xtask regions --write` and commit it"
            );
        }
        println!("{REGIONS_PAGE} matches the step crates");
    } else {
        print!("{table}");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let root = exercises::workspace_root();
    let result = match cli.command {
        Command::Exercises { step, out } => {
            exercises::write_workspace(&root, step, &out).map(|steps| {
                println!("wrote {} exercise(s) to {}", steps.len(), out.display());
                for step in steps {
                    println!("  {}", step.dir_name);
                }
            })
        }
        Command::Solve { dir } => exercises::solve_workspace(&root, &dir).map(|filled| {
            println!("filled {filled} solution region(s) in {}", dir.display());
        }),
        Command::CheckExercises { step } => check::check_exercises(&root, step),
        Command::Regions { write, check } => regions_command(&root, write, check),
        Command::CrashTest {
            cycles,
            seed,
            release,
        } => crash::crash_test(
            &root,
            &crash::Options {
                cycles,
                seed,
                release,
            },
        ),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
