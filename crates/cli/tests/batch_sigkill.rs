//! A batch job interrupted by SIGKILL resumes and issues nothing twice: the real `tillit serve`
//! takes a batch of 2,000 permits, is killed mid-job, is started again on the same database, and
//! at the end the register holds exactly one attestation per row (and the results one line per
//! row, each with its own attestation).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tillit");
const ROWS: usize = 2000;

struct Served {
    child: Child,
    addr: SocketAddr,
    token: Option<String>,
}

impl Served {
    /// `tillit serve` in `dir` on a free port, with a short job lease so that the restarted
    /// server takes the killed one's job over quickly.
    fn start(dir: &Path) -> Served {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("TILLIT_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .arg("serve")
            .env("RUST_LOG", "warn")
            .env("TILLIT_LISTEN", addr.to_string())
            .env("TILLIT_JOB_LEASE_SECONDS", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut token = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut listening = false;
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                if listening {
                    break;
                }
                continue;
            };
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("tillit_")) {
                token = Some(t.to_string());
            }
            if line.contains("http://") {
                listening = true;
            }
        }
        assert!(listening, "tillit serve did not start");
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Served { child, addr, token }
    }

    fn kill9(&mut self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request (no chunked answers); status and body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n");
    if let Some((ct, b)) = body {
        request.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    if let Some((_, b)) = body {
        stream.write_all(b.as_bytes()).unwrap();
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn batch_state(addr: SocketAddr, token: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, token, None);
    assert_eq!(status, 200, "{body}");
    json(&body)
}

#[test]
fn a_batch_killed_mid_job_resumes_and_issues_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(dir.path());
    let token = served.token.clone().expect("first start prints a token");
    let addr = served.addr;
    let (status, body) = http(
        addr,
        "POST",
        "/v1/orgs",
        &token,
        Some((
            "application/json",
            r#"{"name":"Beredskapsmyndigheten","country":"SE","organisation_number":"2021005489"}"#,
        )),
    );
    assert_eq!(status, 201, "{body}");
    let org = json(&body)["id"].as_str().unwrap().to_owned();
    let ty = r#"{"slug":"travel-permit","definition":{"display":{"sv":"Resetillstånd","en":"Travel permit"},
        "claims_schema":{"type":"object","required":["name","worker_id"],
          "properties":{"name":{"type":"string"},"worker_id":{"type":"string"}}},
        "disclosable":["name"],"default_validity_days":30,"formats":["sd-jwt-vc","qr"],
        "card_fields":["name","worker_id"]}}"#;
    let (status, body) = http(
        addr,
        "POST",
        &format!("/v1/orgs/{org}/types"),
        &token,
        Some(("application/json", ty)),
    );
    assert_eq!(status, 201, "{body}");
    let mut csv = String::from("name,worker_id\n");
    for i in 0..ROWS {
        csv.push_str(&format!("Arbetare {i},W{i:06}\n"));
    }
    let (status, body) = http(
        addr,
        "POST",
        &format!("/v1/orgs/{org}/attestations/batches?type=travel-permit"),
        &token,
        Some(("text/csv", &csv)),
    );
    assert_eq!(status, 202, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/orgs/{org}/attestations/batches/{id}");

    // Kill it once the job is under way, and before it is done.
    let deadline = Instant::now() + Duration::from_secs(120);
    let done_at_kill = loop {
        let batch = batch_state(addr, &token, &path);
        let done = batch["job"]["progress"]["done"].as_u64().unwrap();
        assert_ne!(
            batch["job"]["state"], "succeeded",
            "the job finished before the kill; raise ROWS"
        );
        if done > 0 {
            served.kill9();
            break done;
        }
        assert!(Instant::now() < deadline, "the job did not start: {batch}");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(done_at_kill < ROWS as u64);

    let served = Served::start(dir.path());
    assert!(
        served.token.is_none(),
        "a restart bootstraps no second token"
    );
    let addr = served.addr;
    let deadline = Instant::now() + Duration::from_secs(180);
    let batch = loop {
        let batch = batch_state(addr, &token, &path);
        if batch["job"]["state"] == "succeeded" {
            break batch;
        }
        assert_ne!(batch["job"]["state"], "failed", "{batch}");
        assert!(Instant::now() < deadline, "the job did not finish: {batch}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(batch["job"]["progress"]["done"], ROWS, "{batch}");
    assert_eq!(batch["job"]["progress"]["failed"], 0, "{batch}");
    assert!(batch["job"]["attempts"].as_u64().unwrap() >= 2, "{batch}");

    // The register: exactly one attestation per row.
    let mut register = 0;
    let mut cursor = String::new();
    loop {
        let (status, body) = http(
            addr,
            "GET",
            &format!("/v1/orgs/{org}/attestations?limit=500{cursor}"),
            &token,
            None,
        );
        assert_eq!(status, 200, "{body}");
        let page = json(&body);
        register += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(register, ROWS, "attestations in the register");
    let (status, body) = http(addr, "GET", &format!("{path}/results"), &token, None);
    assert_eq!(status, 200);
    let lines: Vec<serde_json::Value> = body.lines().map(json).collect();
    assert_eq!(lines.len(), ROWS);
    let ids: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), ROWS, "every row has its own attestation");
    println!("killed at {done_at_kill} of {ROWS} rows; resumed and finished with {register} attestations");
}
