//! Resilience of the write path, on SQLite and PostgreSQL: clients that hang up at any moment,
//! and shutdown with requests in flight. A client that goes away must lose nothing and break
//! nothing: afterwards writes succeed at once, no client that stayed saw a 5xx, every
//! acknowledged write is there with its audit entry, and the audit log verifies.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{backend_tests, Backend, TestServer};
use serde_json::{json, Value};
use tillit_server::ops::{verify_live, AuditVerdict};
use tillit_server::Config;
use tillit_store::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

backend_tests!(
    disconnect_storm_breaks_nothing,
    shutdown_abandons_hung_requests_within_the_grace_period,
);

/// Requests of the storm whose clients hang up, and how many run at once.
const STORM: u32 = 3_000;
const STORM_CONCURRENCY: usize = 32;
/// Clients that stay and write normally during the storm.
const POLITE_WRITERS: u32 = 4;

/// A small deterministic generator (SplitMix64): the seed is printed, so a failure can be
/// replayed with `TILLIT_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env() -> Self {
        let seed = std::env::var("TILLIT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("seed {seed} (set TILLIT_TEST_SEED={seed} to replay)");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A Danish CVR number (any 8 digits are valid): one per organisation of a test.
fn cvr(n: u32) -> String {
    format!("{n:08}")
}

fn org_body(number: &str) -> String {
    json!({"name": format!("Kommune {number}"), "country": "DK", "organisation_number": number})
        .to_string()
}

/// Where a hanging-up client stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HangUp {
    /// Inside the request head.
    InHead,
    /// After the head, before any body byte.
    BeforeBody,
    /// Halfway through the body.
    InBody,
    /// After the whole request, while the server works on it (or after it answered).
    AfterBody,
}

/// One client that sends (part of) a `POST /v1/orgs` and hangs up: after `delay`, with a FIN or,
/// when `reset`, with a TCP RST.
async fn hang_up(
    addr: SocketAddr,
    token: &str,
    number: &str,
    at: HangUp,
    delay: Duration,
    reset: bool,
    idempotency_key: Option<String>,
) {
    let body = org_body(number);
    let key = idempotency_key.map_or(String::new(), |k| format!("Idempotency-Key: {k}\r\n"));
    let head = format!(
        "POST /v1/orgs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n{key}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let bytes = match at {
        HangUp::InHead => head[..head.len() / 2].to_string(),
        HangUp::BeforeBody => head,
        HangUp::InBody => format!("{head}{}", &body[..body.len() / 2]),
        HangUp::AfterBody => format!("{head}{body}"),
    };
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return;
    };
    let _ = stream.write_all(bytes.as_bytes()).await;
    tokio::time::sleep(delay).await;
    if reset {
        // SO_LINGER 0: the close sends a RST at once. (Deprecated because a non-zero linger
        // blocks the thread on drop; zero does not.)
        #[allow(deprecated)]
        let _ = stream.set_linger(Some(Duration::ZERO));
    }
    drop(stream);
}

/// Writes organisations one after another until `stop` and at least `at_least` times, recording
/// each acknowledged one (number → id) and any answer that is not 201.
async fn polite_writer(
    s: Arc<TestServer>,
    first: u32,
    at_least: u32,
    stop: Arc<AtomicU64>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut acknowledged = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut n = first;
    while stop.load(Ordering::Relaxed) == 0 || n - first < at_least {
        let number = cvr(n);
        n += 1;
        let r = s
            .client
            .post(s.url("/v1/orgs"))
            .header("authorization", s.auth())
            .header("content-type", "application/json")
            .body(org_body(&number))
            .send()
            .await;
        match r {
            Ok(r) if r.status().as_u16() == 201 => {
                let v: Value = r.json().await.unwrap();
                acknowledged.insert(number, v["id"].as_str().unwrap().to_owned());
            }
            Ok(r) => {
                let status = r.status().as_u16();
                wrong.push(format!("{number}: {status} {}", r.text().await.unwrap()));
            }
            Err(e) => wrong.push(format!("{number}: {e}")),
        }
    }
    (acknowledged, wrong)
}

/// Every organisation in the database, by organisation number, read through the store.
async fn orgs_by_number(store: &Store) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut page = tillit_core::PageRequest {
        limit: 500,
        cursor: None,
    };
    loop {
        let got = store.list_orgs(&page).await.unwrap();
        for org in got.items {
            all.insert(org.org_number.as_str().to_owned(), org.id.to_string());
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return all,
        }
    }
}

