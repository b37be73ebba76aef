//! Audited write throughput through the store: `TASKS` concurrent tasks per store instance each
//! create organisations (one audited write each) for `SECONDS`; `INSTANCES` store instances
//! (separate pools, as separate `tillit serve` processes would have) on one database. Prints
//! writes/s and checks afterwards that the log holds every write once, gap-free.
//!
//! ```text
//! cargo run --release -p tillit-store --example audit_writes -- URL INSTANCES TASKS SECONDS [previous]
//! ```
//!
//! With `previous` (PostgreSQL only) each write runs the previous release's transaction
//! instead, with raw SQL: `LOCK TABLE audit_entries IN EXCLUSIVE MODE`, the organisation row,
//! the last entry read and the next one inserted — the same-run baseline. Use a fresh database
//! for it (its entries bypass the sequencer; the next `Store::connect` builds their nodes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tillit_audit::AuditEvent;
use tillit_core::{Country, OrgId, OrganisationNumber};
use tillit_store::{AuditRepo, NewOrg, OrgRepo, Store};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .ok_or("usage: audit_writes URL INSTANCES TASKS SECONDS")?;
    let num = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (instances, tasks, seconds) = (num(1, 1), num(2, 32), num(3, 10));
    let previous_mode = args.get(4).is_some_and(|a| a == "previous");
    let mut stores = Vec::new();
    for _ in 0..instances {
        stores.push(Store::connect(url).await?);
    }
    let before = stores[0].audit_count().await?;
    let done = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for store in &stores {
        // As many connections as the store's own pool.
        let pool = match previous_mode {
            true => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .connect(url)
                    .await?,
            ),
            false => None,
        };
        for _ in 0..tasks {
            let (store, done, counter) = (store.clone(), done.clone(), counter.clone());
            let previous = pool.clone();
            handles.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let org = NewOrg {
                        id: OrgId::new(),
                        name: format!("Kommun {i}"),
                        org_number: OrganisationNumber::parse(
                            Country::Dk,
                            &format!("{:08}", 10_000_000 + (i * 7919) % 89_999_999),
                        )?,
                    };
                    let event = AuditEvent {
                        actor: "token:bench".to_owned(),
                        org_id: Some(org.id.to_string()),
                        action: "org.create".to_owned(),
                        object_id: Some(org.id.to_string()),
                        details: json!({"name": org.name}),
                    };
                    let result = match &previous {
                        Some(pool) => previous_create_org(pool, &org, event).await,
                        None => store
                            .create_org(org, event, Utc::now(), None)
                            .await
                            .map(drop),
                    };
                    match result {
                        Ok(_) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        // An organisation number drawn twice: not a write.
                        Err(tillit_store::StoreError::Conflict { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Result::Ok(())
            }));
        }
    }
    for h in handles {
        h.await??;
    }
    let elapsed = started.elapsed();
    let writes = done.load(Ordering::Relaxed);
    let after = stores[0].audit_count().await?;
    println!(
        "{instances} instance(s) x {tasks} tasks: {writes} audited writes in {:.1} s = {:.0}/s; log grew by {}",
        elapsed.as_secs_f64(),
        writes as f64 / elapsed.as_secs_f64(),
        after - before
    );
    if after - before != writes {
        return Err(format!("the log grew by {} for {writes} writes", after - before).into());
    }
    for s in &stores {
        s.close().await;
    }
    Ok(())
}

/// The previous release's audited write, as its store ran it on PostgreSQL.
async fn previous_create_org(
    pool: &sqlx::PgPool,
    org: &NewOrg,
    event: AuditEvent,
) -> std::result::Result<(), tillit_store::StoreError> {
    use sqlx::Row as _;
    let at = Utc::now();
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE audit_entries IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO orgs (id, name, country, org_number, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(*org.id.as_uuid())
    .bind(&org.name)
    .bind(org.org_number.country().code())
    .bind(org.org_number.as_str())
    .bind(at)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        return Err(tillit_store::StoreError::Conflict {
            what: "organisation",
            detail: e.to_string(),
        });
    }
    let last = sqlx::query("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    let (seq, prev) = match last {
        None => (0, tillit_audit::GENESIS_HASH),
        Some(row) => {
            let seq: i64 = row.get("seq");
            let hash: String = row.get("hash");
            (seq as u64, tillit_audit::parse_hash("hash", &hash)?)
        }
    };
    let e = tillit_audit::AuditEntry::next(seq, prev, event, at)?;
    sqlx::query("INSERT INTO audit_entries (seq, time, actor, org_id, action, object_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
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
    tx.commit().await?;
    Ok(())
}
