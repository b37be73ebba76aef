//! Configuration: defaults → `tillit.toml` → `TILLIT_*` environment.
//!
//! Every option is listed in [`OPTIONS`] with its documentation. Secrets (`master_key`,
//! `database_url`) can also be read from a file named by `<name>_file` in the TOML file or by
//! `TILLIT_<NAME>_FILE` in the environment. Unknown keys, in the file or in the environment, are
//! an error: a typo must not silently fall back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

/// Environment variables with the `TILLIT_` prefix that are not configuration options
/// (the config file's path, and the variables of the test and interop tooling).
const NON_OPTION_ENV: &[&str] = &["TILLIT_CONFIG", "TILLIT_TESTDATA", "TILLIT_INTEROP"];
/// Prefix of environment variables reserved for tests (e.g. `TILLIT_TEST_POSTGRES_URL`).
const TEST_ENV_PREFIX: &str = "TILLIT_TEST_";

/// One documented configuration option.
pub struct OptionDoc {
    /// Key in `tillit.toml`; the environment variable is `TILLIT_` + the key in upper case.
    pub key: &'static str,
    /// Whether the value is a secret (masked by `config show`, also read from `*_FILE`).
    pub secret: bool,
    /// What the option does and its default.
    pub doc: &'static str,
}

/// Every configuration option, documented.
pub const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "listen",
        secret: false,
        doc: "Socket address the HTTP server listens on. Default 127.0.0.1:8080.",
    },
    OptionDoc {
        key: "data_dir",
        secret: false,
        doc: "Directory for the SQLite database and the generated master key. Default ./tillit-data.",
    },
    OptionDoc {
        key: "database_url",
        secret: true,
        doc: "sqlite://PATH or postgres://USER:PASSWORD@HOST/DB. Default sqlite://<data_dir>/tillit.db?mode=rwc (mode=rwc creates the file).",
    },
    OptionDoc {
        key: "master_key",
        secret: true,
        doc: "32-byte key (64 hex digits) that encrypts private keys at rest. Default: generated into <data_dir>/master.key (mode 0600) on first start.",
    },
    OptionDoc {
        key: "log_format",
        secret: false,
        doc: "text or json. Default text. The level is set with RUST_LOG (default info).",
    },
    OptionDoc {
        key: "body_limit",
        secret: false,
        doc: "Largest accepted request body in bytes. Default 1048576 (1 MiB).",
    },
    OptionDoc {
        key: "tree_head_entries",
        secret: false,
        doc: "Sign a new audit tree head after this many new entries. Default 100.",
    },
    OptionDoc {
        key: "tree_head_seconds",
        secret: false,
        doc: "Sign a new audit tree head at least this often (seconds) when there are new entries. Default 60.",
    },
    OptionDoc {
        key: "public_base_url",
        secret: false,
        doc: "The URL at which holders and verifiers reach this node (issuer ids, `vct` URLs and status-list URLs are under it), e.g. https://tillit.ankeborg.se. Default http://<listen>.",
    },
    OptionDoc {
        key: "shutdown_grace_seconds",
        secret: false,
        doc: "On SIGTERM/SIGINT, how long in-flight requests may still run (seconds) before the process exits anyway; writes already begun commit whole or not at all. Default 10.",
    },
    OptionDoc {
        key: "job_workers",
        secret: false,
        doc: "Background jobs (batch issuance, …) this process runs at a time; 0 runs none here (another `tillit serve` on the same PostgreSQL does). Default 2.",
    },
    OptionDoc {
        key: "job_lease_seconds",
        secret: false,
        doc: "How long a job stays claimed by a process that stopped renewing it (killed, stalled) before another process takes it over (seconds). Default 30.",
    },
    OptionDoc {
        key: "tls_cert_file",
        secret: false,
        doc: "PEM file with the TLS certificate chain (leaf first). With tls_key_file, `serve` speaks HTTPS only (TLS 1.2/1.3, h2 and http/1.1) and sends HSTS; SIGHUP reloads both files. Default: unset (plain HTTP, e.g. behind a TLS-terminating proxy).",
    },
    OptionDoc {
        key: "tls_key_file",
        secret: false,
        doc: "PEM file with the private key of tls_cert_file (PKCS#8, PKCS#1 or SEC1). Set both or neither. Default: unset.",
    },
];

