//! `check-exercises`: the proof that every exercise is a real exercise.
//!
//! For each step: generate its exercise into `target/exercises/<step>`, build it (it must
//! compile with the `todo!()`s in place), run its tests (they must fail, so no exercise ships
//! solved), fill the regions back in from the reference, and run the tests again (they must pass,
//! so the markers lose nothing). The reference steps' own tests run with the workspace tests.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::exercises::{list_steps, solve_workspace, write_workspace};

/// Runs the check for every step, or only step `only`.
pub fn check_exercises(root: &Path, only: Option<u32>) -> Result<()> {
    let steps = list_steps(root, only)?;
    // One target directory for every generated workspace, so dependencies build once.
    let target_dir = root.join("target/exercises-build");

    for step in steps {
        let dir = root.join("target/exercises").join(&step.dir_name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        write_workspace(root, Some(step.number), &dir)?;

        let build = cargo(
            &dir,
            &target_dir,
            &["build", "--tests", "-p", &step.package],
        )?;
        if !build.success {
            bail!(
                "the exercise of {} does not compile:\n{}",
                step.dir_name,
                build.stderr
            );
        }

        let shipped = cargo(
            &dir,
            &target_dir,
            &["test", "--no-fail-fast", "-p", &step.package],
        )?;
        if shipped.success {
            bail!(
                "the exercise of {} passes its tests with every region left as todo!()",
                step.dir_name
            );
        }

        let filled = solve_workspace(root, &dir)?;
        let solved = cargo(&dir, &target_dir, &["test", "-p", &step.package])?;
        if !solved.success {
            bail!(
                "the exercise of {} fails its tests after solving:\n{}",
                step.dir_name,
                solved.stderr
            );
        }
        println!(
            "{}: exercise compiles; {} as shipped; passes with its {filled} region(s) solved",
            step.dir_name,
            failure_summary(&shipped.stdout)
        );
    }
    Ok(())
}

struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) -> Result<Outcome> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        // Snapshots are the answer key: a mismatch must fail, never write a new snapshot.
        .env("CI", "true")
        .env("INSTA_UPDATE", "no")
        .output()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    Ok(Outcome {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Sums the failed-test counts of every `test result:` line, as in "12 of 15 tests fail".
fn failure_summary(stdout: &str) -> String {
    let (mut passed, mut failed) = (0, 0);
    for line in stdout
        .lines()
        .filter(|line| line.starts_with("test result:"))
    {
        passed += count_before(line, " passed");
        failed += count_before(line, " failed");
    }
    format!("{failed} of {} tests fail", passed + failed)
}

fn count_before(line: &str, label: &str) -> u64 {
    line.split(';')
        .find_map(|part| {
            part.trim()
                .strip_suffix(label)
                .and_then(|n| n.rsplit(' ').next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_summary_sums_result_lines() {
        let stdout = "test result: FAILED. 3 passed; 2 failed; 0 ignored\ntest result: ok. 4 passed; 0 failed; 0 ignored\n";
        assert_eq!(failure_summary(stdout), "2 of 9 tests fail");
    }
}
