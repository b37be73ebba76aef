//! Offline operations behind the CLI: `admin bootstrap`, `backup`, `audit export` and
//! `audit verify`. They open the configured database directly and work while a server runs.

use std::io::Write as _;
use std::path::Path;

use chrono::Utc;
use tillit_audit::export::verify_export_bytes;
use tillit_audit::{AuditEntry, ChainVerifier, TreeHead, Violation};
use tillit_crypto::{Jwk, VerifyingKey};
use tillit_store::{AuditRepo, KeyRepo, Scope, Store, StoreError};

use crate::config::Config;
use crate::keys::{KeyError, AUDIT_KEY_PURPOSE};
use crate::runtime::{open_store, prepare, ServerError};
use crate::tree_heads::{from_record, sign_pending, TreeHeadError};

/// Result of an audit verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Intact; a one-line summary.
    Intact(String),
    /// Not intact; names the first bad line / entry.
    Broken(String),
}

/// Result of `backup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupOutcome {
    /// The SQLite copy was written.
    Written,
    /// The database is PostgreSQL: use `pg_dump`.
    UsePgDump,
}

/// Entries read per query when streaming the log.
const PAGE: u32 = 5000;

/// Creates a super-admin API token and returns its secret.
pub async fn bootstrap_admin(config: Config) -> Result<String, ServerError> {
    let store = open_store(&config).await?;
    let secret =
        crate::auth::create_super_admin_token(&store, "admin-bootstrap", "system:admin-bootstrap")
            .await;
    store.close().await;
    Ok(secret?)
}

/// `tillit admin token --user ID`: a token acting as user `user` of the access model in force
/// (which must know the user), printed once. Returns the secret.
pub async fn create_user_token(
    config: Config,
    user: &str,
    name: &str,
) -> Result<String, ServerError> {
    let store = open_store(&config).await?;
    let result = async {
        let loaded = crate::access::AccessCache::default().model(&store).await?;
        if !loaded.model.has_user(user) {
            return Err(ServerError::Access(
                crate::access::AccessServiceError::UnknownUser(user.to_owned()),
            ));
        }
        let subject = crate::auth::Subject::User(user.to_owned());
        Ok(
            crate::auth::create_token(&store, &subject, name, "system:cli")
                .await?
                .secret,
        )
    }
    .await;
    store.close().await;
    result
}

/// Writes a consistent copy of the SQLite database to `out` (`VACUUM INTO`).
pub async fn backup(config: Config, out: &Path) -> Result<BackupOutcome, ServerError> {
    let store = open_store(&config).await?;
    let result = store.backup_to(out).await;
    store.close().await;
    match result {
        Ok(()) => Ok(BackupOutcome::Written),
        Err(StoreError::Unsupported(_)) => Ok(BackupOutcome::UsePgDump),
        Err(e) => Err(e.into()),
    }
}

