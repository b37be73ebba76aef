//! Faults on purpose, on PostgreSQL (crates.io's `ChaosProxy` is the model): the database
//! connection cut in the middle of a request, refused connections, and PostgreSQL restarted
//! under a write load. Each fault must give clients a 503 problem (never a 500, never a hang),
//! lose no acknowledged write, and heal without restarting Tillit. SIGKILL of an instance and a
//! full disk on SQLite need real processes: `crates/cli/tests/ops.rs`.

#[allow(unused_macros, unused_imports)] // not every helper of `common` is used here
mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use serde_json::Value;
use tillit_server::ops::{verify_live, AuditVerdict};
use tillit_store::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward both ways.
    Pass,
    /// Hold every byte (a database that stopped answering); connections stay open.
    Stall,
    /// Accept new connections and reset them at once.
    Refuse,
}

/// A TCP proxy between Tillit and PostgreSQL that can stall traffic, cut every open connection
/// (a reset, as when a network path or the server dies), refuse new ones, and restore.
struct ChaosProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped by [`ChaosProxy::cut`]: every connection opened before it is reset.
    cuts: watch::Sender<u64>,
}

impl ChaosProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Pass);
        let (cuts, _) = watch::channel(0u64);
        let (mode_rx, cuts_rx) = (mode.subscribe(), cuts.subscribe());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *mode_rx.borrow() == Mode::Refuse {
                    reset(client);
                    continue;
                }
                let (mode, mut cut) = (mode_rx.clone(), cuts_rx.clone());
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return reset(client);
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::select! {
                        _ = pump(&mut cr, &mut sw, mode.clone()) => {}
                        _ = pump(&mut sr, &mut cw, mode) => {}
                        _ = cut.changed() => {}
                    }
                    if let (Ok(c), Ok(s)) = (cr.reunite(cw), sr.reunite(sw)) {
                        reset(c);
                        reset(s);
                    }
                });
            }
        });
        Self { addr, mode, cuts }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Resets every connection open now.
    fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

/// Closes with a TCP reset (linger 0), as a dead peer or a cut path looks to the other side.
/// (Deprecated in tokio because a non-zero linger blocks the dropping thread; zero does not.)
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Copies bytes one way, holding them while the mode is [`Mode::Stall`].
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.wait_for(|m| *m != Mode::Stall).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `postgres://user@HOST:PORT/db…` → (HOST:PORT, the URL with `addr` in its place).
fn reroute(url: &str, addr: SocketAddr) -> (SocketAddr, String) {
    let (scheme_user, rest) = url.split_once('@').expect("postgres://user@host:port/db");
    let (host_port, tail) = rest.split_once('/').expect("a database name");
    let upstream = host_port.parse().expect("a numeric HOST:PORT in the URL");
    (upstream, format!("{scheme_user}@{addr}/{tail}"))
}

fn org_number(n: u32) -> String {
    format!("{n:08}")
}

/// `POST /v1/orgs` for organisation number `n`: status and body.
async fn create(s: &TestServer, n: u32) -> (u16, String, Value) {
    let number = org_number(n);
    let r = s
        .create_org(&format!("Kommune {number}"), "DK", &number)
        .await;
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, r.json().await.unwrap_or(Value::Null))
}

/// A failed write must be a 503 problem that says to retry.
fn assert_unavailable(status: u16, content_type: &str, body: &Value) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], "urn:tillit:problem:unavailable", "{body}");
}

async fn orgs_in(store: &Store) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let mut page = tillit_core::PageRequest {
        limit: 500,
        cursor: None,
    };
    loop {
        let got = store.list_orgs(&page).await.unwrap();
        all.extend(
            got.items
                .into_iter()
                .map(|o| o.org_number.as_str().to_owned()),
        );
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return all,
        }
    }
}

async fn assert_log_verifies(s: &TestServer) {
    let config = (*s.server.state.config).clone();
    match verify_live(config).await.unwrap() {
        AuditVerdict::Intact(_) => {}
        AuditVerdict::Broken(problem) => panic!("audit log broken: {problem}"),
    }
}

