//! Writing a learner workspace from the step crates, and solving it again.
//!
//! The generated workspace stands alone: its own `Cargo.toml` with the same shared dependency
//! versions and the same `Cargo.lock`, every selected step with its solution regions replaced
//! by `todo!()`, the tests and committed snapshots unchanged, the shared test helpers in
//! `steps/common`, and a README per step that says what to implement and how to check it.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::regions::{self, Region};

/// A step crate of the reference workspace.
#[derive(Debug, Clone)]
pub struct Step {
    /// Chapter number.
    pub number: u32,
    /// Directory name under `steps/`, such as `03-index`.
    pub dir_name: String,
    /// Cargo package name, such as `step03-index`.
    pub package: String,
}

/// Returns the root of the RustLog workspace (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Lists the step crates (`steps/NN-name`), in chapter order, optionally only step `only`.
pub fn list_steps(root: &Path, only: Option<u32>) -> Result<Vec<Step>> {
    let steps_dir = root.join("steps");
    let mut steps = Vec::new();
    for entry in
        fs::read_dir(&steps_dir).with_context(|| format!("cannot list {}", steps_dir.display()))?
    {
        let entry = entry?;
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let Some(number) = dir_name
            .split('-')
            .next()
            .and_then(|digits| digits.parse::<u32>().ok())
        else {
            continue; // `common` and anything else that is not a numbered step
        };
        if only.is_some_and(|wanted| wanted != number) {
            continue;
        }
        let manifest = entry.path().join("Cargo.toml");
        let text = fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("invalid {}", manifest.display()))?;
        let Some(package) = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        else {
            bail!("{} has no [package] name", manifest.display());
        };
        steps.push(Step {
            number,
            dir_name,
            package: package.to_owned(),
        });
    }
    steps.sort_by_key(|step| step.number);
    if steps.is_empty() {
        match only {
            Some(number) => bail!("there is no step {number:02} under {}", steps_dir.display()),
            None => bail!("there are no step crates under {}", steps_dir.display()),
        }
    }
    Ok(steps)
}

/// Writes the learner workspace for the selected steps into `out` and returns those steps.
///
/// # Errors
///
/// `out` exists and is not empty, a step has malformed or no solution regions, or I/O fails.
pub fn write_workspace(root: &Path, only: Option<u32>, out: &Path) -> Result<Vec<Step>> {
    if out.exists() && fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} is not empty; choose a new directory for the exercises",
            out.display()
        );
    }
    let steps = list_steps(root, only)?;
    fs::create_dir_all(out.join("steps"))?;

    copy_dir(
        &root.join("steps/common"),
        &out.join("steps/common"),
        &mut |_, text| Ok(text),
    )?;
    for step in &steps {
        let mut found: Vec<(String, Region)> = Vec::new();
        let source_dir = root.join("steps").join(&step.dir_name);
        let target_dir = out.join("steps").join(&step.dir_name);
        copy_dir(&source_dir, &target_dir, &mut |relative, text| {
            if !is_source(relative) {
                return Ok(text);
            }
            let shown = format!("steps/{}/{}", step.dir_name, relative.display());
            let regions = regions::find(&text, &shown)?;
            let stripped = regions::strip(&text, &regions);
            found.extend(regions.into_iter().map(|region| (shown.clone(), region)));
            Ok(stripped)
        })?;
        if found.is_empty() {
            bail!(
                "steps/{} has no solution regions, so its exercise would be solved already",
                step.dir_name
            );
        }
        fs::write(target_dir.join("README.md"), step_readme(step, &found))?;
    }

    fs::write(out.join("Cargo.toml"), workspace_manifest(root)?)?;
    fs::copy(root.join("Cargo.lock"), out.join("Cargo.lock")).context("cannot copy Cargo.lock")?;
    fs::write(out.join("README.md"), workspace_readme(&steps))?;
    Ok(steps)
}

/// Fills every solution region under `dir` from the reference steps; returns how many.
///
/// # Errors
///
/// `dir` is not a generated workspace, or a region has no counterpart in the reference.
pub fn solve_workspace(root: &Path, dir: &Path) -> Result<usize> {
    let mut filled = 0;
    for step in list_steps(dir, None)? {
        let exercise_dir = dir.join("steps").join(&step.dir_name);
        let reference_dir = root.join("steps").join(&step.dir_name);
        for relative in source_files(&exercise_dir)? {
            let exercise = fs::read_to_string(exercise_dir.join(&relative))?;
            let shown = format!("steps/{}/{}", step.dir_name, relative.display());
            let count = regions::find(&exercise, &shown)?.len();
            if count == 0 {
                continue;
            }
            let reference = fs::read_to_string(reference_dir.join(&relative))
                .with_context(|| format!("the reference has no {shown}"))?;
            fs::write(
                exercise_dir.join(&relative),
                regions::fill(&exercise, &reference, &shown)?,
            )?;
            filled += count;
        }
    }
    Ok(filled)
}

