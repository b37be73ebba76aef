//! End-to-end tests of the `tillit` binary's foundation commands: each test runs the built
//! binary in its own temporary directory, with its own port, and talks HTTP to it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tillit_testkit::served::{self, free_port, http_json as http, run, Served};

const BIN: &str = env!("CARGO_BIN_EXE_tillit");

fn tillit(dir: &Path) -> Command {
    served::tillit_command(BIN, dir)
}

fn start(dir: &Path) -> Served {
    Served::start(BIN, dir, &[])
}

fn sigterm(served: &Served) {
    served::signal(served.pid(), "TERM");
}

/// The response on a stream the test wrote its own request to.
fn read_response(mut stream: TcpStream) -> std::io::Result<(u16, String)> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    served::parse_response(&raw)
}

fn org_body(i: u32) -> String {
    format!(
        r#"{{"name":"Kommune {i}","country":"DK","organisation_number":"{:08}"}}"#,
        20_000_000 + i
    )
}

fn json_field(body: &str, field: &str) -> String {
    // Chunked bodies carry size lines; take the JSON object itself.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    let v: serde_json::Value = serde_json::from_str(&body[start..end]).unwrap();
    v[field].as_str().unwrap().to_string()
}

#[test]
fn serve_without_configuration_answers_health_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path());
    assert!(served.token.is_some(), "first start prints a token");
    let (status, body) = http(served.addr, "GET", "/healthz", None, None).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(served.addr, "GET", "/v1/openapi.json", None, None).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\":\"3.1"), "{body}");
    // The data directory holds the database and a master key readable only by its owner.
    let key = dir.path().join("tillit-data/master.key");
    assert!(dir.path().join("tillit-data/tillit.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // healthcheck: 0 against the running server, 1 against a closed port.
    let ok = run(tillit(dir.path()).args(["healthcheck", "--addr", &served.addr.to_string()]));
    assert!(ok.status.success(), "{ok:?}");
    let closed = run(tillit(dir.path()).args(["healthcheck", "--addr", &free_port().to_string()]));
    assert_eq!(closed.status.code(), Some(1));
    // backup of the running database.
    let backup = dir.path().join("backup.db");
    let out = run(tillit(dir.path()).args(["backup", "--out"]).arg(&backup));
    assert!(out.status.success(), "{out:?}");
    let mut magic = [0u8; 16];
    std::fs::File::open(&backup)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(&magic, b"SQLite format 3\0");
    // A second start does not print a new token.
    served.stop();
    let again = start(dir.path());
    assert!(again.token.is_none());
    again.stop();
}

#[test]
fn sigkill_loses_no_acknowledged_write_and_the_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = start(dir.path());
    let token = served.token.clone().unwrap();
    let addr = served.addr;
    let pid = served.child.id();
    // Kill -9 from another thread while the writes stream in: once 20 are acknowledged (a count,
    // not a timer, so a slow machine cannot make it fire before any write).
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = acked.clone();
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.load(std::sync::atomic::Ordering::SeqCst) < 20 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let mut acknowledged = Vec::new();
    for i in 0..100_000 {
        match http(addr, "POST", "/v1/orgs", Some(&token), Some(&org_body(i))) {
            Ok((201, body)) => {
                acknowledged.push(json_field(&body, "id"));
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok((status, body)) => panic!("unexpected {status}: {body}"),
            Err(_) => break,
        }
    }
    killer.join().unwrap();
    let _ = served.wait_exit(Duration::from_secs(10));
    assert!(
        acknowledged.len() >= 20,
        "only {} writes before the kill",
        acknowledged.len()
    );

    let served = start(dir.path());
    for id in &acknowledged {
        let (status, body) = http(
            served.addr,
            "GET",
            &format!("/v1/orgs/{id}"),
            Some(&token),
            None,
        )
        .unwrap();
        assert_eq!(status, 200, "acknowledged org {id} lost: {body}");
    }
    let verify = run(tillit(dir.path()).args(["audit", "verify"]));
    assert!(verify.status.success(), "{verify:?}");
    served.stop();
}

#[test]
fn sigterm_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = start(dir.path());
    let token = served.token.clone().unwrap();
    let body = org_body(7);
    let (head, tail) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(served.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/orgs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    // Let the server read the head, so the request is in flight (not an idle connection, which
    // graceful shutdown closes) when SIGTERM arrives; there is no signal to wait for instead.
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&served);
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(tail.as_bytes()).unwrap();
    let (status, response) = read_response(stream).unwrap();
    assert_eq!(status, 201, "{response}");
    let exit = served.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit}");
    // New connections are refused after shutdown.
    assert!(http(served.addr, "GET", "/healthz", None, None).is_err());
}

