//! The attestation service: the `attestation_types`, `status_lists` and `attestations` tables.
//!
//! Issuance allocates a random free index in one of the organisation's Token Status Lists and
//! registers the attestation in the same transaction as its audit entry; the caller signs the
//! credential inside that unit of work (a closure), so that a register row exists exactly for the
//! credentials that were handed out. A status change rewrites the list's bits in the same
//! transaction, so the next fetch of the list shows it.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;
use tillit_core::{OrgId, Page, PageRequest};
use tillit_credential::status_list::StatusList;
use uuid::Uuid;

use crate::audit::append_in;
use crate::db::{query, Row, Tx};
use crate::idempotency::{remember_in, IdempotentResponse};
use crate::model::{decode_cursor, micros, paginate};
use crate::{Store, StoreError};

/// Bits per status list entry: 0 valid, 1 revoked (INVALID), 2 suspended.
pub const STATUS_BITS: u8 = 2;
/// Entries per status list (4 KiB of bits before compression).
pub const STATUS_CAPACITY: u64 = 16_384;
/// A list takes new attestations until this share of it is used, so that a random free index is
/// found in a few tries and the used ones stay hidden among many.
const FILL_NUMERATOR: u64 = 3;
const FILL_DENOMINATOR: u64 = 4;

/// A version of an attestation type to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttestationType {
    /// A fresh UUIDv7 for this version.
    pub id: Uuid,
    pub org_id: OrgId,
    /// The type's name in URLs (`parking-permit`).
    pub slug: String,
    /// The SD-JWT VC `vct` (a URL under the node's public base URL).
    pub vct: String,
    /// The type definition (`tillit_credential::service::TypeDefinition` as JSON).
    pub definition: serde_json::Value,
}

/// A stored version of an attestation type.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationTypeRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub slug: String,
    /// 1 for the first version, then one more for each change.
    pub version: u64,
    pub vct: String,
    pub definition: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// An attestation to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttestation {
    /// A fresh UUIDv7 (also the credential's `jti`-like reference in the audit log).
    pub id: Uuid,
    pub org_id: OrgId,
    /// The type version it is issued under.
    pub type_id: Uuid,
    /// A reference to the holder, only when the type asks for one (no claims are kept).
    pub subject_ref: Option<String>,
    /// The actor that issued it.
    pub issued_by: String,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    /// The kid of the issuer key that signs it: a retired key stays published while an
    /// attestation it signed is valid.
    pub signing_kid: Option<String>,
}

/// Where an attestation's status lives: list and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusAllocation {
    pub list_id: Uuid,
    pub idx: u64,
}

/// A registered attestation.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub type_id: Uuid,
    pub status_list_id: Uuid,
    pub status_idx: u64,
    /// `valid`, `suspended` or `revoked`.
    pub status: String,
    pub subject_ref: Option<String>,
    pub issued_by: String,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the caller's part of an issuance returns: the credential, its audit event and, for a
/// request with an `Idempotency-Key`, the response to keep for retries.
#[derive(Debug, Clone)]
pub struct Signed<T> {
    pub value: T,
    pub audit: AuditEvent,
    pub remember: Option<IdempotentResponse>,
}

/// A status change decided by the caller from the attestation as it is inside the transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// The new status text.
    pub status: String,
    /// Its value in the status list.
    pub list_value: u8,
    /// The audit entry of the change (written even when the status stays the same: the request
    /// and its reason are recorded).
    pub audit: AuditEvent,
}

/// A stored Token Status List.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusListRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub bits: u8,
    pub capacity: u64,
    /// The uncompressed bit string.
    pub list: Vec<u8>,
    /// Grows with every change: the list's ETag.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// Attestation types, the register of issued attestations and their status lists.
