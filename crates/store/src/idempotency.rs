//! Responses kept for `Idempotency-Key` retries: the `idempotency_keys` table.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::db::{query, Tx};
use crate::model::micros;
use crate::{Store, StoreError};

/// The response to a creating request sent with an `Idempotency-Key`, kept so that a retry with
/// the same key gets it again instead of creating a second resource (DESIGN.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// The authenticated principal that sent the request; keys are per actor.
    pub actor: String,
    /// The client's key (1–255 visible ASCII characters, checked by the server).
    pub key: String,
    /// SHA-256 of the request as the server understood it (method, path, parsed body).
    pub request_hash: [u8; 32],
    /// The success status sent (2xx).
    pub status: u16,
    /// The `Location` header sent, if any.
    pub location: Option<String>,
    /// The JSON body sent.
    pub body: String,
    /// When it was stored (microsecond precision).
    pub created_at: DateTime<Utc>,
}

/// Responses kept for `Idempotency-Key` retries. They are written by the creating methods (in
/// the transaction of the change they answer); this trait reads them.
pub trait IdempotencyRepo {
    /// The response stored for `actor`'s `key`, if any.
    fn idempotent_response(
        &self,
        actor: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotentResponse>, StoreError>> + Send;
}

const TABLE: &str = "idempotency_keys";
const COLS: &str = "actor, key, request_hash, status, location, body, created_at";

/// Stores the response to an idempotent request inside the caller's write transaction.
pub(crate) async fn remember_in(
    tx: &mut Tx,
    response: IdempotentResponse,
) -> Result<(), StoreError> {
    query(
        TABLE,
        format!("INSERT INTO idempotency_keys ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
    )
    .text(response.actor)
    .text(response.key)
    .bytes(response.request_hash)
    .int32(i32::from(response.status))
    .opt_text(response.location)
    .text(response.body)
    .time(micros(response.created_at))
    .execute(tx.on())
    .await
    .map_err(|e| e.on_write("idempotency key"))?;
    Ok(())
}

impl IdempotencyRepo for Store {
    async fn idempotent_response(
        &self,
        actor: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        let Some(row) = query(
            TABLE,
            format!("SELECT {COLS} FROM idempotency_keys WHERE actor = $1 AND key = $2"),
        )
        .text(actor)
        .text(key)
        .fetch_optional(self.db.read())
        .await?
        else {
            return Ok(None);
        };
        let status = row.int32("status")?;
        Ok(Some(IdempotentResponse {
            actor: row.text("actor")?,
            key: row.text("key")?,
            request_hash: row.hash32("request_hash")?,
            status: u16::try_from(status)
                .map_err(|_| StoreError::corrupt(TABLE, format!("status {status}")))?,
            location: row.opt_text("location")?,
            body: row.text("body")?,
            created_at: row.time("created_at")?,
        }))
    }
}
