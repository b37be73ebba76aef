//! verify, issue, keys, rules, status, trust: fully offline, no server, no network.

use std::process::ExitCode;

mod batch;
mod common;
pub mod issue;
pub mod keys;
pub mod rules;
pub mod status;
pub mod trust;
pub mod verify;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Verify an attestation (HC1:, TL1:, SD-JWT VC; text, file or PNG) offline and print the step report.
    Verify(Box<verify::VerifyArgs>),
    /// Issue an attestation offline as an SD-JWT VC or a TL1: QR code.
    Issue(Box<issue::IssueArgs>),
    /// Signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Token Status Lists.
    #[command(subcommand)]
    Status(status::StatusCommand),
    /// Trust bundles.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Evaluate CertLogic expressions and DCC business rules.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Verify(args) => verify::run(*args),
        Command::Issue(args) => issue::run(*args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Status(cmd) => status::run(cmd),
        Command::Trust(cmd) => trust::run(cmd),
        Command::Rules(cmd) => rules::run(cmd),
    }
}
