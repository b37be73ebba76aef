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
pub mod seal;
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

/// `N` bytes from the operating system backed CSPRNG of AWS-LC.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// Fills `buf` from the CSPRNG. AWS-LC's `RAND_bytes` aborts the process instead of returning an
/// error when the entropy source fails, so the error branch is unreachable in practice.
pub(crate) fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("AWS-LC RAND_bytes does not fail without aborting");
}