pub trait AttestationRepo {
    /// Stores the next version of the type `slug` of the organisation (version 1 when new), with
    /// its audit entry, whose details gain the version.
    fn create_attestation_type(
        &self,
        new: NewAttestationType,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<AttestationTypeRecord, StoreError>> + Send;

    /// The latest version of the type `slug` of `org`.
    fn latest_attestation_type(
        &self,
        org: OrgId,
        slug: &str,
    ) -> impl Future<Output = Result<Option<AttestationTypeRecord>, StoreError>> + Send;

    /// The type version with this id, if it belongs to `org`.
    fn attestation_type(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<AttestationTypeRecord>, StoreError>> + Send;

    /// The latest version of each type of `org`, by slug.
    fn list_attestation_types(
        &self,
        org: OrgId,
    ) -> impl Future<Output = Result<Vec<AttestationTypeRecord>, StoreError>> + Send;

    /// Allocates a random free status index, then calls `sign` with it inside the transaction
    /// (it makes the credential, its audit event and the response to remember; an `Err` rolls
    /// everything back), and registers the attestation with that audit entry.
    fn issue_attestation<T, F>(
        &self,
        new: NewAttestation,
        at: DateTime<Utc>,
        sign: F,
    ) -> impl Future<Output = Result<(AttestationRecord, T), StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(StatusAllocation) -> Result<Signed<T>, StoreError> + Send + 'static;

    /// The attestation `id` of `org`.
    fn get_attestation(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<AttestationRecord>, StoreError>> + Send;

    /// The register of `org`, oldest first, one page at a time.
    fn list_attestations(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AttestationRecord>, StoreError>> + Send;

    /// Changes the status of attestation `id` of `org` as `decide` says from its current record
    /// (an `Err` from `decide` changes nothing), rewriting the status list's bits and version.
    fn change_attestation_status<F>(
        &self,
        org: OrgId,
        id: Uuid,
        at: DateTime<Utc>,
        decide: F,
    ) -> impl Future<Output = Result<AttestationRecord, StoreError>> + Send
    where
        F: FnOnce(&AttestationRecord) -> Result<StatusUpdate, StoreError> + Send + 'static;

    /// A status list by id (public: lists are published).
    fn status_list(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<StatusListRecord>, StoreError>> + Send;

    /// Every status list of every organisation (for online verification).
    fn all_status_lists(
        &self,
    ) -> impl Future<Output = Result<Vec<StatusListRecord>, StoreError>> + Send;
}

const TYPES: &str = "attestation_types";
const TYPE_COLS: &str = "id, org_id, slug, version, vct, definition, created_at";
const LISTS: &str = "status_lists";
const LIST_COLS: &str = "id, org_id, bits, capacity, list, version, updated_at";
const REGISTER: &str = "attestations";
const COLS: &str = "id, org_id, type_id, status_list_id, status_idx, status, subject_ref, \
                    issued_by, valid_from, valid_to, created_at, updated_at";

fn type_from_row(row: &Row) -> Result<AttestationTypeRecord, StoreError> {
    Ok(AttestationTypeRecord {
        id: row.id("id")?,
        org_id: OrgId::from_uuid(row.id("org_id")?),
        slug: row.text("slug")?,
        version: row.count("version")?,
        vct: row.text("vct")?,
        definition: row.json("definition")?,
        created_at: row.time("created_at")?,
    })
}

fn list_from_row(row: &Row) -> Result<StatusListRecord, StoreError> {
    let bits = row.int32("bits")?;
    Ok(StatusListRecord {
        id: row.id("id")?,
        org_id: OrgId::from_uuid(row.id("org_id")?),
        bits: u8::try_from(bits).map_err(|_| StoreError::corrupt(LISTS, format!("bits {bits}")))?,
        capacity: row.count("capacity")?,
        list: row.bytes("list")?,
        version: row.count("version")?,
        updated_at: row.time("updated_at")?,
    })
}

fn from_row(row: &Row) -> Result<AttestationRecord, StoreError> {
    Ok(AttestationRecord {
        id: row.id("id")?,
        org_id: OrgId::from_uuid(row.id("org_id")?),
        type_id: row.id("type_id")?,
        status_list_id: row.id("status_list_id")?,
        status_idx: row.count("status_idx")?,
        status: row.text("status")?,
        subject_ref: row.opt_text("subject_ref")?,
        issued_by: row.text("issued_by")?,
        valid_from: row.time("valid_from")?,
        valid_to: row.time("valid_to")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// A uniformly random index below `capacity` (from the OS generator, through UUIDv4).
fn random_index(capacity: u64) -> u64 {
    let r = Uuid::new_v4().as_u128();
    u64::try_from(r % u128::from(capacity)).unwrap_or(0)
}

/// `n` random free indexes in lists of `org` with room (a list takes new entries until it is
/// 3/4 used), creating new lists as needed.
pub(crate) async fn allocate_many(
    tx: &mut Tx,
    org: OrgId,
    n: usize,
    at: DateTime<Utc>,
) -> Result<Vec<StatusAllocation>, StoreError> {
    let mut slots: Vec<StatusAllocation> = Vec::with_capacity(n);
    while slots.len() < n {
        let open = query(
            LISTS,
            "SELECT id, capacity, used FROM status_lists \
             WHERE org_id = $1 AND used * $2 < capacity * $3 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .id(*org.as_uuid())
        .count(FILL_DENOMINATOR)?
        .count(FILL_NUMERATOR)?
        .fetch_optional(tx.on())
        .await?;
        let (list_id, capacity, used) = match open {
            Some(row) => (row.id("id")?, row.count("capacity")?, row.count("used")?),
            None => {
                let id = Uuid::now_v7();
                let empty = StatusList::new(STATUS_BITS, STATUS_CAPACITY)
                    .map_err(|e| StoreError::corrupt(LISTS, e))?;
                query(
                    LISTS,
                    "INSERT INTO status_lists \
                     (id, org_id, bits, capacity, used, list, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 0, $5, 1, $6, $6)",
                )
                .id(id)
                .id(*org.as_uuid())
                .int32(i32::from(STATUS_BITS))
                .count(STATUS_CAPACITY)?
                .bytes(empty.as_bytes())
                .time(at)
                .execute(tx.on())
                .await?;
                (id, STATUS_CAPACITY, 0)
            }
        };
        // The list stays at most 3/4 used, so each try finds a free index with probability
        // ≥ 1/4.
        let room = (capacity * FILL_NUMERATOR)
            .div_ceil(FILL_DENOMINATOR)
            .saturating_sub(used)
            .max(1);
        let wanted = u64::try_from(n - slots.len()).unwrap_or(u64::MAX).min(room);
        let mut taken_here = 0u64;
        for _ in 0..wanted {
            let mut found = None;
            for _ in 0..64 {
                let idx = random_index(capacity);
                if slots.iter().any(|s| s.list_id == list_id && s.idx == idx) {
                    continue;
                }
                let taken = query(
                    REGISTER,
                    "SELECT 1 AS taken FROM attestations \
                     WHERE status_list_id = $1 AND status_idx = $2",
                )
                .id(list_id)
                .count(idx)?
                .fetch_optional(tx.on())
                .await?;
                if taken.is_none() {
                    found = Some(idx);
                    break;
                }
            }
            let idx = found.ok_or_else(|| {
                StoreError::corrupt(
                    LISTS,
                    format!("no free index found in status list {list_id} in 64 tries"),
                )
            })?;
            slots.push(StatusAllocation { list_id, idx });
            taken_here += 1;
        }
        query(
            LISTS,
            "UPDATE status_lists SET used = used + $1 WHERE id = $2",
        )
        .count(taken_here)?
        .id(list_id)
        .execute(tx.on())
        .await?;
    }
    Ok(slots)
}

/// A random free index in a list of `org` with room, creating a new list when none has.
async fn allocate(
    tx: &mut Tx,
    org: OrgId,
    at: DateTime<Utc>,
) -> Result<StatusAllocation, StoreError> {
    allocate_many(tx, org, 1, at)
        .await?
        .pop()
        .ok_or_else(|| StoreError::corrupt(LISTS, "no status entry allocated"))
}

/// Registers `new` at `slot` inside the caller's write transaction (the caller writes the audit
/// entry).
pub(crate) async fn register_in(
    tx: &mut Tx,
    new: NewAttestation,
    slot: StatusAllocation,
    at: DateTime<Utc>,
) -> Result<AttestationRecord, StoreError> {
    let record = AttestationRecord {
        id: new.id,
        org_id: new.org_id,
        type_id: new.type_id,
        status_list_id: slot.list_id,
        status_idx: slot.idx,
        status: "valid".into(),
        subject_ref: new.subject_ref,
        issued_by: new.issued_by,
        valid_from: micros(new.valid_from),
        valid_to: micros(new.valid_to),
        created_at: at,
        updated_at: at,
    };
    query(
        REGISTER,
        format!(
            "INSERT INTO attestations ({COLS}, signing_kid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)"
        ),
    )
    .id(record.id)
    .id(*record.org_id.as_uuid())
    .id(record.type_id)
    .id(record.status_list_id)
    .count(record.status_idx)?
    .text(&record.status)
    .opt_text(record.subject_ref.as_deref())
    .text(&record.issued_by)
    .time(record.valid_from)
    .time(record.valid_to)
    .time(at)
    .opt_text(new.signing_kid.as_deref())
    .execute(tx.on())
    .await
    .map_err(|e| e.on_write("attestation"))?;
    Ok(record)
}

impl AttestationRepo for Store {
    async fn create_attestation_type(
        &self,
        new: NewAttestationType,
        mut audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<AttestationTypeRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let last = query(
                        TYPES,
                        "SELECT MAX(version) AS v FROM attestation_types \
                         WHERE org_id = $1 AND slug = $2",
                    )
                    .id(*new.org_id.as_uuid())
                    .text(&new.slug)
                    .fetch_one(tx.on())
                    .await?;
                    let version = match last.opt_int("v")? {
                        None => 1,
                        Some(v) => u64::try_from(v).unwrap_or(0) + 1,
                    };
                    query(
                        TYPES,
                        format!(
                            "INSERT INTO attestation_types ({TYPE_COLS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)"
                        ),
                    )
                    .id(new.id)
                    .id(*new.org_id.as_uuid())
                    .text(&new.slug)
                    .count(version)?
                    .text(&new.vct)
                    .text(new.definition.to_string())
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("attestation type"))?;
                    if let Some(details) = audit.details.as_object_mut() {
                        details.insert("version".into(), version.into());
                    }
                    append_in(tx, audit, at).await?;
                    Ok(AttestationTypeRecord {
                        id: new.id,
                        org_id: new.org_id,
                        slug: new.slug,
                        version,
                        vct: new.vct,
                        definition: new.definition,
                        created_at: at,
                    })
                })
            })
            .await
    }

    async fn latest_attestation_type(
        &self,
        org: OrgId,
        slug: &str,
    ) -> Result<Option<AttestationTypeRecord>, StoreError> {
        query(
            TYPES,
            format!(
                "SELECT {TYPE_COLS} FROM attestation_types WHERE org_id = $1 AND slug = $2 \
                 ORDER BY version DESC LIMIT 1"
            ),
        )
        .id(*org.as_uuid())
        .text(slug)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(type_from_row)
        .transpose()
    }

    async fn attestation_type(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> Result<Option<AttestationTypeRecord>, StoreError> {
        query(
            TYPES,
            format!("SELECT {TYPE_COLS} FROM attestation_types WHERE org_id = $1 AND id = $2"),
        )
        .id(*org.as_uuid())
        .id(id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(type_from_row)
        .transpose()
    }

    async fn list_attestation_types(
        &self,
        org: OrgId,
    ) -> Result<Vec<AttestationTypeRecord>, StoreError> {
        query(
            TYPES,
            format!(
                "SELECT {TYPE_COLS} FROM attestation_types t WHERE org_id = $1 AND version = \
                 (SELECT MAX(version) FROM attestation_types u \
                  WHERE u.org_id = t.org_id AND u.slug = t.slug) ORDER BY slug"
            ),
        )
        .id(*org.as_uuid())
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(type_from_row)
        .collect()
    }

    async fn issue_attestation<T, F>(
        &self,
        new: NewAttestation,
        at: DateTime<Utc>,
        sign: F,
    ) -> Result<(AttestationRecord, T), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(StatusAllocation) -> Result<Signed<T>, StoreError> + Send + 'static,
    {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let slot = allocate(tx, new.org_id, at).await?;
                    let signed = sign(slot)?;
                    let record = register_in(tx, new, slot, at).await?;
                    append_in(tx, signed.audit, at).await?;
                    if let Some(response) = signed.remember {
                        remember_in(tx, response).await?;
                    }
                    Ok((record, signed.value))
                })
            })
            .await
    }

    async fn get_attestation(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> Result<Option<AttestationRecord>, StoreError> {
        query(
            REGISTER,
            format!("SELECT {COLS} FROM attestations WHERE org_id = $1 AND id = $2"),
        )
        .id(*org.as_uuid())
        .id(id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn list_attestations(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> Result<Page<AttestationRecord>, StoreError> {
        page.validate()?;
        let fetch = i64::from(page.limit) + 1;
        let q = match page.cursor.as_deref() {
            None => query(
                REGISTER,
                format!("SELECT {COLS} FROM attestations WHERE org_id = $1 ORDER BY id LIMIT $2"),
            )
            .id(*org.as_uuid())
            .int(fetch),
            Some(cursor) => query(
                REGISTER,
                format!(
                    "SELECT {COLS} FROM attestations WHERE org_id = $1 AND id > $2 \
                     ORDER BY id LIMIT $3"
                ),
            )
            .id(*org.as_uuid())
            .id(decode_cursor(cursor)?)
            .int(fetch),
        };
        let items = q
            .fetch_all(self.db.read())
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, page.limit, |a: &AttestationRecord| a.id))
    }

    async fn change_attestation_status<F>(
        &self,
        org: OrgId,
        id: Uuid,
        at: DateTime<Utc>,
        decide: F,
    ) -> Result<AttestationRecord, StoreError>
    where
        F: FnOnce(&AttestationRecord) -> Result<StatusUpdate, StoreError> + Send + 'static,
    {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let row = query(
                        REGISTER,
                        format!("SELECT {COLS} FROM attestations WHERE org_id = $1 AND id = $2"),
                    )
                    .id(*org.as_uuid())
                    .id(id)
                    .fetch_optional(tx.on())
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "attestation",
                        id: id.to_string(),
                    })?;
                    let mut record = from_row(&row)?;
                    let update = decide(&record)?;
                    if update.status != record.status {
                        query(
                            REGISTER,
                            "UPDATE attestations SET status = $1, updated_at = $2 WHERE id = $3",
                        )
                        .text(&update.status)
                        .time(at)
                        .id(id)
                        .execute(tx.on())
                        .await?;
                        let list = query(
                            LISTS,
                            format!("SELECT {LIST_COLS} FROM status_lists WHERE id = $1"),
                        )
                        .id(record.status_list_id)
                        .fetch_one(tx.on())
                        .await?;
                        let list = list_from_row(&list)?;
                        let mut bits = StatusList::from_bytes(list.bits, list.list)
                            .map_err(|e| StoreError::corrupt(LISTS, e))?;
                        bits.set(record.status_idx, update.list_value)
                            .map_err(|e| StoreError::corrupt(LISTS, e))?;
                        query(
                            LISTS,
                            "UPDATE status_lists SET list = $1, version = version + 1, \
                             updated_at = $2 WHERE id = $3",
                        )
                        .bytes(bits.as_bytes())
                        .time(at)
                        .id(list.id)
                        .execute(tx.on())
                        .await?;
                        record.status = update.status;
                        record.updated_at = at;
                    }
                    append_in(tx, update.audit, at).await?;
                    Ok(record)
                })
            })
            .await
    }

    async fn status_list(&self, id: Uuid) -> Result<Option<StatusListRecord>, StoreError> {
        query(
            LISTS,
            format!("SELECT {LIST_COLS} FROM status_lists WHERE id = $1"),
        )
        .id(id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(list_from_row)
        .transpose()
    }

    async fn all_status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError> {
        query(
            LISTS,
            format!("SELECT {LIST_COLS} FROM status_lists ORDER BY id"),
        )
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(list_from_row)
        .collect()
    }
}