/// Renders every step's solution regions as a Markdown table, in chapter order.
///
/// The book includes this table, and CI checks that the committed copy matches the code.
pub fn regions_table(root: &Path) -> Result<String> {
    let mut table = String::from(
        "<!-- Generated by `cargo xtask regions --write`; CI checks it matches the step crates. -->\n\n\
         | step | region | file | what the learner writes |\n\
         |------|--------|------|-------------------------|\n",
    );
    for step in list_steps(root, None)? {
        let step_dir = root.join("steps").join(&step.dir_name);
        let mut files = source_files(&step_dir)?;
        files.sort();
        for relative in files {
            let source = fs::read_to_string(step_dir.join(&relative))?;
            let shown = format!("steps/{}/{}", step.dir_name, relative.display());
            for region in regions::find(&source, &shown)? {
                let _ = writeln!(
                    table,
                    "| {:02} | `{}` | `{}` | {} |",
                    step.number,
                    region.name,
                    relative.display(),
                    region.hint.replace('|', "\\|")
                );
            }
        }
    }
    Ok(table)
}

/// Builds the generated workspace's manifest from the reference one: same shared versions.
fn workspace_manifest(root: &Path) -> Result<String> {
    let text = fs::read_to_string(root.join("Cargo.toml"))?;
    let manifest: toml::Table = text.parse().context("invalid workspace Cargo.toml")?;
    let reference = manifest
        .get("workspace")
        .and_then(|w| w.as_table())
        .context("no [workspace] table")?;

    let mut workspace = toml::Table::new();
    workspace.insert("resolver".into(), "2".into());
    workspace.insert("members".into(), toml::Value::Array(vec!["steps/*".into()]));
    for key in ["package", "dependencies"] {
        if let Some(value) = reference.get(key) {
            workspace.insert(key.into(), value.clone());
        }
    }
    let mut generated = toml::Table::new();
    generated.insert("workspace".into(), toml::Value::Table(workspace));
    let body = toml::to_string(&generated).context("cannot write the exercise manifest")?;
    Ok(format!(
        "# Generated by `cargo xtask exercises`: the RustLog course exercises.\n{body}"
    ))
}

fn step_readme(step: &Step, regions: &[(String, Region)]) -> String {
    let mut text = format!("# Exercise {:02}: {}\n\n", step.number, step.dir_name);
    let _ = writeln!(
        text,
        "Each region below is a `todo!()` in the code, between a `// SOLUTION(name): hint` line and an \
         `// END SOLUTION` line. Replace the `todo!()` with your code; keep the marker lines.\n"
    );
    let _ = writeln!(
        text,
        "Check your work from the workspace root:\n\n```sh\ncargo test -p {}\n```\n",
        step.package
    );
    let _ = writeln!(
        text,
        "A failing snapshot test prints a diff between what your code wrote and the expected snapshot. \
         `cargo insta test -p {0}` then `cargo insta review` shows the same diffs side by side \
         (install with `cargo install cargo-insta`). The committed snapshots are the answer key: \
         do not accept changes to them.\n",
        step.package
    );
    let _ = writeln!(
        text,
        "The book chapter with the same number explains what each region must do.\n"
    );
    let _ = writeln!(text, "## Regions\n");
    for (file, region) in regions {
        let _ = writeln!(
            text,
            "- `{}` in `{}` (line {}): {}",
            region.name,
            file,
            region.start + 1,
            region.hint
        );
    }
    text
}

fn workspace_readme(steps: &[Step]) -> String {
    let mut text = String::from(
        "# RustLog exercises\n\nEach crate under `steps/` is one chapter of the RustLog book with the \
         interesting parts left for you to write. Start with the lowest number: each step builds on \
         the one before. Every step's README lists its regions and the command that checks them.\n\n",
    );
    for step in steps {
        let _ = writeln!(
            text,
            "- `steps/{}`: `cargo test -p {}`",
            step.dir_name, step.package
        );
    }
    text
}

fn is_source(relative: &Path) -> bool {
    relative.starts_with("src") && relative.extension().is_some_and(|ext| ext == "rs")
}

fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect_files(dir, Path::new(""), &mut files)?;
    files.retain(|relative| is_source(relative));
    Ok(files)
}

fn collect_files(dir: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir.join(relative))? {
        let entry = entry?;
        let name = entry.file_name();
        let path = relative.join(&name);
        if entry.file_type()?.is_dir() {
            if name != "target" {
                collect_files(dir, &path, files)?;
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Copies `from` to `to`, passing each UTF-8 file through `transform` (other files are copied
/// as they are). `target/` directories are skipped.
fn copy_dir(
    from: &Path,
    to: &Path,
    transform: &mut dyn FnMut(&Path, String) -> Result<String>,
) -> Result<()> {
    let mut files = Vec::new();
    collect_files(from, Path::new(""), &mut files)?;
    for relative in files {
        let destination = to.join(&relative);
        fs::create_dir_all(destination.parent().expect("a file has a parent"))?;
        let bytes = fs::read(from.join(&relative))?;
        match String::from_utf8(bytes) {
            Ok(text) => fs::write(&destination, transform(&relative, text)?)?,
            Err(error) => fs::write(&destination, error.into_bytes())?,
        }
    }
    Ok(())
}
