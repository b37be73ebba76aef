//! Access management: the installation's access document, one row per imported version
//! (`access_documents`), and the exercises of rights on objects that per-object separation of
//! duties is checked against (`access_exercises`).
//!
//! The store does not read the document: it keeps the JSON the server validated with
//! `tillit_access::Model::load`. Versions are 1, 2, 3, … without gaps, never changed; the highest
//! is the model in force, so servers sharing a database reload when [`AccessRepo::latest_access_version`]
//! changes.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_access::{Exercise, Timestamp};
use tillit_audit::AuditEvent;

use crate::audit::append_in;
use crate::db::{query, Row, Tx};
use crate::idempotency::{remember_in, IdempotentResponse};
use crate::model::micros;
use crate::{Store, StoreError};

/// One imported version of the access document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDocumentVersion {
    /// 1 for the first import, then one more for each.
    pub version: u64,
    /// The document as JSON (`tillit_access::Document::to_json`).
    pub document: String,
    /// Who imported it (the audit actor).
    pub imported_by: String,
    /// When (microsecond precision).
    pub imported_at: DateTime<Utc>,
}

/// The access document's versions and the recorded exercises.
pub trait AccessRepo {
    /// Stores `doc` as the new version in force, with its audit entry and, for a request sent
    /// with an `Idempotency-Key`, the response, in one transaction. `doc.version` must be one
    /// more than the latest stored version (the caller read it): otherwise — another import got
    /// there first — [`StoreError::Conflict`] and nothing is written.
    fn import_access_document(
        &self,
        doc: AccessDocumentVersion,
        audit: AuditEvent,
        idempotency: Option<IdempotentResponse>,
    ) -> impl Future<Output = Result<AccessDocumentVersion, StoreError>> + Send;

    /// The number of the version in force; `None` before the first import. One indexed read:
    /// cheap enough to ask often.
    fn latest_access_version(&self)
        -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The version in force, with its document.
    fn latest_access_document(
        &self,
    ) -> impl Future<Output = Result<Option<AccessDocumentVersion>, StoreError>> + Send;

    /// Records an exercise of a right on an object, with its audit entry. `seen` is how many
    /// exercises on `exercise.object` the decision that allowed it was given: when another
    /// exercise on that object was recorded since, [`StoreError::Conflict`] and nothing is
    /// written, so the caller decides again (two conflicting exercises cannot both slip in).
    fn record_exercise(
        &self,
        exercise: Exercise,
        seen: u64,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every recorded exercise on `object`, oldest first.
    fn exercises_on(
        &self,
        object: &str,
    ) -> impl Future<Output = Result<Vec<Exercise>, StoreError>> + Send;
}

const DOCS: &str = "access_documents";
const DOC_COLS: &str = "version, document, imported_by, imported_at";
const EXERCISES: &str = "access_exercises";
const EXERCISE_COLS: &str = "object, user_id, person, access_right, at";

fn doc_from_row(row: &Row) -> Result<AccessDocumentVersion, StoreError> {
    Ok(AccessDocumentVersion {
        version: row.count("version")?,
        document: row.text("document")?,
        imported_by: row.text("imported_by")?,
        imported_at: row.time("imported_at")?,
    })
}

fn exercise_from_row(row: &Row) -> Result<Exercise, StoreError> {
    Ok(Exercise {
        user: row.text("user_id")?,
        person: row.opt_text("person")?,
        right: row.text("access_right")?,
        object: row.text("object")?,
        at: Timestamp(row.time("at")?),
    })
}

async fn latest_version_in(tx: &mut Tx) -> Result<u64, StoreError> {
    query(
        DOCS,
        "SELECT COALESCE(MAX(version), 0) AS v FROM access_documents",
    )
    .fetch_one(tx.on())
    .await?
    .count("v")
}

async fn exercise_count_in(tx: &mut Tx, object: &str) -> Result<u64, StoreError> {
    query(
        EXERCISES,
        "SELECT COUNT(*) AS n FROM access_exercises WHERE object = $1",
    )
    .text(object)
    .fetch_one(tx.on())
    .await?
    .count("n")
}

impl AccessRepo for Store {
    async fn import_access_document(
        &self,
        doc: AccessDocumentVersion,
        audit: AuditEvent,
        idempotency: Option<IdempotentResponse>,
    ) -> Result<AccessDocumentVersion, StoreError> {
        let doc = AccessDocumentVersion {
            imported_at: micros(doc.imported_at),
            ..doc
        };
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let latest = latest_version_in(tx).await?;
                    if doc.version != latest.saturating_add(1) {
                        return Err(StoreError::Conflict {
                            what: "access document version",
                            detail: format!(
                                "version {} was asked for; the latest is {latest}",
                                doc.version
                            ),
                        });
                    }
                    query(
                        DOCS,
                        format!(
                            "INSERT INTO access_documents ({DOC_COLS}) VALUES ($1, $2, $3, $4)"
                        ),
                    )
                    .count(doc.version)?
                    .text(&doc.document)
                    .text(&doc.imported_by)
                    .time(doc.imported_at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("access document version"))?;
                    append_in(tx, audit, doc.imported_at).await?;
                    if let Some(response) = idempotency {
                        remember_in(tx, response).await?;
                    }
                    Ok(doc)
                })
            })
            .await
    }

    async fn latest_access_version(&self) -> Result<Option<u64>, StoreError> {
        // ORDER BY … LIMIT 1 reads one index entry on both engines (MAX would too, but returns a
        // row even on an empty table).
        query(
            DOCS,
            "SELECT version FROM access_documents ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(self.db.read())
        .await?
        .map(|row| row.count("version"))
        .transpose()
    }

    async fn latest_access_document(&self) -> Result<Option<AccessDocumentVersion>, StoreError> {
        query(
            DOCS,
            format!("SELECT {DOC_COLS} FROM access_documents ORDER BY version DESC LIMIT 1"),
        )
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(doc_from_row)
        .transpose()
    }

    async fn record_exercise(
        &self,
        exercise: Exercise,
        seen: u64,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    // READ COMMITTED on PostgreSQL: without the lock two decisions on a fresh
                    // object both count zero and both insert.
                    tx.lock_name("access_exercises", &exercise.object).await?;
                    let now = exercise_count_in(tx, &exercise.object).await?;
                    if now != seen {
                        return Err(StoreError::Conflict {
                            what: "exercise on this object",
                            detail: format!(
                                "the decision saw {seen} exercises on the object; there are {now}"
                            ),
                        });
                    }
                    query(
                        EXERCISES,
                        format!(
                            "INSERT INTO access_exercises ({EXERCISE_COLS}) VALUES ($1, $2, $3, $4, $5)"
                        ),
                    )
                    .text(exercise.object)
                    .text(exercise.user)
                    .opt_text(exercise.person)
                    .text(exercise.right)
                    .time(micros(exercise.at.0))
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("exercise"))?;
                    append_in(tx, audit, at).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn exercises_on(&self, object: &str) -> Result<Vec<Exercise>, StoreError> {
        query(
            EXERCISES,
            format!("SELECT {EXERCISE_COLS} FROM access_exercises WHERE object = $1 ORDER BY id"),
        )
        .text(object)
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(exercise_from_row)
        .collect()
    }
}
