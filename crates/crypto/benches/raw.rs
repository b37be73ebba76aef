//! Raw P-256 (ES256) sign and verify through `tillit-crypto`, to compare with
//! `openssl speed -seconds 3 ecdsap256` run at the same time (see the crate report).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tillit_crypto::{Algorithm, SigningKey};

fn p256(c: &mut Criterion) {
    let key = SigningKey::generate(Algorithm::Es256).expect("P-256 key generation");
    let verifying = key.verifying_key();
    // A typical JWS signing input is ~100-300 bytes; hashing it is negligible next to ECDSA.
    let msg = [0x5au8; 128];
    let sig = key.sign(&msg).expect("sign");

    let mut group = c.benchmark_group("p256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify", |b| {
        b.iter(|| verifying.verify(black_box(&msg), black_box(&sig)))
    });
    group.bench_function("sign", |b| b.iter(|| key.sign(black_box(&msg))));
    group.finish();
}

criterion_group!(benches, p256);
criterion_main!(benches);
