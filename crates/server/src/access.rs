//! The access-management service around `tillit_access`: the compiled model in force, cached per
//! process and kept fresh, importing a document, and deciding with per-object exercises recorded.
//! The HTTP handlers (`access_api`) and the offline CLI operations (`ops`) both call this.
//!
//! **Freshness.** The model in force is the store's latest document version. Each process keeps
//! the compiled [`Model`] of the version it last saw and asks the store for the latest version
//! number (one indexed read) at most once per [`MODEL_TTL`]; when it changed, the new document is
//! compiled off the async threads and swapped in, while other requests keep deciding on the old
//! one. An import is in force at once in the process that made it, and within [`MODEL_TTL`] in
//! every other process sharing the database.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tillit_access::{AccessError, CheckRequest, Decision, Document, Model};
use tillit_audit::AuditEvent;
use tillit_store::{AccessDocumentVersion, AccessRepo, IdempotentResponse, Store, StoreError};

/// How long a process decides on the version it last saw before it asks the store again.
pub const MODEL_TTL: Duration = Duration::from_secs(1);

/// How often a decision to record is retried when another exercise on the same object was
/// recorded between reading the object's exercises and writing (per-object separation of duties
/// must see every earlier exercise).
const RECORD_ATTEMPTS: usize = 5;

/// One compiled version of the access document.
#[derive(Debug)]
pub struct Loaded {
    /// The store's version number.
    pub version: u64,
    /// The compiled model.
    pub model: Model,
}

/// Why the service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum AccessServiceError {
    /// No document has been imported yet.
    #[error("no access document has been imported yet; import one with POST /v1/access/import or `tillit access import FILE`")]
    NoDocument,
    /// The document was unreadable or refused (nothing stored).
    #[error(transparent)]
    Document(#[from] AccessError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller may not make this change (delegated administration); the reasons say why.
    #[error("refused: {0}")]
    Refused(String),
    /// No entry with this id.
    #[error("{0}")]
    Missing(String),
    /// An entry with this id exists already.
    #[error("{0}")]
    Exists(String),
    /// A user the model in force does not know.
    #[error(
        "user {0:?} is not in the access document in force; add it and import the document first"
    )]
    UnknownUser(String),
    /// A stored document no longer loads (the database was changed outside Tillit, or a newer
    /// Tillit wrote it).
    #[error("the stored access document version {version} does not load: {reason}")]
    Stored {
        /// Its version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// Too many concurrent writers on one object or document; retry.
    #[error("{0}; retry")]
    Contended(String),
    /// The blocking task compiling the model did not finish (the runtime is shutting down).
    #[error("the model compilation was interrupted: {0}")]
    Interrupted(String),
}

/// The per-process cache of the compiled model in force (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct AccessCache {
    inner: Arc<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    current: RwLock<Option<Arc<Loaded>>>,
    /// When the store's latest version was last compared with `current`.
    checked: Mutex<Option<Instant>>,
    /// One refresh at a time; the others keep deciding on `current`.
    refresh: tokio::sync::Mutex<()>,
}

impl AccessCache {
    fn current(&self) -> Option<Arc<Loaded>> {
        self.inner.current.read().ok().and_then(|c| c.clone())
    }

    fn fresh(&self) -> bool {
        self.inner
            .checked
            .lock()
            .ok()
            .and_then(|c| *c)
            .is_some_and(|at| at.elapsed() < MODEL_TTL)
    }

    fn mark_checked(&self) {
        if let Ok(mut c) = self.inner.checked.lock() {
            *c = Some(Instant::now());
        }
    }

    /// Installs `loaded` unless a newer version is already in place.
    fn install(&self, loaded: Arc<Loaded>) {
        if let Ok(mut c) = self.inner.current.write() {
            if c.as_ref().is_none_or(|old| old.version < loaded.version) {
                *c = Some(loaded);
            }
        }
    }

