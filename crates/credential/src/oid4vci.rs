//! OpenID4VCI 1.0 key proofs (Appendix F.1, the `jwt` proof type): the checks a credential
//! issuer makes before it binds the proven key into `cnf`. Pure: the time comes in.

use serde_json::Value;
use tillit_crypto::jws::decode_compact;
use tillit_crypto::{Algorithm, Jwk, VerifyingKey};

use crate::CredentialError;

/// The `typ` of a key proof JWT.
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// The algorithms a proof may be signed with (asymmetric only; never `none`).
pub const PROOF_ALGORITHMS: [Algorithm; 3] = [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa];
/// How old a proof's `iat` may be, in seconds.
pub const PROOF_MAX_AGE: i64 = 300;
/// How far a proof's `iat` may lie in the future (clock skew), in seconds.
pub const PROOF_MAX_SKEW: i64 = 60;
/// The longest proof accepted, in bytes.
pub const PROOF_MAX_LEN: usize = 8192;

/// A proof that checked: the holder's public key and the nonce it signed.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedProof {
    /// The public JWK from the header (only its public members), to bind as `cnf.jwk`.
    pub jwk: Jwk,
    /// The `nonce` claim (the caller checks that it issued it and that it is unused).
    pub nonce: String,
}

fn bad(reason: impl Into<String>) -> CredentialError {
    CredentialError::KeyProof(reason.into())
}