/// Checks the database after the fact: the audit log verifies, and every organisation has
/// exactly one `org.create` entry naming it (no change without its entry, no entry without
/// its change).
async fn check_log_and_orgs(backend: &str, config: Config, store: &Store) {
    match verify_live(config).await.unwrap() {
        AuditVerdict::Intact(summary) => println!("{backend}: audit log intact: {summary}"),
        AuditVerdict::Broken(why) => panic!("{backend}: audit log broken: {why}"),
    }
    let orgs = orgs_by_number(store).await;
    let mut created: BTreeMap<String, u32> = BTreeMap::new();
    for e in store.audit_entries(1, u32::MAX).await.unwrap() {
        if e.action == "org.create" {
            *created.entry(e.object_id.unwrap()).or_default() += 1;
        }
    }
    let ids: BTreeSet<&String> = orgs.values().collect();
    assert_eq!(
        ids.len(),
        created.len(),
        "{backend}: organisations and org.create entries differ"
    );
    for (id, n) in &created {
        assert!(ids.contains(id), "{backend}: org.create for missing {id}");
        assert_eq!(*n, 1, "{backend}: {id} has {n} org.create entries");
    }
}

async fn disconnect_storm_breaks_nothing(backend: Backend) {
    let s = Arc::new(
        TestServer::start_with(backend, |c| c.tree_head_entries = 50, axum::Router::new()).await,
    );
    let mut rng = Rng::from_env();
    let stop = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..POLITE_WRITERS)
        .map(|w| {
            tokio::spawn(polite_writer(
                s.clone(),
                40_000_000 + w * 100_000,
                25,
                stop.clone(),
            ))
        })
        .collect();

    // The storm: every client hangs up somewhere, half of them with a RST; a quarter of them
    // send an Idempotency-Key.
    let gate = Arc::new(Semaphore::new(STORM_CONCURRENCY));
    let mut storm = Vec::new();
    let mut sent: BTreeMap<String, HangUp> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..STORM {
        let number = cvr(30_000_000 + i);
        let at = match rng.below(8) {
            0 => HangUp::InHead,
            1 => HangUp::BeforeBody,
            2 | 3 => HangUp::InBody,
            _ => HangUp::AfterBody,
        };
        // 0–4 ms as a phone losing its network would; requests sent whole wait up to 30 ms, so
        // that some hang up inside the handler's write on the slower backend too.
        let delay = Duration::from_micros(match at {
            HangUp::AfterBody if rng.below(2) == 0 => rng.below(30_000),
            _ => rng.below(4_000),
        });
        let reset = rng.below(2) == 0;
        let key = (rng.below(4) == 0).then(|| format!("storm-{i}"));
        sent.insert(number.clone(), at);
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (addr, token) = (s.server.addr, s.token.clone());
        storm.push(tokio::spawn(async move {
            hang_up(addr, &token, &number, at, delay, reset, key).await;
            drop(permit);
        }));
    }
    for t in storm {
        t.await.unwrap();
    }
    let storm_time = started.elapsed();
    stop.store(1, Ordering::Relaxed);
    let mut acknowledged = BTreeMap::new();
    let mut wrong = Vec::new();
    for w in writers {
        let (acked, bad) = w.await.unwrap();
        acknowledged.extend(acked);
        wrong.extend(bad);
    }
    assert!(
        wrong.is_empty(),
        "{}: a client that stayed got a wrong answer: {wrong:?}",
        s.backend
    );
    assert!(
        acknowledged.len() >= 100,
        "{}: only {} normal writes during the storm",
        s.backend,
        acknowledged.len()
    );

    // Writes work at once afterwards, and the server says it is ready.
    let t0 = Instant::now();
    let r = s
        .post_json(
            "/v1/orgs",
            &serde_json::from_str(&org_body(&cvr(50_000_000))).unwrap(),
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}: write after the storm",
        s.backend
    );
    let after = t0.elapsed();
    assert!(
        after < Duration::from_secs(2),
        "{}: the first write after the storm took {after:?}",
        s.backend
    );
    let (status, _, body) = s.get_public("/readyz").await;
    assert_eq!(
        status, 200,
        "{}: /readyz after the storm: {body}",
        s.backend
    );

    // What was acknowledged is there; no organisation came from a request whose body never
    // arrived; some requests whose clients left after the body still committed (whole).
    let store = s.server.state.store.clone();
    let orgs = orgs_by_number(&store).await;
    for (number, id) in &acknowledged {
        assert_eq!(
            orgs.get(number),
            Some(id),
            "{}: acknowledged {number} lost",
            s.backend
        );
    }
    let mut created_by_hang_up: BTreeMap<HangUp, u32> = BTreeMap::new();
    let mut sent_by_hang_up: BTreeMap<HangUp, u32> = BTreeMap::new();
    for (number, at) in &sent {
        *sent_by_hang_up.entry(*at).or_default() += 1;
        if orgs.contains_key(number) {
            assert_eq!(
                *at,
                HangUp::AfterBody,
                "{}: {number} was created from an incomplete request",
                s.backend
            );
            *created_by_hang_up.entry(*at).or_default() += 1;
        }
    }
    println!(
        "{}: storm of {STORM} in {storm_time:?} ({sent_by_hang_up:?}), {} created by clients that \
         left; {} normal writes acknowledged; first write after it took {after:?}",
        s.backend,
        created_by_hang_up.values().sum::<u32>(),
        acknowledged.len()
    );
    let config = (*s.server.state.config).clone();
    check_log_and_orgs(s.backend, config, &store).await;
    let s = Arc::into_inner(s).expect("every client task has finished");
    s.stop().await;
}

