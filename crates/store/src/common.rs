//! What both backends share: the SQL text (`$N` placeholders work in SQLite and PostgreSQL),
//! row-to-domain conversion, and the repository implementations, written once as a macro over
//! each backend's column codec (`sqlite::codec`, `postgres::codec`).

use chrono::{DateTime, Utc};
use tillit_audit::{parse_hash, parse_time, AuditEntry};
use tillit_core::{Country, OrgId, OrganisationNumber, Page};
use uuid::Uuid;

use crate::model::{KeyStatus, Org, SigningKeyRecord, TreeHeadRecord};
use crate::StoreError;

pub(crate) const ORG_COLS: &str = "id, name, country, org_number, created_at";
pub(crate) const TOKEN_COLS: &str = "id, org_id, name, token_hash, scope, created_at, revoked_at";
pub(crate) const KEY_COLS: &str =
    "kid, org_id, purpose, alg, public_jwk, sealed_private, status, created_at";
pub(crate) const AUDIT_COLS: &str =
    "seq, time, actor, org_id, action, object_id, details, prev_hash, hash";
pub(crate) const HEAD_COLS: &str = "tree_size, root_hash, timestamp, key_id, signature";

/// An audit row as stored (the same text columns in both backends).
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    time: String,
    actor: String,
    org_id: Option<String>,
    action: String,
    object_id: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    /// Decodes the row as stored; it does NOT recompute the hash (verification is
    /// `tillit_audit`'s job, and it must see what is really stored).
    pub(crate) fn into_entry(self) -> Result<AuditEntry, StoreError> {
        let bad = |e: &dyn std::fmt::Display| StoreError::corrupt("audit_entries", e);
        Ok(AuditEntry {
            seq: u64::try_from(self.seq).map_err(|e| bad(&e))?,
            time: parse_time(&self.time).map_err(|e| bad(&e))?,
            actor: self.actor,
            org_id: self.org_id,
            action: self.action,
            object_id: self.object_id,
            details: serde_json::from_str(&self.details).map_err(|e| bad(&e))?,
            prev_hash: parse_hash("prev_hash", &self.prev_hash).map_err(|e| bad(&e))?,
            hash: parse_hash("hash", &self.hash).map_err(|e| bad(&e))?,
        })
    }
}

/// A tree head row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct HeadRow {
    tree_size: i64,
    root_hash: String,
    timestamp: String,
    key_id: String,
    signature: Vec<u8>,
}

impl HeadRow {
    pub(crate) fn into_head(self) -> Result<TreeHeadRecord, StoreError> {
        let bad = |e: &dyn std::fmt::Display| StoreError::corrupt("audit_tree_heads", e);
        Ok(TreeHeadRecord {
            tree_size: u64::try_from(self.tree_size).map_err(|e| bad(&e))?,
            root_hash: parse_hash("root_hash", &self.root_hash).map_err(|e| bad(&e))?,
            timestamp: parse_time(&self.timestamp).map_err(|e| bad(&e))?,
            key_id: self.key_id,
            signature: self.signature,
        })
    }
}

pub(crate) fn to_i64(n: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::corrupt(what, format!("{n} exceeds 2^63-1")))
}

pub(crate) fn to_u64(n: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::corrupt(what, format!("negative count {n}")))
}

pub(crate) fn org_from_parts(
    id: Uuid,
    name: String,
    country: &str,
    org_number: &str,
    created_at: DateTime<Utc>,
) -> Result<Org, StoreError> {
    let country: Country = country
        .parse()
        .map_err(|e| StoreError::corrupt("orgs", e))?;
    let org_number = OrganisationNumber::parse(country, org_number)
        .map_err(|e| StoreError::corrupt("orgs", e))?;
    Ok(Org {
        id: OrgId::from_uuid(id),
        name,
        country,
        org_number,
        created_at,
    })
}

pub(crate) fn hash32(bytes: &[u8], table: &'static str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::corrupt(table, format!("hash of {} bytes, not 32", bytes.len())))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn key_from_parts(
    kid: String,
    org_id: Option<Uuid>,
    purpose: String,
    alg: String,
    public_jwk: &str,
    sealed_private: Vec<u8>,
    status: &str,
    created_at: DateTime<Utc>,
) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid,
        org_id: org_id.map(OrgId::from_uuid),
        purpose,
        alg,
        public_jwk: serde_json::from_str(public_jwk)
            .map_err(|e| StoreError::corrupt("signing_keys", e))?,
        sealed_private,
        status: KeyStatus::parse(status)
            .ok_or_else(|| StoreError::corrupt("signing_keys", format!("status {status:?}")))?,
        created_at,
    })
}

