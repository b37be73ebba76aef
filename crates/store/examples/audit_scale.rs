//! The audit log at scale (issue 12): builds logs of N entries in a SQLite file and measures tree
//! head signing, inclusion and consistency proofs and whole-log verification, each beside a
//! baseline measured in the same run. Not run in CI (a 10-million-entry log takes minutes to
//! build); `tests/conformance.rs` checks the same code paths for correctness.
//!
//! ```text
//! cargo run --release -p tillit-store --example audit_scale -- 10000 1000000 10000000
//! ```
//!
//! Per size it prints one line per figure: the measurement, the baseline, and their ratio.
//! * **build**: the previous release's layout is written (entries only, straight into
//!   `audit_entries`), then `Store::connect` builds the Merkle nodes (the migration path).
//! * **head**: `audit_root(n)` + `TreeHead::sign` (ES256), the median and p99 of 200; baseline:
//!   the head as the previous release made it (every entry hash read and hashed: O(n)).
//! * **inclusion / consistency**: 200 random requests each, median and p99, each proof checked
//!   with the RFC 9162 verifier; baseline: the O(n) head (what one proof cost before).
//! * **verify**: the whole log read in pages of 5000 and fed to `ChainVerifier` (what `tillit
//!   audit verify` does), entries/s end to end and inside the verifier; baseline: SHA-256 alone
//!   over the same bytes (each entry's canonical encoding, its leaf and one interior node).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Connection as _;
use tillit_audit::{merkle, AuditEntry, AuditEvent, ChainVerifier, TreeHead, GENESIS_HASH};
use tillit_crypto::{Algorithm, SigningKey};
use tillit_store::{AuditRepo, Store};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn event(i: u64) -> AuditEvent {
    let org = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(i % 97));
    AuditEvent {
        actor: format!(
            "token:{}",
            uuid::Uuid::from_u128(u128::from(i % 13) << 64 | 7)
        ),
        org_id: Some(org.to_string()),
        action: "attestation.issue".to_owned(),
        object_id: Some(uuid::Uuid::from_u128(u128::from(i) | 1 << 100).to_string()),
        details: json!({"type": "parkeringstillstand", "version": 3, "status_index": i % 131_072, "format": "tl1"}),
    }
}

fn time(i: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::microseconds(i64::try_from(i).unwrap() * 3_000)
}

