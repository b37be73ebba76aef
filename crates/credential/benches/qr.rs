//! TL1 QR verification, end to end (unprefix → Base45 → zlib → COSE → CBOR →
//! ES256 signature → trust → validity → status), against one raw P-256 ECDSA
//! verification through tillit-crypto in the same run. Prints the ratio.
//!
//! `cargo bench -p tillit-credential --bench qr`

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use tillit_credential::qr::{self, Attestation, StatusReference};
use tillit_credential::report::VerifyOptions;
use tillit_credential::trust::{TrustStore, TrustedIssuer};
use tillit_credential::verify;
use tillit_crypto::{Algorithm, SigningKey};

struct Fixture {
    text: String,
    trust: TrustStore,
    opts: VerifyOptions,
    key: SigningKey,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

fn fixture() -> Fixture {
    let now: DateTime<Utc> = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    let key = SigningKey::generate(Algorithm::Es256).expect("P-256 key");
    let claims = json!({"given_name": "Åsa", "family_name": "Lindqvist", "birthdate": "1984-03-12",
                        "licence_number": "JK-2026-004711", "valid_areas": ["Jämtland"], "level": 2});
    let att = Attestation {
        issuer: "https://lansstyrelsen.example/jakt".into(),
        subject: None,
        attestation_type: "https://tillit.example/vct/jaktkort".into(),
        claims: claims.as_object().cloned().unwrap_or_default(),
        status: Some(StatusReference {
            idx: 7,
            uri: "https://lansstyrelsen.example/status/1".into(),
        }),
    };
    let text = qr::issue_qr(&att, &key, now, Duration::days(365)).expect("issue");
    let mut trust = TrustStore::new();
    trust
        .add_jwk(
            &key.verifying_key().to_jwk(),
            Some(TrustedIssuer::new(att.issuer.clone(), "Länsstyrelsen")),
        )
        .expect("trust");
    let msg = vec![0x5a; 200];
    let sig = key.sign(&msg).expect("sign");
    Fixture {
        text,
        trust,
        opts: VerifyOptions::at(now + Duration::days(1)),
        key,
        msg,
        sig,
    }
}

/// Operations per second of `f`, measured for about `budget`.
fn rate(budget: StdDuration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let fx = fixture();
    let vk = fx.key.verifying_key();
    assert!(
        verify::verify(&fx.text, &fx.trust, &fx.opts).valid,
        "the fixture must verify"
    );

    let mut group = c.benchmark_group("qr");
    group.bench_function("tl1_es256_verify_end_to_end", |b| {
        b.iter(|| black_box(verify::verify(black_box(&fx.text), &fx.trust, &fx.opts)))
    });
    group.bench_function("raw_p256_verify_tillit_crypto", |b| {
        b.iter(|| black_box(vk.verify(black_box(&fx.msg), black_box(&fx.sig))))
    });
    group.finish();

    // The ratio, measured back to back in this run (interleaved to share the machine's state).
    let budget = StdDuration::from_millis(700);
    let (mut tl1, mut raw) = (0.0, 0.0);
    for _ in 0..3 {
        tl1 += rate(budget, || {
            black_box(verify::verify(&fx.text, &fx.trust, &fx.opts));
        });
        raw += rate(budget, || {
            let _ = black_box(vk.verify(&fx.msg, &fx.sig));
        });
    }
    println!(
        "TL1 ES256 end-to-end verify: {:.0}/s; raw P-256 verify (tillit-crypto): {:.0}/s; ratio {:.3}",
        tl1 / 3.0,
        raw / 3.0,
        tl1 / raw
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
