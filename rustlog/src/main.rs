//! The `rustlog` command: the broker (`serve`) and its command-line clients.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