/// Feeds every entry of the log, in seq order, to `each`, reading it in pages: memory stays
/// bounded however long the log. Stops at the first error of `each`.
async fn for_each_entry<E: From<StoreError>>(
    store: &Store,
    mut each: impl FnMut(AuditEntry) -> Result<(), E>,
) -> Result<u64, E> {
    let mut from = 1u64;
    let mut count = 0u64;
    loop {
        let page = store.audit_entries(from, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        from = last.seq.saturating_add(1);
        let full = page.len() == PAGE as usize;
        for entry in page {
            each(entry)?;
            count += 1;
        }
        if !full {
            break;
        }
    }
    Ok(count)
}

/// The public halves of every installation audit key (active and retired).
async fn audit_public_keys(store: &Store) -> Result<Vec<VerifyingKey>, ServerError> {
    let records = store
        .list_keys(Scope::Installation, AUDIT_KEY_PURPOSE)
        .await?;
    records
        .into_iter()
        .map(|r| {
            let jwk: Jwk = serde_json::from_value(r.public_jwk).map_err(|e| KeyError::BadJwk {
                kid: r.kid.clone(),
                reason: e.to_string(),
            })?;
            Ok(VerifyingKey::from_jwk(&jwk).map_err(KeyError::from)?)
        })
        .collect()
}

fn tree_head_error(e: TreeHeadError) -> ServerError {
    match e {
        TreeHeadError::Store(s) => ServerError::Store(s),
        TreeHeadError::Key(k) => ServerError::Key(k),
        TreeHeadError::Sign(m) => ServerError::Audit(m),
    }
}

/// Exports the log as JSON lines to `out`: every entry, the stored tree heads and a closing
/// `export_end` signed now with the audit key. Written to a temporary file and renamed, so `out`
/// is never half-written. Returns a one-line summary.
pub async fn export_audit(config: Config, out: &Path) -> Result<String, ServerError> {
    let state = prepare(config).await?;
    let result = export_with(&state, out).await;
    state.store.close().await;
    result
}

async fn export_with(state: &crate::AppState, out: &Path) -> Result<String, ServerError> {
    // Sign a fresh tree head over everything, so the export carries the latest one too.
    sign_pending(state, 1).await.map_err(tree_head_error)?;
    let key = state
        .keys
        .active(Scope::Installation, AUDIT_KEY_PURPOSE)
        .await?
        .ok_or_else(|| {
            ServerError::Audit("no active audit key; start `tillit serve` once to create it".into())
        })?;
    let heads: Vec<TreeHead> = state
        .store
        .tree_heads()
        .await?
        .into_iter()
        .map(from_record)
        .collect();
    let mut writer = tillit_audit::export::ExportWriter::new(&heads);
    let tmp = out.with_extension("partial");
    let io = |e: std::io::Error| ServerError::Io {
        context: format!("cannot write {}", tmp.display()),
        source: e,
    };
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut file = std::io::BufWriter::new(file);
    let audit = |e: tillit_audit::AuditError| ServerError::Audit(e.to_string());
    let count = for_each_entry(&state.store, |entry| {
        file.write_all(writer.push(&entry).map_err(audit)?.as_bytes())
            .map_err(io)
    })
    .await?;
    file.write_all(writer.finish(Utc::now(), &key).map_err(audit)?.as_bytes())
        .map_err(io)?;
    let file = file.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, out).map_err(|e| ServerError::Io {
        context: format!("cannot rename {} to {}", tmp.display(), out.display()),
        source: e,
    })?;
    Ok(format!(
        "exported {count} entries and {} tree heads to {}",
        heads.len(),
        out.display()
    ))
}

/// Verifies the live log: hash chain, every entry hash, every stored tree head (root and
/// signature with the installation audit keys), and that the stored Merkle nodes (from which
/// heads and proofs are served) give the root the entries give. Reads the log in pages.
pub async fn verify_live(config: Config) -> Result<AuditVerdict, ServerError> {
    let store = open_store(&config).await?;
    let result = verify_store(&store).await;
    store.close().await;
    result
}

/// [`verify_live`] on an open store.
pub async fn verify_store(store: &Store) -> Result<AuditVerdict, ServerError> {
    let heads: Vec<TreeHead> = store
        .tree_heads()
        .await?
        .into_iter()
        .map(from_record)
        .collect();
    let keys = audit_public_keys(store).await?;
    let broken = |v: Violation| {
        AuditVerdict::Broken(match v.seq {
            Some(seq) => format!("first bad entry: seq {seq}: {}", v.reason),
            None => format!("first bad entry at position {}: {}", v.line, v.reason),
        })
    };
    let mut verifier = match ChainVerifier::new(&heads, &keys) {
        Ok(v) => v,
        Err(v) => return Ok(broken(v)),
    };
    /// Why the stream stopped.
    enum Stop {
        Bad(Violation),
        Store(StoreError),
    }
    impl From<StoreError> for Stop {
        fn from(e: StoreError) -> Self {
            Stop::Store(e)
        }
    }
    // The rows as stored, not decoded into entries: no allocation or JSON parsing per entry.
    match store
        .for_each_stored_audit_entry(|e| verifier.push_stored(e).map_err(Stop::Bad))
        .await
    {
        Ok(_) => {}
        Err(Stop::Bad(v)) => return Ok(broken(v)),
        Err(Stop::Store(e)) => return Err(e.into()),
    }
    let s = match verifier.finish() {
        Ok(s) => s,
        Err(v) => return Ok(broken(v)),
    };
    let stored = store.audit_root(s.entries).await?;
    if stored != s.root_hash {
        return Ok(AuditVerdict::Broken(format!(
            "the stored Merkle tree nodes give root {} for {} entries, but the entries give {}: \
             the node table was altered (proofs served from it would not verify)",
            hex::encode(stored),
            s.entries,
            hex::encode(s.root_hash)
        )));
    }
    if let Some(wrong) = store.check_audit_nodes(s.entries).await? {
        return Ok(AuditVerdict::Broken(wrong));
    }
    Ok(AuditVerdict::Intact(format!(
        "{} entries and every stored Merkle node, {} signed tree heads, root {}",
        s.entries,
        s.tree_heads,
        hex::encode(s.root_hash)
    )))
}

