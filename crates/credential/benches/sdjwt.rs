//! SD-JWT VC verification against raw P-256 verification, in the same run.
//!
//! `cargo bench -p tillit-credential --bench sdjwt` prints, before the
//! Criterion groups, on one thread and in the same process:
//! - raw P-256 ECDSA verifications/s through tillit-crypto (aws-lc-rs);
//! - SD-JWT VC verifications/s (`sdjwt::verify_report`, 5 disclosures) without
//!   a KB-JWT (1 signature check) and with one (2 signature checks);
//! - each as a ratio to the raw rate, per credential and per signature check.
//!
//! Wall-clock rates move with the machine's load. When `valgrind` is on the
//! PATH the bench also runs itself under `valgrind --tool=callgrind` once per
//! case and prints instructions per operation and the same ratios, which are
//! repeatable on a loaded machine (set `TILLIT_BENCH_CALLGRIND=0` to skip,
//! `TILLIT_BENCH_SECONDS` to change the 3-second rate window).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, Criterion};
use serde_json::json;
use tillit_credential::report::VerifyOptions;
use tillit_credential::sdjwt::{
    self, issue_vc, present, ClaimPath, IssueOptions, KeyBindingInput, VcInput,
};
use tillit_credential::trust::{TrustStore, TrustedIssuer};
use tillit_crypto::{Algorithm, SigningKey, VerifyingKey};

/// Set in the child process that callgrind measures: which case to run.
const CASE_ENV: &str = "TILLIT_BENCH_CALLGRIND_CASE";
/// Operations per callgrind case (instructions are divided by this).
const CALLGRIND_OPS: u64 = 200;

struct Setup {
    /// 5 disclosures + KB-JWT (2 signature checks).
    with_kb: String,
    /// 5 disclosures, no KB-JWT (1 signature check).
    without_kb: String,
    trust: TrustStore,
    opts_kb: VerifyOptions,
    opts_plain: VerifyOptions,
    raw_key: VerifyingKey,
    raw_msg: Vec<u8>,
    raw_sig: Vec<u8>,
}

fn setup() -> Setup {
    let issuer = SigningKey::generate(Algorithm::Es256).expect("issuer key");
    let holder = SigningKey::generate(Algorithm::Es256).expect("holder key");
    let now = Utc.timestamp_opt(1_780_000_000, 0).single().expect("time");
    let claims = json!({"given_name": "Kalle", "family_name": "Anka", "birthdate": "1934-06-09",
        "licence_number": "SE-123456", "valid_areas": "Ankeborg", "category": "moose"});
    let input = VcInput {
        vct: "https://ankeborg.se/vct/hunting-licence".into(),
        iss: "https://ankeborg.se".into(),
        iat: now,
        nbf: None,
        exp: Some(now + chrono::Duration::days(365)),
        sub: None,
        holder_key: Some(holder.verifying_key().to_jwk()),
        status: None,
        claims: claims.as_object().expect("object").clone(),
    };
    let sd: Vec<ClaimPath> = [
        "given_name",
        "family_name",
        "birthdate",
        "licence_number",
        "valid_areas",
        "category",
    ]
    .iter()
    .map(|p| ClaimPath::parse(p).expect("path"))
    .collect();
    let issued = issue_vc(&input, &sd, &issuer, &IssueOptions::default()).expect("issue");
    let five: Vec<ClaimPath> = sd.into_iter().take(5).collect();
    let kb = KeyBindingInput {
        key: &holder,
        audience: "https://polisen.se",
        nonce: "nonce-1",
        iat: now,
    };
    let with_kb = present(&issued.sd_jwt, &five, Some(kb)).expect("present");
    let without_kb = present(&issued.sd_jwt, &five, None).expect("present");
    let mut trust = TrustStore::new();
    trust
        .add_jwk(
            &issuer.verifying_key().to_jwk(),
            Some(TrustedIssuer::new("https://ankeborg.se", "Ankeborg")),
        )
        .expect("trust");
    let opts_kb = VerifyOptions {
        at: now,
        audience: Some("https://polisen.se".into()),
        nonce: Some("nonce-1".into()),
        country: None,
    };
    let opts_plain = VerifyOptions {
        at: now,
        audience: None,
        nonce: None,
        country: None,
    };
    for (p, o, kb) in [
        (&with_kb, &opts_kb, true),
        (&without_kb, &opts_plain, false),
    ] {
        let report = sdjwt::verify_report(p, &trust, o);
        assert!(report.valid, "{:?}", report.errors);
        assert_eq!(report.steps.holder_binding, kb.then_some(true));
    }
    // The raw check verifies the issuer's own signature over the issuer JWT.
    let (raw_msg, raw_sig) = issued.issuer_jwt.rsplit_once('.').expect("jws");
    let raw_sig = tillit_crypto::b64::decode_url(raw_sig).expect("signature");
    Setup {
        with_kb,
        without_kb,
        trust,
        opts_kb,
        opts_plain,
        raw_key: issuer.verifying_key(),
        raw_msg: raw_msg.as_bytes().to_vec(),
        raw_sig,
    }
}

fn raw_verify(s: &Setup) {
    s.raw_key
        .verify(black_box(&s.raw_msg), black_box(&s.raw_sig))
        .expect("raw");
}

