//! The conformance suite: every case runs against SQLite (a temp file) and, when
//! `TILLIT_TEST_POSTGRES_URL` is set, against PostgreSQL (each case in a fresh schema, so cases
//! run in parallel). `eval "$(bash .ci/postgres.sh)"` starts a local PostgreSQL for it.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, ensure, Context, Result};
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use serde_json::json;
use tillit_audit::{AuditEntry, AuditEvent, GENESIS_HASH};
use tillit_core::{ApiTokenId, Country, OrgId, OrganisationNumber, PageRequest};
use tillit_store::prelude::*;

/// One database to run a case against.
struct TestDb {
    name: &'static str,
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    async fn sqlite() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("tillit.db").display()
        );
        Ok(Self {
            name: "sqlite",
            url,
            _dir: Some(dir),
            pg_schema: None,
        })
    }

    async fn postgres(base: &str) -> Result<Self> {
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(base)
            .await
            .context("connect to TILLIT_TEST_POSTGRES_URL")?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Self {
            name: "postgres",
            url: format!("{base}{sep}options[search_path]={schema}"),
            _dir: None,
            pg_schema: Some((base.to_owned(), schema)),
        })
    }

    async fn drop_schema(&self) -> Result<()> {
        if let Some((base, schema)) = &self.pg_schema {
            let pool = sqlx::PgPool::connect(base).await?;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await?;
            pool.close().await;
        }
        Ok(())
    }
}

static SKIP_NOTICE: AtomicU32 = AtomicU32::new(0);

async fn databases() -> Result<Vec<TestDb>> {
    let mut dbs = vec![TestDb::sqlite().await?];
    match std::env::var("TILLIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => dbs.push(TestDb::postgres(&url).await?),
        _ => {
            if SKIP_NOTICE.fetch_add(1, Ordering::Relaxed) == 0 {
                println!("skipping postgres: TILLIT_TEST_POSTGRES_URL not set");
            }
        }
    }
    Ok(dbs)
}

/// Runs `case` on every backend, each with a freshly migrated database.
async fn on_every_backend<F, Fut>(case: F)
where
    F: Fn(Store, String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    for db in databases().await.expect("set up test database") {
        let store = Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{}: connect: {e}", db.name));
        let result = case(store.clone(), db.url.clone()).await;
        store.close().await;
        db.drop_schema().await.expect("drop test schema");
        if let Err(e) = result {
            panic!("{}: {e:#}", db.name);
        }
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            on_every_backend(cases::$case).await;
        }
    )*};
}

conformance!(
    orgs_create_get_list_paginate,
    duplicate_org_is_conflict_and_writes_no_audit,
    every_change_writes_one_chained_audit_entry,
    concurrent_writes_keep_a_gap_free_chain,
    tenant_isolation_of_every_scoped_query,
    api_tokens_roundtrip_and_revoke,
    signing_keys_roundtrip,
    tree_heads_roundtrip,
    audit_reads_page_and_hash,
    data_survives_reconnect,
    audit_entries_are_append_only,
    idempotent_responses_are_stored_with_the_change,
    dropped_writes_commit_whole_or_not_at_all,
    a_writable_database_is_ready_for_writes,
    access_documents_are_versioned_with_their_audit_entries,
    access_exercises_are_recorded_per_object,
    oauth_clients_roundtrip_and_revoke,
    the_sequencer_keeps_one_gapless_chain_under_many_writers,
    two_stores_on_one_database_write_and_sequence_concurrently,
    a_log_of_the_previous_layout_migrates_and_verifies,
    a_batch_commits_its_good_writes_and_refuses_its_conflicting_ones,
    many_concurrent_writers_share_commits_and_the_log_verifies,
    a_tampered_tree_node_is_found_by_the_root_check_or_by_proofs,
    single_use_values_and_login_failures_are_shared_by_stores,
);

