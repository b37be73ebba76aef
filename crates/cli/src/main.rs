//! The `tillit` binary: one binary, many roles (serve, verify, issue, audit, ...).
//!
//! Subcommands are grouped by area; each group lives in its own module and
//! returns the process exit code. `anyhow` is allowed here (and only here).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod access;
mod formats;
mod foundation;

/// mimalloc instead of the system allocator: verification and issuance make many small,
/// short-lived allocations (JSON and CBOR values), where glibc's malloc cost ~10% of the run
/// time (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tillit",
    version,
    about = "Tillit: a trust platform for Nordic public administration"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Server, storage, configuration and audit log.
    #[command(flatten)]
    Foundation(foundation::Command),
    /// Attestation formats: verify, issue, keys, rules, status lists, trust bundles (all offline).
    #[command(flatten)]
    Formats(formats::Command),
    /// Access management: import/export the access document, decide (offline, on the database).
    #[command(subcommand)]
    Access(access::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Foundation(cmd) => foundation::run(cmd),
        Command::Formats(cmd) => formats::run(cmd),
        Command::Access(cmd) => access::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
