//! Raw P-256 (ES256) sign and verify through `tillit-crypto`.
//!
//! Two measurements:
//! 1. Criterion (wall-clock time per operation).
//! 2. An `openssl speed`-style loop (only with `--bench`): 3 s per operation, rate divided by the
//!    thread's *user CPU time*, which is what `openssl speed -seconds 3 ecdsap256` reports by
//!    default (`-elapsed` switches it to wall time). On a shared machine wall-clock rates swing
//!    with load; CPU-time rates are what compares with OpenSSL's numbers. Run both together:
//!    `openssl speed -seconds 3 ecdsap256; cargo bench -p tillit-crypto --bench raw`.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, Criterion, Throughput};
use tillit_crypto::{Algorithm, SigningKey};

/// A typical JWS signing input is ~100-300 bytes; hashing it is negligible next to ECDSA.
const MSG: [u8; 128] = [0x5a; 128];

fn p256(c: &mut Criterion) {
    let key = SigningKey::generate(Algorithm::Es256).expect("P-256 key generation");
    let verifying = key.verifying_key();
    let sig = key.sign(&MSG).expect("sign");

    let mut group = c.benchmark_group("p256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify", |b| {
        b.iter(|| verifying.verify(black_box(&MSG), black_box(&sig)))
    });
    group.bench_function("sign", |b| b.iter(|| key.sign(black_box(&MSG))));
    group.finish();
}

criterion_group!(benches, p256);

/// This thread's user CPU time in seconds, from `/proc/thread-self/stat` (clock ticks of 1/100 s).
fn thread_user_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    // Fields after the command name start at field 3 (state); utime is field 14.
    let utime: f64 = after_comm.split_whitespace().nth(11)?.parse().ok()?;
    Some(utime / 100.0)
}

/// Runs `op` for `seconds` of wall time; returns (ops per user-CPU second, ops per wall second).
fn openssl_style(seconds: u64, mut op: impl FnMut()) -> Option<(f64, f64)> {
    let cpu_start = thread_user_seconds()?;
    let start = Instant::now();
    let mut count: u64 = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..64 {
            op();
        }
        count += 64;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_user_seconds()? - cpu_start;
    Some((count as f64 / cpu, count as f64 / wall))
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();

    // Only in real benchmark runs, not when `cargo test --benches` smoke-tests this binary.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let key = SigningKey::generate(Algorithm::Es256).expect("P-256 key generation");
    let verifying = key.verifying_key();
    let sig = key.sign(&MSG).expect("sign");
    let results = [
        (
            "sign",
            openssl_style(3, || {
                black_box(key.sign(black_box(&MSG)).ok());
            }),
        ),
        (
            "verify",
            openssl_style(3, || {
                black_box(verifying.verify(black_box(&MSG), black_box(&sig)).ok());
            }),
        ),
    ];
    // The baseline, measured in this same run: OpenSSL's own rates (per user-CPU second).
    let openssl = openssl_speed();
    println!(
        "openssl-speed style, 3 s each, as a ratio to `openssl speed -seconds 3 ecdsap256` now:"
    );
    for ((name, rate), baseline) in results
        .into_iter()
        .zip([openssl.map(|o| o.0), openssl.map(|o| o.1)])
    {
        match (rate, baseline) {
            (Some((cpu, wall)), Some(base)) => println!(
                "  p256 {name:<6} {cpu:>10.1}/s per user-CPU second ({:.2}× OpenSSL's {base:.1}/s)   {wall:>10.1}/s wall",
                cpu / base
            ),
            (Some((cpu, wall)), None) => println!(
                "  p256 {name:<6} {cpu:>10.1}/s per user-CPU second   {wall:>10.1}/s wall (no `openssl` to compare with)"
            ),
            (None, _) => println!("  p256 {name}: /proc/thread-self/stat unavailable"),
        }
    }
}

/// (sign/s, verify/s) from `openssl speed -seconds 3 ecdsap256`, if `openssl` runs here.
fn openssl_speed() -> Option<(f64, f64)> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "ecdsap256"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("ecdsa (nistp256)"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let verify = fields.last()?.parse().ok()?;
    let sign = fields.get(fields.len().checked_sub(2)?)?.parse().ok()?;
    Some((sign, verify))
}
