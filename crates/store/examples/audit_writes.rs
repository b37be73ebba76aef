//! Audited write throughput through the store: `TASKS` concurrent tasks per store instance each
//! create organisations (one audited write each) for `SECONDS`; `INSTANCES` store instances
//! (separate pools, as separate `tillit serve` processes would have) on one database. Prints
//! writes/s and checks afterwards that the log holds every write once, gap-free.
//!
//! ```text
//! cargo run --release -p tillit-store --example audit_writes -- URL INSTANCES TASKS SECONDS
//! ```

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
    let url = args.first().ok_or("usage: audit_writes URL INSTANCES TASKS SECONDS")?;
    let num = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (instances, tasks, seconds) = (num(1, 1), num(2, 32), num(3, 10));
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
        for _ in 0..tasks {
            let (store, done, counter) = (store.clone(), done.clone(), counter.clone());
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
                    match store.create_org(org, event, Utc::now(), None).await {
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
