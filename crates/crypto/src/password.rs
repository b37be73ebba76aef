//! Password hashing with Argon2id at OWASP's recommended parameters (Password Storage Cheat
//! Sheet: m = 19 MiB, t = 2, p = 1), as PHC strings. aws-lc has no Argon2; the RustCrypto
//! `argon2` crate is the well-kept implementation.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm as Variant, Argon2, Params, Version};

use crate::CryptoError;

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

fn hasher() -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|_| CryptoError::Internal("argon2 parameters"))?;
    Ok(Argon2::new(Variant::Argon2id, Version::V0x13, params))
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
        .map_err(|_| CryptoError::Internal("argon2 salt"))?;
    Ok(hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| CryptoError::Internal("argon2 hashing"))?
        .to_string())
}

/// Whether `password` matches the PHC string `phc` (with the parameters stored in it).
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A PHC string to verify against when the account does not exist, so that a login for an
/// unknown name costs as long as one for a known name.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("tillit-dummy-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_owasp_parameters() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let cases = [
            ("correct horse battery staple", true),
            ("correct horse battery stapl", false),
            ("", false),
        ];
        for (pw, want) in cases {
            assert_eq!(verify(pw, &phc), want, "{pw:?}");
        }
        assert!(!verify("x", "not a phc string"));
        assert_ne!(hash("same").unwrap(), hash("same").unwrap(), "salted");
    }

    /// A PHC string made by the reference implementation's CLI (phc-winner-argon2, Debian's
    /// `argon2`): `echo -n password | argon2 tillitsalt123456 -id -t 2 -k 19456 -p 1 -e`.
    #[test]
    fn verifies_a_hash_made_by_the_reference_cli() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$dGlsbGl0c2FsdDEyMzQ1Ng$nI1zX7WsKUtSgrQ3Fx+dTqCODJaGff7DkeeI/FRbO/0";
        assert!(verify("password", phc));
        assert!(!verify("Password", phc));
        let salt = SaltString::from_b64("dGlsbGl0c2FsdDEyMzQ1Ng").unwrap();
        let ours = hasher()
            .unwrap()
            .hash_password(b"password", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            ours, phc,
            "the same parameters and salt give the reference's hash"
        );
    }
}