/// Errors while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("unknown environment variable {name}: valid options are {valid}")]
    UnknownEnv { name: String, valid: String },
    #[error("invalid value for `{key}` (from {source_name}): {message}")]
    InvalidValue {
        key: &'static str,
        source_name: String,
        message: String,
    },
    #[error("cannot read secret file {path} for `{key}`: {source}")]
    ReadSecret {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{key}` is given both directly and as a file ({source_name}); give only one")]
    SecretTwice {
        key: &'static str,
        source_name: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `text` or `json`, got `{other}`")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// A secret value: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret's value. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Explicit database URL; `None` means the default SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// Explicit master key; `None` means `<data_dir>/master.key` (generated when absent).
    pub master_key: Option<Secret>,
    pub log_format: LogFormat,
    pub body_limit: usize,
    pub tree_head_entries: u64,
    pub tree_head_seconds: u64,
    /// How long in-flight requests may run after a shutdown signal.
    pub shutdown_grace_seconds: u64,
    /// The node's public URL (no trailing slash); `None` means `http(s)://<listen>`.
    pub public_base_url: Option<String>,
    /// TLS certificate chain (PEM); with `tls_key_file`, the server speaks HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key_file: Option<PathBuf>,
    /// Concurrent background-job workers in this process.
    pub job_workers: usize,
    /// Seconds a job's lease lasts without renewal.
    pub job_lease_seconds: u64,
    /// External OpenID Connect providers people may sign in with (`[[oidc_providers]]`).
    pub oidc_providers: Vec<OidcProvider>,
}

/// An external OpenID Connect provider (a `[[oidc_providers]]` table of `tillit.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// Short name, used in the sign-in URL `/v1/login/oidc/{id}`.
    pub id: String,
    /// The issuer (its discovery document is `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// Tillit's client id at the provider.
    pub client_id: String,
    /// Tillit's client secret at the provider (`client_secret_basic`).
    pub client_secret: Secret,
    /// Scopes asked for; default `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// `acr_values` to send with the authorization request (space-separated, most wanted
    /// first), e.g. the NSIS level URIs; none by default.
    #[serde(default)]
    pub acr_values: Option<String>,
    /// The id_token claim whose value is the access-model user id; default `sub`.
    #[serde(default = "default_match_claim")]
    pub match_claim: String,
    /// Level (`low`, `substantial`, `high`) of a login whose `acr` is absent or unknown; default
    /// `low`.
    #[serde(default = "default_low")]
    pub default_loa: tillit_core::Loa,
    /// The federation's strength (FAL) as the provider is certified; default `substantial`.
    #[serde(default = "default_substantial")]
    pub fal: tillit_core::Loa,
    /// Add a person and user to the access model at their first login when no user matches;
    /// default false (then an unknown person is refused).
    #[serde(default)]
    pub provision: bool,
}

fn default_scopes() -> String {
    "openid".into()
}
fn default_match_claim() -> String {
    "sub".into()
}
fn default_low() -> tillit_core::Loa {
    tillit_core::Loa::Low
}
fn default_substantial() -> tillit_core::Loa {
    tillit_core::Loa::Substantial
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./tillit-data"),
            database_url: None,
            master_key: None,
            log_format: LogFormat::Text,
            body_limit: 1024 * 1024,
            tree_head_entries: 100,
            tree_head_seconds: 60,
            shutdown_grace_seconds: 10,
            public_base_url: None,
            oidc_providers: Vec::new(),
            job_workers: 2,
            job_lease_seconds: 30,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// The TOML file: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    master_key: Option<String>,
    master_key_file: Option<PathBuf>,
    log_format: Option<String>,
    body_limit: Option<u64>,
    tree_head_entries: Option<u64>,
    tree_head_seconds: Option<u64>,
    shutdown_grace_seconds: Option<u64>,
    public_base_url: Option<String>,
    #[serde(default)]
    oidc_providers: Vec<OidcProvider>,
    job_workers: Option<u64>,
    job_lease_seconds: Option<u64>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
}

