//! Several `tillit serve` processes on one PostgreSQL (issue 12, item 4): three instances of the
//! built binary, one mixed workload through all of them at once — organisation creations, a type
//! creation, issuance, revocation (through another instance than the issuing one), access checks
//! that record the exercise, and a small batch job — and afterwards: every acknowledged write is
//! stored and audited exactly once (none lost, none duplicated), `tillit audit verify` passes,
//! tree heads were signed once per interval for the installation (not once per instance), and
//! the batch job ran once. Skips with a printed reason without `TILLIT_TEST_POSTGRES_URL`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tillit_testkit::served::{self, Served};

const BIN: &str = env!("CARGO_BIN_EXE_tillit");
const POSTGRES_URL_ENV: &str = "TILLIT_TEST_POSTGRES_URL";
const MASTER_KEY: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
/// The tree-head interval of every instance, in seconds.
const HEAD_SECONDS: u64 = 2;
const INSTANCES: usize = 3;

fn tillit(dir: &Path) -> Command {
    served::tillit_command(BIN, dir)
}

/// One request with the token: status and JSON body (`Null` when not JSON).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<(&str, &str)>,
) -> (u16, Value) {
    let (status, body) =
        served::http(addr, method, path, Some(token), body).expect("tillit serve answers");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn post_json(addr: SocketAddr, path: &str, token: &str, body: &Value) -> (u16, Value) {
    http(
        addr,
        "POST",
        path,
        token,
        Some(("application/json", &body.to_string())),
    )
}

/// Runs `statements` on `url` and returns the rows of the last one (each row's columns as text).
fn sql(url: &str, statements: &[String]) -> Vec<Vec<Option<String>>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::{Connection as _, Row as _};
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let mut last = Vec::new();
        for s in statements {
            last = sqlx::query(s)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                        .collect()
                })
                .collect();
        }
        conn.close().await.unwrap();
        last
    })
}

/// `object_id` of every audit entry with `action`, sorted.
fn audited(url: &str, action: &str) -> Vec<String> {
    let mut ids: Vec<String> = sql(
        url,
        &[format!(
            "SELECT object_id FROM audit_entries WHERE action = '{action}' ORDER BY object_id"
        )],
    )
    .into_iter()
    .filter_map(|mut r| r.pop().flatten())
    .collect();
    ids.sort_unstable();
    ids
}

const ACCESS_MODEL: &str = r#"
classifications: [{ id: kommune }]
it_systems: [{ id: ydelse, classification: kommune }]
rights:
  - { id: tildele-ydelse, it_system: ydelse, classification: kommune }
roles:
  - { id: sagsbehandler, classifications: [kommune], rights: [tildele-ydelse] }
persons: [{ id: p-bo }]
users:
  - { id: bo, person: p-bo }
assignments:
  - { id: a1, user: bo, roles: [sagsbehandler] }
"#;

fn parking_type() -> Value {
    json!({
        "slug": "parking-permit",
        "definition": {
            "display": {"sv": "Parkeringstillstånd", "en": "Parking permit"},
            "claims_schema": {
                "type": "object",
                "required": ["plate", "zone"],
                "properties": {
                    "plate": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{2}[0-9A-Z]$"},
                    "zone": {"type": "string", "enum": ["A", "B", "C"]}
                },
                "additionalProperties": false
            },
            "default_validity_days": 30,
            "formats": ["sd-jwt-vc", "qr"],
            "card_fields": ["plate", "zone"]
        }
    })
}

/// What the workload had acknowledged.
#[derive(Default)]
struct Acked {
    orgs: Vec<String>,
    issued: Vec<String>,
    revoked: Vec<String>,
    exercised: Vec<String>,
}

