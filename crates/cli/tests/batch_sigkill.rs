//! A batch job interrupted by SIGKILL resumes and issues nothing twice: the real `tillit serve`
//! takes a batch of 2,000 permits, is killed mid-job, is started again on the same database, and
//! at the end the register holds exactly one attestation per row (and the results one line per
//! row, each with its own attestation).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tillit_testkit::served::{self, Served};

const BIN: &str = env!("CARGO_BIN_EXE_tillit");
const ROWS: usize = 2000;

/// `tillit serve` in `dir` on a free port, with a short job lease so that the restarted server
/// takes the killed one's job over quickly.
fn start(dir: &Path) -> Served {
    Served::start(BIN, dir, &[("TILLIT_JOB_LEASE_SECONDS", "2")])
}

/// One request with the token: status and body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    served::http(addr, method, path, Some(token), body).expect("tillit serve answers")
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
    let mut served = start(dir.path());
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

    let served = start(dir.path());
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