impl Config {
    /// Loads the configuration from the process environment: the file is `path`, else
    /// `TILLIT_CONFIG`, else `./tillit.toml` when it exists.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(path, &env)
    }

    /// Loads the configuration with an explicit environment (for tests).
    pub fn load_from(path: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let env_path = env
            .iter()
            .find(|(k, _)| k == "TILLIT_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let file_path = match (path, env_path) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(p)) => Some(p),
            (None, None) => {
                let default = PathBuf::from("tillit.toml");
                default.exists().then_some(default)
            }
        };
        let mut config = Config::default();
        if let Some(path) = file_path {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
                path: path.clone(),
                source,
            })?;
            let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            config.apply_file(file, &path)?;
        }
        config.apply_env(env)?;
        if config.tls_cert_file.is_some() != config.tls_key_file.is_some() {
            let key = if config.tls_cert_file.is_some() {
                "tls_key_file"
            } else {
                "tls_cert_file"
            };
            return Err(ConfigError::InvalidValue {
                key,
                source_name: "the configuration".into(),
                message: "set both tls_cert_file and tls_key_file, or neither".into(),
            });
        }
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig, path: &Path) -> Result<(), ConfigError> {
        let src = path.display().to_string();
        if let Some(v) = file.listen {
            self.set("listen", &v, &src)?;
        }
        if let Some(v) = file.data_dir {
            self.data_dir = v;
        }
        self.database_url = secret_from(
            "database_url",
            file.database_url,
            file.database_url_file,
            &src,
        )?
        .or(self.database_url.take());
        self.master_key = secret_from("master_key", file.master_key, file.master_key_file, &src)?
            .or(self.master_key.take());
        if let Some(v) = file.log_format {
            self.set("log_format", &v, &src)?;
        }
        if let Some(v) = file.body_limit {
            self.set("body_limit", &v.to_string(), &src)?;
        }
        if let Some(v) = file.tree_head_entries {
            self.set("tree_head_entries", &v.to_string(), &src)?;
        }
        if let Some(v) = file.tree_head_seconds {
            self.set("tree_head_seconds", &v.to_string(), &src)?;
        }
        if let Some(v) = file.public_base_url {
            self.set("public_base_url", &v, &src)?;
        }
        if let Some(v) = file.shutdown_grace_seconds {
            self.set("shutdown_grace_seconds", &v.to_string(), &src)?;
        }
        for p in &file.oidc_providers {
            let ok = (1..=40).contains(&p.id.len())
                && p.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(ConfigError::ParseFile {
                    path: path.to_path_buf(),
                    message: format!(
                        "oidc_providers: id {:?} must be 1-40 letters, digits, `-` or `_`",
                        p.id
                    ),
                });
            }
        }
        self.oidc_providers = file.oidc_providers;
        if let Some(v) = file.job_workers {
            self.set("job_workers", &v.to_string(), &src)?;
        }
        if let Some(v) = file.job_lease_seconds {
            self.set("job_lease_seconds", &v.to_string(), &src)?;
        }
        if let Some(v) = file.tls_cert_file {
            self.set("tls_cert_file", &v.display().to_string(), &src)?;
        }
        if let Some(v) = file.tls_key_file {
            self.set("tls_key_file", &v.display().to_string(), &src)?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &[(String, String)]) -> Result<(), ConfigError> {
        // Sorted, so that errors are deterministic.
        let vars: BTreeMap<&str, &str> = env
            .iter()
            .filter(|(k, _)| k.starts_with("TILLIT_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut direct: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        let mut files: BTreeMap<&'static str, (String, PathBuf)> = BTreeMap::new();
        for (name, value) in vars {
            if NON_OPTION_ENV.contains(&name) || name.starts_with(TEST_ENV_PREFIX) {
                continue;
            }
            let key = name.trim_start_matches("TILLIT_").to_ascii_lowercase();
            if let Some(opt) = OPTIONS.iter().find(|o| o.key == key) {
                direct.insert(opt.key, (name.to_string(), value.to_string()));
                continue;
            }
            let secret_file = key
                .strip_suffix("_file")
                .and_then(|base| OPTIONS.iter().find(|o| o.secret && o.key == base));
            match secret_file {
                Some(opt) => {
                    files.insert(opt.key, (name.to_string(), PathBuf::from(value)));
                }
                None => {
                    return Err(ConfigError::UnknownEnv {
                        name: name.to_string(),
                        valid: valid_env_names(),
                    })
                }
            }
        }
        for (key, (name, path)) in files {
            if direct.contains_key(key) {
                return Err(ConfigError::SecretTwice {
                    key,
                    source_name: name,
                });
            }
            let value = read_secret(key, &path)?;
            direct.insert(key, (name, value));
        }
        for (key, (name, value)) in direct {
            self.set(key, &value, &name)?;
        }
        Ok(())
    }

    /// Sets one option from its textual value.
    fn set(
        &mut self,
        key: &'static str,
        value: &str,
        source_name: &str,
    ) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::InvalidValue {
            key,
            source_name: source_name.to_string(),
            message,
        };
        match key {
            "listen" => {
                self.listen = value.parse().map_err(|_| {
                    invalid(format!(
                        "expected HOST:PORT such as 127.0.0.1:8080, got `{value}`"
                    ))
                })?;
            }
            "data_dir" => self.data_dir = PathBuf::from(value),
            "database_url" => {
                if !tillit_store::supports_url(value) {
                    return Err(invalid(
                        "expected a URL starting with sqlite:// or postgres://".into(),
                    ));
                }
                self.database_url = Some(Secret::new(value));
            }
            "master_key" => {
                parse_master_key(value).map_err(invalid)?;
                self.master_key = Some(Secret::new(value));
            }
            "log_format" => self.log_format = value.parse().map_err(invalid)?,
            "body_limit" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| invalid(format!("expected a number of bytes, got `{value}`")))?;
                if n == 0 {
                    return Err(invalid("must be greater than 0".into()));
                }
                self.body_limit = n;
            }
            "tree_head_entries" | "tree_head_seconds" => {
                let n: u64 = value.parse().map_err(|_| {
                    invalid(format!("expected a positive whole number, got `{value}`"))
                })?;
                if n == 0 {
                    return Err(invalid("must be greater than 0".into()));
                }
                if key == "tree_head_entries" {
                    self.tree_head_entries = n;
                } else {
                    self.tree_head_seconds = n;
                }
            }
            "public_base_url" => {
                let url = value.trim_end_matches('/');
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains(['?', '#', ' '])) {
                    return Err(invalid(format!(
                        "expected an http:// or https:// URL without query, such as https://tillit.ankeborg.se, got `{value}`"
                    )));
                }
                self.public_base_url = Some(url.to_string());
            }
            "shutdown_grace_seconds" => {
                // 0 is allowed: stop at once, abandoning in-flight requests.
                self.shutdown_grace_seconds = value.parse().map_err(|_| {
                    invalid(format!("expected a whole number of seconds, got `{value}`"))
                })?;
            }
            "job_workers" => {
                let n: usize = value.parse().map_err(|_| {
                    invalid(format!("expected a whole number of workers, got `{value}`"))
                })?;
                if n > 64 {
                    return Err(invalid("at most 64 workers".into()));
                }
                self.job_workers = n;
            }
            "job_lease_seconds" => {
                let n: u64 = value.parse().map_err(|_| {
                    invalid(format!("expected a whole number of seconds, got `{value}`"))
                })?;
                if !(1..=3600).contains(&n) {
                    return Err(invalid("must be 1 to 3600 seconds".into()));
                }
                self.job_lease_seconds = n;
            }
            "tls_cert_file" | "tls_key_file" => {
                if value.is_empty() {
                    return Err(invalid("expected the path of a PEM file".into()));
                }
                let path = Some(PathBuf::from(value));
                if key == "tls_cert_file" {
                    self.tls_cert_file = path;
                } else {
                    self.tls_key_file = path;
                }
            }
            _ => return Err(invalid("unknown option".into())),
        }
        Ok(())
    }

    /// The database URL in effect.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tillit.db").display()
            ),
        }
    }

    /// The node's public URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen))
    }

    /// Whether `serve` terminates TLS itself (both `tls_cert_file` and `tls_key_file` set).
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_file.is_some() && self.tls_key_file.is_some()
    }

    /// Path of the generated master key file (used when `master_key` is not configured).
    pub fn master_key_path(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    /// The effective configuration as TOML, with secrets masked, each option preceded by its
    /// documentation.
    pub fn to_masked_toml(&self) -> String {
        let mut out = String::from("# Effective Tillit configuration (secrets masked)\n");
        for opt in OPTIONS {
            let value = match opt.key {
                "listen" => toml_str(&self.listen.to_string()),
                "data_dir" => toml_str(&self.data_dir.display().to_string()),
                "database_url" => {
                    toml_str(&tillit_store::redact_url(&self.effective_database_url()))
                }
                "master_key" => match &self.master_key {
                    Some(_) => toml_str("********"),
                    None => {
                        out.push_str(&format!("# {}\n", opt.doc));
                        out.push_str(&format!(
                            "# master_key is read from {}\n\n",
                            self.master_key_path().display()
                        ));
                        continue;
                    }
                },
                "log_format" => toml_str(&self.log_format.to_string()),
                "body_limit" => self.body_limit.to_string(),
                "tree_head_entries" => self.tree_head_entries.to_string(),
                "shutdown_grace_seconds" => self.shutdown_grace_seconds.to_string(),
                "public_base_url" => toml_str(&self.base_url()),
                "tree_head_seconds" => self.tree_head_seconds.to_string(),
                "job_workers" => self.job_workers.to_string(),
                "job_lease_seconds" => self.job_lease_seconds.to_string(),
                "tls_cert_file" | "tls_key_file" => {
                    let path = if opt.key == "tls_cert_file" {
                        &self.tls_cert_file
                    } else {
                        &self.tls_key_file
                    };
                    match path {
                        Some(p) => toml_str(&p.display().to_string()),
                        None => {
                            out.push_str(&format!("# {}\n# {} is not set\n\n", opt.doc, opt.key));
                            continue;
                        }
                    }
                }
                _ => continue,
            };
            out.push_str(&format!("# {}\n{} = {}\n\n", opt.doc, opt.key, value));
        }
        for p in &self.oidc_providers {
            out.push_str(&format!(
                "[[oidc_providers]]\nid = {}\nissuer = {}\nclient_id = {}\nclient_secret = {}\nscopes = {}\nacr_values = {}\nmatch_claim = {}\ndefault_loa = {}\nfal = {}\nprovision = {}\n\n",
                toml_str(&p.id),
                toml_str(&p.issuer),
                toml_str(&p.client_id),
                toml_str("********"),
                toml_str(&p.scopes),
                toml_str(p.acr_values.as_deref().unwrap_or("")),
                toml_str(&p.match_claim),
                toml_str(p.default_loa.as_str()),
                toml_str(p.fal.as_str()),
                p.provision
            ));
        }
        out
    }
}

