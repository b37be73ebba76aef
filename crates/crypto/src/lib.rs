//! tillit-crypto: the signature, key, digest and sealing primitives the rest of Tillit builds on.
//!
//! Pure: no I/O, no clock, no async. All signature and digest work goes through `aws-lc-rs`;
//! ECDSA signatures are always the fixed-width `r || s` form used by JOSE and COSE.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod algorithm;
pub mod b64;
mod error;
mod jwk;
pub mod jws;
mod keys;
pub mod password;
pub mod seal;
pub mod totp;
pub mod x509;

pub use algorithm::Algorithm;
pub use error::CryptoError;
pub use jwk::Jwk;
pub use keys::{SigningKey, VerifyingKey};

/// SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    // A SHA-256 digest is always 32 bytes; `zip` keeps this free of indexing.
    for (o, d) in out.iter_mut().zip(digest.as_ref()) {
        *o = *d;
    }
    out
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, message);
    let mut out = [0u8; 32];
    for (o, t) in out.iter_mut().zip(tag.as_ref()) {
        *o = *t;
    }
    out
}

/// `N` bytes from the operating system backed CSPRNG of AWS-LC.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// Random bytes from the CSPRNG, drawn a block at a time, for work that takes many small draws
/// (an SD-JWT's salts, decoy digests and shuffles): each call into the DRBG costs more than the
/// few bytes it returns. Keep one per operation, on the stack; never share or persist it.
pub struct RandomPool {
    block: [u8; 256],
    used: usize,
}

impl Default for RandomPool {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomPool {
    /// An empty pool; the first draw fills it.
    pub fn new() -> Self {
        Self {
            block: [0; 256],
            used: 256,
        }
    }

    /// `N` fresh random bytes (each byte is handed out once).
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if N > self.block.len() {
            fill_random(&mut out);
            return out;
        }
        if self.used + N > self.block.len() {
            fill_random(&mut self.block);
            self.used = 0;
        }
        if let Some(fresh) = self.block.get_mut(self.used..self.used + N) {
            out.copy_from_slice(fresh);
            // Bytes handed out are not kept.
            fresh.fill(0);
        }
        self.used += N;
        out
    }

    /// A uniformly drawn number in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        let n64 = n as u64;
        if n64 == 0 {
            return 0;
        }
        // Rejection sampling keeps the draw unbiased.
        let zone = u64::MAX - (u64::MAX % n64);
        loop {
            let r = u64::from_le_bytes(self.bytes::<8>());
            if r < zone {
                return usize::try_from(r % n64).unwrap_or(0);
            }
        }
    }

    /// A uniformly random permutation of `items` (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Fills `buf` from the CSPRNG. AWS-LC's `RAND_bytes` aborts the process instead of returning an
/// error when the entropy source fails, so the error branch is unreachable in practice.
pub(crate) fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("AWS-LC RAND_bytes does not fail without aborting");
}

#[cfg(test)]
mod tests {
    use super::RandomPool;

    #[test]
    fn random_pool_hands_out_fresh_bytes_across_refills() {
        let mut pool = RandomPool::new();
        // 100 draws of 16 bytes span several refills of the 256-byte block.
        let draws: Vec<[u8; 16]> = (0..100).map(|_| pool.bytes::<16>()).collect();
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert_eq!(distinct.len(), draws.len(), "no 16-byte draw repeats");
        assert!(draws.iter().all(|d| d != &[0; 16]));
        // A draw larger than the block comes straight from the DRBG.
        assert_ne!(pool.bytes::<300>(), [0; 300]);
    }

    #[test]
    fn random_pool_below_is_in_range_and_reaches_every_value() {
        let mut pool = RandomPool::new();
        for (n, draws) in [(1usize, 10), (2, 200), (3, 300), (7, 1000)] {
            let mut seen = vec![0usize; n];
            for _ in 0..draws {
                let v = pool.below(n);
                assert!(v < n, "{v} < {n}");
                seen[v] += 1;
            }
            // Each value is expected draws/n times; far fewer than half of that means bias.
            assert!(seen.iter().all(|&c| c > draws / n / 2), "n={n}: {seen:?}");
        }
        assert_eq!(pool.below(0), 0);
    }

    #[test]
    fn random_pool_shuffle_is_a_permutation() {
        let mut pool = RandomPool::new();
        let mut items: Vec<u32> = (0..50).collect();
        pool.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(items, sorted, "50 items left in order: 1 in 50! chance");
    }
}
