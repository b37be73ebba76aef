//! OAuth 2.0 clients of the token endpoint: the `oauth_clients` table. A client is an IT system
//! that acts as one user of the access model; it authenticates with a secret (only its SHA-256
//! is kept) or with `private_key_jwt` against its public JWK Set.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;

use crate::audit::append_in;
use crate::db::{query, Row};
use crate::model::micros;
use crate::{Store, StoreError};

/// How a client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredential {
    /// `client_secret_basic` / `client_secret_post`: SHA-256 of the secret, hex.
    SecretSha256(String),
    /// `private_key_jwt` (RFC 7523): its public JWK Set, as JSON text.
    Jwks(String),
}

/// A client to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// The `client_id`.
    pub client_id: String,
    /// A label for people.
    pub name: String,
    /// The access-model user it acts as.
    pub user_id: String,
    /// How it authenticates.
    pub credential: ClientCredential,
    /// The assurance level of its credential (`low`, `substantial`, `high`), if registered.
    pub loa: Option<String>,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The `client_id`.
    pub client_id: String,
    /// Label.
    pub name: String,
    /// The access-model user it acts as.
    pub user_id: String,
    /// How it authenticates.
    pub credential: ClientCredential,
    /// The assurance level of its credential.
    pub loa: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// OAuth clients.
pub trait ClientRepo {
    /// Registers a client. [`StoreError::Conflict`] when the `client_id` is taken.
    fn create_client(
        &self,
        client: NewClient,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Client, StoreError>> + Send;

    /// The client with this id, revoked or not (the caller checks).
    fn get_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;

    /// Every client, by id.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;

    /// Revokes a client (idempotent: keeps the first time). [`StoreError::NotFound`] when absent.
    fn revoke_client(
        &self,
        client_id: &str,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Client, StoreError>> + Send;
}

const TABLE: &str = "oauth_clients";
const COLS: &str = "client_id, name, user_id, secret_hash, jwks, loa, created_at, revoked_at";

fn from_row(row: &Row) -> Result<Client, StoreError> {
    let credential = match (row.opt_text("secret_hash")?, row.opt_text("jwks")?) {
        (Some(hash), None) => ClientCredential::SecretSha256(hash),
        (None, Some(jwks)) => ClientCredential::Jwks(jwks),
        _ => {
            return Err(StoreError::Corrupt {
                table: TABLE,
                reason: "a client has exactly one of secret_hash and jwks".into(),
            })
        }
    };
    Ok(Client {
        client_id: row.text("client_id")?,
        name: row.text("name")?,
        user_id: row.text("user_id")?,
        credential,
        loa: row.opt_text("loa")?,
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

impl ClientRepo for Store {
    async fn create_client(
        &self,
        client: NewClient,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<Client, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let (secret, jwks) = match &client.credential {
                        ClientCredential::SecretSha256(h) => (Some(h.clone()), None),
                        ClientCredential::Jwks(j) => (None, Some(j.clone())),
                    };
                    query(
                        TABLE,
                        format!(
                            "INSERT INTO oauth_clients ({COLS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)"
                        ),
                    )
                    .text(&client.client_id)
                    .text(&client.name)
                    .text(&client.user_id)
                    .opt_text(secret)
                    .opt_text(jwks)
                    .opt_text(client.loa.clone())
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("OAuth client"))?;
                    append_in(tx, audit, at).await?;
                    Ok(Client {
                        client_id: client.client_id,
                        name: client.name,
                        user_id: client.user_id,
                        credential: client.credential,
                        loa: client.loa,
                        created_at: at,
                        revoked_at: None,
                    })
                })
            })
            .await
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        query(
            TABLE,
            format!("SELECT {COLS} FROM oauth_clients WHERE client_id = $1"),
        )
        .text(client_id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        query(
            TABLE,
            format!("SELECT {COLS} FROM oauth_clients ORDER BY client_id"),
        )
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn revoke_client(
        &self,
        client_id: &str,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<Client, StoreError> {
        let at = micros(at);
        let client_id = client_id.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let row = query(
                        TABLE,
                        format!(
                            "UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, $1) \
                             WHERE client_id = $2 RETURNING {COLS}"
                        ),
                    )
                    .time(at)
                    .text(&client_id)
                    .fetch_optional(tx.on())
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "OAuth client",
                        id: client_id.clone(),
                    })?;
                    let client = from_row(&row)?;
                    append_in(tx, audit, at).await?;
                    Ok(client)
                })
            })
            .await
    }
}
