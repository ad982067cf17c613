//! Solution regions: the parts of a step crate a learner writes in the exercise version.
//!
//! A region is a run of whole lines inside a function body, between two marker comments:
//!
//! ```text
//!     // SOLUTION(append): Encode the record, write it at the end of the file, then sync.
//!     let frame = encode(record);
//!     self.file.write_all(&frame)?;
//!     self.file.sync_data()?;
//!     // END SOLUTION
//! ```
//!
//! The name identifies the region (unique within a step), and the text after the colon is the
//! hint a learner sees. The exercise keeps both marker lines and puts `todo!()` between them, so
//! `solve` can later find each region again and restore the reference lines.

use anyhow::{bail, Result};

/// The opening marker, after indentation.
pub const START: &str = "// SOLUTION(";
/// The closing marker, after indentation.
pub const END: &str = "// END SOLUTION";

/// One solution region in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Unique name within the step, such as `append`.
    pub name: String,
    /// What the learner should implement.
    pub hint: String,
    /// Line index (from 0) of the opening marker.
    pub start: usize,
    /// Line index of the closing marker.
    pub end: usize,
    /// Indentation of the opening marker, reused for the `todo!()` line.
    pub indent: String,
}

/// Finds every region in `source`; `file` names the file in errors.
///
/// # Errors
///
/// A marker without its partner, a nested marker, a malformed opening line or an empty region.
pub fn find(source: &str, file: &str) -> Result<Vec<Region>> {
    let mut regions = Vec::new();
    let mut open: Option<Region> = None;

    for (number, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(START) {
            if let Some(region) = &open {
                bail!(
                    "{file}:{}: region `{}` is still open; regions cannot nest",
                    number + 1,
                    region.name
                );
            }
            let Some((name, hint)) = rest.split_once("):") else {
                bail!(
                    "{file}:{}: expected `// SOLUTION(name): hint`, found `{trimmed}`",
                    number + 1
                );
            };
            let indent = line[..line.len() - trimmed.len()].to_owned();
            open = Some(Region {
                name: name.trim().to_owned(),
                hint: hint.trim().to_owned(),
                start: number,
                end: 0,
                indent,
            });
        } else if trimmed.starts_with(END) {
            let Some(mut region) = open.take() else {
                bail!(
                    "{file}:{}: `{END}` without an opening `// SOLUTION(name): hint`",
                    number + 1
                );
            };
            if number == region.start + 1 {
                bail!("{file}:{}: region `{}` is empty", number + 1, region.name);
            }
            region.end = number;
            regions.push(region);
        }
    }
    if let Some(region) = open {
        bail!(
            "{file}:{}: region `{}` has no `{END}`",
            region.start + 1,
            region.name
        );
    }
    Ok(regions)
}

/// Returns `source` with the body of every region replaced by a `todo!()` naming it.
pub fn strip(source: &str, regions: &[Region]) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::with_capacity(source.len());
    let mut next_line = 0;
    for region in regions {
        push_lines(&mut out, &lines[next_line..=region.start]);
        out.push_str(&format!("{}todo!(\"{}\")\n", region.indent, region.name));
        next_line = region.end;
    }
    push_lines(&mut out, &lines[next_line..]);
    out
}

/// Returns `exercise` with each region's body taken from `reference`, matched by name.
///
/// # Errors
///
/// A region of the exercise that the reference does not have.
pub fn fill(exercise: &str, reference: &str, file: &str) -> Result<String> {
    let wanted = find(exercise, file)?;
    let solutions = find(reference, file)?;
    let reference_lines: Vec<&str> = reference.lines().collect();
    let lines: Vec<&str> = exercise.lines().collect();

    let mut out = String::with_capacity(reference.len());
    let mut next_line = 0;
    for region in &wanted {
        let Some(solution) = solutions
            .iter()
            .find(|solution| solution.name == region.name)
        else {
            bail!("{file}: the reference has no region `{}`", region.name);
        };
        push_lines(&mut out, &lines[next_line..=region.start]);
        push_lines(&mut out, &reference_lines[solution.start + 1..solution.end]);
        next_line = region.end;
    }
    push_lines(&mut out, &lines[next_line..]);
    Ok(out)
}

fn push_lines(out: &mut String, lines: &[&str]) {
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = "\
fn append(x: u32) -> u32 {
    // SOLUTION(append): Add one.
    let y = x + 1;
    y
    // END SOLUTION
}

fn roll() -> bool {
    // SOLUTION(roll): Decide.
    true
    // END SOLUTION
}
";

    #[test]
    fn find_reads_names_hints_and_lines() {
        let regions = find(REFERENCE, "lib.rs").unwrap();
        assert_eq!(regions.len(), 2);
        assert_eq!(regions[0].name, "append");
        assert_eq!(regions[0].hint, "Add one.");
        assert_eq!((regions[0].start, regions[0].end), (1, 4));
        assert_eq!(regions[1].name, "roll");
        assert_eq!(regions[1].indent, "    ");
    }

    #[test]
    fn strip_leaves_markers_and_todo() {
        let stripped = strip(REFERENCE, &find(REFERENCE, "lib.rs").unwrap());
        assert!(stripped.contains(
            "    // SOLUTION(append): Add one.\n    todo!(\"append\")\n    // END SOLUTION\n"
        ));
        assert!(!stripped.contains("x + 1"));
        assert!(!stripped.contains("    true\n"));
    }

    #[test]
    fn fill_restores_reference() {
        let stripped = strip(REFERENCE, &find(REFERENCE, "lib.rs").unwrap());
        assert_eq!(fill(&stripped, REFERENCE, "lib.rs").unwrap(), REFERENCE);
    }

    #[test]
    fn malformed_markers_are_errors() {
        let unclosed = "// SOLUTION(a): hint\nx\n";
        assert!(find(unclosed, "f.rs")
            .unwrap_err()
            .to_string()
            .contains("has no"));
        let stray_end = "x\n// END SOLUTION\n";
        assert!(find(stray_end, "f.rs")
            .unwrap_err()
            .to_string()
            .contains("without an opening"));
        let nested = "// SOLUTION(a): h\n// SOLUTION(b): h\nx\n// END SOLUTION\n";
        assert!(find(nested, "f.rs")
            .unwrap_err()
            .to_string()
            .contains("cannot nest"));
        let empty = "// SOLUTION(a): h\n// END SOLUTION\n";
        assert!(find(empty, "f.rs")
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        let no_hint = "// SOLUTION(a)\nx\n// END SOLUTION\n";
        assert!(find(no_hint, "f.rs")
            .unwrap_err()
            .to_string()
            .contains("expected"));
    }
}