fn valid_env_names() -> String {
    let mut names: Vec<String> = OPTIONS
        .iter()
        .map(|o| format!("TILLIT_{}", o.key.to_ascii_uppercase()))
        .collect();
    names.extend(
        OPTIONS
            .iter()
            .filter(|o| o.secret)
            .map(|o| format!("TILLIT_{}_FILE", o.key.to_ascii_uppercase())),
    );
    names.extend(NON_OPTION_ENV.iter().map(|s| s.to_string()));
    names.join(", ")
}

fn secret_from(
    key: &'static str,
    direct: Option<String>,
    file: Option<PathBuf>,
    src: &str,
) -> Result<Option<Secret>, ConfigError> {
    match (direct, file) {
        (Some(_), Some(_)) => Err(ConfigError::SecretTwice {
            key,
            source_name: src.to_string(),
        }),
        (Some(v), None) => Ok(Some(checked_secret(key, v, src)?)),
        (None, Some(path)) => Ok(Some(checked_secret(key, read_secret(key, &path)?, src)?)),
        (None, None) => Ok(None),
    }
}

fn checked_secret(key: &'static str, value: String, src: &str) -> Result<Secret, ConfigError> {
    let mut probe = Config::default();
    probe.set(key, &value, src)?;
    Ok(Secret::new(value))
}

