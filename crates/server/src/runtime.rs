//! Start-up and shutdown: logging, master key, database, bootstrap token, audit key, the
//! tree-head job, the job workers and the HTTP listener with graceful shutdown.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tillit_store::{ApiTokenRepo, Scope, Store, StoreError};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::{parse_master_key, Config, LogFormat};
use crate::keys::{KeyError, KeyService, AUDIT_KEY_PURPOSE};
use crate::metrics::Metrics;
use crate::state::AppState;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("master key in {path} is invalid: {message}")]
    MasterKey { path: String, message: String },
    #[error("the HTTP server failed: {0}")]
    Http(String),
    #[error("audit log: {0}")]
    Audit(String),
    #[error(transparent)]
    Access(#[from] crate::access::AccessServiceError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Io { context, source }
}

/// Installs the global `tracing` subscriber (text or JSON; level from `RUST_LOG`, default
/// `info`). Calling it twice is harmless.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The master key: from the configuration, else `<data_dir>/master.key`, generated with mode
/// 0600 when absent.
pub fn load_or_create_master_key(config: &Config) -> Result<[u8; 32], ServerError> {
    if let Some(secret) = &config.master_key {
        return parse_master_key(secret.expose()).map_err(|message| ServerError::MasterKey {
            path: "configuration".into(),
            message,
        });
    }
    let path = config.master_key_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_master_key(text.trim()).map_err(|message| ServerError::MasterKey {
            path: path.display().to_string(),
            message,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&config.data_dir).map_err(io(format!(
                "cannot create data directory {}",
                config.data_dir.display()
            )))?;
            let key = tillit_crypto::random_bytes::<32>();
            write_new_secret_file(&path, &format!("{}\n", hex::encode(key)))?;
            tracing::info!(path = %path.display(), "generated a new master key");
            Ok(key)
        }
        Err(e) => Err(ServerError::Io {
            context: format!("cannot read master key {}", path.display()),
            source: e,
        }),
    }
}

/// Creates `path` (failing if it exists) readable only by the owner, writes and syncs it.
fn write_new_secret_file(path: &Path, contents: &str) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let context = format!("cannot write master key {}", path.display());
    let mut file = options.open(path).map_err(io(context.clone()))?;
    file.write_all(contents.as_bytes())
        .map_err(io(context.clone()))?;
    file.sync_all().map_err(io(context))?;
    Ok(())
}

/// Opens (and migrates) the configured database; creates the data directory for the default
/// SQLite file.
pub async fn open_store(config: &Config) -> Result<Store, ServerError> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(io(format!(
            "cannot create data directory {}",
            config.data_dir.display()
        )))?;
    }
    Ok(Store::connect(&config.effective_database_url()).await?)
}

/// Creates a super-admin token when the database has none; returns its secret.
pub async fn bootstrap_if_empty(store: &Store) -> Result<Option<String>, ServerError> {
    if store.count_api_tokens().await? > 0 {
        return Ok(None);
    }
    let secret =
        crate::auth::create_super_admin_token(store, "bootstrap", "system:bootstrap").await?;
    Ok(Some(secret))
}

/// The application state for a configuration: opens the store, loads the master key, ensures
/// the audit key.
pub async fn prepare(config: Config) -> Result<AppState, ServerError> {
    let master_key = load_or_create_master_key(&config)?;
    let store = open_store(&config).await?;
    let keys = KeyService::new(store.clone(), master_key);
    keys.ensure(
        Scope::Installation,
        AUDIT_KEY_PURPOSE,
        "system:startup",
        Utc::now(),
    )
    .await?;
    Ok(AppState {
        config: Arc::new(config),
        store,
        metrics: Metrics::default(),
        keys,
        audit_written: Arc::new(Notify::new()),
        access: crate::access::AccessCache::default(),
        tokens: crate::auth::TokenCache::default(),
        oidc: crate::oidc::OidcCache::default(),
    })
}

/// A running server.
pub struct RunningServer {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// The secret of the super-admin token created on this start (first start only).
    pub bootstrap_token: Option<String>,
    /// The state (store, keys) it runs with.
    pub state: AppState,
    /// The certificate in use when the server speaks HTTPS.
    pub tls: Option<Arc<crate::tls::Tls>>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<Result<(), std::io::Error>>,
    jobs: JoinHandle<()>,
    workers: JoinHandle<()>,
}

/// How long the tree-head job may take to sign its final head, and the store to close its
/// connections, once the HTTP server has stopped (or its grace period ran out).
const STOP_STEP_BOUND: Duration = Duration::from_secs(5);

impl RunningServer {
    /// Asks the server to stop accepting connections; [`RunningServer::stop`] then waits.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Reads the TLS certificate and key files again (SIGHUP): new handshakes use them. A pair
    /// that does not load is logged and the one in use stays.
    pub fn reload_tls(&self) {
        match &self.tls {
            None => tracing::info!("SIGHUP: TLS is not configured, nothing to reload"),
            Some(tls) => match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: keeping the TLS certificate in use")
                }
            },
        }
    }

    /// Stops the server, bounded in time: it stops accepting, lets in-flight requests finish for
    /// at most `shutdown_grace_seconds`, then abandons those still running (a write already begun
    /// still commits whole or not at all: the store runs it in a task of its own), lets the
    /// tree-head job sign what is pending and closes the store — each bounded, so that neither a
    /// hung client nor a stuck background job can keep the process alive.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        self.shutdown();
        let grace = Duration::from_secs(self.state.config.shutdown_grace_seconds);
        let http = match tokio::time::timeout(grace, &mut self.http).await {
            Ok(joined) => Some(joined),
            Err(_) => {
                tracing::warn!(
                    grace_seconds = grace.as_secs(),
                    "shutdown grace period over: abandoning requests still in flight"
                );
                self.http.abort();
                None
            }
        };
        // The job workers stop their handlers at the next step and release their jobs; one that
        // does not stop in time is abandoned, and its lease runs out for another process.
        if tokio::time::timeout(STOP_STEP_BOUND, &mut self.workers)
            .await
            .is_err()
        {
            tracing::warn!("the job workers did not stop in time; abandoning them");
            self.workers.abort();
        }
        if tokio::time::timeout(STOP_STEP_BOUND, &mut self.jobs)
            .await
            .is_err()
        {
            tracing::warn!("the audit jobs did not stop in time; abandoning them");
            self.jobs.abort();
        }
        if tokio::time::timeout(STOP_STEP_BOUND, self.state.store.close())
            .await
            .is_err()
        {
            tracing::warn!("the database connections did not close in time");
        }
        match http {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(ServerError::Http(e.to_string())),
            Some(Err(e)) => Err(ServerError::Http(e.to_string())),
        }
    }
}

