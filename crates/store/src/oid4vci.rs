//! OpenID4VCI pre-authorized code flow: credential offers and nonces (the `oid4vci_offers` and
//! `oid4vci_nonces` tables). Only hashes of the code, the transaction code (PIN), the access
//! token and the nonces are stored; the caller hashes.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;
use uuid::Uuid;

use crate::attestations::{allocate_many, register_in};
use crate::audit::append_in;
use crate::db::{query, Row, Tx};
use crate::model::micros;
use crate::{AttestationRecord, NewAttestation, Signed, StatusAllocation, Store, StoreError};

const OFFERS: &str = "oid4vci_offers";
const NONCES: &str = "oid4vci_nonces";
const COLS: &str = "id, org_id, type_slug, request, created_by, code_hash, tx_code_hash, \
                    failed_attempts, state, token_hash, token_expires_at, attestation_id, \
                    expires_at, created_at, updated_at";

/// Where an offer is in its one-way life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferState {
    /// Waiting for the wallet's token request.
    Offered,
    /// The code was exchanged for an access token; the credential is not issued yet.
    Redeemed,
    /// The credential was issued (the claims are gone from the row).
    Issued,
    /// Too many wrong transaction codes: the offer is dead.
    Locked,
}

impl OfferState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Redeemed => "redeemed",
            Self::Issued => "issued",
            Self::Locked => "locked",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "offered" => Some(Self::Offered),
            "redeemed" => Some(Self::Redeemed),
            "issued" => Some(Self::Issued),
            "locked" => Some(Self::Locked),
            _ => None,
        }
    }
}

/// A credential offer to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOffer {
    /// Random (UUIDv4): it is the last segment of the public `credential_offer_uri`.
    pub id: Uuid,
    pub org_id: OrgId,
    /// The attestation type (its latest version at issuance).
    pub type_slug: String,
    /// What to issue (claims and validity), checked against the type when offered.
    pub request: serde_json::Value,
    /// The actor that made the offer (named in the issuance's audit entry).
    pub created_by: String,
    /// Hex SHA-256 of the pre-authorized code.
    pub code_hash: String,
    /// Hex SHA-256 of the transaction code, salted with the pre-authorized code.
    pub tx_code_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// A stored credential offer (without its hashes).
#[derive(Debug, Clone, PartialEq)]
pub struct OfferRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub type_slug: String,
    /// Empty (`{}`) once the credential is issued.
    pub request: serde_json::Value,
    pub created_by: String,
    pub failed_attempts: u32,
    pub state: OfferState,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub attestation_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The outcome of a token request with a pre-authorized code.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption {
    /// The code and transaction code fit: the access token is bound to the offer.
    Redeemed(Box<OfferRecord>),
    /// No offer has this code (in this organisation).
    Unknown,
    /// The offer expired before it was redeemed.
    Expired,
    /// The code was used already.
    Used,
    /// Too many wrong transaction codes were tried.
    Locked,
    /// A wrong transaction code; the offer locks when `attempts_left` reaches 0.
    WrongTxCode { attempts_left: u32 },
}

/// The outcome of a credential request.
#[derive(Debug)]
pub enum OfferIssue<T> {
    /// Issued: the register entry and the caller's value.
    Issued(AttestationRecord, T),
    /// The access token is unknown, expired or already used.
    TokenInvalid,
    /// The nonce is unknown, expired or already used.
    NonceInvalid,
}

/// What the credential endpoint asks the store to do in one transaction.
#[derive(Debug, Clone)]
pub struct OfferCredential {
    pub org_id: OrgId,
    /// Hex SHA-256 of the access token.
    pub token_hash: String,
    /// Hex SHA-256 of the proof's nonce.
    pub nonce_hash: String,
    /// The attestation to register.
    pub attestation: NewAttestation,
}

