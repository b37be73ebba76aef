//! What every area shares: the tenant [`Scope`], time precision, cursor pagination.

use chrono::{DateTime, Utc};
use tillit_core::{OrgId, Page};
use uuid::Uuid;

use crate::StoreError;

/// Which tenant a query on tenant-owned rows is about.
///
/// Every query on tenant-owned rows takes one: `Org(a)` sees only rows with `org_id = a`,
/// `Installation` sees only installation-wide rows (`org_id IS NULL`), never a tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Rows that belong to the installation itself (no organisation).
    Installation,
    /// Rows that belong to one organisation.
    Org(OrgId),
}

impl Scope {
    /// The `org_id` column value of rows in this scope.
    pub fn org_id(self) -> Option<OrgId> {
        match self {
            Self::Installation => None,
            Self::Org(id) => Some(id),
        }
    }

    /// The scope of a row with this `org_id`.
    pub fn of(org_id: Option<OrgId>) -> Self {
        org_id.map_or(Self::Installation, Self::Org)
    }

    /// The `org_id` column value as a UUID (for binding).
    pub(crate) fn column(self) -> Option<Uuid> {
        self.org_id().map(|o| *o.as_uuid())
    }
}

/// Truncates to microseconds, the precision both backends store: a time written and read back
/// compares equal to `micros(t)`.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
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
