//! Shared by the HTTP test binaries (`mod common;` in each): the real server on a free port, over
//! SQLite (a temporary file, always) or PostgreSQL (when `TILLIT_TEST_POSTGRES_URL` is set; each
//! server in a fresh schema, dropped when it stops, as in the store's conformance suite).
//! `eval "$(bash .ci/postgres.sh)"` starts a local PostgreSQL for it.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use tillit_server::config::{Config, Secret};
use tillit_server::{start_with, AppState, RunningServer};

/// The variable naming the PostgreSQL database the tests may create schemas in.
const POSTGRES_URL_ENV: &str = "TILLIT_TEST_POSTGRES_URL";

/// The storage backend a test server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// `base_url` is `TILLIT_TEST_POSTGRES_URL`; each server gets its own schema in it.
    Postgres {
        base_url: String,
    },
}

impl Backend {
    /// PostgreSQL when `TILLIT_TEST_POSTGRES_URL` is set; otherwise prints the skip notice.
    pub fn postgres() -> Option<Self> {
        match std::env::var(POSTGRES_URL_ENV) {
            Ok(base_url) if !base_url.is_empty() => Some(Self::Postgres { base_url }),
            _ => {
                println!("skipping postgres: {POSTGRES_URL_ENV} not set");
                None
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

/// For each `async fn name(backend: Backend)` listed, generates the tests `name::sqlite` and
/// `name::postgres` (which prints the skip notice and passes when PostgreSQL is not configured).
macro_rules! backend_tests {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test($crate::common::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(backend) = $crate::common::Backend::postgres() {
                    super::$test(backend).await;
                }
            }
        }
    )*};
}
pub(crate) use backend_tests;

/// A PostgreSQL schema of one test server. Dropped by [`TestServer::stop`]; when a test fails
/// before that, dropped on a side thread (best effort, bounded by a lock timeout).
struct PgSchema {
    base_url: String,
    name: String,
    dropped: bool,
}

impl PgSchema {
    async fn create(base_url: &str) -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(base_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {POSTGRES_URL_ENV}: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("CREATE SCHEMA {name}: {e}"));
        pool.close().await;
        Self {
            base_url: base_url.to_owned(),
            name,
            dropped: false,
        }
    }

    /// The database URL whose connections use only this schema.
    fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}options[search_path]={}", self.base_url, self.name)
    }

    async fn drop_schema(base_url: &str, name: &str) -> Result<(), sqlx::Error> {
        let pool = sqlx::PgPool::connect(base_url).await?;
        let mut conn = pool.acquire().await?;
        sqlx::query("SET lock_timeout = '5s'")
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
            .execute(&mut *conn)
            .await?;
        drop(conn);
        pool.close().await;
        Ok(())
    }

    async fn drop_now(&mut self) {
        Self::drop_schema(&self.base_url, &self.name)
            .await
            .unwrap_or_else(|e| panic!("DROP SCHEMA {}: {e}", self.name));
        self.dropped = true;
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A test failed with the server still up: this thread is inside the test's runtime, so
        // run the cleanup on a runtime of its own.
        let (base_url, name) = (self.base_url.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime
                .block_on(Self::drop_schema(&base_url, &name))
                .err()
                .map(|e| format!("could not drop test schema {name}: {e}"))
        });
        if let Ok(Some(message)) = cleanup.join() {
            eprintln!("{message}");
        }
    }
}

/// A running server with its admin token and its storage.
pub struct TestServer {
    pub backend: &'static str,
    pub client: reqwest::Client,
    /// The bootstrap super-admin token.
    pub token: String,
    pub server: RunningServer,
    base: String,
    // Dropped after `server` (declaration order): only a failed test gets here with the schema.
    schema: Option<PgSchema>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// The default test configuration on `backend`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}, axum::Router::new()).await
    }

    /// Starts on `backend` with the test configuration changed by `tweak` (body limit, tree-head
    /// policy, …) and `extra` routes.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        extra: axum::Router<AppState>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The data directory holds the master key on both backends, and the database on SQLite.
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let schema = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres { base_url } => {
                let schema = PgSchema::create(base_url).await;
                config.database_url = Some(Secret::new(schema.url()));
                Some(schema)
            }
        };
        tweak(&mut config);
        let server = start_with(config, extra)
            .await
            .unwrap_or_else(|e| panic!("{}: start: {e}", backend.name()));
        let token = server
            .bootstrap_token
            .clone()
            .expect("first start bootstraps a token");
        Self {
            backend: backend.name(),
            client: http_client()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token,
            base: format!("http://{}", server.addr),
            server,
            schema,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The `Authorization` value of the admin token.
    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// GET with the admin token: status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .header(AUTHORIZATION, self.auth())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// GET without credentials: status, content type and JSON body.
    pub async fn get_public(&self, path: &str) -> (u16, String, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, r.json().await.unwrap())
    }

    /// POST a JSON body with the admin token.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header(AUTHORIZATION, self.auth())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/orgs` with the admin token.
    pub async fn create_org(&self, name: &str, country: &str, number: &str) -> reqwest::Response {
        self.post_json(
            "/v1/orgs",
            &json!({"name": name, "country": country, "organisation_number": number}),
        )
        .await
    }

    /// Stops the server and drops its PostgreSQL schema.
    pub async fn stop(self) {
        self.halt().await.finish().await;
    }

    /// Stops the server but keeps its database (and data directory) for inspection.
    pub async fn halt(self) -> Halted {
        let config = (*self.server.state.config).clone();
        self.server
            .stop()
            .await
            .unwrap_or_else(|e| panic!("{}: stop: {e}", self.backend));
        Halted {
            backend: self.backend,
            config,
            schema: self.schema,
            _dir: self._dir,
        }
    }
}

/// A stopped test server whose database is still there.
pub struct Halted {
    pub backend: &'static str,
    /// The configuration it ran with (its database URL, data directory and master key).
    pub config: Config,
    schema: Option<PgSchema>,
    _dir: tempfile::TempDir,
}

impl Halted {
    /// Drops the PostgreSQL schema (and the data directory).
    pub async fn finish(mut self) {
        if let Some(schema) = self.schema.as_mut() {
            schema.drop_now().await;
        }
    }
}

/// A reqwest client builder. reqwest's rustls is built without a crypto provider (the
/// workspace uses aws-lc-rs only, never ring), so the process's default provider is installed
/// first — once; later calls find it in place.
#[allow(dead_code)]
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
}