/// Writes `n` entries as the previous release did (straight into `audit_entries`), fast:
/// synchronous=OFF, one transaction per 100,000, 100 rows per statement.
async fn write_previous_layout(path: &std::path::Path, n: u64) -> Result<Duration> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let started = Instant::now();
    let (mut seq, mut prev) = (0u64, GENESIS_HASH);
    const ROWS: u64 = 100;
    let values = (0..ROWS)
        .map(|r| {
            let b = r * 9;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("INSERT INTO audit_entries (seq, time, actor, org_id, action, object_id, details, prev_hash, hash) VALUES {values}");
    let mut conn = pool.acquire().await?;
    while seq < n {
        let mut tx = conn.begin().await?;
        let end = (seq + 100_000).min(n);
        while seq < end {
            let rows = ROWS.min(end - seq);
            let mut batch = Vec::with_capacity(rows as usize);
            for _ in 0..rows {
                let e = AuditEntry::next(seq, prev, event(seq), time(seq))?;
                (seq, prev) = (e.seq, e.hash);
                batch.push(e);
            }
            if rows == ROWS {
                let mut q = sqlx::query(&sql);
                for e in &batch {
                    q = bind(q, e);
                }
                q.execute(&mut *tx).await?;
            } else {
                for e in &batch {
                    let one = "INSERT INTO audit_entries (seq, time, actor, org_id, action, object_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
                    bind(sqlx::query(one), e).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
    }
    drop(conn);
    pool.close().await;
    Ok(started.elapsed())
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    e: &AuditEntry,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(e.seq as i64)
        .bind(tillit_audit::format_time(&e.time))
        .bind(e.actor.clone())
        .bind(e.org_id.clone())
        .bind(e.action.clone())
        .bind(e.object_id.clone())
        .bind(tillit_audit::canonical_json(&e.details))
        .bind(hex::encode(e.prev_hash))
        .bind(hex::encode(e.hash))
}

/// Median and 99th percentile.
fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn run(n: u64, dir: &std::path::Path) -> Result<()> {
    println!("== {n} entries");
    let path = dir.join(format!("audit-{n}.db"));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    // The previous release's schema: migrations up to 0004, then its entries.
    {
        let previous = tempfile::tempdir()?;
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&src)? {
            let p = entry?.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.as_str() < "0005" {
                std::fs::copy(&p, previous.path().join(&name))?;
            }
        }
        let pool = sqlx::SqlitePool::connect(&url).await?;
        sqlx::migrate::Migrator::new(previous.path())
            .await?
            .run(&pool)
            .await?;
        pool.close().await;
    }
    let wrote = write_previous_layout(&path, n).await?;
    println!(
        "write previous layout: {:.1} s ({:.0} entries/s, bulk, synchronous=OFF)",
        wrote.as_secs_f64(),
        n as f64 / wrote.as_secs_f64()
    );
    let started = Instant::now();
    let store = Store::connect(&url).await?;
    let built = started.elapsed();
    println!(
        "migrate (build the tree nodes at connect): {:.1} s, {:.0} entries/s",
        built.as_secs_f64(),
        n as f64 / built.as_secs_f64()
    );
    let key = SigningKey::generate(Algorithm::Es256)?;

    // Baseline: the previous release's head, over every entry hash.
    let runs = if n <= 10_000 { 20 } else { 1 };
    let mut old = Vec::new();
    let mut old_root = [0; 32];
    for _ in 0..runs {
        let t = Instant::now();
        let leaves: Vec<[u8; 32]> = store
            .audit_entry_hashes(n)
            .await?
            .iter()
            .map(|h| merkle::leaf_hash(h))
            .collect();
        old_root = merkle::root(&leaves);
        TreeHead::sign(n, old_root, Utc::now(), &key)?;
        old.push(t.elapsed());
    }
    let (old_med, _) = stats(old);

    let mut heads = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let root = store.audit_root(n).await?;
        TreeHead::sign(n, root, Utc::now(), &key)?;
        heads.push(t.elapsed());
        assert_eq!(root, old_root, "the stored nodes give the recomputed root");
    }
    let (med, p99) = stats(heads);
    println!(
        "head (audit_root + ES256 sign): median {}, p99 {}; baseline O(n) head {}; ratio {:.5}",
        ms(med),
        ms(p99),
        ms(old_med),
        med.as_secs_f64() / old_med.as_secs_f64()
    );

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n);
    let mut inclusion = Vec::new();
    for _ in 0..200 {
        let size = 1 + rng.below(n);
        let index = rng.below(size);
        let t = Instant::now();
        let p = store.audit_inclusion_proof(index, size).await?;
        inclusion.push(t.elapsed());
        merkle::verify_inclusion(index, size, &p.leaf_hash, &p.path, &p.root_hash)?;
    }
    let (med, p99) = stats(inclusion);
    println!(
        "inclusion proof: median {}, p99 {}; ratio to the O(n) head {:.5}",
        ms(med),
        ms(p99),
        med.as_secs_f64() / old_med.as_secs_f64()
    );
    let mut consistency = Vec::new();
    for _ in 0..200 {
        let size = 1 + rng.below(n);
        let first = 1 + rng.below(size);
        let t = Instant::now();
        let p = store.audit_consistency_proof(first, size).await?;
        consistency.push(t.elapsed());
        merkle::verify_consistency(first, size, &p.old_root, &p.root_hash, &p.proof)?;
    }
    let (med, p99) = stats(consistency);
    println!(
        "consistency proof: median {}, p99 {}; ratio to the O(n) head {:.5}",
        ms(med),
        ms(p99),
        med.as_secs_f64() / old_med.as_secs_f64()
    );

    // Verify the whole log as `tillit audit verify` does: pages of 5000 through the store.
    let mut verifier = ChainVerifier::new(&[], &[])?;
    let mut in_verifier = Duration::ZERO;
    let mut sample: Vec<Vec<u8>> = Vec::new();
    let started = Instant::now();
    let mut from = 1;
    loop {
        let page = store.audit_entries(from, 5000).await?;
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        let t = Instant::now();
        for e in &page {
            verifier.push(e)?;
        }
        in_verifier += t.elapsed();
        if sample.len() < 1_000_000 {
            sample.extend(page.iter().map(AuditEntry::canonical_encoding));
        }
        if page.len() < 5000 {
            break;
        }
    }
    let total = started.elapsed();
    let summary = verifier.finish()?;
    assert_eq!(summary.entries, n);
    assert_eq!(summary.root_hash, old_root);
    // Baseline: SHA-256 alone over the same bytes: each entry's canonical encoding, its leaf
    // (0x00 || hash) and one interior node (0x01 || two hashes) — the hashing verification needs.
    let t = Instant::now();
    let mut acc = [0u8; 32];
    for enc in &sample {
        let h = tillit_crypto::sha256(enc);
        let leaf = merkle::leaf_hash(&h);
        acc = merkle::node_hash(&acc, &leaf);
    }
    let base = t.elapsed();
    std::hint::black_box(acc);
    let base_rate = sample.len() as f64 / base.as_secs_f64();
    let bytes: usize = sample.iter().map(Vec::len).sum();
    let verify_rate = n as f64 / in_verifier.as_secs_f64();
    println!(
        "verify: {:.0} entries/s end to end ({:.1} s, reading included), {:.0} entries/s in the verifier; baseline SHA-256 only {:.0} entries/s ({} B/entry); ratio {:.2}",
        n as f64 / total.as_secs_f64(),
        total.as_secs_f64(),
        verify_rate,
        base_rate,
        bytes / sample.len().max(1),
        verify_rate / base_rate
    );
    // After (issue 12, item 3): the rows as stored, borrowed, through `push_stored` — what
    // `tillit audit verify` does now. Wall clock, and the process's CPU time (the SQLite worker
    // thread that steps the statement included).
    let mut verifier = ChainVerifier::new(&[], &[])?;
    let (started, cpu0) = (Instant::now(), cpu_seconds());
    let fed = store
        .for_each_stored_audit_entry(|e| {
            verifier
                .push_stored(e)
                .map_err(|v| -> Box<dyn std::error::Error> { v.to_string().into() })
        })
        .await?;
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let summary = verifier.finish()?;
    assert_eq!((fed, summary.entries), (n, n));
    assert_eq!(summary.root_hash, old_root);
    println!(
        "verify as stored: {:.0} entries/s end to end ({wall:.2} s), {:.0} per CPU second ({cpu:.2} s); before (decoded entries) {:.0} entries/s; ratio {:.2}; ratio to SHA-256 only {:.2}",
        n as f64 / wall,
        n as f64 / cpu.max(1e-9),
        n as f64 / total.as_secs_f64(),
        total.as_secs_f64() / wall,
        n as f64 / wall / base_rate,
    );
    store.close().await;
    Ok(())
}

/// User + system CPU seconds of this process so far (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime), counted from after the command name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<std::result::Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![10_000, 1_000_000]
    } else {
        sizes
    };
    let dir = match std::env::var_os("AUDIT_SCALE_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir(),
    };
    for n in sizes {
        run(n, &dir).await?;
        let _ = std::fs::remove_file(dir.join(format!("audit-{n}.db")));
        let _ = std::fs::remove_file(dir.join(format!("audit-{n}.db-wal")));
        let _ = std::fs::remove_file(dir.join(format!("audit-{n}.db-shm")));
    }
    Ok(())
}