    /// The model in force (see the module's note on freshness).
    pub async fn model(&self, store: &Store) -> Result<Arc<Loaded>, AccessServiceError> {
        let current = self.current();
        if let Some(c) = &current {
            if self.fresh() {
                return Ok(c.clone());
            }
        }
        // Someone else is refreshing: decide on what we have rather than wait.
        let _guard = match (self.inner.refresh.try_lock(), &current) {
            (Ok(guard), _) => guard,
            (Err(_), Some(c)) => return Ok(c.clone()),
            (Err(_), None) => self.inner.refresh.lock().await,
        };
        let current = self.current();
        if let Some(c) = &current {
            if self.fresh() {
                return Ok(c.clone());
            }
        }
        let latest = store.latest_access_version().await?;
        match (latest, current) {
            (None, _) => {
                self.mark_checked();
                Err(AccessServiceError::NoDocument)
            }
            (Some(v), Some(c)) if c.version == v => {
                self.mark_checked();
                Ok(c)
            }
            (Some(_), _) => {
                let stored = store
                    .latest_access_document()
                    .await?
                    .ok_or(AccessServiceError::NoDocument)?;
                let loaded = Arc::new(compile_stored(stored).await?);
                self.install(loaded.clone());
                self.mark_checked();
                Ok(self.current().unwrap_or(loaded))
            }
        }
    }
}

/// Compiles a stored version, off the async threads (a large model takes a while).
async fn compile_stored(stored: AccessDocumentVersion) -> Result<Loaded, AccessServiceError> {
    let version = stored.version;
    tokio::task::spawn_blocking(move || {
        let document = Document::from_json(&stored.document)?;
        Model::load(&crate::auth::with_builtin(&document)).map(|model| Loaded { version, model })
    })
    .await
    .map_err(|e| AccessServiceError::Interrupted(e.to_string()))?
    .map_err(|e| AccessServiceError::Stored {
        version,
        reason: e.to_string(),
    })
}

/// Compiles a document with the built-in IT system `tillit` added (see
/// [`crate::auth::with_builtin`]; the document itself is stored and exported without it), off the
/// async threads; [`AccessError::Invalid`] names every offending entry.
pub async fn compile(document: Document) -> Result<(Document, Model), AccessServiceError> {
    tokio::task::spawn_blocking(move || {
        Model::load(&crate::auth::with_builtin(&document)).map(|m| (document, m))
    })
    .await
    .map_err(|e| AccessServiceError::Interrupted(e.to_string()))?
    .map_err(AccessServiceError::from)
}

/// What an import stored.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The stored version.
    pub version: AccessDocumentVersion,
    /// Entries per section.
    pub counts: Vec<(&'static str, usize)>,
    /// SHA-256 of the stored JSON, hex.
    pub sha256: String,
}

/// Builds the response stored with an import for an `Idempotency-Key` (it is known before the
/// write, so it is written in the import's transaction).
pub type Remember<'a> =
    &'a (dyn Fn(&Imported) -> Result<Option<IdempotentResponse>, String> + Sync);