#[test]
fn sigterm_exits_within_the_grace_period_despite_hung_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(BIN, dir.path(), &[("TILLIT_SHUTDOWN_GRACE_SECONDS", "1")]);
    let token = served.token.clone().unwrap();
    let (status, _) = http(
        served.addr,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(&org_body(1)),
    )
    .unwrap();
    assert_eq!(status, 201);
    // Two requests that never finish: half a body, then silence.
    let hung: Vec<TcpStream> = (2..4)
        .map(|i| {
            let body = org_body(i);
            let mut stream = TcpStream::connect(served.addr).unwrap();
            write!(
                stream,
                "POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                body.len(),
                &body[..body.len() / 2]
            )
            .unwrap();
            stream.flush().unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    sigterm(&served);
    let exit = served.wait_exit(Duration::from_secs(15));
    let took = t0.elapsed();
    assert!(exit.success(), "{exit}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(8),
        "exited {took:?} after SIGTERM with a grace period of 1 s"
    );
    drop(hung);
    let verify = run(tillit(dir.path()).args(["audit", "verify"]));
    assert!(verify.status.success(), "{verify:?}");
}

#[test]
fn demo_fills_ankeborg_and_its_permits_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2 {
        // A second run finds Ankeborg again and adds a type version and three more permits.
        let out = run(tillit(dir.path()).args(["demo", "--out", "demo"]));
        assert!(out.status.success(), "round {round}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Ankeborgs kommun"), "{text}");
        assert!(text.contains(&format!("version {}", round + 1)), "{text}");
    }
    let demo = dir.path().join("demo");
    for file in [
        "permit-1.qr.txt",
        "permit-1.sd-jwt",
        "permit-1.card.pdf",
        "ankeborg-issuer.jwks",
    ] {
        assert!(demo.join(file).is_file(), "{file}");
    }
    let pdf = std::fs::read(demo.join("permit-1.card.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    for permit in ["permit-1.qr.txt", "permit-2.sd-jwt"] {
        let verify = run(tillit(dir.path()).args([
            "verify",
            "--cert",
            "demo/ankeborg-issuer.jwks",
            &format!("@demo/{permit}"),
        ]));
        assert!(verify.status.success(), "{permit}: {verify:?}");
    }
    let audit = run(tillit(dir.path()).args(["audit", "verify"]));
    assert!(audit.status.success(), "{audit:?}");
}

/// DESIGN §6's warden, offline: the bundle a `tillit serve` publishes (`/v1/trust/bundle`,
/// signed with the key at `/v1/trust/keys`) verifies the demo's permits with `tillit verify
/// --bundle`, status included — no issuer key given by hand.
#[test]
fn demo_permits_verify_offline_against_the_served_trust_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let base = [("TILLIT_PUBLIC_BASE_URL", "https://tillit.ankeborg.example")];
    let out = run(tillit(dir.path())
        .envs(base)
        .args(["demo", "--out", "demo"]));
    assert!(out.status.success(), "{out:?}");
    let served = Served::start(BIN, dir.path(), &base);
    let demo = dir.path().join("demo");
    for (path, file) in [
        ("/v1/trust/keys", "node.jwks"),
        ("/v1/trust/bundle", "bundle.jwt"),
    ] {
        let (status, body) = http(served.addr, "GET", path, None, None).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        std::fs::write(demo.join(file), body).unwrap();
    }
    served.stop();
    for permit in ["permit-1.qr.txt", "permit-2.sd-jwt"] {
        let verify = run(tillit(dir.path()).args([
            "verify",
            "--bundle",
            "demo/bundle.jwt",
            "--bundle-key",
            "demo/node.jwks",
            &format!("@demo/{permit}"),
        ]));
        assert!(verify.status.success(), "{permit}: {verify:?}");
    }
    // Pinned to another key, the bundle is refused.
    let refused = run(tillit(dir.path()).args([
        "verify",
        "--bundle",
        "demo/bundle.jwt",
        "--bundle-key",
        "demo/ankeborg-issuer.jwks",
        "@demo/permit-1.qr.txt",
    ]));
    assert!(!refused.status.success(), "{refused:?}");
}