#[test]
fn three_instances_on_one_postgres_run_a_mixed_workload_as_one_installation() {
    let base = match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!("skipping: {POSTGRES_URL_ENV} not set (three instances need one PostgreSQL)");
            return;
        }
    };
    let schema = format!("t_multi_{}", std::process::id());
    sql(
        &base,
        &[
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ],
    );
    let url = format!("{base}?options[search_path]={schema}");
    let head_seconds = HEAD_SECONDS.to_string();
    let env = [
        ("TILLIT_DATABASE_URL", url.as_str()),
        ("TILLIT_MASTER_KEY", MASTER_KEY),
        ("TILLIT_TREE_HEAD_SECONDS", head_seconds.as_str()),
        // Only the interval signs heads during the run (not a count of entries).
        ("TILLIT_TREE_HEAD_ENTRIES", "100000000"),
    ];
    let dirs: Vec<tempfile::TempDir> = (0..INSTANCES)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let mut servers = Vec::new();
    for dir in &dirs {
        servers.push(Served::start(BIN, dir.path(), &env));
    }
    let token = servers[0]
        .token
        .clone()
        .expect("the first instance bootstraps");
    assert!(
        servers[1..].iter().all(|s| s.token.is_none()),
        "one installation: one bootstrap"
    );
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();

    // Set-up through different instances: the access model, an organisation, its type.
    let (status, body) = http(
        addrs[0],
        "POST",
        "/v1/access/import",
        &token,
        Some(("application/yaml", ACCESS_MODEL)),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = post_json(
        addrs[1],
        "/v1/orgs",
        &token,
        &json!({"name": "Ankeborgs kommun", "country": "SE", "organisation_number": "2120000142"}),
    );
    assert_eq!(status, 201, "{body}");
    let org = body["id"].as_str().unwrap().to_string();
    let (status, body) = post_json(
        addrs[2],
        &format!("/v1/orgs/{org}/types"),
        &token,
        &parking_type(),
    );
    assert_eq!(status, 201, "{body}");

    // The workload: two writers per instance, each cycling through the four writes, every
    // revocation through the next instance after the issuing one; a batch job meanwhile.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut writers = Vec::new();
    for (k, &addr) in addrs.iter().enumerate().flat_map(|x| [x, x]) {
        let (acked, refused, stop, next) =
            (acked.clone(), refused.clone(), stop.clone(), next.clone());
        let (token, org) = (token.clone(), org.clone());
        let other = addrs[(k + 1) % addrs.len()];
        writers.push(std::thread::spawn(move || {
            let fail = |what: &str, status: u16, body: &Value| {
                refused.lock().unwrap().push(format!("{what}: {status} {body}"));
            };
            while !stop.load(Ordering::SeqCst) {
                let n = next.fetch_add(1, Ordering::SeqCst);
                match n % 4 {
                    0 => {
                        let body = json!({"name": format!("Kommune {n}"), "country": "DK",
                                          "organisation_number": format!("{:08}", 10_000_000 + n)});
                        match post_json(addr, "/v1/orgs", &token, &body) {
                            (201, b) => acked.lock().unwrap().orgs.push(b["id"].as_str().unwrap().into()),
                            (s, b) => fail("org", s, &b),
                        }
                    }
                    1 | 2 => {
                        let permit = json!({"type": "parking-permit", "claims": {"plate": "ABC12D", "zone": "B"}});
                        let (s, b) = post_json(addr, &format!("/v1/orgs/{org}/attestations"), &token, &permit);
                        if s != 201 {
                            fail("issue", s, &b);
                            continue;
                        }
                        let id = b["id"].as_str().unwrap().to_string();
                        acked.lock().unwrap().issued.push(id.clone());
                        if n % 4 == 2 {
                            let change = json!({"change": "revoke", "reason": "moved away"});
                            match post_json(other, &format!("/v1/orgs/{org}/attestations/{id}/status"), &token, &change) {
                                (200, _) => acked.lock().unwrap().revoked.push(id),
                                (s, b) => fail("revoke", s, &b),
                            }
                        }
                    }
                    _ => {
                        let object = format!("sag-{n}");
                        let check = json!({"user": "bo", "right": "tildele-ydelse", "object": object,
                                           "record": true, "at": "2025-06-02T10:00:00Z"});
                        match post_json(addr, "/v1/access/check", &token, &check) {
                            (200, b) if b["recorded"] == json!(true) => acked.lock().unwrap().exercised.push(object),
                            (s, b) => fail("check", s, &b),
                        }
                    }
                }
            }
        }));
    }
    // A small batch job, uploaded to the last instance; any instance's worker may run it.
    let rows: String = (0..20)
        .map(|i| format!("{}\n", json!({"type": "parking-permit", "claims": {"plate": format!("BAT{i:02}A"), "zone": "C"}})))
        .collect();
    let (status, batch) = http(
        addrs[2],
        "POST",
        &format!("/v1/orgs/{org}/attestations/batches?type=parking-permit"),
        &token,
        Some(("application/x-ndjson", &rows)),
    );
    assert!(status == 201 || status == 202, "{status} {batch}");
    let batch_id = batch["id"].as_str().unwrap().to_string();
    let job = batch["job"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let job_view = loop {
        let (status, view) = http(
            addrs[0],
            "GET",
            &format!("/v1/orgs/{org}/jobs/{job}"),
            &token,
            None,
        );
        assert_eq!(status, 200, "{view}");
        match view["state"].as_str() {
            Some("succeeded") => break view,
            Some("failed" | "cancelled") => panic!("the batch job ended {view}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the batch job did not finish: {view}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Long enough for several tree-head intervals under load.
    while started.elapsed() < Duration::from_secs(4 * HEAD_SECONDS + 1) {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let load_seconds = started.elapsed().as_secs_f64();
    // Heads signed while the load ran (the instances also sign a last one when they stop).
    let heads_under_load = sql(
        &url,
        &["SELECT timestamp FROM audit_tree_heads ORDER BY tree_size".to_string()],
    );
    for s in servers {
        s.stop();
    }

    let refused = refused.lock().unwrap().clone();
    assert!(refused.is_empty(), "refused writes: {refused:?}");
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.orgs.len() >= 10
            && acked.issued.len() >= 10
            && acked.revoked.len() >= 5
            && acked.exercised.len() >= 5,
        "the workload made too little progress: {} orgs, {} issued, {} revoked, {} exercised",
        acked.orgs.len(),
        acked.issued.len(),
        acked.revoked.len(),
        acked.exercised.len()
    );
    let sorted = |mut v: Vec<String>| {
        v.sort_unstable();
        v
    };
    // No lost and no duplicated acknowledged write: each is audited exactly once, and stored.
    let mut orgs = acked.orgs.clone();
    orgs.push(org.clone());
    assert_eq!(
        audited(&url, "org.create"),
        sorted(orgs.clone()),
        "org.create entries"
    );
    let stored_orgs = sql(&url, &["SELECT id::text FROM orgs".to_string()]).len();
    assert_eq!(stored_orgs, orgs.len(), "organisations stored");
    let batch_rows = sql(
        &url,
        &[format!(
            "SELECT object_id FROM audit_entries WHERE action = 'attestation.issue' AND details LIKE '%{batch_id}%'"
        )],
    )
    .len();
    assert_eq!(batch_rows, 20, "each batch row issued (and audited) once");
    let issued_entries = audited(&url, "attestation.issue");
    assert_eq!(
        issued_entries.len(),
        acked.issued.len() + 20,
        "attestation.issue entries"
    );
    for id in &acked.issued {
        assert_eq!(
            issued_entries.iter().filter(|e| *e == id).count(),
            1,
            "issuance of {id}"
        );
    }
    assert_eq!(
        audited(&url, "attestation.revoke"),
        sorted(acked.revoked.clone()),
        "revocations"
    );
    assert_eq!(
        audited(&url, "access.exercise").len(),
        acked.exercised.len(),
        "recorded exercises"
    );
    assert_eq!(
        job_view["attempts"],
        json!(1),
        "the batch job ran once: {job_view}"
    );

    // One tree head per interval for the installation, not one per instance.
    let times: Vec<chrono::DateTime<chrono::Utc>> = heads_under_load
        .iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect();
    let intervals = (load_seconds / HEAD_SECONDS as f64).ceil() as usize;
    assert!(
        times.len() <= intervals + 2,
        "{} tree heads in {load_seconds:.1} s with a {HEAD_SECONDS} s interval on {INSTANCES} instances: {times:?}",
        times.len()
    );
    assert!(times.len() >= 2, "tree heads were signed: {times:?}");
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(
            gap >= (HEAD_SECONDS * 1000 * 3 / 4) as i64,
            "two tree heads {gap} ms apart (interval {HEAD_SECONDS} s): {times:?}"
        );
    }

    // One valid log.
    let out = tillit(dirs[0].path())
        .args(["audit", "verify"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sql(&base, &[format!("DROP SCHEMA {schema} CASCADE")]);
}
