//! Operations with real `tillit` processes: HTTPS with the certificate reloaded on SIGHUP; two
//! instances on one PostgreSQL, one of them killed with SIGKILL under load; SQLite on a disk that
//! fills up; and the backup and restore drills (`tillit backup` for SQLite, `pg_dump` /
//! `pg_restore` for PostgreSQL) under write load. Each restore is started with `tillit serve`,
//! checked with `tillit audit verify`, and must hold every write acknowledged before the backup
//! began.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tillit_testkit::served::{
    self, free_port, http_json as http, parse_response, run, signal, Served,
};

const BIN: &str = env!("CARGO_BIN_EXE_tillit");
const POSTGRES_URL_ENV: &str = "TILLIT_TEST_POSTGRES_URL";
const MASTER_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn tillit(dir: &Path) -> Command {
    served::tillit_command(BIN, dir)
}

fn org_body(n: u32) -> String {
    format!(r#"{{"name":"Kommune {n}","country":"DK","organisation_number":"{n:08}"}}"#)
}

fn json_value(body: &str) -> serde_json::Value {
    // Chunked bodies carry size lines; take the JSON object itself.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(serde_json::Value::Null)
}

fn json_field(body: &str, field: &str) -> String {
    json_value(body)[field]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Asserts that every id answers 200 on `addr`.
fn assert_all_present(addr: SocketAddr, token: &str, ids: &[String]) {
    for id in ids {
        let (status, body) =
            http(addr, "GET", &format!("/v1/orgs/{id}"), Some(token), None).unwrap();
        assert_eq!(status, 200, "acknowledged org {id} is missing: {body}");
    }
}

fn audit_verify(dir: &Path, env: &[(&str, &str)]) {
    let out = run(tillit(dir)
        .args(["audit", "verify"])
        .envs(env.iter().copied()));
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writers posting organisations to `addrs` (round robin) until stopped; every 201 is recorded
/// in order. A writer whose server stops answering (connection refused) stops.
struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    writers: Vec<std::thread::JoinHandle<Vec<(u16, String)>>>,
}

impl Load {
    fn start(targets: &[SocketAddr], per_target: u32, token: &str, first: u32) -> Self {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU32::new(first));
        let mut writers = Vec::new();
        for &addr in targets {
            for _ in 0..per_target {
                let (acked, stop, next) = (acked.clone(), stop.clone(), next.clone());
                let token = token.to_string();
                writers.push(std::thread::spawn(move || {
                    let mut refused = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        match http(addr, "POST", "/v1/orgs", Some(&token), Some(&org_body(n))) {
                            Ok((201, body)) => acked.lock().unwrap().push(json_field(&body, "id")),
                            Ok((status, body)) => refused.push((status, body)),
                            Err(_) => break,
                        }
                    }
                    refused
                }));
            }
        }
        Load {
            acked,
            stop,
            writers,
        }
    }

    fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acked.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "the load made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the writers: every write acknowledged, and the non-201 answers.
    fn stop(self) -> (Vec<String>, Vec<(u16, String)>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut refused = Vec::new();
        for w in self.writers {
            refused.extend(w.join().unwrap());
        }
        let acked = self.acked.lock().unwrap().clone();
        (acked, refused)
    }
}

// ---------------------------------------------------------------------------------------------
// TLS: SIGHUP reloads the certificate.

fn self_signed() -> (Vec<u8>, String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (
        made.cert.der().to_vec(),
        made.cert.pem(),
        made.key_pair.serialize_pem(),
    )
}

/// A TLS 1.3 handshake trusting `root` and GET /healthz: the certificate served and the status.
fn https_healthz(addr: SocketAddr, root: &[u8]) -> Result<(Vec<u8>, u16), String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(root.to_vec()))
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let read = tls.read_to_end(&mut raw);
    if raw.is_empty() {
        return Err(format!("no response: {read:?}"));
    }
    let served = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let (status, _) = parse_response(&raw).map_err(|e| e.to_string())?;
    Ok((served, status))
}

