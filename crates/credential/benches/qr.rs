//! TL1 QR verification benchmark (filled in below as the pipeline lands).
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    c.bench_function("base45_encode_1k", |b| {
        let data = vec![0xa5u8; 1024];
        b.iter(|| tillit_credential::base45::encode(&data))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
