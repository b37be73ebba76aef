//! SD-JWT VC verification against raw P-256 verification, in the same run.
//!
//! `cargo bench -p tillit-credential --bench sdjwt` prints, before the
//! Criterion groups, the measured rates and two ratios:
//! - per credential: SD-JWT VC verifications/s ÷ raw P-256 verifications/s
//!   (a presentation with a KB-JWT needs 2 signature checks, so ≈ 0.5 is the ceiling);
//! - per signature: (2 × SD-JWT VC verifications/s) ÷ raw P-256 verifications/s.

use std::hint::black_box;
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

struct Setup {
    presentation: String,
    trust: TrustStore,
    opts: VerifyOptions,
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
    let presentation = present(&issued.sd_jwt, &five, Some(kb)).expect("present");
    let mut trust = TrustStore::new();
    trust
        .add_jwk(
            &issuer.verifying_key().to_jwk(),
            Some(TrustedIssuer::new("https://ankeborg.se", "Ankeborg")),
        )
        .expect("trust");
    let opts = VerifyOptions {
        at: now,
        audience: Some("https://polisen.se".into()),
        nonce: Some("nonce-1".into()),
        country: None,
    };
    let report = sdjwt::verify_report(&presentation, &trust, &opts);
    assert!(report.valid, "{:?}", report.errors);
    let raw_msg = issued
        .issuer_jwt
        .rsplit_once('.')
        .expect("jws")
        .0
        .as_bytes()
        .to_vec();
    let raw_sig = issuer.sign(&raw_msg).expect("sign");
    Setup {
        presentation,
        trust,
        opts,
        raw_key: issuer.verifying_key(),
        raw_msg,
        raw_sig,
    }
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
    let window = Duration::from_secs(3);
    let raw = rate(
        || {
            s.raw_key
                .verify(black_box(&s.raw_msg), black_box(&s.raw_sig))
                .expect("raw")
        },
        window,
    );
    let vc = rate(
        || {
            let r = sdjwt::verify_report(black_box(&s.presentation), &s.trust, &s.opts);
            assert!(r.valid);
        },
        window,
    );
    println!("raw P-256 verify (tillit-crypto): {raw:.0}/s");
    println!("SD-JWT VC verify (5 disclosures + KB-JWT): {vc:.0}/s");
    println!("ratio per credential: {:.3}", vc / raw);
    println!(
        "ratio per signature (2 checks per presentation): {:.3}",
        2.0 * vc / raw
    );
}

fn bench(c: &mut Criterion) {
    let s = setup();
    ratios(&s);
    let mut g = c.benchmark_group("sdjwt");
    g.bench_function("raw_p256_verify", |b| {
        b.iter(|| {
            s.raw_key
                .verify(black_box(&s.raw_msg), black_box(&s.raw_sig))
                .expect("raw")
        })
    });
    g.bench_function("sd_jwt_vc_verify_5_disclosures_kb", |b| {
        b.iter(|| sdjwt::verify_report(black_box(&s.presentation), &s.trust, &s.opts))
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