async fn shutdown_abandons_hung_requests_within_the_grace_period(backend: Backend) {
    const GRACE: u64 = 1;
    let s = Arc::new(
        TestServer::start_with(
            backend,
            |c| c.shutdown_grace_seconds = GRACE,
            axum::Router::new(),
        )
        .await,
    );
    // Clients whose requests never finish: half a body, then silence.
    let mut hung = Vec::new();
    for i in 0..8 {
        let body = org_body(&cvr(60_000_000 + i));
        let head = format!(
            "POST /v1/orgs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            s.token,
            body.len(),
            &body[..body.len() / 2]
        );
        let mut stream = TcpStream::connect(s.server.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        hung.push(stream);
    }
    // Normal writers keep going while the server stops.
    let stop = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..POLITE_WRITERS)
        .map(|w| {
            tokio::spawn(polite_writer(
                s.clone(),
                70_000_000 + w * 100_000,
                0,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (addr, backend_name) = (s.server.addr, s.backend);
    s.server.shutdown();
    // The writers see refused connections from now on; let them notice, then stop them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(1, Ordering::Relaxed);
    let mut acknowledged = BTreeMap::new();
    for w in writers {
        let (acked, wrong) = w.await.unwrap();
        acknowledged.extend(acked);
        // Refused or cut connections are expected now; a 5xx answer is not.
        for line in wrong {
            assert!(!line.contains(": 5"), "{backend_name}: {line}");
        }
    }
    let s = Arc::into_inner(s).expect("every writer has finished");
    let t0 = Instant::now();
    let halted = s.halt().await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(GRACE * 1000 - 200),
        "{backend_name}: stopped in {took:?}, before the grace period with requests in flight"
    );
    assert!(
        took < Duration::from_secs(GRACE + 5),
        "{backend_name}: stopping took {took:?} with a grace period of {GRACE} s"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "{backend_name}: still accepting connections"
    );
    drop(hung);
    println!(
        "{backend_name}: stopped in {took:?} with 8 hung requests; {} writes acknowledged",
        acknowledged.len()
    );

    // Everything acknowledged is there after a restart of the store, and the log verifies.
    let store = Store::connect(&halted.config.effective_database_url())
        .await
        .unwrap();
    let orgs = orgs_by_number(&store).await;
    for (number, id) in &acknowledged {
        assert_eq!(
            orgs.get(number),
            Some(id),
            "{backend_name}: acknowledged {number} lost"
        );
    }
    for i in 0..8 {
        assert!(
            !orgs.contains_key(&cvr(60_000_000 + i)),
            "{backend_name}: a hung request created an organisation"
        );
    }
    check_log_and_orgs(backend_name, halted.config.clone(), &store).await;
    store.close().await;
    halted.finish().await;
}