fn write_lines(path: &Path, lines: &[&str]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

#[test]
fn audit_export_detects_every_kind_of_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path());
    let token = served.token.clone().unwrap();
    for i in 0..6 {
        let (status, body) = http(
            served.addr,
            "POST",
            "/v1/orgs",
            Some(&token),
            Some(&org_body(i)),
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    // Export while the server runs.
    let export = dir.path().join("audit.jsonl");
    let out = run(tillit(dir.path())
        .args(["audit", "export", "--out"])
        .arg(&export));
    assert!(out.status.success(), "{out:?}");
    served.stop();
    let live = run(tillit(dir.path()).args(["audit", "verify"]));
    assert!(live.status.success(), "{live:?}");

    let text = std::fs::read_to_string(&export).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 8, "{text}");
    // An entry line (tree-head lines, signed on a timer, may sit anywhere between entries).
    let entry = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("\"actor\""))
        .nth(2)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("fewer than 3 entry lines:\n{text}"));
    let flipped = {
        let line = lines[entry];
        let pos = line.find("\"actor\"").unwrap() + 10;
        let mut bytes = line.as_bytes().to_vec();
        bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
        String::from_utf8(bytes).unwrap()
    };
    let mut byte_changed = lines.clone();
    byte_changed[entry] = &flipped;
    let mut deleted = lines.clone();
    deleted.remove(2);
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    let cut = lines[..lines.len() - 2].to_vec();
    // (name, lines, expected to verify)
    let cases: Vec<(&str, Vec<&str>, bool)> = vec![
        ("untouched", lines.clone(), true),
        ("one byte changed", byte_changed, false),
        ("one line deleted", deleted, false),
        ("two lines swapped", swapped, false),
        ("last lines cut", cut, false),
    ];
    for (name, case_lines, intact) in cases {
        let file = dir.path().join(format!("{}.jsonl", name.replace(' ', "-")));
        write_lines(&file, &case_lines);
        let out = run(tillit(dir.path())
            .args(["audit", "verify", "--export"])
            .arg(&file));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), intact, "{name}: {out:?}");
        if !intact {
            assert!(
                stderr.contains("line") || stderr.contains("seq") || stderr.contains("entry"),
                "{name}: the failure does not say where: {stderr}"
            );
        }
    }
}

#[test]
fn admin_bootstrap_prints_a_working_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(tillit(dir.path()).args(["admin", "bootstrap"]));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("tillit_"))
        .unwrap()
        .to_string();
    // The database already has a token: serve does not create another one.
    let served = start(dir.path());
    assert!(served.token.is_none());
    let (status, body) = http(
        served.addr,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(&org_body(1)),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    served.stop();
}

#[test]
fn config_show_masks_secrets_and_unknown_keys_fail() {
    let dir = tempfile::tempdir().unwrap();
    let key = "ab".repeat(32);
    let key_file: PathBuf = dir.path().join("master.key.secret");
    std::fs::write(&key_file, &key).unwrap();
    let out = run(tillit(dir.path())
        .args(["config", "show"])
        .env("TILLIT_MASTER_KEY_FILE", &key_file)
        .env(
            "TILLIT_DATABASE_URL",
            "postgres://tillit:hunter2@db.example:5432/tillit",
        )
        .env("TILLIT_LOG_FORMAT", "json"));
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains(&key), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("master_key = \"********\""), "{shown}");
    assert!(shown.contains("log_format = \"json\""), "{shown}");

    // (tillit.toml contents, extra env, text the error must contain)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("lisen = \"127.0.0.1:1\"\n", vec![], "lisen"),
        ("", vec![("TILLIT_BOGUS", "1")], "TILLIT_BOGUS"),
        ("body_limit = \"big\"\n", vec![], "body_limit"),
    ];
    for (toml, env, expected) in cases {
        std::fs::write(dir.path().join("tillit.toml"), toml).unwrap();
        let mut cmd = tillit(dir.path());
        cmd.args(["config", "show"]);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml:?} {env:?} was accepted");
        assert!(
            stderr.contains(expected),
            "{expected} not named in: {stderr}"
        );
    }
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../access/examples")
        .join(name)
}