#[tokio::test]
async fn a_cut_database_connection_is_a_503_and_heals_without_a_restart() {
    let Some(Backend::Postgres { base_url }) = Backend::postgres() else {
        return;
    };
    let (upstream, _) = reroute(&base_url, "127.0.0.1:1".parse().unwrap());
    let proxy = ChaosProxy::start(upstream).await;
    let (_, proxied) = reroute(&base_url, proxy.addr);
    let s = TestServer::start(Backend::Postgres { base_url: proxied }).await;
    assert_eq!(create(&s, 1).await.0, 201);

    // Mid-request: the database stops answering while a write waits on it, then the
    // connection is cut (and new ones refused).
    proxy.set(Mode::Stall);
    let s = Arc::new(s);
    let in_flight = tokio::spawn({
        let s = s.clone();
        async move {
            let started = Instant::now();
            (create(&s, 2).await, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !in_flight.is_finished(),
        "the write should be waiting on the database"
    );
    proxy.set(Mode::Refuse);
    proxy.cut();
    let ((status, content_type, body), took) = in_flight.await.unwrap();
    assert_unavailable(status, &content_type, &body);
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    // While the database is unreachable: writes, reads and readiness answer 503 at once.
    for n in 3..6 {
        let started = Instant::now();
        let (status, content_type, body) = create(&s, n).await;
        assert_unavailable(status, &content_type, &body);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let (status, _) = s.get_json("/v1/orgs").await;
    assert_eq!(status, 503);
    let (status, _, _) = s.get_public("/readyz").await;
    assert_eq!(status, 503);
    let (status, _, _) = s.get_public("/healthz").await;
    assert_eq!(status, 200, "alive, though not ready");

    // Restored: the next requests succeed, without restarting Tillit.
    proxy.set(Mode::Pass);
    let (status, _, body) = create(&s, 6).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, _) = s.get_public("/readyz").await;
    assert_eq!(status, 200);

    // A cut under a small concurrent load: every answer is a 201 or a 503 problem.
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..60 {
                let n = 1_000 + w * 100 + i;
                let (status, content_type, body) = create(&s, n).await;
                match status {
                    201 => acked.push(org_number(n)),
                    _ => assert_unavailable(status, &content_type, &body),
                }
            }
            acked
        }));
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.cut();
    }
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    let present = orgs_in(&s.server.state.store).await;
    let lost: Vec<_> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");
    assert_log_verifies(&s).await;
    let s = Arc::into_inner(s).expect("no other owner");
    s.stop().await;
}

/// A throw-away PostgreSQL cluster of one test, on a port of its own (never the shared one):
/// initdb, pg_ctl start/restart, and `pg_ctl stop -m immediate` when dropped.
struct PgCluster {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// When the tests run as root, PostgreSQL runs as this user.
    runas: Option<String>,
}

impl PgCluster {
    /// `None` (with a notice) when the PostgreSQL server binaries are not installed.
    fn start() -> Option<Self> {
        let bindir = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max();
        let Some(bindir) = bindir else {
            println!("skipping: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin");
            return None;
        };
        let root = output(Command::new("id").arg("-u")).trim() == "0";
        let runas = root.then(|| "postgres".to_string());
        let dir = tempfile::tempdir().unwrap();
        if let Some(user) = &runas {
            let status = Command::new("chown")
                .args([user.as_str(), dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success(), "chown {user}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            bindir,
            dir,
            port,
            runas,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "tillit",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            port,
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://tillit@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bindir.join(program);
        match &self.runas {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl restart -m fast`: sessions are ended, a checkpoint written, the server started.
    fn restart(&self) {
        // With `-l` again: else the new server would log to (and hold open) pg_ctl's stdout.
        let log = self.dir.path().join("server.log");
        let log = log.to_str().unwrap();
        let data = self.data();
        let args = [
            "-D", &data, "-l", log, "-w", "-t", "60", "-m", "fast", "restart",
        ];
        self.run("pg_ctl", &args);
    }

    #[allow(dead_code)]
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn output(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
}

#[tokio::test]
async fn postgres_restarted_under_load_loses_no_acknowledged_write() {
    if Backend::postgres().is_none() {
        return;
    }
    let Some(cluster) = tokio::task::spawn_blocking(PgCluster::start).await.unwrap() else {
        return;
    };
    let s = Arc::new(
        TestServer::start(Backend::Postgres {
            base_url: cluster.url(),
        })
        .await,
    );
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let unavailable = Arc::new(Mutex::new(0u32));
    let (restarted_tx, restarted) = watch::channel(false);
    const WRITERS: u32 = 4;
    const AFTER_RESTART: u32 = 25;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (s, acked, unavailable) = (s.clone(), acked.clone(), unavailable.clone());
        let restarted = restarted.clone();
        writers.push(tokio::spawn(async move {
            // Each writer goes on until it has had AFTER_RESTART writes acknowledged after the
            // restart: recovery without restarting Tillit.
            let mut after = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in 0.. {
                if Instant::now() > deadline {
                    break;
                }
                let n = w * 10_000 + i;
                let was_restarted = *restarted.borrow();
                let (status, content_type, body) = create(&s, n).await;
                match status {
                    201 => {
                        acked.lock().unwrap().insert(org_number(n));
                        if was_restarted {
                            after += 1;
                            if after == AFTER_RESTART {
                                return;
                            }
                        }
                    }
                    _ => {
                        assert_unavailable(status, &content_type, &body);
                        *unavailable.lock().unwrap() += 1;
                        // A client backs off a little before it retries.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            panic!("writer {w}: no recovery within 60 s of the restart ({after} writes)");
        }));
    }
    // Restart once some writes went through.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 100 {
        assert!(Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    println!(
        "restarting PostgreSQL after {} writes",
        acked.lock().unwrap().len()
    );
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    restarted_tx.send_replace(true);
    println!("pg_ctl restart took {:?}", started.elapsed());
    for w in writers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("writers finish")
            .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    println!(
        "{} writes acknowledged, {} answered 503 during the restart",
        acked.len(),
        unavailable.lock().unwrap()
    );
    let present = orgs_in(&s.server.state.store).await;
    let lost: Vec<_> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");
    assert_log_verifies(&s).await;
    let s = Arc::into_inner(s).expect("no other owner");
    s.stop().await;
    drop(cluster);
}