/// Imports a compiled document as the next version, with its `access.import` audit entry, and
/// installs it in `cache`. A concurrent import of another process is retried on the new latest
/// version (the last import wins, each a version of its own).
pub async fn import(
    store: &Store,
    cache: Option<&AccessCache>,
    document: &Document,
    model: Model,
    actor: &str,
    at: DateTime<Utc>,
    remember: Remember<'_>,
) -> Result<Imported, AccessServiceError> {
    let json = document.to_json()?;
    let sha256 = hex::encode(tillit_crypto::sha256(json.as_bytes()));
    // As written: the built-in IT system `tillit` the model adds is not counted.
    let counts: Vec<(&'static str, usize)> = document
        .counts()
        .into_iter()
        .map(|(section, n)| (section.as_str(), n))
        .collect();
    let at = tillit_store::micros(at);
    for _ in 0..RECORD_ATTEMPTS {
        let version = store.latest_access_version().await?.unwrap_or(0) + 1;
        let imported = Imported {
            version: AccessDocumentVersion {
                version,
                document: json.clone(),
                imported_by: actor.to_owned(),
                imported_at: at,
            },
            counts: counts.clone(),
            sha256: sha256.clone(),
        };
        let audit = AuditEvent {
            actor: actor.to_owned(),
            org_id: None,
            action: "access.import".into(),
            object_id: Some(version.to_string()),
            details: serde_json::json!({
                "version": version,
                "sha256": sha256,
                "counts": counts.iter().map(|(s, n)| (s.to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
            }),
        };
        let response = remember(&imported).map_err(AccessServiceError::Contended)?;
        match store
            .import_access_document(imported.version.clone(), audit, response)
            .await
        {
            Ok(_) => {
                if let Some(cache) = cache {
                    cache.install(Arc::new(Loaded { version, model }));
                }
                return Ok(imported);
            }
            Err(StoreError::Conflict {
                what: "access document version",
                ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AccessServiceError::Contended(
        "other imports kept taking the next version".into(),
    ))
}

/// What a change of the stored document stored.
#[derive(Debug, Clone)]
pub struct Changed<T> {
    /// The new version.
    pub version: u64,
    /// What the change returned.
    pub value: T,
}

/// Changes the stored document (read, `change`, compile, store as the next version with an
/// audit entry `action` naming `object`) — all or nothing, and never over a version it did not
/// read: when another process stored a version meanwhile, the change is made again on that one.
/// `change` sees the stored document and the model compiled from it.
#[allow(clippy::too_many_arguments)]
pub async fn modify<T, F>(
    store: &Store,
    cache: &AccessCache,
    actor: &str,
    action: &str,
    object: &str,
    at: DateTime<Utc>,
    change: F,
) -> Result<Changed<T>, AccessServiceError>
where
    T: Clone,
    F: Fn(&mut Document, &Model) -> Result<T, AccessServiceError>,
{
    let at = tillit_store::micros(at);
    for _ in 0..RECORD_ATTEMPTS {
        let stored = store
            .latest_access_document()
            .await?
            .ok_or(AccessServiceError::NoDocument)?;
        let current = cache.model(store).await?;
        let current = if current.version == stored.version {
            current
        } else {
            Arc::new(compile_stored(stored.clone()).await?)
        };
        let mut document = Document::from_json(&stored.document)?;
        let value = change(&mut document, &current.model)?;
        let (document, model) = compile(document).await?;
        let json = document.to_json()?;
        let version = stored.version + 1;
        let audit = AuditEvent {
            actor: actor.to_owned(),
            org_id: None,
            action: action.to_owned(),
            object_id: Some(object.to_owned()),
            details: serde_json::json!({
                "version": version,
                "sha256": hex::encode(tillit_crypto::sha256(json.as_bytes())),
            }),
        };
        let row = AccessDocumentVersion {
            version,
            document: json,
            imported_by: actor.to_owned(),
            imported_at: at,
        };
        match store.import_access_document(row, audit, None).await {
            Ok(_) => {
                cache.install(Arc::new(Loaded { version, model }));
                return Ok(Changed { version, value });
            }
            Err(StoreError::Conflict {
                what: "access document version",
                ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AccessServiceError::Contended(
        "other changes of the access document kept landing first".into(),
    ))
}

/// Decides `request` on `loaded` with the exercises recorded on its object; when it is allowed
/// and asks to record, records the exercise (with an `access.exercise` audit entry) so later
/// per-object separation-of-duties checks see it. Returns the decision and whether it recorded.
pub async fn decide(
    store: &Store,
    loaded: &Loaded,
    request: &CheckRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Decision, bool), AccessServiceError> {
    for _ in 0..RECORD_ATTEMPTS {
        let exercises = match &request.object {
            Some(object) => store.exercises_on(object).await?,
            None => Vec::new(),
        };
        let decision = loaded.model.decide(request, now, &exercises);
        let Some(exercise) = decision.exercise.clone().filter(|_| decision.allowed) else {
            return Ok((decision, false));
        };
        let audit = AuditEvent {
            actor: actor.to_owned(),
            org_id: None,
            action: "access.exercise".into(),
            object_id: Some(exercise.object.clone()),
            details: serde_json::json!({
                "user": exercise.user,
                "right": exercise.right,
                "at": exercise.at,
                "model_version": loaded.version,
            }),
        };
        let seen = u64::try_from(exercises.len()).unwrap_or(u64::MAX);
        match store.record_exercise(exercise, seen, audit, now).await {
            Ok(()) => return Ok((decision, true)),
            Err(StoreError::Conflict {
                what: "exercise on this object",
                ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AccessServiceError::Contended(
        "other decisions on the same object kept recording first".into(),
    ))
}
