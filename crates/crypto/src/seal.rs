//! Authenticated encryption for secrets at rest: XChaCha20-Poly1305 with a random 24-byte nonce.
//! Layout of a sealed value: `nonce (24) || ciphertext || tag (16)`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::{random_bytes, CryptoError};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` under the 32-byte master `key`, binding `aad` (e.g. the record id)
/// so that a sealed value cannot be moved to another record.
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce: [u8; NONCE_LEN] = random_bytes();
    // Encryption fails only for plaintexts over 256 GiB, which cannot be held in memory here.
    #[allow(clippy::expect_used)]
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption of an in-memory buffer");
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts a value made by [`seal`] with the same `key` and `aad`.
pub fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::SealOpen);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::SealOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn roundtrip_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"secret", b""),
            (b"", b"record-1"),
            (b"a private JWK", b"org/42/key/1"),
            (&[0u8; 4096], b"big"),
        ];
        for (plaintext, aad) in cases {
            let sealed = seal(&KEY, plaintext, aad);
            assert_eq!(sealed.len(), NONCE_LEN + plaintext.len() + TAG_LEN);
            assert_eq!(open(&KEY, &sealed, aad).unwrap(), *plaintext);
            // Fresh nonce every time.
            assert_ne!(seal(&KEY, plaintext, aad), sealed);
        }
    }

    #[test]
    fn every_corruption_is_an_error() {
        let sealed = seal(&KEY, b"master secret", b"aad");
        let mut other_key = KEY;
        other_key[0] ^= 1;
        assert_eq!(
            open(&other_key, &sealed, b"aad"),
            Err(CryptoError::SealOpen)
        );
        assert_eq!(open(&KEY, &sealed, b"aae"), Err(CryptoError::SealOpen));
        assert_eq!(open(&KEY, &sealed, b""), Err(CryptoError::SealOpen));
        for i in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = sealed.clone();
                bad[i] ^= bit;
                assert_eq!(
                    open(&KEY, &bad, b"aad"),
                    Err(CryptoError::SealOpen),
                    "byte {i}"
                );
            }
        }
        for len in 0..sealed.len() {
            assert_eq!(
                open(&KEY, &sealed[..len], b"aad"),
                Err(CryptoError::SealOpen),
                "len {len}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(open(&KEY, &longer, b"aad"), Err(CryptoError::SealOpen));
    }
}