#[test]
fn https_certificate_reloads_on_sighup_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first, cert, key) = self_signed();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let served = Served::start(
        BIN,
        dir.path(),
        &[
            ("TILLIT_TLS_CERT_FILE", cert_file.to_str().unwrap()),
            ("TILLIT_TLS_KEY_FILE", key_file.to_str().unwrap()),
        ],
    );
    assert_eq!(
        https_healthz(served.addr, &first).unwrap(),
        (first.clone(), 200)
    );

    // New files, SIGHUP: new handshakes get the new certificate.
    let (second, cert, key) = self_signed();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    signal(served.pid(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match https_healthz(served.addr, &second) {
            Ok(got) => {
                assert_eq!(got, (second.clone(), 200));
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "never served the new cert: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // A bad file and SIGHUP: the process stays up with the certificate it had.
    std::fs::write(&key_file, "not a key").unwrap();
    signal(served.pid(), "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(https_healthz(served.addr, &second).unwrap(), (second, 200));
    served.stop();

    // Start-up with a missing key file: a clear error, exit 1 (not a panic).
    let missing = dir.path().join("nope.pem");
    let out = run(tillit(dir.path()).arg("serve").envs([
        ("TILLIT_LISTEN", free_port().to_string()),
        ("TILLIT_TLS_CERT_FILE", cert_file.display().to_string()),
        ("TILLIT_TLS_KEY_FILE", missing.display().to_string()),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("nope.pem") && stderr.contains("key file"),
        "{stderr}"
    );
    // Only one of the two files configured: refused before anything starts.
    let out = run(tillit(dir.path())
        .arg("serve")
        .env("TILLIT_TLS_CERT_FILE", cert_file.display().to_string()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("set both tls_cert_file and tls_key_file"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL helpers: a fresh schema or database per test on TILLIT_TEST_POSTGRES_URL.

fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipping: {POSTGRES_URL_ENV} not set");
            None
        }
    }
}

fn sql(url: &str, statements: &[String]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        conn.close().await.unwrap();
    });
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (head, tail) = url.rsplit_once('/').unwrap();
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{head}/{db}{query}")
}

fn pg_bindir() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("pg_dump").exists())
        .max();
    if found.is_none() {
        println!("skipping: no pg_dump in /usr/lib/postgresql/*/bin");
    }
    found
}

#[test]
fn sigkill_of_one_of_two_instances_on_one_postgres() {
    let Some(base) = postgres_url() else { return };
    let schema = format!("t_ops_{}", std::process::id());
    sql(
        &base,
        &[
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ],
    );
    let url = format!("{base}?options[search_path]={schema}");
    let env = [
        ("TILLIT_DATABASE_URL", url.as_str()),
        ("TILLIT_MASTER_KEY", MASTER_KEY),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Served::start(BIN, dir_a.path(), &env);
    let token = a.token.clone().expect("the first instance bootstraps");
    let b = Served::start(BIN, dir_b.path(), &env);
    assert!(b.token.is_none(), "one installation: one bootstrap");

    let load_a = Load::start(&[a.addr], 2, &token, 10_000_000);
    let load_b = Load::start(&[b.addr], 2, &token, 20_000_000);
    load_a.wait_for(50);
    load_b.wait_for(50);
    let mut a = a;
    signal(a.pid(), "KILL");
    let _ = a.wait_exit(Duration::from_secs(10));
    let at_kill = load_b.acked().len();
    load_b.wait_for(at_kill + 100);
    let (acked_a, refused_a) = load_a.stop();
    let (acked_b, refused_b) = load_b.stop();
    // The survivor answered every write; the killed one lost no acknowledged write.
    assert!(
        refused_b.is_empty(),
        "the survivor refused writes: {refused_b:?}"
    );
    assert!(refused_a.is_empty(), "{refused_a:?}");
    assert_all_present(b.addr, &token, &acked_a);
    assert_all_present(b.addr, &token, &acked_b);
    b.stop();
    audit_verify(dir_b.path(), &env);
    sql(&base, &[format!("DROP SCHEMA {schema} CASCADE")]);
}

// ---------------------------------------------------------------------------------------------
// SQLite on a disk that fills up.

/// Whether this machine lets us mount a tmpfs in a user and mount namespace of our own.
fn private_tmpfs_works(at: &Path) -> bool {
    Command::new("unshare")
        .args(["-rm", "sh", "-c", r#"mount -t tmpfs -o size=1m tmpfs "$0""#])
        .arg(at)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn sqlite_disk_full_is_a_clear_503_without_corruption_and_heals() {
    // `tillit serve` in a mount namespace of its own whose data folder is a 16 MiB tmpfs: a real
    // full disk (ENOSPC → SQLITE_FULL), no root needed. The test reaches the folder through
    // /proc/<pid>/root.
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    if !private_tmpfs_works(&mnt) {
        println!("skipping: `unshare -rm` cannot mount a private tmpfs here (no user namespaces)");
        return;
    }
    let addr = free_port();
    let mut cmd = Command::new("unshare");
    cmd.current_dir(dir.path())
        .args([
            "-rm",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size=16m tmpfs "$0" && exec "$1" serve"#,
        ])
        .arg(&mnt)
        .arg(BIN)
        .env("RUST_LOG", "error")
        .env("TILLIT_LISTEN", addr.to_string())
        .env("TILLIT_DATA_DIR", mnt.join("data"))
        // No tree head is signed while the test copies the files.
        .env("TILLIT_TREE_HEAD_ENTRIES", "1000000")
        .env("TILLIT_TREE_HEAD_SECONDS", "3600");
    for (key, _) in std::env::vars() {
        if key.starts_with("TILLIT_")
            && !key.starts_with("TILLIT_TREE_HEAD")
            && key != "TILLIT_LISTEN"
            && key != "TILLIT_DATA_DIR"
        {
            cmd.env_remove(key);
        }
    }
    let served = Served::spawn(cmd, addr);
    let token = served.token.clone().unwrap();
    let inside =
        PathBuf::from(format!("/proc/{}/root", served.pid())).join(mnt.strip_prefix("/").unwrap());
    assert!(inside.join("data/tillit.db").exists());
    let mut acked = Vec::new();
    for n in 0..50 {
        let (status, body) =
            http(addr, "POST", "/v1/orgs", Some(&token), Some(&org_body(n))).unwrap();
        assert_eq!(status, 201, "{body}");
        acked.push(json_field(&body, "id"));
    }

    // Fill the disk.
    let filler = inside.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0x5au8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
                break;
            }
        }
        let _ = f.sync_all();
    }
    // Writes go on succeeding while SQLite reuses space it has; then each one fails with a
    // 503 problem that says the disk is full (never a 500).
    let mut full = 0;
    for n in 1_000..6_000 {
        let (status, body) =
            http(addr, "POST", "/v1/orgs", Some(&token), Some(&org_body(n))).unwrap();
        match status {
            201 => acked.push(json_field(&body, "id")),
            503 => {
                let problem = json_value(&body);
                assert_eq!(problem["type"], "urn:tillit:problem:unavailable", "{body}");
                let detail = problem["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("disk is full"), "{body}");
                full += 1;
                if full == 5 {
                    break;
                }
            }
            other => panic!("disk full answered {other}: {body}"),
        }
    }
    assert_eq!(full, 5, "the disk never filled up");
    let (status, _) = http(addr, "GET", "/healthz", None, None).unwrap();
    assert_eq!(status, 200);
    // Not ready, and readiness says why (the write lock alone would not have shown it).
    let (status, body) = http(addr, "GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 503, "{body}");
    let detail = json_value(&body)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("disk is full"), "{body}");

    // Space returns: ready again, and writes succeed, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let (status, body) = http(addr, "GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(&org_body(9_999)),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    acked.push(json_field(&body, "id"));
    assert_all_present(addr, &token, &acked);

    // No corruption: SQLite's integrity check, and the audit log verifies — on a copy of the
    // quiescent files (SQLite resolves /proc/<pid>/root to the path outside the namespace, so
    // it cannot open the live file from here; the kernel's `copy` can).
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for name in ["tillit.db", "tillit.db-wal", "master.key"] {
        let from = inside.join("data").join(name);
        if from.exists() {
            std::fs::copy(&from, copy.join(name)).unwrap();
        }
    }
    let db = copy.join("tillit.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let check: String = rt.block_on(async {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}?mode=rw", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(check, "ok");
    audit_verify(dir.path(), &[("TILLIT_DATA_DIR", copy.to_str().unwrap())]);
    served.stop();
}

// ---------------------------------------------------------------------------------------------
// Backup and restore drills.

#[test]
fn sqlite_backup_under_load_restores_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("TILLIT_DATA_DIR", data.to_str().unwrap())];
    let served = Served::start(BIN, dir.path(), &env);
    let token = served.token.clone().unwrap();
    let load = Load::start(&[served.addr], 3, &token, 30_000_000);
    load.wait_for(100);
    let before = load.acked();
    let copy = dir.path().join("copy.db");
    let out = run(tillit(dir.path())
        .args(["backup", "--out"])
        .arg(&copy)
        .envs(env));
    assert!(out.status.success(), "{out:?}");
    load.wait_for(before.len() + 50);
    let (acked, refused) = load.stop();
    assert!(
        refused.is_empty(),
        "writes refused during the backup: {refused:?}"
    );
    assert!(acked.len() >= before.len() + 50);
    served.stop();

    // Restore into a new data folder: the database file and the master key, nothing else.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&copy, restored.join("tillit.db")).unwrap();
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();
    let env = [("TILLIT_DATA_DIR", restored.to_str().unwrap())];
    audit_verify(dir.path(), &env);
    let served = Served::start(BIN, dir.path(), &env);
    assert!(
        served.token.is_none(),
        "the restored database has its tokens"
    );
    assert_all_present(served.addr, &token, &before);
    let (status, body) = http(
        served.addr,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(&org_body(1)),
    )
    .unwrap();
    assert_eq!(status, 201, "the restored server takes writes: {body}");
    served.stop();
    audit_verify(dir.path(), &env);
}

#[test]
fn postgres_pg_dump_under_load_restores_and_verifies() {
    let Some(base) = postgres_url() else { return };
    let Some(bindir) = pg_bindir() else { return };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let tag = format!("{}_{nanos}", std::process::id());
    let (src, dst) = (format!("tillit_src_{tag}"), format!("tillit_dst_{tag}"));
    sql(
        &base,
        &[
            format!("CREATE DATABASE {src}"),
            format!("CREATE DATABASE {dst}"),
        ],
    );
    let (src_url, dst_url) = (with_database(&base, &src), with_database(&base, &dst));
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TILLIT_DATABASE_URL", src_url.as_str()),
        ("TILLIT_MASTER_KEY", MASTER_KEY),
    ];
    let served = Served::start(BIN, dir.path(), &env);
    let token = served.token.clone().unwrap();
    let load = Load::start(&[served.addr], 3, &token, 40_000_000);
    load.wait_for(100);
    let before = load.acked();
    // The documented commands (README "Backup and restore").
    let dump = dir.path().join("tillit.dump");
    let out = Command::new(bindir.join("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&src_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    load.wait_for(before.len() + 50);
    let (_, refused) = load.stop();
    assert!(
        refused.is_empty(),
        "writes refused during pg_dump: {refused:?}"
    );
    served.stop();
    let out = Command::new(bindir.join("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&dst_url)
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let env = [
        ("TILLIT_DATABASE_URL", dst_url.as_str()),
        ("TILLIT_MASTER_KEY", MASTER_KEY),
    ];
    audit_verify(dir.path(), &env);
    let served = Served::start(BIN, dir.path(), &env);
    assert!(served.token.is_none());
    assert_all_present(served.addr, &token, &before);
    let (status, body) = http(
        served.addr,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(&org_body(2)),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    served.stop();
    audit_verify(dir.path(), &env);
    sql(
        &base,
        &[
            format!("DROP DATABASE {src} WITH (FORCE)"),
            format!("DROP DATABASE {dst} WITH (FORCE)"),
        ],
    );
}
