//! `tillit keys generate`: a new signing key as a private JWK (with `kid`,
//! the RFC 7638 thumbprint).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tillit_crypto::{Algorithm, SigningKey};

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key; writes the private JWK (mode 0600) to --out, or prints it.
    ///
    /// With --out, the public JWK is printed so that it can be handed to verifiers
    /// (`tillit verify --cert`). An existing file is never overwritten.
    Generate {
        /// Signature algorithm.
        #[arg(long, value_enum, default_value = "ES256")]
        alg: KeyAlgorithm,
        /// Write the private JWK to this file (created with mode 0600; must not exist).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The algorithms Tillit signs with.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// ECDSA with P-256 and SHA-256 (default; what EU wallets and HCERT use).
    #[value(name = "ES256", alias = "es256")]
    Es256,
    /// Ed25519.
    #[value(name = "EdDSA", alias = "eddsa")]
    EdDsa,
}

impl From<KeyAlgorithm> for Algorithm {
    fn from(a: KeyAlgorithm) -> Self {
        match a {
            KeyAlgorithm::Es256 => Algorithm::Es256,
            KeyAlgorithm::EdDsa => Algorithm::EdDsa,
        }
    }
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Generate { alg, out } => {
            let key = SigningKey::generate(alg.into()).context("cannot generate a key")?;
            let private = serde_json::to_string_pretty(&key.to_private_jwk())?;
            match out {
                None => println!("{private}"),
                Some(path) => {
                    write_private(&path, private.as_bytes())?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&key.verifying_key().to_jwk())?
                    );
                    eprintln!("private key written to {} (mode 0600)", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Create `path` readable by its owner only and write `data`; never overwrite.
fn write_private(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "--out: cannot create {} (it must not exist yet; keys are never overwritten)",
            path.display()
        )
    })?;
    file.write_all(data)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}