/// Starts the server: everything in [`prepare`], the bootstrap token on an empty database, the
/// audit sequencer and tree-head jobs, and the listener.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    start_with(config, axum::Router::new()).await
}

/// [`start`] with extra routes behind the same layers (for tests).
pub async fn start_with(
    config: Config,
    extra: axum::Router<AppState>,
) -> Result<RunningServer, ServerError> {
    let mut config = config;
    let listen = config.listen;
    // Before the database: a bad certificate is a start-up error that names the file.
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(Arc::new(crate::tls::Tls::load(cert, key)?)),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(io(format!("cannot listen on {listen}")))?;
    let addr = listener
        .local_addr()
        .map_err(io("cannot read the listening address"))?;
    // The address really bound (port 0 picks one), so that URLs made from it are right.
    config.listen = addr;
    let state = prepare(config).await?;
    let bootstrap_token = bootstrap_if_empty(&state.store).await?;
    let (shutdown, rx_http) = watch::channel(false);
    let (rx_heads, rx_sequencer) = (shutdown.subscribe(), shutdown.subscribe());
    let jobs = {
        let (heads, sequencer) = (state.clone(), state.clone());
        tokio::spawn(async move {
            tokio::join!(
                crate::tree_heads::sequence(sequencer, rx_sequencer),
                crate::tree_heads::run(heads, rx_heads),
            );
        })
    };
    let workers = crate::jobs::start_pool(
        state.store.clone(),
        job_handlers(&state),
        crate::jobs::WorkerOptions::from_config(&state.config),
        shutdown.subscribe(),
    );
    let app = crate::app::build_router_with(state.clone(), extra);
    let http = match &tls {
        None => spawn_http(listener, app, rx_http),
        Some(tls) => spawn_http(
            tls.listen(listener)
                .map_err(io("cannot read the listening address"))?,
            app,
            rx_http,
        ),
    };
    tracing::info!(%addr, tls = tls.is_some(), "listening");
    Ok(RunningServer {
        addr,
        bootstrap_token,
        state,
        tls,
        shutdown,
        http,
        jobs,
        workers,
    })
}

/// The handler of every job kind this server runs.
pub fn job_handlers(state: &AppState) -> crate::jobs::Registry {
    crate::jobs::Registry::default().register(
        crate::batches::KIND,
        crate::batches::BatchIssuer {
            state: state.clone(),
        },
    )
}

/// Serves `app` on `listener` (plain TCP or [`crate::tls::TlsListener`]) until `stop`.
fn spawn_http<L>(
    listener: L,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<Result<(), std::io::Error>>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await
    })
}

/// What a signal asks for.
enum SignalAction {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP: reload the TLS certificate.
    Reload,
}

/// SIGTERM, SIGINT and SIGHUP, registered before the server starts so that no signal is missed.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> Result<Self, ServerError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate()).map_err(io("cannot handle SIGTERM"))?,
                int: signal(SignalKind::interrupt()).map_err(io("cannot handle SIGINT"))?,
                hup: signal(SignalKind::hangup()).map_err(io("cannot handle SIGHUP"))?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) -> SignalAction {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => SignalAction::Stop,
            _ = self.int.recv() => SignalAction::Stop,
            _ = self.hup.recv() => SignalAction::Reload,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            SignalAction::Stop
        }
    }

    /// The next SIGTERM or SIGINT; SIGHUPs meanwhile reload `server`'s certificate.
    async fn stop(&mut self, server: Option<&RunningServer>) {
        loop {
            match self.recv().await {
                SignalAction::Stop => return,
                SignalAction::Reload => {
                    if let Some(server) = server {
                        server.reload_tls();
                    }
                }
            }
        }
    }
}

/// Runs until SIGTERM/SIGINT, then shuts down gracefully: in-flight requests may finish within
/// `shutdown_grace_seconds` (a second signal stops at once). SIGHUP reloads the TLS certificate
/// and key. `on_start`
/// sees the running server (the CLI prints the URL and the one-time token there).
pub async fn serve(
    config: Config,
    on_start: impl FnOnce(&RunningServer),
) -> Result<(), ServerError> {
    let mut signals = Signals::register()?;
    let server = start(config).await?;
    on_start(&server);
    signals.stop(Some(&server)).await;
    tracing::info!(
        grace_seconds = server.state.config.shutdown_grace_seconds,
        "shutting down: finishing in-flight requests"
    );
    tokio::select! {
        stopped = server.stop() => stopped,
        () = signals.stop(None) => {
            tracing::warn!("second signal: stopping now");
            Ok(())
        }
    }
}