fn read_secret(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadSecret {
        key,
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Parses a master key: 64 hex digits.
pub fn parse_master_key(value: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(value.trim())
        .map_err(|_| "expected 64 hexadecimal digits (32 bytes)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "expected 32 bytes (64 hex digits), got {} bytes",
            bytes.len()
        )
    })
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_file_or_env() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        // An explicit path that does not exist is an error; no path and no env means defaults.
        assert!(Config::load_from(Some(&missing), &[]).is_err());
        let c = Config::load_from(None, &env(&[("TILLIT_TESTDATA", "/x")])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.effective_database_url(),
            "sqlite://./tillit-data/tillit.db?mode=rwc"
        );
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of (file, env, expected) cases
    fn layering_and_errors_table() {
        let dir = tempfile::tempdir().unwrap();
        let key = "ab".repeat(32);
        let key_file = dir.path().join("mk");
        std::fs::write(&key_file, format!("{key}\n")).unwrap();
        let key_file = key_file.display().to_string();
        // (file contents, env, expected Ok(listen) or Err(substring))
        let cases: Vec<(&str, Vec<(&str, &str)>, Result<&str, &str>)> = vec![
            ("", vec![], Ok("127.0.0.1:8080")),
            ("listen = \"0.0.0.0:9000\"", vec![], Ok("0.0.0.0:9000")),
            (
                "listen = \"0.0.0.0:9000\"",
                vec![("TILLIT_LISTEN", "127.0.0.1:1")],
                Ok("127.0.0.1:1"),
            ),
            ("lisen = \"x\"", vec![], Err("unknown field `lisen`")),
            (
                "",
                vec![("TILLIT_LISTN", "x")],
                Err("unknown environment variable TILLIT_LISTN"),
            ),
            (
                "",
                vec![("TILLIT_LISTEN", "nope")],
                Err("expected HOST:PORT"),
            ),
            (
                "log_format = \"xml\"",
                vec![],
                Err("expected `text` or `json`"),
            ),
            (
                "",
                vec![("TILLIT_MASTER_KEY", "abc")],
                Err("64 hexadecimal digits"),
            ),
            (
                "",
                vec![("TILLIT_MASTER_KEY_FILE", key_file.as_str())],
                Ok("127.0.0.1:8080"),
            ),
            (
                "",
                vec![
                    ("TILLIT_MASTER_KEY_FILE", key_file.as_str()),
                    ("TILLIT_MASTER_KEY", key.as_str()),
                ],
                Err("both directly and as a file"),
            ),
            (
                "",
                vec![("TILLIT_DATABASE_URL", "mysql://x")],
                Err("sqlite:// or postgres://"),
            ),
            ("", vec![("TILLIT_BODY_LIMIT", "0")], Err("greater than 0")),
            (
                "",
                vec![("TILLIT_TEST_POSTGRES_URL", "postgres://x")],
                Ok("127.0.0.1:8080"),
            ),
        ];
        for (i, (file, vars, expected)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("c{i}.toml"));
            std::fs::write(&path, file).unwrap();
            let got = Config::load_from(Some(&path), &env(&vars));
            match (got, expected) {
                (Ok(c), Ok(listen)) => assert_eq!(c.listen.to_string(), listen, "case {i}"),
                (Err(e), Err(msg)) => {
                    assert!(e.to_string().contains(msg), "case {i}: {e} lacks {msg}")
                }
                (got, expected) => panic!("case {i}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn show_masks_secrets() {
        let c = Config {
            master_key: Some(Secret::new("cd".repeat(32))),
            database_url: Some(Secret::new("postgres://tillit:hunter2@db:5432/tillit")),
            ..Config::default()
        };
        let shown = c.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&"cd".repeat(32)), "{shown}");
        assert!(shown.contains("postgres://tillit:********@db:5432/tillit"));
        assert!(shown.contains("master_key = \"********\""));
        // The output is itself a valid configuration file (modulo masked secrets).
        let parsed: toml::Table = toml::from_str(&shown).unwrap();
        assert_eq!(parsed["listen"].as_str(), Some("127.0.0.1:8080"));
    }
}
