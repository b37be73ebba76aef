//! verify, issue, keys, rules, status, trust: fully offline, no server, no network.

use std::process::ExitCode;

pub mod rules;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Evaluate CertLogic expressions and DCC business rules.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Rules(cmd) => rules::run(cmd),
    }
}