/// The opaque cursor after the item with this id.
pub(crate) fn encode_cursor(id: &Uuid) -> String {
    id.simple().to_string()
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<Uuid, StoreError> {
    if cursor.len() != 32 {
        return Err(StoreError::InvalidCursor(cursor.to_owned()));
    }
    Uuid::try_parse(cursor).map_err(|_| StoreError::InvalidCursor(cursor.to_owned()))
}

/// Splits `limit + 1` fetched rows into a page.
pub(crate) fn paginate<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&id(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Implements the four repository traits for a backend store type.
///
/// The store type provides `begin_write()` (a transaction that holds the audit-append lock) and
/// `reader()` (a pool for reads); `$codec` provides `id`, `opt_id`, `time`, `opt_time`,
/// `get_id`, `get_opt_id`, `get_time` and `get_opt_time` for the backend's column types.
macro_rules! impl_repos {
    ($store:ty, $codec:path, $conn:ty, $row:ty) => {
        use $codec as codec;
        use sqlx::Row as _;
        use $crate::common::{
            hash32, key_from_parts, org_from_parts, paginate, to_i64, to_u64, AuditRow, HeadRow,
            AUDIT_COLS, HEAD_COLS, KEY_COLS, ORG_COLS, TOKEN_COLS,
        };
        use $crate::model::{
            micros, ApiToken, IdempotentResponse, KeyStatus, NewApiToken, NewOrg, NewSigningKey,
            Org, Scope, SigningKeyRecord, TreeHeadRecord,
        };
        use $crate::{ApiTokenRepo, AuditRepo, IdempotencyRepo, KeyRepo, OrgRepo, StoreError};
        use chrono::{DateTime, Utc};
        use tillit_audit::{AuditEntry, AuditEvent, GENESIS_HASH};
        use tillit_core::{ApiTokenId, OrgId, Page, PageRequest};

        /// Appends `event` as the next audit entry inside the caller's write transaction.
        async fn append_in(
            conn: &mut $conn,
            event: AuditEvent,
            at: DateTime<Utc>,
        ) -> Result<AuditEntry, StoreError> {
            let last: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *conn)
                    .await?;
            let (prev_seq, prev_hash) = match last {
                None => (0, GENESIS_HASH),
                Some((seq, hash)) => (
                    to_u64(seq, "audit_entries")?,
                    tillit_audit::parse_hash("hash", &hash)
                        .map_err(|e| StoreError::corrupt("audit_entries", e))?,
                ),
            };
            let entry = AuditEntry::next(prev_seq, prev_hash, event, at)?;
            sqlx::query(&format!(
                "INSERT INTO audit_entries ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(to_i64(entry.seq, "audit_entries")?)
            .bind(tillit_audit::format_time(&entry.time))
            .bind(&entry.actor)
            .bind(&entry.org_id)
            .bind(&entry.action)
            .bind(&entry.object_id)
            .bind(tillit_audit::canonical_json(&entry.details))
            .bind(hex::encode(entry.prev_hash))
            .bind(hex::encode(entry.hash))
            .execute(&mut *conn)
            .await?;
            Ok(entry)
        }

        /// Stores the response to an idempotent request inside the caller's write transaction.
        async fn remember_in(
            conn: &mut $conn,
            response: IdempotentResponse,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO idempotency_keys \
                 (actor, key, request_hash, status, location, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&response.actor)
            .bind(&response.key)
            .bind(response.request_hash.to_vec())
            .bind(i32::from(response.status))
            .bind(&response.location)
            .bind(&response.body)
            .bind(codec::time(micros(response.created_at)))
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::from_write("idempotency key", e))?;
            Ok(())
        }

        impl IdempotencyRepo for $store {
            async fn idempotent_response(
                &self,
                actor: &str,
                key: &str,
            ) -> Result<Option<IdempotentResponse>, StoreError> {
                let t = "idempotency_keys";
                let Some(row) = sqlx::query(
                    "SELECT actor, key, request_hash, status, location, body, created_at \
                     FROM idempotency_keys WHERE actor = $1 AND key = $2",
                )
                .bind(actor)
                .bind(key)
                .fetch_optional(self.reader())
                .await?
                else {
                    return Ok(None);
                };
                let status: i32 = row.try_get("status")?;
                Ok(Some(IdempotentResponse {
                    actor: row.try_get("actor")?,
                    key: row.try_get("key")?,
                    request_hash: hash32(&row.try_get::<Vec<u8>, _>("request_hash")?, t)?,
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::corrupt(t, format!("status {status}")))?,
                    location: row.try_get("location")?,
                    body: row.try_get("body")?,
                    created_at: codec::get_time(&row, "created_at", t)?,
                }))
            }
        }

        fn org_from_row(row: &$row) -> Result<Org, StoreError> {
            let t = "orgs";
            org_from_parts(
                codec::get_id(row, "id", t)?,
                row.try_get("name")?,
                row.try_get::<String, _>("country")?.as_str(),
                row.try_get::<String, _>("org_number")?.as_str(),
                codec::get_time(row, "created_at", t)?,
            )
        }

        fn token_from_row(row: &$row) -> Result<ApiToken, StoreError> {
            let t = "api_tokens";
            Ok(ApiToken {
                id: ApiTokenId::from_uuid(codec::get_id(row, "id", t)?),
                org_id: codec::get_opt_id(row, "org_id", t)?.map(OrgId::from_uuid),
                name: row.try_get("name")?,
                token_hash: hash32(&row.try_get::<Vec<u8>, _>("token_hash")?, t)?,
                scope: row.try_get("scope")?,
                created_at: codec::get_time(row, "created_at", t)?,
                revoked_at: codec::get_opt_time(row, "revoked_at", t)?,
            })
        }

        fn key_from_row(row: &$row) -> Result<SigningKeyRecord, StoreError> {
            let t = "signing_keys";
            key_from_parts(
                row.try_get("kid")?,
                codec::get_opt_id(row, "org_id", t)?,
                row.try_get("purpose")?,
                row.try_get("alg")?,
                row.try_get::<String, _>("public_jwk")?.as_str(),
                row.try_get("sealed_private")?,
                row.try_get::<String, _>("status")?.as_str(),
                codec::get_time(row, "created_at", t)?,
            )
        }

        impl OrgRepo for $store {
            async fn create_org(
                &self,
                org: NewOrg,
                audit: AuditEvent,
                at: DateTime<Utc>,
                idempotency: Option<IdempotentResponse>,
            ) -> Result<Org, StoreError> {
                let at = micros(at);
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO orgs ({ORG_COLS}) VALUES ($1, $2, $3, $4, $5)"
                ))
                .bind(codec::id(*org.id.as_uuid()))
                .bind(&org.name)
                .bind(org.org_number.country().code())
                .bind(org.org_number.as_str())
                .bind(codec::time(at))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_write("organisation", e))?;
                append_in(&mut tx, audit, at).await?;
                if let Some(response) = idempotency {
                    remember_in(&mut tx, response).await?;
                }
                tx.commit().await?;
                Ok(Org {
                    id: org.id,
                    name: org.name,
                    country: org.org_number.country(),
                    org_number: org.org_number,
                    created_at: at,
                })
            }

            async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
                sqlx::query(&format!("SELECT {ORG_COLS} FROM orgs WHERE id = $1"))
                    .bind(codec::id(*id.as_uuid()))
                    .fetch_optional(self.reader())
                    .await?
                    .as_ref()
                    .map(org_from_row)
                    .transpose()
            }

            async fn list_orgs(&self, page: &PageRequest) -> Result<Page<Org>, StoreError> {
                page.validate()?;
                let fetch = i64::from(page.limit) + 1;
                let rows = match page.cursor.as_deref() {
                    None => {
                        sqlx::query(&format!(
                            "SELECT {ORG_COLS} FROM orgs ORDER BY id LIMIT $1"
                        ))
                        .bind(fetch)
                        .fetch_all(self.reader())
                        .await?
                    }
                    Some(cursor) => {
                        let after = $crate::common::decode_cursor(cursor)?;
                        sqlx::query(&format!(
                            "SELECT {ORG_COLS} FROM orgs WHERE id > $1 ORDER BY id LIMIT $2"
                        ))
                        .bind(codec::id(after))
                        .bind(fetch)
                        .fetch_all(self.reader())
                        .await?
                    }
                };
                let items = rows.iter().map(org_from_row).collect::<Result<Vec<_>, _>>()?;
                Ok(paginate(items, page.limit, |o: &Org| *o.id.as_uuid()))
            }
        }

        impl ApiTokenRepo for $store {
            async fn create_api_token(
                &self,
                token: NewApiToken,
                audit: AuditEvent,
                at: DateTime<Utc>,
            ) -> Result<ApiToken, StoreError> {
                let at = micros(at);
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
                ))
                .bind(codec::id(*token.id.as_uuid()))
                .bind(codec::opt_id(token.org_id.map(|o| *o.as_uuid())))
                .bind(&token.name)
                .bind(token.token_hash.as_slice())
                .bind(&token.scope)
                .bind(codec::time(at))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_write("API token", e))?;
                append_in(&mut tx, audit, at).await?;
                tx.commit().await?;
                Ok(ApiToken {
                    id: token.id,
                    org_id: token.org_id,
                    name: token.name,
                    token_hash: token.token_hash,
                    scope: token.scope,
                    created_at: at,
                    revoked_at: None,
                })
            }

            async fn find_api_token_by_hash(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<ApiToken>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1"
                ))
                .bind(token_hash.as_slice())
                .fetch_optional(self.reader())
                .await?
                .as_ref()
                .map(token_from_row)
                .transpose()
            }

            async fn list_api_tokens(&self, scope: Scope) -> Result<Vec<ApiToken>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLS} FROM api_tokens \
                     WHERE org_id IS NOT DISTINCT FROM $1 ORDER BY id"
                ))
                .bind(codec::opt_id(scope.org_id().map(|o| *o.as_uuid())))
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(token_from_row)
                .collect()
            }

            async fn revoke_api_token(
                &self,
                scope: Scope,
                id: ApiTokenId,
                audit: AuditEvent,
                at: DateTime<Utc>,
            ) -> Result<ApiToken, StoreError> {
                let at = micros(at);
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(&format!(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                     WHERE id = $2 AND org_id IS NOT DISTINCT FROM $3 RETURNING {TOKEN_COLS}"
                ))
                .bind(codec::time(at))
                .bind(codec::id(*id.as_uuid()))
                .bind(codec::opt_id(scope.org_id().map(|o| *o.as_uuid())))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "API token",
                    id: id.to_string(),
                })?;
                let token = token_from_row(&row)?;
                append_in(&mut tx, audit, at).await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn count_api_tokens(&self) -> Result<u64, StoreError> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens")
                    .fetch_one(self.reader())
                    .await?;
                to_u64(n, "api_tokens")
            }
        }

        impl AuditRepo for $store {
            async fn append_audit(
                &self,
                event: AuditEvent,
                at: DateTime<Utc>,
            ) -> Result<AuditEntry, StoreError> {
                let mut tx = self.begin_write().await?;
                let entry = append_in(&mut tx, event, at).await?;
                tx.commit().await?;
                Ok(entry)
            }

            async fn audit_entries(
                &self,
                from_seq: u64,
                limit: u32,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                let Ok(from) = i64::try_from(from_seq) else {
                    return Ok(Vec::new());
                };
                sqlx::query_as::<_, AuditRow>(&format!(
                    "SELECT {AUDIT_COLS} FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2"
                ))
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(AuditRow::into_entry)
                .collect()
            }

            async fn audit_last(&self) -> Result<Option<AuditEntry>, StoreError> {
                sqlx::query_as::<_, AuditRow>(&format!(
                    "SELECT {AUDIT_COLS} FROM audit_entries ORDER BY seq DESC LIMIT 1"
                ))
                .fetch_optional(self.reader())
                .await?
                .map(AuditRow::into_entry)
                .transpose()
            }

            async fn audit_count(&self) -> Result<u64, StoreError> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_entries")
                    .fetch_one(self.reader())
                    .await?;
                to_u64(n, "audit_entries")
            }

            async fn audit_entry_hashes(&self, upto: u64) -> Result<Vec<[u8; 32]>, StoreError> {
                let upto = i64::try_from(upto).unwrap_or(i64::MAX);
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT hash FROM audit_entries WHERE seq <= $1 ORDER BY seq",
                )
                .bind(upto)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|(h,)| {
                        tillit_audit::parse_hash("hash", h)
                            .map_err(|e| StoreError::corrupt("audit_entries", e))
                    })
                    .collect()
            }

            async fn insert_tree_head(&self, head: TreeHeadRecord) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO audit_tree_heads ({HEAD_COLS}) VALUES ($1, $2, $3, $4, $5)"
                ))
                .bind(to_i64(head.tree_size, "audit_tree_heads")?)
                .bind(hex::encode(head.root_hash))
                .bind(tillit_audit::format_time(&head.timestamp))
                .bind(&head.key_id)
                .bind(&head.signature)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_write("tree head", e))?;
                tx.commit().await?;
                Ok(())
            }

            async fn latest_tree_head(&self) -> Result<Option<TreeHeadRecord>, StoreError> {
                sqlx::query_as::<_, HeadRow>(&format!(
                    "SELECT {HEAD_COLS} FROM audit_tree_heads ORDER BY tree_size DESC LIMIT 1"
                ))
                .fetch_optional(self.reader())
                .await?
                .map(HeadRow::into_head)
                .transpose()
            }

            async fn tree_heads(&self) -> Result<Vec<TreeHeadRecord>, StoreError> {
                sqlx::query_as::<_, HeadRow>(&format!(
                    "SELECT {HEAD_COLS} FROM audit_tree_heads ORDER BY tree_size"
                ))
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(HeadRow::into_head)
                .collect()
            }

            async fn tree_head_at_size(
                &self,
                tree_size: u64,
            ) -> Result<Option<TreeHeadRecord>, StoreError> {
                let Ok(size) = i64::try_from(tree_size) else {
                    return Ok(None);
                };
                sqlx::query_as::<_, HeadRow>(&format!(
                    "SELECT {HEAD_COLS} FROM audit_tree_heads WHERE tree_size = $1"
                ))
                .bind(size)
                .fetch_optional(self.reader())
                .await?
                .map(HeadRow::into_head)
                .transpose()
            }
        }

        impl KeyRepo for $store {
            async fn insert_key(
                &self,
                key: NewSigningKey,
                audit: AuditEvent,
                at: DateTime<Utc>,
            ) -> Result<SigningKeyRecord, StoreError> {
                let at = micros(at);
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO signing_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(&key.kid)
                .bind(codec::opt_id(key.org_id.map(|o| *o.as_uuid())))
                .bind(&key.purpose)
                .bind(&key.alg)
                .bind(key.public_jwk.to_string())
                .bind(&key.sealed_private)
                .bind(KeyStatus::Active.as_str())
                .bind(codec::time(at))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_write("signing key", e))?;
                append_in(&mut tx, audit, at).await?;
                tx.commit().await?;
                Ok(SigningKeyRecord {
                    kid: key.kid,
                    org_id: key.org_id,
                    purpose: key.purpose,
                    alg: key.alg,
                    public_jwk: key.public_jwk,
                    sealed_private: key.sealed_private,
                    status: KeyStatus::Active,
                    created_at: at,
                })
            }

            async fn list_keys(
                &self,
                scope: Scope,
                purpose: &str,
            ) -> Result<Vec<SigningKeyRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {KEY_COLS} FROM signing_keys \
                     WHERE org_id IS NOT DISTINCT FROM $1 AND purpose = $2 \
                     ORDER BY created_at, kid"
                ))
                .bind(codec::opt_id(scope.org_id().map(|o| *o.as_uuid())))
                .bind(purpose)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(key_from_row)
                .collect()
            }

            async fn get_key(
                &self,
                scope: Scope,
                kid: &str,
            ) -> Result<Option<SigningKeyRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {KEY_COLS} FROM signing_keys \
                     WHERE kid = $1 AND org_id IS NOT DISTINCT FROM $2"
                ))
                .bind(kid)
                .bind(codec::opt_id(scope.org_id().map(|o| *o.as_uuid())))
                .fetch_optional(self.reader())
                .await?
                .as_ref()
                .map(key_from_row)
                .transpose()
            }

            async fn set_key_status(
                &self,
                scope: Scope,
                kid: &str,
                status: KeyStatus,
                audit: AuditEvent,
                at: DateTime<Utc>,
            ) -> Result<SigningKeyRecord, StoreError> {
                let at = micros(at);
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(&format!(
                    "UPDATE signing_keys SET status = $1 \
                     WHERE kid = $2 AND org_id IS NOT DISTINCT FROM $3 RETURNING {KEY_COLS}"
                ))
                .bind(status.as_str())
                .bind(kid)
                .bind(codec::opt_id(scope.org_id().map(|o| *o.as_uuid())))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "signing key",
                    id: kid.to_owned(),
                })?;
                let key = key_from_row(&row)?;
                append_in(&mut tx, audit, at).await?;
                tx.commit().await?;
                Ok(key)
            }
        }
    };
}
pub(crate) use impl_repos;