#[tokio::test]
async fn unsupported_urls_are_refused_without_leaking_passwords() {
    for url in ["mysql://u:hunter2@h/db", "", "file:x.db"] {
        match Store::connect(url).await {
            Err(StoreError::UnsupportedUrl(shown)) => {
                assert!(!shown.contains("hunter2"), "{shown}")
            }
            other => panic!("{url:?}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

fn t(sec: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap()
        + Duration::seconds(sec)
        + Duration::nanoseconds(123_456_789)
}

fn event(action: &str, org: Option<OrgId>, object: &str) -> AuditEvent {
    AuditEvent {
        actor: "token:test".to_owned(),
        org_id: org.map(|o| o.to_string()),
        action: action.to_owned(),
        object_id: Some(object.to_owned()),
        details: json!({"case": action, "n": 1.5, "list": [1, "x", null]}),
    }
}

fn new_org(i: u32) -> NewOrg {
    NewOrg {
        id: OrgId::new(),
        name: format!("Kommun {i}"),
        org_number: OrganisationNumber::parse(Country::Dk, &format!("{:08}", 20_000_000 + i))
            .unwrap(),
    }
}

async fn create_org(store: &Store, i: u32) -> Result<Org> {
    let org = new_org(i);
    let ev = event("org.create", Some(org.id), &org.id.to_string());
    Ok(store.create_org(org, ev, t(i64::from(i)), None).await?)
}

fn new_token(org: Option<OrgId>, seed: u8) -> NewApiToken {
    NewApiToken {
        id: ApiTokenId::new(),
        org_id: org,
        name: format!("token {seed}"),
        token_hash: [seed; 32],
        scope: SCOPE_SUPER_ADMIN.to_owned(),
    }
}

fn new_key(org: Option<OrgId>, kid: &str, purpose: &str) -> NewSigningKey {
    NewSigningKey {
        kid: kid.to_owned(),
        org_id: org,
        purpose: purpose.to_owned(),
        alg: "ES256".to_owned(),
        public_jwk: json!({"kty": "EC", "crv": "P-256", "x": kid, "y": "y", "kid": kid}),
        sealed_private: kid.as_bytes().iter().rev().copied().collect(),
    }
}

/// Every entry of the log, checked: seq 1..=n without gaps, hashes recompute, prev_hash chains.
async fn verified_log(store: &Store) -> Result<Vec<AuditEntry>> {
    let entries = store.audit_entries(1, u32::MAX).await?;
    let mut prev = GENESIS_HASH;
    for (i, e) in entries.iter().enumerate() {
        ensure!(e.seq == i as u64 + 1, "gap: entry {i} has seq {}", e.seq);
        ensure!(
            e.prev_hash == prev,
            "seq {}: prev_hash does not chain",
            e.seq
        );
        ensure!(
            e.compute_hash() == e.hash,
            "seq {}: hash does not recompute",
            e.seq
        );
        prev = e.hash;
    }
    ensure!(
        store.audit_count().await? == entries.len() as u64,
        "audit_count"
    );
    check_tree(store, &entries).await?;
    Ok(entries)
}

/// The stored Merkle nodes give the roots and proofs that recomputing over every entry gives,
/// for every size (small logs) or a spread of sizes (large ones).
async fn check_tree(store: &Store, entries: &[AuditEntry]) -> Result<()> {
    use tillit_audit::merkle;
    let leaves: Vec<[u8; 32]> = entries.iter().map(AuditEntry::leaf_hash).collect();
    let n = leaves.len() as u64;
    let sizes: Vec<u64> = if n <= 40 {
        (1..=n).collect()
    } else {
        let mut v = vec![1, 2, 3, 7, 8, 9, n / 3, n / 2, n - 1, n];
        v.extend((1..=n).filter(|s| s.is_power_of_two()));
        v.sort_unstable();
        v.dedup();
        v
    };
    ensure!(
        store.audit_root(0).await? == merkle::EMPTY_ROOT,
        "empty root"
    );
    for &size in &sizes {
        let tree = &leaves[..size as usize];
        let root = merkle::root(tree);
        ensure!(store.audit_root(size).await? == root, "root of size {size}");
        for index in [0, size / 2, size - 1] {
            let p = store.audit_inclusion_proof(index, size).await?;
            ensure!(
                p.path == merkle::inclusion_proof(tree, index)?
                    && p.root_hash == root
                    && p.leaf_hash == leaves[index as usize],
                "inclusion of {index} in {size}"
            );
        }
        for old in [1, size / 2, size - 1, size] {
            if old == 0 {
                continue;
            }
            let p = store.audit_consistency_proof(old, size).await?;
            ensure!(
                p.proof == merkle::consistency_proof(tree, old)?
                    && p.root_hash == root
                    && p.old_root == merkle::root(&leaves[..old as usize]),
                "consistency of {old} with {size}"
            );
        }
    }
    ensure!(
        store.audit_root(n + 1).await.is_err(),
        "a root beyond the log is refused"
    );
    Ok(())
}

fn response(actor: &str, key: &str, body: &str) -> IdempotentResponse {
    IdempotentResponse {
        actor: actor.to_owned(),
        key: key.to_owned(),
        request_hash: [7; 32],
        status: 201,
        location: Some(format!("/v1/orgs/{body}")),
        body: format!("{{\"id\":\"{body}\"}}"),
        created_at: t(9),
    }
}

mod cases {
    use super::*;

    pub async fn orgs_create_get_list_paginate(store: Store, _url: String) -> Result<()> {
        let empty = store.list_orgs(&PageRequest::first()).await?;
        ensure!(empty.items.is_empty() && empty.next_cursor.is_none());

        let mut created = Vec::new();
        for i in 0..7 {
            created.push(create_org(&store, i).await?);
        }
        let first = &created[0];
        ensure!(
            first.created_at == t(0).trunc_subsecs(6),
            "created_at truncated to micros"
        );
        ensure!(first.country == Country::Dk);
        ensure!(
            store.get_org(first.id).await?.as_ref() == Some(first),
            "get_org roundtrip"
        );
        ensure!(store.get_org(OrgId::new()).await?.is_none(), "unknown id");

        let mut want = created.clone();
        want.sort_by_key(|o| o.id);
        // (limit, page sizes expected)
        for (limit, sizes) in [
            (3u32, vec![3, 3, 1]),
            (7, vec![7]),
            (1, vec![1; 7]),
            (500, vec![7]),
        ] {
            let mut got = Vec::new();
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = store
                    .list_orgs(&PageRequest {
                        cursor: cursor.clone(),
                        limit,
                    })
                    .await?;
                seen.push(page.items.len());
                got.extend(page.items);
                match page.next_cursor {
                    None => break,
                    Some(c) => cursor = Some(c),
                }
            }
            ensure!(
                seen == sizes,
                "limit {limit}: page sizes {seen:?}, want {sizes:?}"
            );
            ensure!(got == want, "limit {limit}: items in id order");
        }

        for (req, what) in [
            (
                PageRequest {
                    cursor: Some("nope".into()),
                    limit: 5,
                },
                "bad cursor",
            ),
            (
                PageRequest {
                    cursor: Some(created[0].id.to_string()),
                    limit: 5,
                },
                "an id is not a cursor",
            ),
            (
                PageRequest {
                    cursor: None,
                    limit: 0,
                },
                "limit 0",
            ),
            (
                PageRequest {
                    cursor: None,
                    limit: 501,
                },
                "limit above max",
            ),
        ] {
            match store.list_orgs(&req).await {
                Err(StoreError::InvalidCursor(_) | StoreError::Core(_)) => {}
                other => bail!("{what}: expected a rejection, got {other:?}"),
            }
        }
        Ok(())
    }

    pub async fn duplicate_org_is_conflict_and_writes_no_audit(
        store: Store,
        _url: String,
    ) -> Result<()> {
        let org = create_org(&store, 1).await?;
        let same_number = NewOrg {
            id: OrgId::new(),
            ..new_org(1)
        };
        let same_id = NewOrg {
            id: org.id,
            ..new_org(2)
        };
        for (dup, what) in [
            (same_number, "same (country, org_number)"),
            (same_id, "same id"),
        ] {
            let ev = event("org.create", Some(dup.id), "dup");
            match store.create_org(dup, ev, t(5), None).await {
                Err(StoreError::Conflict { .. }) => {}
                other => bail!("{what}: expected Conflict, got {other:?}"),
            }
        }
        ensure!(
            store.audit_count().await? == 1,
            "a refused change wrote an audit entry"
        );
        let page = store.list_orgs(&PageRequest::first()).await?;
        ensure!(page.items == vec![org], "a refused change left a row");
        // The chain continues normally after a rollback.
        create_org(&store, 3).await?;
        ensure!(verified_log(&store).await?.len() == 2);
        Ok(())
    }

    pub async fn every_change_writes_one_chained_audit_entry(
        store: Store,
        _url: String,
    ) -> Result<()> {
        let org = create_org(&store, 1).await?;
        let token = new_token(Some(org.id), 1);
        let token_id = token.id;
        store
            .create_api_token(token, event("token.create", Some(org.id), "t"), t(2))
            .await?;
        store
            .revoke_api_token(
                Scope::Org(org.id),
                token_id,
                event("token.revoke", Some(org.id), "t"),
                t(3),
            )
            .await?;
        store
            .insert_key(
                new_key(Some(org.id), "kid-1", "issuer"),
                event("key.create", Some(org.id), "kid-1"),
                t(4),
            )
            .await?;
        store
            .set_key_status(
                Scope::Org(org.id),
                "kid-1",
                KeyStatus::Retired,
                event("key.retire", Some(org.id), "kid-1"),
                t(5),
            )
            .await?;
        let appended = store
            .append_audit(event("audit.note", None, "x"), t(6))
            .await?;

        let log = verified_log(&store).await?;
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        ensure!(
            actions
                == [
                    "org.create",
                    "token.create",
                    "token.revoke",
                    "key.create",
                    "key.retire",
                    "audit.note"
                ],
            "actions {actions:?}"
        );
        let last = log.last().context("log empty")?;
        ensure!(last == &appended, "append_audit returns what is stored");
        ensure!(
            store.audit_last().await?.as_ref() == Some(&appended),
            "audit_last"
        );
        ensure!(
            last.time == t(6).trunc_subsecs(6),
            "audit time at microseconds"
        );
        ensure!(last.details == json!({"case": "audit.note", "n": 1.5, "list": [1, "x", null]}));
        Ok(())
    }

    pub async fn concurrent_writes_keep_a_gap_free_chain(store: Store, _url: String) -> Result<()> {
        let tasks: Vec<_> = (0..40u32)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    if i % 4 == 0 {
                        store
                            .append_audit(event("audit.note", None, &i.to_string()), t(1))
                            .await?;
                    } else {
                        create_org(&store, i).await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let log = verified_log(&store).await?;
        ensure!(log.len() == 40, "{} entries, want 40", log.len());
        let page = store
            .list_orgs(&PageRequest {
                cursor: None,
                limit: 100,
            })
            .await?;
        ensure!(page.items.len() == 30, "orgs {}", page.items.len());
        Ok(())
    }

    pub async fn tenant_isolation_of_every_scoped_query(store: Store, _url: String) -> Result<()> {
        let a = create_org(&store, 1).await?.id;
        let b = create_org(&store, 2).await?.id;
        let scopes = [Scope::Org(a), Scope::Org(b), Scope::Installation];
        let mut tokens = Vec::new();
        for (i, scope) in scopes.iter().enumerate() {
            let org = scope.org_id();
            let tok = store
                .create_api_token(
                    new_token(org, i as u8 + 1),
                    event("token.create", org, "t"),
                    t(2),
                )
                .await?;
            tokens.push(tok);
            store
                .insert_key(
                    new_key(org, &format!("kid-{i}"), "issuer"),
                    event("key.create", org, "k"),
                    t(3),
                )
                .await?;
        }
        let audit_before = store.audit_count().await?;
        for (i, scope) in scopes.iter().enumerate() {
            let own_kid = format!("kid-{i}");
            let listed = store.list_api_tokens(*scope).await?;
            ensure!(
                listed == vec![tokens[i].clone()],
                "list_api_tokens({scope:?})"
            );
            let keys = store.list_keys(*scope, "issuer").await?;
            ensure!(
                keys.len() == 1 && keys[0].kid == own_kid,
                "list_keys({scope:?})"
            );
            ensure!(
                store.list_keys(*scope, "audit").await?.is_empty(),
                "list_keys other purpose"
            );
            ensure!(
                store.get_key(*scope, &own_kid).await?.is_some(),
                "get_key own"
            );
            for (j, other) in tokens.iter().enumerate().filter(|(j, _)| *j != i) {
                let other_kid = format!("kid-{j}");
                ensure!(
                    store.get_key(*scope, &other_kid).await?.is_none(),
                    "get_key({scope:?}, {other_kid})"
                );
                match store
                    .revoke_api_token(
                        *scope,
                        other.id,
                        event("token.revoke", scope.org_id(), "t"),
                        t(4),
                    )
                    .await
                {
                    Err(StoreError::NotFound { .. }) => {}
                    r => bail!("revoke_api_token({scope:?}, token of {j}): {r:?}"),
                }
                match store
                    .set_key_status(
                        *scope,
                        &other_kid,
                        KeyStatus::Retired,
                        event("key.retire", scope.org_id(), "k"),
                        t(4),
                    )
                    .await
                {
                    Err(StoreError::NotFound { .. }) => {}
                    r => bail!("set_key_status({scope:?}, {other_kid}): {r:?}"),
                }
            }
        }
        ensure!(
            store.audit_count().await? == audit_before,
            "refused cross-tenant changes were audited"
        );
        for tok in &tokens {
            let found = store.find_api_token_by_hash(&tok.token_hash).await?;
            ensure!(
                found.as_ref().and_then(|f| f.revoked_at).is_none(),
                "a token was revoked across tenants"
            );
        }
        for (i, scope) in scopes.iter().enumerate() {
            let key = store
                .get_key(*scope, &format!("kid-{i}"))
                .await?
                .context("own key")?;
            ensure!(
                key.status == KeyStatus::Active,
                "a key was retired across tenants"
            );
        }
        Ok(())
    }

    pub async fn api_tokens_roundtrip_and_revoke(store: Store, _url: String) -> Result<()> {
        ensure!(store.count_api_tokens().await? == 0);
        ensure!(store.find_api_token_by_hash(&[9; 32]).await?.is_none());
        let created = store
            .create_api_token(new_token(None, 9), event("token.create", None, "t"), t(1))
            .await?;
        ensure!(created.created_at == t(1).trunc_subsecs(6) && created.revoked_at.is_none());
        ensure!(store.count_api_tokens().await? == 1);
        ensure!(
            store.find_api_token_by_hash(&[9; 32]).await?.as_ref() == Some(&created),
            "find by hash"
        );
        let dup = NewApiToken {
            id: ApiTokenId::new(),
            ..new_token(None, 9)
        };
        match store
            .create_api_token(dup, event("token.create", None, "t"), t(2))
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            r => bail!("same hash twice: {r:?}"),
        }
        let revoked = store
            .revoke_api_token(
                Scope::Installation,
                created.id,
                event("token.revoke", None, "t"),
                t(3),
            )
            .await?;
        ensure!(
            revoked.revoked_at == Some(t(3).trunc_subsecs(6)),
            "revoked_at"
        );
        let again = store
            .revoke_api_token(
                Scope::Installation,
                created.id,
                event("token.revoke", None, "t"),
                t(4),
            )
            .await?;
        ensure!(
            again.revoked_at == Some(t(3).trunc_subsecs(6)),
            "second revoke keeps the first time"
        );
        ensure!(store.find_api_token_by_hash(&[9; 32]).await?.as_ref() == Some(&again));
        ensure!(
            store.count_api_tokens().await? == 1,
            "revoked tokens still count"
        );
        match store
            .create_api_token(
                new_token(Some(OrgId::new()), 7),
                event("token.create", None, "t"),
                t(5),
            )
            .await
        {
            Err(StoreError::NotFound {
                what: "organisation",
                ..
            }) => {}
            r => bail!("token for a missing organisation: {r:?}"),
        }
        match store
            .insert_key(
                new_key(Some(OrgId::new()), "orphan", "issuer"),
                event("key.create", None, "k"),
                t(6),
            )
            .await
        {
            Err(StoreError::NotFound {
                what: "organisation",
                ..
            }) => {}
            r => bail!("key for a missing organisation: {r:?}"),
        }
        ensure!(verified_log(&store).await?.len() == 3);
        Ok(())
    }

    pub async fn signing_keys_roundtrip(store: Store, _url: String) -> Result<()> {
        let org = create_org(&store, 1).await?.id;
        let input = new_key(None, "install-audit-1", "audit");
        let stored = store
            .insert_key(input.clone(), event("key.create", None, "k"), t(1))
            .await?;
        ensure!(
            stored.public_jwk == input.public_jwk && stored.sealed_private == input.sealed_private
        );
        ensure!(stored.status == KeyStatus::Active && stored.org_id.is_none());
        ensure!(
            store
                .get_key(Scope::Installation, "install-audit-1")
                .await?
                .as_ref()
                == Some(&stored)
        );
        store
            .insert_key(
                new_key(None, "install-audit-2", "audit"),
                event("key.create", None, "k"),
                t(2),
            )
            .await?;
        store
            .insert_key(
                new_key(Some(org), "org-issuer", "issuer"),
                event("key.create", Some(org), "k"),
                t(3),
            )
            .await?;
        let audit_keys: Vec<String> = store
            .list_keys(Scope::Installation, "audit")
            .await?
            .into_iter()
            .map(|k| k.kid)
            .collect();
        ensure!(
            audit_keys == ["install-audit-1", "install-audit-2"],
            "{audit_keys:?}"
        );

        let retired = store
            .set_key_status(
                Scope::Installation,
                "install-audit-1",
                KeyStatus::Retired,
                event("key.retire", None, "k"),
                t(4),
            )
            .await?;
        ensure!(retired.status == KeyStatus::Retired && retired.created_at == stored.created_at);
        let count = store.audit_count().await?;
        match store
            .insert_key(
                new_key(Some(org), "install-audit-1", "issuer"),
                event("key.create", None, "k"),
                t(5),
            )
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            r => bail!("duplicate kid: {r:?}"),
        }
        ensure!(
            store.audit_count().await? == count,
            "refused key insert was audited"
        );
        match store
            .set_key_status(
                Scope::Installation,
                "missing",
                KeyStatus::Retired,
                event("key.retire", None, "k"),
                t(6),
            )
            .await
        {
            Err(StoreError::NotFound { .. }) => {}
            r => bail!("missing kid: {r:?}"),
        }
        Ok(())
    }

    pub async fn tree_heads_roundtrip(store: Store, _url: String) -> Result<()> {
        ensure!(store.latest_tree_head().await?.is_none() && store.tree_heads().await?.is_empty());
        for i in 0..5u32 {
            store
                .append_audit(event("audit.note", None, &i.to_string()), t(i64::from(i)))
                .await?;
        }
        let hashes = store.audit_entry_hashes(5).await?;
        let leaves: Vec<[u8; 32]> = hashes
            .iter()
            .map(|h| tillit_audit::merkle::leaf_hash(h))
            .collect();
        let log = verified_log(&store).await?;
        ensure!(
            log.iter().map(|e| e.leaf_hash()).collect::<Vec<_>>() == leaves,
            "leaf data = entry hashes"
        );
        let head = |size: u64| TreeHeadRecord {
            tree_size: size,
            root_hash: tillit_audit::merkle::root(&leaves[..size as usize]),
            timestamp: t(size as i64).trunc_subsecs(6),
            key_id: "audit-key".to_owned(),
            signature: vec![size as u8; 64],
        };
        for size in [3, 0, 5, 1] {
            store.insert_tree_head(head(size)).await?;
        }
        ensure!(store.latest_tree_head().await? == Some(head(5)), "latest");
        ensure!(
            store.tree_heads().await? == vec![head(0), head(1), head(3), head(5)],
            "all, by size"
        );
        ensure!(
            store.tree_head_at_size(3).await? == Some(head(3)),
            "at size 3"
        );
        ensure!(
            store.tree_head_at_size(2).await?.is_none(),
            "no head of size 2"
        );
        ensure!(
            store.tree_head_at_size(u64::MAX).await?.is_none(),
            "huge size"
        );
        match store.insert_tree_head(head(3)).await {
            Err(StoreError::Conflict { .. }) => {}
            r => bail!("duplicate tree size: {r:?}"),
        }
        ensure!(
            store.audit_count().await? == 5,
            "tree heads are not audit entries"
        );
        Ok(())
    }

    pub async fn audit_reads_page_and_hash(store: Store, _url: String) -> Result<()> {
        ensure!(store.audit_last().await?.is_none() && store.audit_count().await? == 0);
        ensure!(store.audit_entry_hashes(10).await?.is_empty());
        for i in 0..10u32 {
            store
                .append_audit(event("audit.note", None, &i.to_string()), t(i64::from(i)))
                .await?;
        }
        let log = verified_log(&store).await?;
        // (from_seq, limit, expected seqs)
        let cases: [(u64, u32, Vec<u64>); 6] = [
            (1, 3, vec![1, 2, 3]),
            (0, 2, vec![1, 2]),
            (9, 5, vec![9, 10]),
            (11, 5, vec![]),
            (4, 0, vec![]),
            (u64::MAX, 5, vec![]),
        ];
        for (from, limit, want) in cases {
            let got: Vec<u64> = store
                .audit_entries(from, limit)
                .await?
                .iter()
                .map(|e| e.seq)
                .collect();
            ensure!(got == want, "audit_entries({from}, {limit}) = {got:?}");
        }
        let hashes = store.audit_entry_hashes(4).await?;
        ensure!(
            hashes == log[..4].iter().map(|e| e.hash).collect::<Vec<_>>(),
            "hashes upto 4"
        );
        ensure!(
            store.audit_entry_hashes(u64::MAX).await?.len() == 10,
            "hashes upto beyond the end"
        );
        Ok(())
    }

    pub async fn data_survives_reconnect(store: Store, url: String) -> Result<()> {
        let org = create_org(&store, 1).await?;
        store.close().await;
        let again = Store::connect(&url).await?; // migrations are idempotent
        ensure!(again.get_org(org.id).await? == Some(org));
        ensure!(verified_log(&again).await?.len() == 1);
        again.ping().await?;
        again.close().await;
        Ok(())
    }

    pub async fn audit_entries_are_append_only(store: Store, url: String) -> Result<()> {
        store
            .append_audit(event("audit.note", None, "x"), t(1))
            .await?;
        let statements = [
            "UPDATE audit_entries SET actor = 'mallory'",
            "DELETE FROM audit_entries",
        ];
        for sql in statements {
            let refused = match store.backend() {
                Backend::Sqlite => {
                    let pool = sqlx::SqlitePool::connect(&url).await?;
                    let r = sqlx::query(sql).execute(&pool).await;
                    pool.close().await;
                    r.is_err()
                }
                Backend::Postgres => {
                    let pool = sqlx::PgPool::connect(&url).await?;
                    let r = sqlx::query(sql).execute(&pool).await;
                    pool.close().await;
                    r.is_err()
                }
            };
            ensure!(refused, "{sql} was not refused");
        }
        ensure!(verified_log(&store).await?.len() == 1);
        Ok(())
    }

    /// The response of an idempotent create is stored with the change, read back exactly, per
    /// actor; a second use of the same (actor, key) is a Conflict that rolls the whole change
    /// back (no row, no audit entry).
    pub async fn idempotent_responses_are_stored_with_the_change(
        store: Store,
        _url: String,
    ) -> Result<()> {
        ensure!(store.idempotent_response("token:a", "k1").await?.is_none());
        let first = new_org(1);
        let ev = event("org.create", Some(first.id), "first");
        let stored = response("token:a", "k1", "first");
        store
            .create_org(first, ev, t(1), Some(stored.clone()))
            .await?;
        let read = store.idempotent_response("token:a", "k1").await?;
        ensure!(
            read.as_ref()
                .map(|r| (&r.body, &r.location, r.status, r.request_hash))
                == Some((&stored.body, &stored.location, 201, [7; 32])),
            "read back {read:?}"
        );
        ensure!(read.map(|r| r.created_at) == Some(t(9).trunc_subsecs(6)));
        // Keys are per actor: another actor's key of the same name is free, and not visible.
        ensure!(store.idempotent_response("token:b", "k1").await?.is_none());
        let other = new_org(2);
        let ev = event("org.create", Some(other.id), "other");
        store
            .create_org(other, ev, t(2), Some(response("token:b", "k1", "other")))
            .await?;
        // The same (actor, key) again: refused, and the organisation is not created either.
        let again = new_org(3);
        let ev = event("org.create", Some(again.id), "again");
        match store
            .create_org(again, ev, t(3), Some(response("token:a", "k1", "again")))
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            other => bail!("expected Conflict for a reused key, got {other:?}"),
        }
        ensure!(store.list_orgs(&PageRequest::first()).await?.items.len() == 2);
        ensure!(
            verified_log(&store).await?.len() == 2,
            "the refused create wrote an audit entry"
        );
        ensure!(
            store
                .idempotent_response("token:a", "k1")
                .await?
                .map(|r| r.body)
                == Some(stored.body),
            "the first response was overwritten"
        );
        Ok(())
    }

    /// Callers dropped at every point of a write (a client hanging up): each change is there
    /// with its one audit entry or not at all, the chain has no gap, and the next write works
    /// at once — the writer was not left inside a transaction.
    pub async fn dropped_writes_commit_whole_or_not_at_all(
        store: Store,
        _url: String,
    ) -> Result<()> {
        // How long one write takes here, so that the deadlines below fall inside writes: before
        // BEGIN, while it waits for the lock, inside the transaction, at COMMIT, after it.
        let started = std::time::Instant::now();
        for i in 0..5 {
            create_org(&store, 900 + i).await?;
        }
        let one_write = started.elapsed() / 5;
        for round in 0..100u32 {
            let mut batch = tokio::task::JoinSet::new();
            for j in 0..4u32 {
                let i = round * 4 + j;
                let store = store.clone();
                // Spread over the first 60% of a write, where BEGIN and the INSERTs are (a
                // fixed multiplicative hash of i: the same deadlines every run).
                let fraction = u32::try_from((u64::from(i) * 2_654_435_761) % 600).unwrap_or(0);
                let deadline = one_write * fraction / 1000;
                batch.spawn(async move {
                    let _ = tokio::time::timeout(deadline, create_org(&store, 1000 + i)).await;
                });
            }
            while let Some(done) = batch.join_next().await {
                done?;
            }
        }
        // The store's tasks finish on their own; give the last ones a moment.
        let started = std::time::Instant::now();
        let next = create_org(&store, 5000).await?;
        ensure!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the write after the dropped ones took {:?}",
            started.elapsed()
        );
        // Writes no longer queue behind one lock, so a dropped write's task may still commit
        // after the last write: wait until the log stops growing.
        let mut count = store.audit_count().await?;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = store.audit_count().await?;
            if now == count {
                break;
            }
            count = now;
        }
        let log = verified_log(&store).await?;
        let page = store
            .list_orgs(&PageRequest {
                cursor: None,
                limit: 500,
            })
            .await?;
        let created: Vec<String> = log
            .iter()
            .filter(|e| e.action == "org.create")
            .filter_map(|e| e.object_id.clone())
            .collect();
        ensure!(
            created.len() == page.items.len(),
            "{} org.create entries for {} organisations",
            created.len(),
            page.items.len()
        );
        for org in &page.items {
            ensure!(
                created.contains(&org.id.to_string()),
                "organisation {} has no audit entry",
                org.id
            );
        }
        ensure!(page.items.iter().any(|o| o.id == next.id), "the last write");
        println!(
            "one write {one_write:?}; {} of 400 writes whose callers were dropped committed, each whole",
            page.items.len() - 6
        );
        Ok(())
    }

    pub async fn a_writable_database_is_ready_for_writes(store: Store, _url: String) -> Result<()> {
        store
            .check_writable(std::time::Duration::from_secs(5))
            .await?;
        // The check writes nothing.
        ensure!(store.audit_count().await? == 0, "the check wrote an entry");
        Ok(())
    }

    pub async fn access_documents_are_versioned_with_their_audit_entries(
        store: Store,
        _url: String,
    ) -> Result<()> {
        ensure!(store.latest_access_version().await?.is_none());
        ensure!(store.latest_access_document().await?.is_none());
        let version = |v: u64, doc: &str| AccessDocumentVersion {
            version: v,
            document: doc.to_owned(),
            imported_by: "token:a".to_owned(),
            imported_at: t(i64::try_from(v).unwrap()),
        };
        let import_event = |v: u64| event("access.import", None, &v.to_string());
        // Versions start at 1 and follow one another; any other number is a conflict.
        for wrong in [0, 2] {
            match store
                .import_access_document(version(wrong, "{}"), import_event(wrong), None)
                .await
            {
                Err(StoreError::Conflict { .. }) => {}
                other => bail!("version {wrong} first: expected Conflict, got {other:?}"),
            }
        }
        let first = store
            .import_access_document(
                version(1, r#"{"users":[]}"#),
                import_event(1),
                Some(response("token:a", "imp-1", "1")),
            )
            .await?;
        ensure!(first.imported_at == t(1).trunc_subsecs(6));
        ensure!(store.latest_access_version().await? == Some(1));
        ensure!(
            store
                .idempotent_response("token:a", "imp-1")
                .await?
                .is_some(),
            "the idempotent response is stored with the import"
        );
        let second = store
            .import_access_document(version(2, r#"{"roles":[]}"#), import_event(2), None)
            .await?;
        ensure!(store.latest_access_version().await? == Some(2));
        ensure!(store.latest_access_document().await? == Some(second));
        // A stale import (another instance imported version 2 first) changes nothing.
        match store
            .import_access_document(version(2, "{}"), import_event(2), None)
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            other => bail!("stale version: expected Conflict, got {other:?}"),
        }
        // A reused idempotency key refuses the whole import.
        match store
            .import_access_document(
                version(3, "{}"),
                import_event(3),
                Some(response("token:a", "imp-1", "3")),
            )
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            other => bail!("reused key: expected Conflict, got {other:?}"),
        }
        ensure!(store.latest_access_version().await? == Some(2));
        let log = verified_log(&store).await?;
        let imports: Vec<_> = log
            .iter()
            .filter(|e| e.action == "access.import")
            .filter_map(|e| e.object_id.as_deref())
            .collect();
        ensure!(imports == ["1", "2"], "audit entries {imports:?}");
        Ok(())
    }

    pub async fn access_exercises_are_recorded_per_object(
        store: Store,
        _url: String,
    ) -> Result<()> {
        let exercise = |user: &str, right: &str, object: &str, sec: i64| tillit_access::Exercise {
            user: user.to_owned(),
            person: (user == "anna").then(|| "p-anna".to_owned()),
            right: right.to_owned(),
            object: object.to_owned(),
            at: tillit_access::Timestamp(t(sec).trunc_subsecs(6)),
        };
        let ev = || event("access.exercise", None, "sag-1");
        ensure!(store.exercises_on("sag-1").await?.is_empty());
        let a = exercise("anna", "tildele", "sag-1", 1);
        store.record_exercise(a.clone(), 0, ev(), t(1)).await?;
        let b = exercise("bo", "godkende", "sag-1", 2);
        // A decision that saw no exercise on sag-1 is stale now: nothing is written.
        match store.record_exercise(b.clone(), 0, ev(), t(2)).await {
            Err(StoreError::Conflict { .. }) => {}
            other => bail!("stale count: expected Conflict, got {other:?}"),
        }
        store.record_exercise(b.clone(), 1, ev(), t(2)).await?;
        let other = exercise("bo", "tildele", "sag-2", 3);
        store.record_exercise(other.clone(), 0, ev(), t(3)).await?;
        ensure!(store.exercises_on("sag-1").await? == vec![a, b]);
        ensure!(store.exercises_on("sag-2").await? == vec![other]);
        ensure!(store.exercises_on("sag-3").await?.is_empty());
        let log = verified_log(&store).await?;
        ensure!(
            log.iter().filter(|e| e.action == "access.exercise").count() == 3,
            "one audit entry per recorded exercise, none for the refused one"
        );
        Ok(())
    }

    /// Two stores on one database stand for two instances: a value used at one is a replay at
    /// the other until it expires, and failed logins at either count together.
    pub async fn single_use_values_and_login_failures_are_shared_by_stores(
        store: Store,
        url: String,
    ) -> Result<()> {
        use tillit_store::LimitRepo;
        let other = Store::connect(&url).await?;
        let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let exp = t0 + Duration::minutes(5);
        let later = exp + Duration::minutes(10);
        // (store, scope, value, at, until, first use?)
        type Use<'a> = (
            &'a Store,
            &'a str,
            [u8; 32],
            DateTime<Utc>,
            DateTime<Utc>,
            bool,
        );
        let uses: [Use<'_>; 6] = [
            (&store, "jti", a, t0, exp, true),
            (&other, "jti", a, t0 + Duration::seconds(1), exp, false),
            (&store, "jti", a, t0 + Duration::seconds(2), exp, false),
            (&other, "jti", b, t0 + Duration::seconds(2), exp, true),
            (&other, "nonce", a, t0 + Duration::seconds(3), exp, true),
            // Once expired, the value is forgotten: a later use is a first use again.
            (&other, "jti", a, exp + Duration::seconds(1), later, true),
        ];
        for (i, (s, scope, value, at, until, want)) in uses.into_iter().enumerate() {
            let got = s.first_use(scope, value, until, at).await?;
            ensure!(
                got == want,
                "use {i} ({scope}): first use {got}, want {want}"
            );
        }
        let window = Duration::minutes(15);
        for (i, s) in [&store, &other, &store].into_iter().enumerate() {
            let at = t0 + Duration::minutes(i as i64);
            s.record_login_failure("kalle", at, at - window).await?;
        }
        other.record_login_failure("kajsa", t0, t0 - window).await?;
        let (n, oldest) = other.login_failures_since("kalle", t0 - window).await?;
        ensure!(
            n == 3 && oldest == Some(t0),
            "kalle: {n} failures, oldest {oldest:?}"
        );
        let (n, _) = store
            .login_failures_since("kalle", t0 + Duration::seconds(30))
            .await?;
        ensure!(n == 2, "failures after the first: {n}");
        store.clear_login_failures("kalle").await?;
        let (n, oldest) = other.login_failures_since("kalle", t0 - window).await?;
        ensure!(n == 0 && oldest.is_none(), "cleared: {n}");
        let (n, _) = store.login_failures_since("kajsa", t0 - window).await?;
        ensure!(n == 1, "another account's failures stay: {n}");
        // A failure recorded later forgets those older than its window.
        let later = t0 + Duration::hours(1);
        store
            .record_login_failure("kalle", later, later - window)
            .await?;
        let (n, _) = store.login_failures_since("kajsa", t0 - window).await?;
        ensure!(n == 0, "kajsa's old failure is forgotten: {n}");
        other.close().await;
        Ok(())
    }

    pub async fn oauth_clients_roundtrip_and_revoke(store: Store, _url: String) -> Result<()> {
        use tillit_store::{ClientCredential, ClientRepo, NewClient};
        let clients = [
            (
                "secret-client",
                ClientCredential::SecretSha256("ab".repeat(32)),
                Some("substantial"),
            ),
            (
                "keyed-client",
                ClientCredential::Jwks(r#"{"keys":[]}"#.into()),
                None,
            ),
        ];
        for (i, (id, credential, loa)) in clients.iter().enumerate() {
            let created = store
                .create_client(
                    NewClient {
                        client_id: (*id).into(),
                        name: format!("client {i}"),
                        user_id: "u".into(),
                        credential: credential.clone(),
                        loa: loa.map(str::to_owned),
                    },
                    event("oauth_client.create", None, id),
                    t(1),
                )
                .await?;
            let got = store.get_client(id).await?;
            ensure!(got.as_ref() == Some(&created), "{id}: get {got:?}");
            ensure!(&created.credential == credential && created.loa.as_deref() == *loa);
        }
        let dup = NewClient {
            client_id: "keyed-client".into(),
            name: "again".into(),
            user_id: "u".into(),
            credential: ClientCredential::Jwks("{}".into()),
            loa: None,
        };
        match store
            .create_client(dup, event("oauth_client.create", None, "x"), t(2))
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            r => bail!("same client_id twice: {r:?}"),
        }
        let ids: Vec<String> = store
            .list_clients()
            .await?
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        ensure!(ids == ["keyed-client", "secret-client"], "list: {ids:?}");
        let revoked = store
            .revoke_client(
                "secret-client",
                event("oauth_client.revoke", None, "x"),
                t(3),
            )
            .await?;
        let again = store
            .revoke_client(
                "secret-client",
                event("oauth_client.revoke", None, "x"),
                t(4),
            )
            .await?;
        ensure!(
            revoked.revoked_at == Some(t(3).trunc_subsecs(6))
                && again.revoked_at == revoked.revoked_at
        );
        match store
            .revoke_client("nobody", event("oauth_client.revoke", None, "x"), t(5))
            .await
        {
            Err(StoreError::NotFound { .. }) => {}
            r => bail!("revoking an unknown client: {r:?}"),
        }
        ensure!(store.get_client("nobody").await?.is_none());
        // Four changes, four audit entries (the refused ones wrote none).
        let actions: Vec<String> = verified_log(&store)
            .await?
            .into_iter()
            .map(|e| e.action)
            .collect();
        ensure!(actions.len() == 4, "audit: {actions:?}");
        Ok(())
    }
    /// Many tasks write at once (audited changes and bare entries), others sequence and read
    /// meanwhile: every entry is in the log exactly once, seq has no gap, the chain and the
    /// stored tree are right.
    pub async fn the_sequencer_keeps_one_gapless_chain_under_many_writers(
        store: Store,
        _url: String,
    ) -> Result<()> {
        const WRITERS: u32 = 16;
        const EACH: u32 = 40;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for j in 0..EACH {
                        let i = w * EACH + j;
                        if j % 5 == 0 {
                            store
                                .append_audit(event("audit.note", None, &format!("n{i}")), t(1))
                                .await?;
                        } else {
                            let org = new_org(i);
                            let ev = event("org.create", Some(org.id), &format!("n{i}"));
                            store.create_org(org, ev, t(2), None).await?;
                        }
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut last = 0;
                    for _ in 0..30 {
                        store.sequence_audit().await?;
                        let n = store.audit_count().await?;
                        ensure!(n >= last, "the log shrank from {last} to {n}");
                        ensure!(store.audit_root(n).await.is_ok(), "root of {n}");
                        last = n;
                        tokio::task::yield_now().await;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in writers.into_iter().chain(readers) {
            task.await??;
        }
        let log = verified_log(&store).await?;
        let total = (WRITERS * EACH) as usize;
        ensure!(log.len() == total, "{} entries, want {total}", log.len());
        let mut objects: Vec<&str> = log.iter().filter_map(|e| e.object_id.as_deref()).collect();
        objects.sort_unstable();
        objects.dedup();
        ensure!(objects.len() == total, "an entry is lost or duplicated");
        ensure!(store.sequence_audit().await? == 0, "nothing left pending");
        Ok(())
    }

    /// Two stores (two pools: two server processes) on one database, each writing from several
    /// tasks and sequencing in a loop of its own: one log, no loss, no duplicate.
    pub async fn two_stores_on_one_database_write_and_sequence_concurrently(
        store: Store,
        url: String,
    ) -> Result<()> {
        const EACH: u32 = 60;
        let second = Store::connect(&url).await?;
        let stores = [store.clone(), second.clone()];
        let mut tasks = Vec::new();
        for (s, st) in stores.iter().enumerate() {
            for w in 0..4u32 {
                let st = st.clone();
                tasks.push(tokio::spawn(async move {
                    for j in 0..EACH {
                        let i = (s as u32 * 4 + w) * EACH + j;
                        let org = new_org(i);
                        let ev = event("org.create", Some(org.id), &format!("s{i}"));
                        st.create_org(org, ev, t(3), None).await?;
                    }
                    anyhow::Ok(())
                }));
            }
            let st = st.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..40 {
                    st.sequence_audit().await?;
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        second.close().await;
        let log = verified_log(&store).await?;
        let total = (2 * 4 * EACH) as usize;
        ensure!(log.len() == total, "{} entries, want {total}", log.len());
        let mut objects: Vec<&str> = log.iter().filter_map(|e| e.object_id.as_deref()).collect();
        objects.sort_unstable();
        objects.dedup();
        ensure!(objects.len() == total, "an entry is lost or duplicated");
        Ok(())
    }

    /// A database written by the previous release — migrations up to 0004, entries appended
    /// straight into `audit_entries` as that release did — migrates forward: the nodes of the
    /// old entries are built, the log verifies, roots and proofs equal recomputation, and new
    /// entries chain on to the old ones.
    pub async fn a_log_of_the_previous_layout_migrates_and_verifies(
        store: Store,
        url: String,
    ) -> Result<()> {
        // A fresh database (schema or file) next to the case's own.
        let backend = store.backend();
        let (old_url, guard) = previous_release_database(backend, &url).await?;
        const OLD: u64 = 1500;
        let mut prev = (0, GENESIS_HASH);
        let mut rows = Vec::new();
        for i in 0..OLD {
            let e = AuditEntry::next(
                prev.0,
                prev.1,
                event("org.create", None, &format!("old{i}")),
                t(i as i64),
            )?;
            prev = (e.seq, e.hash);
            rows.push(e);
        }
        insert_old_entries(backend, &old_url, &rows).await?;

        let migrated = Store::connect(&old_url).await?;
        let log = verified_log(&migrated).await?;
        ensure!(log == rows, "the old entries are unchanged");
        for i in 0..5u32 {
            create_org(&migrated, 100 + i).await?;
        }
        let log = verified_log(&migrated).await?;
        ensure!(log.len() as u64 == OLD + 5, "{} entries", log.len());
        ensure!(
            log[OLD as usize].prev_hash == rows[OLD as usize - 1].hash,
            "chains on"
        );
        migrated.close().await;
        let again = Store::connect(&old_url).await?;
        ensure!(
            verified_log(&again).await?.len() as u64 == OLD + 5,
            "after reconnect"
        );
        again.close().await;
        if let Some((base, schema)) = guard {
            let pool = sqlx::PgPool::connect(&base).await?;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await?;
            pool.close().await;
        }
        Ok(())
    }

    pub async fn a_batch_commits_its_good_writes_and_refuses_its_conflicting_ones(
        store: Store,
        url: String,
    ) -> Result<()> {
        // 16 organisation numbers, each created three times at once: one of each three wins,
        // the other two are conflicts — inside the same batches on SQLite (the writer is held
        // while they queue), each rolled back to its own savepoint.
        let before = store.group_commits();
        let audit_before = store.audit_count().await?;
        let hold = hold_sqlite_write_lock(&store, &url).await?;
        let tasks: Vec<_> = (0..48u32)
            .map(|k| {
                let store = store.clone();
                tokio::spawn(async move {
                    let i = k % 16;
                    let mut org = new_org(i);
                    org.name = format!("Kommun {i} attempt {k}");
                    let ev = event("org.create", Some(org.id), &org.id.to_string());
                    let id = org.id;
                    match store.create_org(org, ev, t(1), None).await {
                        Ok(_) => Ok(Some((i, id))),
                        Err(StoreError::Conflict { .. }) => Ok(None),
                        Err(e) => Err(anyhow::Error::from(e).context(format!("attempt {k}"))),
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        if let Some(release) = hold {
            let _ = release.send(());
        }
        let mut won = Vec::new();
        for task in tasks {
            if let Some(w) = task.await?? {
                won.push(w);
            }
        }
        won.sort_unstable_by_key(|(i, _)| *i);
        let numbers: Vec<u32> = won.iter().map(|(i, _)| *i).collect();
        ensure!(
            numbers == (0..16).collect::<Vec<_>>(),
            "exactly one creation per number succeeds: {numbers:?}"
        );
        // Exactly the winners are stored and audited, once each.
        let log = verified_log(&store).await?;
        let new_entries = &log[audit_before as usize..];
        let mut audited: Vec<String> = new_entries
            .iter()
            .filter_map(|e| e.object_id.clone())
            .collect();
        audited.sort_unstable();
        let mut want: Vec<String> = won.iter().map(|(_, id)| id.to_string()).collect();
        want.sort_unstable();
        ensure!(audited == want, "the audit log holds exactly the winners");
        for (_, id) in &won {
            ensure!(store.get_org(*id).await?.is_some(), "org {id} is stored");
        }
        let after = store.group_commits();
        if store.backend() == Backend::Sqlite {
            let (txs, units) = (after.0 - before.0, after.1 - before.1);
            ensure!(units == 48, "{units} units committed, want 48");
            ensure!(txs <= 4, "48 queued writes took {txs} transactions");
        }
        Ok(())
    }

    pub async fn many_concurrent_writers_share_commits_and_the_log_verifies(
        store: Store,
        url: String,
    ) -> Result<()> {
        // 64 writers × 8 writes (organisations, tokens, plain audit notes), the SQLite writer
        // held at the start so the first writes pile up: every acknowledged write is stored and
        // in the log exactly once, and the log verifies.
        const WRITERS: u32 = 64;
        const EACH: u32 = 8;
        let before = store.group_commits();
        let hold = hold_sqlite_write_lock(&store, &url).await?;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for j in 0..EACH {
                        let i = w * EACH + j;
                        let object = match j % 3 {
                            0 => {
                                let org = new_org(i);
                                let ev = event("org.create", Some(org.id), &format!("w{i}"));
                                store.create_org(org, ev, t(2), None).await?;
                                format!("w{i}")
                            }
                            1 => {
                                let ev = event("token.create", None, &format!("w{i}"));
                                let mut token = new_token(None, 0);
                                token.token_hash = [0xab; 32];
                                token.token_hash[..4].copy_from_slice(&i.to_be_bytes());
                                store.create_api_token(token, ev, t(3)).await?;
                                format!("w{i}")
                            }
                            _ => {
                                store
                                    .append_audit(event("audit.note", None, &format!("w{i}")), t(4))
                                    .await?;
                                format!("w{i}")
                            }
                        };
                        acked.push(object);
                    }
                    anyhow::Ok(acked)
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if let Some(release) = hold {
            let _ = release.send(());
        }
        let mut acked = Vec::new();
        for w in writers {
            acked.extend(w.await??);
        }
        let log = verified_log(&store).await?;
        let mut objects: Vec<String> = log.iter().filter_map(|e| e.object_id.clone()).collect();
        objects.sort_unstable();
        acked.sort_unstable();
        ensure!(
            objects == acked,
            "{} entries for {} acknowledged writes (lost or duplicated)",
            objects.len(),
            acked.len()
        );
        if store.backend() == Backend::Sqlite {
            let after = store.group_commits();
            let (txs, units) = (after.0 - before.0, after.1 - before.1);
            ensure!(units == u64::from(WRITERS * EACH), "{units} units");
            ensure!(
                txs < units / 2,
                "{units} writes of 64 concurrent writers took {txs} transactions: no group commit"
            );
        }
        Ok(())
    }

    pub async fn a_tampered_tree_node_is_found_by_the_root_check_or_by_proofs(
        store: Store,
        url: String,
    ) -> Result<()> {
        use tillit_audit::merkle;
        for i in 0..13 {
            create_org(&store, i).await?;
        }
        let log = verified_log(&store).await?;
        ensure!(
            store.check_audit_nodes(log.len() as u64).await?.is_none(),
            "an untouched node table passes the node check"
        );
        let leaves: Vec<[u8; 32]> = log.iter().map(AuditEntry::leaf_hash).collect();
        let n = leaves.len() as u64;
        let root = merkle::root(&leaves);
        // Someone with write access to the database changes a node (the triggers off first).
        let tamper = |level: i32, idx: i64| {
            let url = url.clone();
            let backend = store.backend();
            async move {
                let (off, on) = match backend {
                    Backend::Sqlite => (
                        "DROP TRIGGER IF EXISTS audit_tree_nodes_no_update",
                        "SELECT 1",
                    ),
                    Backend::Postgres => (
                        "ALTER TABLE audit_tree_nodes DISABLE TRIGGER audit_tree_nodes_append_only",
                        "ALTER TABLE audit_tree_nodes ENABLE TRIGGER audit_tree_nodes_append_only",
                    ),
                };
                let sql = [
                    off.to_owned(),
                    format!("UPDATE audit_tree_nodes SET hash = $1 WHERE level = {level} AND idx = {idx}"),
                    on.to_owned(),
                ];
                macro_rules! run {
                    ($pool:expr) => {{
                        let pool = $pool;
                        sqlx::query(&sql[0]).execute(&pool).await?;
                        let changed = sqlx::query(&sql[1])
                            .bind(vec![0x5au8; 32])
                            .execute(&pool)
                            .await?
                            .rows_affected();
                        sqlx::query(&sql[2]).execute(&pool).await?;
                        pool.close().await;
                        ensure!(changed == 1, "node ({level}, {idx}) is stored");
                    }};
                }
                match backend {
                    Backend::Sqlite => run!(sqlx::SqlitePool::connect(&url).await?),
                    Backend::Postgres => run!(sqlx::PgPool::connect(&url).await?),
                }
                anyhow::Ok(())
            }
        };
        // 13 = 8 + 4 + 1: the root is made of the stored peaks (3, 0) and (2, 2) and leaf 12.
        // A node below a peak, (1, 0) = leaves 0..2, is not read for the root: the root still
        // matches the entries (what `tillit audit verify` compares), but every proof through
        // the node fails against the signed root — a client checking proofs finds it.
        tamper(1, 0).await?;
        ensure!(
            store.audit_root(n).await? == root,
            "the root reads only the peaks"
        );
        let p = store.audit_inclusion_proof(2, n).await?;
        ensure!(
            merkle::verify_inclusion(2, n, &p.leaf_hash, &p.path, &root).is_err(),
            "an inclusion proof through the altered node does not verify against the true root"
        );
        let p = store.audit_inclusion_proof(5, n).await?;
        ensure!(
            merkle::verify_inclusion(5, n, &p.leaf_hash, &p.path, &root).is_ok(),
            "a proof that does not use the node still verifies"
        );
        // The node check (`tillit audit verify` runs it after the entries) finds it.
        let found = store.check_audit_nodes(n).await?;
        ensure!(
            found
                .as_deref()
                .is_some_and(|w| w.contains("level 1, index 0")),
            "the node check names the altered node: {found:?}"
        );
        // A peak is read for every root: the root no longer matches the entries.
        tamper(3, 0).await?;
        ensure!(
            store.audit_root(n).await? != root,
            "an altered peak changes the stored root (audit verify's root check)"
        );
        Ok(())
    }
}

/// SQLite: holds the database's write lock from a connection of its own (another process, in
/// effect) until the returned sender fires, so that the store's writes queue up meanwhile and
/// commit in batches afterwards. PostgreSQL: nothing to hold (writes run concurrently anyway).
async fn hold_sqlite_write_lock(
    store: &Store,
    url: &str,
) -> Result<Option<tokio::sync::oneshot::Sender<()>>> {
    use sqlx::Connection as _;
    if store.backend() != Backend::Sqlite {
        return Ok(None);
    }
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = released.await;
        let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
        let _ = conn.close().await;
    });
    Ok(Some(release))
}

/// A new database of the same backend as `url`, migrated only up to 0004 (the previous
/// release): its URL, and for PostgreSQL the (base URL, schema) to drop afterwards.
async fn previous_release_database(
    backend: Backend,
    url: &str,
) -> Result<(String, Option<(String, String)>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let (src, new_url, guard) = match backend {
        Backend::Sqlite => {
            let path = url
                .strip_prefix("sqlite://")
                .and_then(|p| p.split('?').next())
                .context("sqlite url")?;
            let old = format!("{path}.previous.db");
            (dir.join("sqlite"), format!("sqlite://{old}?mode=rwc"), None)
        }
        Backend::Postgres => {
            let base = std::env::var("TILLIT_TEST_POSTGRES_URL")?;
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await?;
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                dir.join("postgres"),
                format!("{base}{sep}options[search_path]={schema}"),
                Some((base, schema)),
            )
        }
    };
    let previous = tempfile::tempdir()?;
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .context("name")?
            .to_string_lossy()
            .to_string();
        if name.as_str() < "0005" {
            std::fs::copy(&path, previous.path().join(&name))?;
        }
    }
    let migrator = sqlx::migrate::Migrator::new(previous.path()).await?;
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&new_url).await?;
            migrator.run(&pool).await?;
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&new_url).await?;
            migrator.run(&pool).await?;
            pool.close().await;
        }
    }
    Ok((new_url, guard))
}

/// Inserts entries as the previous release did: straight into `audit_entries`.
async fn insert_old_entries(backend: Backend, url: &str, rows: &[AuditEntry]) -> Result<()> {
    const SQL: &str = "INSERT INTO audit_entries (seq, time, actor, org_id, action, object_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    macro_rules! insert_all {
        ($pool:expr) => {{
            let pool = $pool;
            let mut tx = pool.begin().await?;
            for e in rows {
                sqlx::query(SQL)
                    .bind(e.seq as i64)
                    .bind(tillit_audit::format_time(&e.time))
                    .bind(&e.actor)
                    .bind(&e.org_id)
                    .bind(&e.action)
                    .bind(&e.object_id)
                    .bind(tillit_audit::canonical_json(&e.details))
                    .bind(hex::encode(e.prev_hash))
                    .bind(hex::encode(e.hash))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            pool.close().await;
        }};
    }
    match backend {
        Backend::Sqlite => insert_all!(sqlx::SqlitePool::connect(url).await?),
        Backend::Postgres => insert_all!(sqlx::PgPool::connect(url).await?),
    }
    Ok(())
}