/// Credential offers and nonces.
pub trait OfferRepo {
    /// Stores an offer with its audit entry (and empties the claims of `org`'s offers that can
    /// no longer be issued: locked, expired, or redeemed with an expired token).
    fn create_offer(
        &self,
        offer: NewOffer,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<OfferRecord, StoreError>> + Send;

    /// The offer `id` (of any organisation).
    fn get_offer(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<OfferRecord>, StoreError>> + Send;

    /// Exchanges the code whose hash is `code_hash` for the access token whose hash is
    /// `token_hash`, when `tx_code_hash` fits (compared in constant time), the offer is of
    /// `org`, unused and unexpired. A wrong transaction code counts; at `max_attempts` the offer
    /// locks.
    #[allow(clippy::too_many_arguments)]
    fn redeem_offer(
        &self,
        org: OrgId,
        code_hash: &str,
        tx_code_hash: &str,
        token_hash: &str,
        token_expires_at: DateTime<Utc>,
        max_attempts: u32,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Redemption, StoreError>> + Send;

    /// The redeemed, not yet issued offer of `org` whose access token hashes to `token_hash`
    /// and is unexpired at `at`.
    fn offer_by_token(
        &self,
        org: OrgId,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<OfferRecord>, StoreError>> + Send;

    /// Stores a nonce hash of `org` valid until `expires_at` (and drops expired ones).
    fn create_nonce(
        &self,
        org: OrgId,
        nonce_hash: &str,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The credential request, all or nothing: the access token must still be good, the nonce
    /// is consumed, a status entry is allocated, `sign` signs, and the register entry, its audit
    /// entry and the offer's end (claims emptied) are written.
    fn issue_from_offer<T, F>(
        &self,
        request: OfferCredential,
        at: DateTime<Utc>,
        sign: F,
    ) -> impl Future<Output = Result<OfferIssue<T>, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&OfferRecord, StatusAllocation) -> Result<Signed<T>, StoreError> + Send + 'static;
}

fn from_row(row: &Row) -> Result<(OfferRecord, String, String, Option<String>), StoreError> {
    let state = row.text("state")?;
    let attempts = row.int32("failed_attempts")?;
    let record = OfferRecord {
        id: row.id("id")?,
        org_id: OrgId::from_uuid(row.id("org_id")?),
        type_slug: row.text("type_slug")?,
        request: row.json("request")?,
        created_by: row.text("created_by")?,
        failed_attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::corrupt(OFFERS, format!("failed_attempts {attempts}")))?,
        state: OfferState::parse(&state)
            .ok_or_else(|| StoreError::corrupt(OFFERS, format!("state {state:?}")))?,
        token_expires_at: row.opt_time("token_expires_at")?,
        attestation_id: row.opt_id("attestation_id")?,
        expires_at: row.time("expires_at")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    };
    Ok((
        record,
        row.text("code_hash")?,
        row.text("tx_code_hash")?,
        row.opt_text("token_hash")?,
    ))
}

/// Equality of two hex digests in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The offer with `column = value`, locked for this transaction (a no-op update takes the row
/// lock on PostgreSQL; SQLite's write transaction excludes other writers anyway).
async fn lock_offer(
    tx: &mut Tx,
    column: &'static str,
    value: &str,
) -> Result<Option<(OfferRecord, String, String, Option<String>)>, StoreError> {
    query(
        OFFERS,
        format!(
            "UPDATE oid4vci_offers SET failed_attempts = failed_attempts \
             WHERE {column} = $1 RETURNING {COLS}"
        ),
    )
    .text(value)
    .fetch_optional(tx.on())
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

impl OfferRepo for Store {
    async fn create_offer(
        &self,
        offer: NewOffer,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<OfferRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    // Offers that can no longer be issued keep no claims.
                    query(
                        OFFERS,
                        "UPDATE oid4vci_offers SET request = '{}' WHERE org_id = $1 \
                         AND request <> '{}' AND (state = 'locked' \
                           OR (state = 'offered' AND expires_at <= $2) \
                           OR (state = 'redeemed' AND token_expires_at <= $2))",
                    )
                    .id(*offer.org_id.as_uuid())
                    .time(at)
                    .execute(tx.on())
                    .await?;
                    let record = OfferRecord {
                        id: offer.id,
                        org_id: offer.org_id,
                        type_slug: offer.type_slug.clone(),
                        request: offer.request.clone(),
                        created_by: offer.created_by.clone(),
                        failed_attempts: 0,
                        state: OfferState::Offered,
                        token_expires_at: None,
                        attestation_id: None,
                        expires_at: micros(offer.expires_at),
                        created_at: at,
                        updated_at: at,
                    };
                    query(
                        OFFERS,
                        "INSERT INTO oid4vci_offers (id, org_id, type_slug, request, created_by, \
                         code_hash, tx_code_hash, failed_attempts, state, expires_at, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    )
                    .id(record.id)
                    .id(*record.org_id.as_uuid())
                    .text(&record.type_slug)
                    .text(record.request.to_string())
                    .text(&record.created_by)
                    .text(&offer.code_hash)
                    .text(&offer.tx_code_hash)
                    .int32(0)
                    .text(OfferState::Offered.as_str())
                    .time(record.expires_at)
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("credential offer"))?;
                    append_in(tx, audit, at).await?;
                    Ok(record)
                })
            })
            .await
    }

