//! Pseudonyms for people referenced from audit details (pseudonymisering).

/// A stable pseudonym for a personal value (a personnummer, CPR number, e-mail address) to put in
/// audit `details` instead of the value itself: lowercase hex of HMAC-SHA256(`secret`, `value`).
///
/// The same secret and value always give the same pseudonym, so entries about one person can be
/// correlated by whoever holds the secret, while the log itself holds no personal data in clear.
/// Use a dedicated secret of at least 32 random bytes, kept outside the audit log.
pub fn pseudonymise(secret: &[u8], value: &str) -> String {
    hex::encode(tillit_crypto::hmac_sha256(secret, value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (HMAC-SHA-256 outputs), through the pseudonym's MAC.
    #[test]
    fn rfc4231_vectors() {
        let cases: &[(Vec<u8>, Vec<u8>, &str)] = &[
            (vec![0x0b; 20], b"Hi There".to_vec(),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (vec![0xaa; 20], vec![0xdd; 50],
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            ((1u8..=25).collect(), vec![0xcd; 50],
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (vec![0xaa; 131],
             b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, msg, want) in cases {
            assert_eq!(
                hex::encode(tillit_crypto::hmac_sha256(key, msg)),
                *want,
                "key len {}",
                key.len()
            );
        }
    }

    #[test]
    fn pseudonym_is_hmac_hex() {
        assert_eq!(
            pseudonymise(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(
            pseudonymise(b"k1", "19121212-1212"),
            pseudonymise(b"k2", "19121212-1212")
        );
    }
}
