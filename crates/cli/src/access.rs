//! `tillit access import|export|check`: the access document and decisions, offline against the
//! configured database (like `audit verify`; a running server picks an import up within a
//! second). Exit codes: `check` 0 allowed, 1 denied; every command 2 on a usage or input error.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tillit_access::{AccessError, Amount, CheckRequest, Loa, ScopeKind, Timestamp};
use tillit_server::access::AccessServiceError;
use tillit_server::ServerError;

use crate::foundation::ConfigArg;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Import a JSON or YAML access document as the new version in force (all or nothing).
    Import {
        #[command(flatten)]
        config: ConfigArg,
        /// The document (`.json`, `.yaml` or `.yml`).
        file: PathBuf,
    },
    /// Write the document in force as JSON (to stdout, or to --out).
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Decide whether a user may exercise a right (exit 0 allowed, 1 denied).
    Check {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_name = "USER")]
        user: String,
        #[arg(long, value_name = "RIGHT")]
        right: String,
        /// organisation, person or it_system.
        #[arg(long, value_name = "KIND", requires = "scope_id", value_parser = parse_scope_kind)]
        scope_kind: Option<ScopeKind>,
        #[arg(long, value_name = "ID", requires = "scope_kind")]
        scope_id: Option<String>,
        /// The IT system the right is exercised in.
        #[arg(long, value_name = "SYSTEM")]
        it_system: Option<String>,
        #[arg(long, value_name = "AMOUNT")]
        amount: Option<Amount>,
        /// RFC 3339 or a date (default: now).
        #[arg(long, value_name = "TIME")]
        at: Option<Timestamp>,
        /// low, substantial or high.
        #[arg(long, value_name = "LEVEL", value_parser = parse_loa)]
        loa: Option<Loa>,
    },
    /// Write a generated model of the benchmark's shape (issue 9), scaled to --users (for
    /// `bench/access-http.sh`; 10 assignments, 0.2 roles and 2 rights per user).
    #[command(hide = true)]
    Generate {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Also write this many generated checks, one JSON body per line.
        #[arg(long, value_name = "FILE", requires = "count")]
        checks: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        count: usize,
    },
}

fn parse_scope_kind(s: &str) -> Result<ScopeKind, String> {
    match s {
        "organisation" => Ok(ScopeKind::Organisation),
        "person" => Ok(ScopeKind::Person),
        "it_system" => Ok(ScopeKind::ItSystem),
        _ => Err("expected organisation, person or it_system".into()),
    }
}

fn parse_loa(s: &str) -> Result<Loa, String> {
    match s {
        "low" => Ok(Loa::Low),
        "substantial" => Ok(Loa::Substantial),
        "high" => Ok(Loa::High),
        _ => Err("expected low, substantial or high".into()),
    }
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Generate {
            users,
            out,
            checks,
            count,
        } => {
            use tillit_access::generate::{generate, Params};
            let b = Params::BENCHMARK;
            let scale = |n: usize| (n * users / b.users).max(1);
            let params = Params {
                users,
                roles: scale(b.roles).max(b.depth),
                rights: scale(b.rights),
                assignments: scale(b.assignments),
                organisations: scale(b.organisations).max(10),
                ..b
            };
            let doc = generate(&params);
            std::fs::write(&out, doc.to_json()?)
                .with_context(|| format!("cannot write {}", out.display()))?;
            if let Some(path) = checks {
                let lines: Vec<String> = tillit_access::generate::checks(&doc, count, 1)
                    .iter()
                    .map(serde_json::to_string)
                    .collect::<Result<_, _>>()?;
                std::fs::write(&path, lines.join("\n") + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("wrote {} ({params:?})", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { config, file } => {
            let config = config.load()?;
            match crate::foundation::runtime()?
                .block_on(tillit_server::ops::access_import(config, &file))
            {
                Ok(imported) => {
                    let counts: Vec<String> = imported
                        .counts
                        .iter()
                        .map(|(s, n)| format!("{n} {s}"))
                        .collect();
                    println!(
                        "imported {} as access document version {} ({})",
                        file.display(),
                        imported.version.version,
                        counts.join(", ")
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(ServerError::Access(AccessServiceError::Document(AccessError::Invalid(
                    problems,
                )))) => {
                    eprintln!(
                        "{} was refused; nothing was imported ({} problem{}):",
                        file.display(),
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" }
                    );
                    for p in problems {
                        eprintln!("  {p}");
                    }
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Export { config, out } => {
            let config = config.load()?;
            let Some(json) = crate::foundation::runtime()?
                .block_on(tillit_server::ops::access_export(config))?
            else {
                eprintln!("no access document has been imported yet");
                return Ok(ExitCode::from(2));
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{json}\n"))
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!("exported to {}", path.display());
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "{json}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            config,
            user,
            right,
            scope_kind,
            scope_id,
            it_system,
            amount,
            at,
            loa,
        } => {
            let config = config.load()?;
            let mut request = CheckRequest::new(user, right);
            if let (Some(kind), Some(id)) = (scope_kind, scope_id) {
                request = request.scope(kind, id);
            }
            request.it_system = it_system;
            request.amount = amount;
            request.at = at;
            request.loa = loa;
            let decision = crate::foundation::runtime()?
                .block_on(tillit_server::ops::access_check(config, request))?;
            println!(
                "{}",
                if decision.allowed {
                    "allowed"
                } else {
                    "denied"
                }
            );
            for reason in &decision.reasons {
                println!("  {reason}");
            }
            if let Some(via) = &decision.via {
                println!(
                    "  via assignment {}, role {}, path {}",
                    via.assignment,
                    via.role,
                    via.path.join(" → ")
                );
            }
            Ok(if decision.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