    async fn get_offer(&self, id: Uuid) -> Result<Option<OfferRecord>, StoreError> {
        query(
            OFFERS,
            format!("SELECT {COLS} FROM oid4vci_offers WHERE id = $1"),
        )
        .id(id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(|r| from_row(r).map(|(o, ..)| o))
        .transpose()
    }

    async fn redeem_offer(
        &self,
        org: OrgId,
        code_hash: &str,
        tx_code_hash: &str,
        token_hash: &str,
        token_expires_at: DateTime<Utc>,
        max_attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Redemption, StoreError> {
        let at = micros(at);
        let token_expires_at = micros(token_expires_at);
        let (code_hash, tx_code_hash, token_hash) = (
            code_hash.to_owned(),
            tx_code_hash.to_owned(),
            token_hash.to_owned(),
        );
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let Some((offer, stored_code, stored_tx, _)) =
                        lock_offer(tx, "code_hash", &code_hash).await?
                    else {
                        return Ok(Redemption::Unknown);
                    };
                    if offer.org_id != org || !same(&stored_code, &code_hash) {
                        return Ok(Redemption::Unknown);
                    }
                    match offer.state {
                        OfferState::Offered => {}
                        OfferState::Locked => return Ok(Redemption::Locked),
                        OfferState::Redeemed | OfferState::Issued => return Ok(Redemption::Used),
                    }
                    if offer.expires_at <= at {
                        return Ok(Redemption::Expired);
                    }
                    if !same(&stored_tx, &tx_code_hash) {
                        let attempts = offer.failed_attempts.saturating_add(1);
                        let state = if attempts >= max_attempts {
                            OfferState::Locked
                        } else {
                            OfferState::Offered
                        };
                        query(
                            OFFERS,
                            "UPDATE oid4vci_offers SET failed_attempts = $1, state = $2, \
                             updated_at = $3 WHERE id = $4",
                        )
                        .int32(i32::try_from(attempts).unwrap_or(i32::MAX))
                        .text(state.as_str())
                        .time(at)
                        .id(offer.id)
                        .execute(tx.on())
                        .await?;
                        return Ok(Redemption::WrongTxCode {
                            attempts_left: max_attempts.saturating_sub(attempts),
                        });
                    }
                    let row = query(
                        OFFERS,
                        format!(
                            "UPDATE oid4vci_offers SET state = $1, token_hash = $2, \
                             token_expires_at = $3, updated_at = $4 WHERE id = $5 \
                             RETURNING {COLS}"
                        ),
                    )
                    .text(OfferState::Redeemed.as_str())
                    .text(&token_hash)
                    .time(token_expires_at)
                    .time(at)
                    .id(offer.id)
                    .fetch_one(tx.on())
                    .await
                    .map_err(|e| e.on_write("credential offer"))?;
                    Ok(Redemption::Redeemed(Box::new(from_row(&row)?.0)))
                })
            })
            .await
    }

    async fn offer_by_token(
        &self,
        org: OrgId,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<OfferRecord>, StoreError> {
        let row = query(
            OFFERS,
            format!("SELECT {COLS} FROM oid4vci_offers WHERE token_hash = $1"),
        )
        .text(token_hash)
        .fetch_optional(self.db.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (offer, _, _, stored) = from_row(&row)?;
        let good = offer.org_id == org
            && offer.state == OfferState::Redeemed
            && offer.token_expires_at.is_some_and(|t| t > at)
            && stored.is_some_and(|s| same(&s, token_hash));
        Ok(good.then_some(offer))
    }

    async fn create_nonce(
        &self,
        org: OrgId,
        nonce_hash: &str,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = micros(at);
        let expires_at = micros(expires_at);
        let nonce_hash = nonce_hash.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(NONCES, "DELETE FROM oid4vci_nonces WHERE expires_at <= $1")
                        .time(at)
                        .execute(tx.on())
                        .await?;
                    query(
                        NONCES,
                        "INSERT INTO oid4vci_nonces (nonce_hash, org_id, expires_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .text(&nonce_hash)
                    .id(*org.as_uuid())
                    .time(expires_at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("nonce"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn issue_from_offer<T, F>(
        &self,
        request: OfferCredential,
        at: DateTime<Utc>,
        sign: F,
    ) -> Result<OfferIssue<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&OfferRecord, StatusAllocation) -> Result<Signed<T>, StoreError> + Send + 'static,
    {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let Some((offer, _, _, stored)) =
                        lock_offer(tx, "token_hash", &request.token_hash).await?
                    else {
                        return Ok(OfferIssue::TokenInvalid);
                    };
                    let good = offer.org_id == request.org_id
                        && offer.state == OfferState::Redeemed
                        && offer.token_expires_at.is_some_and(|t| t > at)
                        && stored.is_some_and(|s| same(&s, &request.token_hash));
                    if !good {
                        return Ok(OfferIssue::TokenInvalid);
                    }
                    let consumed = query(
                        NONCES,
                        "DELETE FROM oid4vci_nonces \
                         WHERE nonce_hash = $1 AND org_id = $2 AND expires_at > $3",
                    )
                    .text(&request.nonce_hash)
                    .id(*request.org_id.as_uuid())
                    .time(at)
                    .execute(tx.on())
                    .await?;
                    if consumed != 1 {
                        return Ok(OfferIssue::NonceInvalid);
                    }
                    let slot = allocate_many(tx, request.org_id, 1, at)
                        .await?
                        .pop()
                        .ok_or_else(|| StoreError::corrupt(OFFERS, "no status entry allocated"))?;
                    let signed = sign(&offer, slot)?;
                    let record = register_in(tx, request.attestation, slot, at).await?;
                    append_in(tx, signed.audit, at).await?;
                    query(
                        OFFERS,
                        "UPDATE oid4vci_offers SET state = $1, attestation_id = $2, \
                         request = $3, updated_at = $4 WHERE id = $5",
                    )
                    .text(OfferState::Issued.as_str())
                    .id(record.id)
                    .text("{}")
                    .time(at)
                    .id(offer.id)
                    .execute(tx.on())
                    .await?;
                    Ok(OfferIssue::Issued(record, signed.value))
                })
            })
            .await
    }
}
