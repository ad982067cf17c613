//! Test helpers shared by the step crates.
