//! Organisations (tenants): the `orgs` table.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;
use tillit_core::{Country, OrgId, OrganisationNumber, Page, PageRequest};

use crate::audit::append_in;
use crate::db::{query, Row};
use crate::idempotency::{remember_in, IdempotentResponse};
use crate::model::{decode_cursor, micros, paginate};
use crate::{Store, StoreError};

/// An organisation to create. The caller chooses the id (so the audit event can name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrg {
    /// A fresh UUIDv7.
    pub id: OrgId,
    /// Display name, e.g. "Ankeborgs kommun".
    pub name: String,
    /// The validated organisation number; its country is the organisation's country.
    pub org_number: OrganisationNumber,
}

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Identifier.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Country of registration.
    pub country: Country,
    /// National organisation number (unique per country).
    pub org_number: OrganisationNumber,
    /// When it was created (microsecond precision).
    pub created_at: DateTime<Utc>,
}

/// Organisations (tenants).
pub trait OrgRepo {
    /// Creates an organisation, and stores `idempotency` (the response the caller will send) in
    /// the same transaction. [`StoreError::Conflict`] when (country, org_number), the id or the
    /// (actor, key) of `idempotency` already exists; then nothing is written, no audit entry either.
    fn create_org(
        &self,
        org: NewOrg,
        audit: AuditEvent,
        at: DateTime<Utc>,
        idempotency: Option<IdempotentResponse>,
    ) -> impl Future<Output = Result<Org, StoreError>> + Send;

    /// The organisation with this id, if any.
    fn get_org(&self, id: OrgId) -> impl Future<Output = Result<Option<Org>, StoreError>> + Send;

    /// Organisations in id order (= creation order, UUIDv7), one page at a time.
    fn list_orgs(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Org>, StoreError>> + Send;
}

const TABLE: &str = "orgs";
const COLS: &str = "id, name, country, org_number, created_at";

fn from_row(row: &Row) -> Result<Org, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::corrupt(TABLE, e);
    let country: Country = row.text("country")?.parse().map_err(|e| bad(&e))?;
    let org_number =
        OrganisationNumber::parse(country, &row.text("org_number")?).map_err(|e| bad(&e))?;
    Ok(Org {
        id: OrgId::from_uuid(row.id("id")?),
        name: row.text("name")?,
        country,
        org_number,
        created_at: row.time("created_at")?,
    })
}

impl OrgRepo for Store {
    async fn create_org(
        &self,
        org: NewOrg,
        audit: AuditEvent,
        at: DateTime<Utc>,
        idempotency: Option<IdempotentResponse>,
    ) -> Result<Org, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        TABLE,
                        format!("INSERT INTO orgs ({COLS}) VALUES ($1, $2, $3, $4, $5)"),
                    )
                    .id(*org.id.as_uuid())
                    .text(&org.name)
                    .text(org.org_number.country().code())
                    .text(org.org_number.as_str())
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("organisation"))?;
                    append_in(tx, audit, at).await?;
                    if let Some(response) = idempotency {
                        remember_in(tx, response).await?;
                    }
                    Ok(Org {
                        id: org.id,
                        name: org.name,
                        country: org.org_number.country(),
                        org_number: org.org_number,
                        created_at: at,
                    })
                })
            })
            .await
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        query(TABLE, format!("SELECT {COLS} FROM orgs WHERE id = $1"))
            .id(*id.as_uuid())
            .fetch_optional(self.db.read())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn list_orgs(&self, page: &PageRequest) -> Result<Page<Org>, StoreError> {
        page.validate()?;
        let fetch = i64::from(page.limit) + 1;
        let q = match page.cursor.as_deref() {
            None => query(
                TABLE,
                format!("SELECT {COLS} FROM orgs ORDER BY id LIMIT $1"),
            )
            .int(fetch),
            Some(cursor) => query(
                TABLE,
                format!("SELECT {COLS} FROM orgs WHERE id > $1 ORDER BY id LIMIT $2"),
            )
            .id(decode_cursor(cursor)?)
            .int(fetch),
        };
        let rows = q.fetch_all(self.db.read()).await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, page.limit, |o: &Org| *o.id.as_uuid()))
    }
}
