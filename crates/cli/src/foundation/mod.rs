//! serve, healthcheck, config show, admin bootstrap, audit export|verify, backup, demo.
//!
//! Each command is a thin shell over `tillit_server` (configuration, start-up, operations); this
//! module only parses arguments, prints and chooses the exit code.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tillit_server::ops::{AuditVerdict, BackupOutcome};
use tillit_server::Config;

mod demo;

/// Where the configuration comes from.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// Configuration file (default: $TILLIT_CONFIG, else ./tillit.toml when present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        Ok(Config::load(self.config.as_deref())?)
    }
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run the HTTP server (creates ./tillit-data with database and master key on first start).
    Serve(ConfigArg),
    /// Check that the server at the configured address answers /healthz (exit 0 or 1).
    Healthcheck {
        #[command(flatten)]
        config: ConfigArg,
        /// Address to check instead of the configured `listen`.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<SocketAddr>,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Fill the data folder with the demo municipality Ankeborg: a parking-permit type, three
    /// permits (one revoked), a printable card; and say how to verify them.
    Demo {
        #[command(flatten)]
        config: ConfigArg,
        /// Where to write the permits, the card and the issuer's keys.
        #[arg(long, value_name = "DIR", default_value = "tillit-demo")]
        out: PathBuf,
    },
    /// Write a consistent copy of the (running) SQLite database.
    Backup {
        #[command(flatten)]
        config: ConfigArg,
        /// The backup file to create (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets masked.
    Show(ConfigArg),
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Create a super-admin API token and print it once.
    Bootstrap(ConfigArg),
    /// Create an API token that acts as one user of the access model (it may do what the model
    /// allows that user in the IT system `tillit`), and print it once.
    Token {
        #[command(flatten)]
        config: ConfigArg,
        /// The access-model user id, e.g. `ankeborg-caseworker`.
        #[arg(long)]
        user: String,
        /// A label for people.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Export the log as JSON lines (entries, tree heads, a fresh closing signed tree head).
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify the live database's log (hash chain, tree heads), or an export with --export.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// Verify this export file instead of the database.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// Trust this audit public key (a JWK or JWKS file) for --export, instead of the keys
        /// in the configured database.
        #[arg(long, value_name = "FILE", requires = "export")]
        key: Option<PathBuf>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Config(ConfigCommand::Show(c)) => {
            print!("{}", c.load()?.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { config, out } => {
            demo::run(config.load()?, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { config, addr } => {
            let addr = match addr {
                Some(a) => a,
                None => config.load()?.listen,
            };
            match healthcheck(addr) {
                Ok(()) => {
                    println!("ok: http://{addr}/healthz");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("unhealthy: http://{addr}/healthz: {e:#}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Serve(c) => {
            let config = c.load()?;
            runtime()?.block_on(serve(config))
        }
        Command::Admin(AdminCommand::Bootstrap(c)) => {
            let config = c.load()?;
            let secret = runtime()?.block_on(tillit_server::ops::bootstrap_admin(config))?;
            println!(
                "Created a super-admin API token. It is shown only this once:\n\n  {secret}\n"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(AdminCommand::Token { config, user, name }) => {
            let config = config.load()?;
            let secret =
                runtime()?.block_on(tillit_server::ops::create_user_token(config, &user, &name))?;
            println!("Created an API token acting as user {user}. It is shown only this once:\n\n  {secret}\n");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { config, out } => {
            let config = config.load()?;
            match runtime()?.block_on(tillit_server::ops::backup(config, &out))? {
                BackupOutcome::Written => {
                    println!("backup written to {}", out.display());
                    Ok(ExitCode::SUCCESS)
                }
                BackupOutcome::UsePgDump => {
                    eprintln!(
                        "the database is PostgreSQL: back it up with `pg_dump --format=custom \
                         --file=tillit.dump <database_url>` (and restore with pg_restore)"
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Audit(AuditCommand::Export { config, out }) => {
            let config = config.load()?;
            let summary = runtime()?.block_on(tillit_server::ops::export_audit(config, &out))?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify {
            config,
            export,
            key,
        }) => {
            let config = config.load()?;
            let keys = key.map(|k| read_jwks(&k)).transpose()?;
            let verdict = match export {
                Some(file) => runtime()?
                    .block_on(tillit_server::ops::verify_export_file(config, &file, keys))?,
                None => runtime()?.block_on(tillit_server::ops::verify_live(config))?,
            };
            Ok(report(verdict))
        }
    }
}

fn report(verdict: AuditVerdict) -> ExitCode {
    match verdict {
        AuditVerdict::Intact(summary) => {
            println!("intact: {summary}");
            ExitCode::SUCCESS
        }
        AuditVerdict::Broken(problem) => {
            eprintln!("audit log NOT intact: {problem}");
            ExitCode::from(1)
        }
    }
}

/// Reads a JWK or a JWKS (`{"keys": [...]}`) file.
fn read_jwks(path: &std::path::Path) -> anyhow::Result<Vec<tillit_crypto::Jwk>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let keys = match value.get("keys") {
        Some(keys) => serde_json::from_value(keys.clone()),
        None => serde_json::from_value(value).map(|k| vec![k]),
    };
    keys.with_context(|| format!("{} is not a JWK or JWKS", path.display()))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    tillit_server::runtime::init_logging(config.log_format);
    let data_dir = config.data_dir.clone();
    tillit_server::serve(config, |server| {
        let mut out = std::io::stdout().lock();
        let scheme = if server.tls.is_some() { "https" } else { "http" };
        let _ = writeln!(out, "Tillit listening on {scheme}://{}", server.addr);
        let _ = writeln!(out, "Data directory: {}", data_dir.display());
        if let Some(token) = &server.bootstrap_token {
            let _ = writeln!(
                out,
                "Created the first super-admin API token. It is shown only this once:\n\n  {token}\n"
            );
        }
        let _ = out.flush();
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// GET /healthz over plain HTTP/1.1; Ok when the status is 200.
fn healthcheck(addr: SocketAddr) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).context("cannot connect")?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        anyhow::bail!("unexpected answer {status_line:?}")
    }
}