#[test]
fn access_import_export_and_check_offline() {
    let dir = tempfile::tempdir().unwrap();
    let code = |out: &Output| out.status.code().unwrap_or(-1);
    // Before any import: export and check are input errors.
    let out = run(tillit(dir.path()).args(["access", "export"]));
    assert_eq!(code(&out), 2, "{out:?}");

    let nurse = example("nurse-two-employments.yaml");
    let out = run(tillit(dir.path()).args(["access", "import"]).arg(&nurse));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("version 1"), "{stdout}");

    // (arguments, exit code, text on stdout)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--scope-kind",
                "organisation",
                "--scope-id",
                "rigshospitalet",
                "--loa",
                "substantial",
                "--at",
                "2025-06-02T10:00:00Z",
            ],
            0,
            "via assignment tildeling-1",
        ),
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--scope-kind",
                "organisation",
                "--scope-id",
                "knoglen",
                "--loa",
                "substantial",
                "--at",
                "2025-06-02",
            ],
            1,
            "only within organisation rigshospitalet",
        ),
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--scope-kind",
                "organisation",
                "--scope-id",
                "rigshospitalet",
                "--loa",
                "low",
            ],
            1,
            "this login is Low",
        ),
        (
            &["--user", "knoglen201", "--right", "ordinationsret"],
            1,
            "no assignment of user knoglen201",
        ),
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--loa",
                "extreme",
            ],
            2,
            "",
        ),
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--at",
                "yesterday",
            ],
            2,
            "",
        ),
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--amount",
                "-5",
            ],
            2,
            "",
        ),
        (
            &[
                "--user",
                "riget",
                "--right",
                "ordinationsret",
                "--scope-kind",
                "organisation",
            ],
            2,
            "",
        ),
        (&["--user", "riget"], 2, ""),
    ];
    for (args, want, text) in cases {
        let out = run(tillit(dir.path()).args(["access", "check"]).args(*args));
        assert_eq!(code(&out), *want, "{args:?}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(text), "{args:?}: {stdout}");
    }

    // A token acting as a user of the model: the model decides what it may do (riget holds no
    // right in the IT system `tillit`), and an unknown user is refused.
    let out = run(tillit(dir.path()).args(["admin", "token", "--user", "ghost"]));
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ghost"),
        "{out:?}"
    );
    let out = run(tillit(dir.path()).args(["admin", "token", "--user", "riget", "--name", "t"]));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("tillit_"))
        .unwrap()
        .to_string();
    let served = start(dir.path());
    let (status, body) = http(served.addr, "GET", "/v1/orgs", Some(&token), None).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("user riget may not org.read"), "{body}");
    served.stop();

    // A refused document names every bad entry, exits 2 and changes nothing.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "classifications: [{ id: k }]\nroles:\n  - { id: a, classifications: [k], inherits: [b] }\n  - { id: b, classifications: [k], inherits: [a] }\npersons: [{ id: p }]\nusers: [{ id: u, person: p }]\nassignments: [{ id: x, user: u, roles: [nope] }]\n",
    )
    .unwrap();
    let out = run(tillit(dir.path()).args(["access", "import"]).arg(&bad));
    assert_eq!(code(&out), 2, "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for entry in ["roles[a]", "roles[b]", "assignments[x]"] {
        assert!(stderr.contains(entry), "{entry} not named: {stderr}");
    }
    let out = run(tillit(dir.path()).args(["access", "import", "missing.yaml"]));
    assert_eq!(code(&out), 2, "{out:?}");

    // Export round-trips: the exported JSON imports as version 2 and exports the same.
    let exported = dir.path().join("model.json");
    let out = run(tillit(dir.path())
        .args(["access", "export", "--out"])
        .arg(&exported));
    assert!(out.status.success(), "{out:?}");
    let first = std::fs::read_to_string(&exported).unwrap();
    let out = run(tillit(dir.path()).args(["access", "import"]).arg(&exported));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("version 2"),
        "{out:?}"
    );
    let out = run(tillit(dir.path()).args(["access", "export"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), first);

    // Both imports are in the audit log, which verifies.
    let out = run(tillit(dir.path()).args(["audit", "verify"]));
    assert!(out.status.success(), "{out:?}");
}