fn vc_verify(s: &Setup, kb: bool) {
    let (p, o) = if kb {
        (&s.with_kb, &s.opts_kb)
    } else {
        (&s.without_kb, &s.opts_plain)
    };
    let r = sdjwt::verify_report(black_box(p), &s.trust, o);
    assert!(r.valid);
}

// The functions callgrind collects in (`--toggle-collect=*callgrind_case_*`).
#[inline(never)]
fn callgrind_case_raw(s: &Setup, n: u64) {
    for _ in 0..n {
        raw_verify(s);
    }
}
#[inline(never)]
fn callgrind_case_vc(s: &Setup, n: u64) {
    for _ in 0..n {
        vc_verify(s, false);
    }
}
#[inline(never)]
fn callgrind_case_vc_kb(s: &Setup, n: u64) {
    for _ in 0..n {
        vc_verify(s, true);
    }
}

/// The child side: warm up outside the collected functions, then run one case.
fn run_callgrind_case(case: &str) {
    let s = setup();
    raw_verify(&s);
    vc_verify(&s, false);
    vc_verify(&s, true);
    match case {
        "raw" => callgrind_case_raw(&s, CALLGRIND_OPS),
        "vc" => callgrind_case_vc(&s, CALLGRIND_OPS),
        "vc_kb" => callgrind_case_vc_kb(&s, CALLGRIND_OPS),
        other => panic!("unknown callgrind case {other:?}"),
    }
}

/// Instructions per operation of `case`, measured by callgrind on this executable.
fn callgrind_instructions(case: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out_file = std::env::temp_dir().join(format!(
        "tillit-bench-sdjwt-{}-{case}.callgrind",
        std::process::id()
    ));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*callgrind_case_{case}*"))
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&exe)
        .env(CASE_ENV, case)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&out_file);
    if !output.status.success() {
        eprintln!(
            "callgrind run for {case} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let collected = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(collected as f64 / CALLGRIND_OPS as f64)
}

fn report_callgrind() {
    if std::env::var("TILLIT_BENCH_CALLGRIND").as_deref() == Ok("0") {
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("callgrind: valgrind not found, instruction counts skipped");
        return;
    }
    let (Some(raw), Some(vc), Some(vc_kb)) = (
        callgrind_instructions("raw"),
        callgrind_instructions("vc"),
        callgrind_instructions("vc_kb"),
    ) else {
        println!("callgrind: measurement failed, instruction counts skipped");
        return;
    };
    println!("callgrind instructions per operation (Ir, {CALLGRIND_OPS} ops each):");
    println!("  raw P-256 verify:                     {raw:>10.0}");
    println!(
        "  SD-JWT VC, no KB-JWT (1 signature):   {vc:>10.0}  = {:.3} raw verifies; raw/vc {:.3}; outside the signature {:.0} ({:.1}% of one verify)",
        vc / raw,
        raw / vc,
        vc - raw,
        100.0 * (vc - raw) / raw
    );
    println!(
        "  SD-JWT VC + KB-JWT (2 signatures):    {vc_kb:>10.0}  = {:.3} raw verifies; 2·raw/vc {:.3}; outside the signatures {:.0} ({:.1}% of two verifies)",
        vc_kb / raw,
        2.0 * raw / vc_kb,
        vc_kb - 2.0 * raw,
        100.0 * (vc_kb - 2.0 * raw) / (2.0 * raw)
    );
}

fn rate(mut f: impl FnMut(), window: Duration) -> f64 {
    for _ in 0..200 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn ratios(s: &Setup) {
    let seconds = std::env::var("TILLIT_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(3.0);
    let window = Duration::from_secs_f64(seconds);
    // Interleave, so that a change of machine load hits every case alike.
    let (mut raw, mut vc, mut vc_kb) = (0.0, 0.0, 0.0);
    for _ in 0..3 {
        raw += rate(|| raw_verify(s), window / 3) / 3.0;
        vc += rate(|| vc_verify(s, false), window / 3) / 3.0;
        vc_kb += rate(|| vc_verify(s, true), window / 3) / 3.0;
    }
    println!("wall clock, one thread, same run:");
    println!("  raw P-256 verify (tillit-crypto):     {raw:>8.0}/s");
    println!(
        "  SD-JWT VC, no KB-JWT (1 signature):   {vc:>8.0}/s  ratio {:.3}",
        vc / raw
    );
    println!(
        "  SD-JWT VC + KB-JWT (2 signatures):    {vc_kb:>8.0}/s  ratio {:.3} per credential, {:.3} per signature",
        vc_kb / raw,
        2.0 * vc_kb / raw
    );
}

fn bench(c: &mut Criterion) {
    let s = setup();
    ratios(&s);
    report_callgrind();
    let mut g = c.benchmark_group("sdjwt");
    g.bench_function("raw_p256_verify", |b| b.iter(|| raw_verify(&s)));
    g.bench_function("sd_jwt_vc_verify_5_disclosures", |b| {
        b.iter(|| vc_verify(&s, false))
    });
    g.bench_function("sd_jwt_vc_verify_5_disclosures_kb", |b| {
        b.iter(|| vc_verify(&s, true))
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        run_callgrind_case(&case);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