/// Verifies an export file. Signatures are checked against `keys` (public JWKs) when given,
/// else against the installation audit keys of the configured database.
pub async fn verify_export_file(
    config: Config,
    file: &Path,
    keys: Option<Vec<Jwk>>,
) -> Result<AuditVerdict, ServerError> {
    let bytes = std::fs::read(file).map_err(|e| ServerError::Io {
        context: format!("cannot read {}", file.display()),
        source: e,
    })?;
    let trusted = match keys {
        Some(jwks) => jwks
            .iter()
            .map(|j| VerifyingKey::from_jwk(j).map_err(|e| ServerError::Key(e.into())))
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            let store = open_store(&config).await?;
            let keys = audit_public_keys(&store).await;
            store.close().await;
            keys?
        }
    };
    Ok(match verify_export_bytes(&bytes, &trusted) {
        Ok(s) => AuditVerdict::Intact(format!(
            "{} entries, {} signed tree heads, root {}",
            s.entries,
            s.tree_heads,
            hex::encode(s.root_hash)
        )),
        Err(v) => AuditVerdict::Broken(format!("{}: {v}", file.display())),
    })
}

/// `tillit access import FILE`: reads a JSON or YAML access document (by extension: `.json`,
/// `.yaml`/`.yml`; otherwise by its first character), and imports it as the new version in force,
/// all or nothing, with its `access.import` audit entry (actor `system:cli`).
pub async fn access_import(
    config: Config,
    file: &Path,
) -> Result<crate::access::Imported, ServerError> {
    let text = std::fs::read_to_string(file).map_err(|e| ServerError::Io {
        context: format!("cannot read {}", file.display()),
        source: e,
    })?;
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let document = match ext.as_deref() {
        Some("json") => tillit_access::Document::from_json(&text),
        Some("yaml" | "yml") => tillit_access::Document::from_yaml(&text),
        _ => tillit_access::Document::parse(&text),
    }
    .map_err(crate::access::AccessServiceError::from)?;
    let (document, model) = crate::access::compile(document).await?;
    let store = open_store(&config).await?;
    let result = crate::access::import(
        &store,
        None,
        &document,
        model,
        "system:cli",
        Utc::now(),
        &|_| Ok(None),
    )
    .await;
    store.close().await;
    Ok(result?)
}

/// `tillit access export`: the document in force as JSON; `None` before the first import.
pub async fn access_export(config: Config) -> Result<Option<String>, ServerError> {
    use tillit_store::AccessRepo as _;
    let store = open_store(&config).await?;
    let result = store.latest_access_document().await;
    store.close().await;
    Ok(result?.map(|d| d.document))
}

/// `tillit access check`: decides `request` on the document in force (with the exercises
/// recorded on its object; a CLI check records nothing).
pub async fn access_check(
    config: Config,
    mut request: tillit_access::CheckRequest,
) -> Result<tillit_access::Decision, ServerError> {
    request.record = false;
    let store = open_store(&config).await?;
    let result = async {
        let cache = crate::access::AccessCache::default();
        let loaded = cache.model(&store).await?;
        crate::access::decide(&store, &loaded, &request, "system:cli", Utc::now()).await
    }
    .await;
    store.close().await;
    Ok(result?.0)
}