/// Checks a `jwt` key proof for the credential issuer `audience` at `now` (Unix seconds):
/// `typ` is `openid4vci-proof+jwt`, `alg` is ES256, ES384 or EdDSA, the key is a public `jwk`
/// header member (no `kid`, `x5c` or `trust_chain` beside or instead of it), the signature
/// verifies with it, `aud` is the issuer, `iat` is recent, `exp`/`nbf` (if any) hold, and a
/// `nonce` is present. Every failure names what is wrong.
pub fn verify_proof(jwt: &str, audience: &str, now: i64) -> Result<VerifiedProof, CredentialError> {
    if jwt.len() > PROOF_MAX_LEN {
        return Err(bad(format!("longer than {PROOF_MAX_LEN} bytes")));
    }
    let jws = decode_compact(jwt).map_err(|e| bad(e.to_string()))?;
    match jws.header.get("typ") {
        Some(Value::String(t)) if t == PROOF_TYP || t == "application/openid4vci-proof+jwt" => {}
        Some(other) => return Err(bad(format!("typ is {other}, expected \"{PROOF_TYP}\""))),
        None => return Err(bad(format!("no typ; set \"typ\": \"{PROOF_TYP}\""))),
    }
    for member in ["kid", "x5c", "trust_chain", "key_attestation"] {
        if jws.header.contains_key(member) {
            return Err(bad(format!(
                "the header has {member:?}; send the holder key as a \"jwk\" header member only"
            )));
        }
    }
    let jwk: Jwk = match jws.header.get("jwk") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| bad(format!("the jwk header is not a JWK: {e}")))?,
        None => {
            return Err(bad(
                "no jwk header member: the proof must carry the holder key",
            ))
        }
    };
    if jwk.d.is_some() {
        return Err(bad("the jwk header contains a private key"));
    }
    let key = VerifyingKey::from_jwk(&jwk).map_err(|e| bad(format!("the jwk header: {e}")))?;
    jws.verify(&key, &PROOF_ALGORITHMS)
        .map_err(|e| bad(format!("signature: {e}")))?;
    let claims: serde_json::Map<String, Value> = match serde_json::from_slice(&jws.payload) {
        Ok(Value::Object(m)) => m,
        _ => return Err(bad("the payload is not a JSON object")),
    };
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => {
            list.len() == 1 && list.first().and_then(Value::as_str) == Some(audience)
        }
        _ => false,
    };
    if !aud_ok {
        return Err(bad(format!(
            "aud is {}, expected the credential issuer {audience:?}",
            claims
                .get("aud")
                .map_or("missing".to_string(), Value::to_string)
        )));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("no numeric iat"))?;
    if iat < now - PROOF_MAX_AGE {
        return Err(bad(format!("iat {iat} is more than {PROOF_MAX_AGE} s old")));
    }
    if iat > now + PROOF_MAX_SKEW {
        return Err(bad(format!("iat {iat} lies in the future")));
    }
    if let Some(exp) = claims.get("exp") {
        if exp.as_i64().is_none_or(|e| e <= now) {
            return Err(bad("the proof has expired (exp)"));
        }
    }
    if let Some(nbf) = claims.get("nbf") {
        if nbf.as_i64().is_none_or(|n| n > now + PROOF_MAX_SKEW) {
            return Err(bad("the proof is not valid yet (nbf)"));
        }
    }
    let nonce = match claims.get("nonce") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(bad("no nonce; get a c_nonce from the nonce endpoint")),
    };
    Ok(VerifiedProof {
        jwk: key.to_jwk(),
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tillit_crypto::jws::sign_compact;
    use tillit_crypto::SigningKey;

    const AUD: &str = "https://issuer.example/orgs/1";
    const NOW: i64 = 1_800_000_000;

    fn proof(header: Value, claims: Value, key: &SigningKey) -> String {
        let Value::Object(h) = header else { panic!() };
        sign_compact(h, claims.to_string().as_bytes(), key).unwrap()
    }

    #[test]
    fn proofs_are_checked_member_by_member() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let other = SigningKey::generate(Algorithm::Es256).unwrap();
        let jwk = serde_json::to_value(key.verifying_key().to_jwk()).unwrap();
        let good_h = json!({"typ": PROOF_TYP, "jwk": jwk});
        let good_c = json!({"aud": AUD, "iat": NOW, "nonce": "n-1"});
        let with = |k: &str, v: Value, base: &Value| {
            let mut m = base.clone();
            m[k] = v;
            m
        };
        let without = |k: &str, base: &Value| {
            let mut m = base.clone();
            m.as_object_mut().unwrap().remove(k);
            m
        };
        let mut private = key.to_private_jwk();
        private.kid = None;
        let cases: Vec<(&str, String, Option<&str>)> = vec![
            ("good", proof(good_h.clone(), good_c.clone(), &key), None),
            (
                "aud as a one-element array",
                proof(good_h.clone(), with("aud", json!([AUD]), &good_c), &key),
                None,
            ),
            (
                "wrong typ",
                proof(with("typ", json!("JWT"), &good_h), good_c.clone(), &key),
                Some("typ"),
            ),
            (
                "no typ",
                proof(without("typ", &good_h), good_c.clone(), &key),
                Some("typ"),
            ),
            (
                "kid beside jwk",
                proof(with("kid", json!("k"), &good_h), good_c.clone(), &key),
                Some("kid"),
            ),
            (
                "no jwk",
                proof(without("jwk", &good_h), good_c.clone(), &key),
                Some("jwk"),
            ),
            (
                "private jwk",
                proof(
                    with("jwk", serde_json::to_value(&private).unwrap(), &good_h),
                    good_c.clone(),
                    &key,
                ),
                Some("private"),
            ),
            (
                "signed by another key",
                proof(good_h.clone(), good_c.clone(), &other),
                Some("signature"),
            ),
            (
                "wrong aud",
                proof(
                    good_h.clone(),
                    with("aud", json!("https://evil.example"), &good_c),
                    &key,
                ),
                Some("aud"),
            ),
            (
                "two audiences",
                proof(
                    good_h.clone(),
                    with("aud", json!([AUD, "x"]), &good_c),
                    &key,
                ),
                Some("aud"),
            ),
            (
                "no aud",
                proof(good_h.clone(), without("aud", &good_c), &key),
                Some("aud"),
            ),
            (
                "old iat",
                proof(good_h.clone(), with("iat", json!(NOW - 301), &good_c), &key),
                Some("old"),
            ),
            (
                "future iat",
                proof(good_h.clone(), with("iat", json!(NOW + 61), &good_c), &key),
                Some("future"),
            ),
            (
                "no iat",
                proof(good_h.clone(), without("iat", &good_c), &key),
                Some("iat"),
            ),
            (
                "expired",
                proof(good_h.clone(), with("exp", json!(NOW - 1), &good_c), &key),
                Some("exp"),
            ),
            (
                "no nonce",
                proof(good_h.clone(), without("nonce", &good_c), &key),
                Some("nonce"),
            ),
            (
                "empty nonce",
                proof(good_h.clone(), with("nonce", json!(""), &good_c), &key),
                Some("nonce"),
            ),
            ("not a JWS", "a.b".into(), Some("3")),
            ("too long", "a".repeat(PROOF_MAX_LEN + 1), Some("longer")),
        ];
        for (name, jwt, want) in cases {
            let got = verify_proof(&jwt, AUD, NOW);
            match (want, got) {
                (None, Ok(p)) => {
                    assert_eq!(p.nonce, "n-1", "{name}");
                    assert_eq!(p.jwk.thumbprint().unwrap(), key.kid(), "{name}");
                }
                (Some(part), Err(e)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(part), "{name}: {msg}");
                }
                (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let jwk = serde_json::to_value(key.verifying_key().to_jwk()).unwrap();
        let b64 = |v: Value| tillit_crypto::b64::encode_url(v.to_string().as_bytes());
        let jwt = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": PROOF_TYP, "jwk": jwk})),
            b64(json!({"aud": AUD, "iat": NOW, "nonce": "n"}))
        );
        assert!(verify_proof(&jwt, AUD, NOW).is_err());
    }
}
