//! Compact JWS (RFC 7515 §7.1). JSON serialization is not supported.

use serde_json::{Map, Value};

use crate::b64::{self, decode_url_named};
use crate::{Algorithm, CryptoError, SigningKey, VerifyingKey};

/// Signs `payload` as a compact JWS. `alg` is set from the key; other header members are kept
/// as given (in the given order).
pub fn sign_compact(
    mut header: Map<String, Value>,
    payload: &[u8],
    key: &SigningKey,
) -> Result<String, CryptoError> {
    header.insert(
        "alg".to_owned(),
        Value::String(key.algorithm().jose_name().to_owned()),
    );
    let header_json = serde_json::to_vec(&header)
        .map_err(|_| CryptoError::Internal("JWS header serialisation"))?;
    let mut out = b64::encode_url(&header_json);
    out.push('.');
    out.push_str(&b64::encode_url(payload));
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64::encode_url(&signature));
    Ok(out)
}

/// A decoded, not yet verified, compact JWS.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactJws {
    pub header: Map<String, Value>,
    pub payload: Vec<u8>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, exactly as received.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

fn malformed(msg: impl Into<String>) -> CryptoError {
    CryptoError::MalformedJws(msg.into())
}

/// Parses a compact JWS without verifying it: exactly three base64url parts, the first a JSON
/// object.
pub fn decode_compact(s: &str) -> Result<CompactJws, CryptoError> {
    let mut parts = s.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(format!(
            "expected 3 dot-separated parts, got {}",
            s.split('.').count()
        )));
    };
    let header_bytes = decode_url_named(h, "JWS header")?;
    let header = match serde_json::from_slice::<Value>(&header_bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(malformed("the header is not a JSON object")),
        Err(e) => return Err(malformed(format!("the header is not JSON: {e}"))),
    };
    let payload = decode_url_named(p, "JWS payload")?;
    let signature = decode_url_named(sig, "JWS signature")?;
    let signing_input = s
        .get(..h.len() + 1 + p.len())
        .ok_or_else(|| malformed("signing input out of range"))?
        .to_owned();
    Ok(CompactJws {
        header,
        payload,
        signing_input,
        signature,
    })
}

impl CompactJws {
    /// The header's `alg`. Rejects a missing `alg`, `none`, and any algorithm Tillit does not know.
    pub fn algorithm(&self) -> Result<Algorithm, CryptoError> {
        match self.header.get("alg") {
            Some(Value::String(name)) if name == "none" => Err(CryptoError::AlgorithmNone),
            Some(Value::String(name)) => Algorithm::from_jose_name(name)
                .ok_or_else(|| CryptoError::UnsupportedAlgorithm(name.clone())),
            Some(_) => Err(malformed("\"alg\" is not a string")),
            None => Err(malformed("the header has no \"alg\"")),
        }
    }

    /// Verifies the signature with `key`. The header's `alg` must be in `allowed` and equal to
    /// the key's algorithm. A `crit` header is rejected: Tillit understands no JWS extensions.
    pub fn verify(&self, key: &VerifyingKey, allowed: &[Algorithm]) -> Result<(), CryptoError> {
        let alg = self.algorithm()?;
        if !allowed.contains(&alg) {
            return Err(CryptoError::AlgorithmNotAllowed {
                alg: alg.jose_name(),
                allowed: allowed
                    .iter()
                    .map(|a| a.jose_name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if alg != key.algorithm() {
            return Err(CryptoError::AlgorithmMismatch {
                header: alg.jose_name(),
                key: key.algorithm().jose_name(),
            });
        }
        if self.header.contains_key("crit") {
            return Err(malformed(
                "\"crit\" extensions are not supported; remove the crit header member",
            ));
        }
        key.verify(self.signing_input.as_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Jwk;

    /// RFC 7515 Appendix A.3 (ES256).
    const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
    const A3_JWS: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    /// RFC 7515 Appendix A.4 (ES512, P-521).
    const A4_JWK: &str = r#"{"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"}"#;
    const A4_JWS: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
    /// RFC 7515 Appendix A.2 (RS256, 2048-bit RSA).
    const A2_JWK: &str = r#"{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}"#;
    const A2_JWS: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    /// RFC 8037 Appendix A.1/A.4 (Ed25519, deterministic).
    const ED_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    const ED_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rfc_vectors_verify() {
        // (public JWK, token, algorithm, expected payload)
        let cases: &[(&str, &str, Algorithm, &[u8])] = &[
            (
                A3_JWK,
                A3_JWS,
                Algorithm::Es256,
                b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}",
            ),
            (A4_JWK, A4_JWS, Algorithm::Es512, b"Payload"),
            (ED_JWK, ED_JWS, Algorithm::EdDsa, b"Example of Ed25519 signing"),
            (
                A2_JWK,
                A2_JWS,
                Algorithm::Rs256,
                b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}",
            ),
        ];
        for (key_json, token, alg, payload) in cases {
            let key = VerifyingKey::from_jwk(&jwk(key_json)).unwrap();
            assert_eq!(key.algorithm(), *alg);
            let jws = decode_compact(token).unwrap();
            assert_eq!(jws.algorithm().unwrap(), *alg);
            assert_eq!(jws.payload, *payload);
            jws.verify(&key, &Algorithm::ALL).unwrap();
            jws.verify(&key, &[*alg]).unwrap();
        }
    }

    #[test]
    fn rsa_keys_are_bound_to_one_padding_and_checked() {
        let rs = VerifyingKey::from_jwk(&jwk(A2_JWK)).unwrap();
        let jws = decode_compact(A2_JWS).unwrap();
        // The same key as PS256 does not accept the PKCS#1 v1.5 signature, nor the header.
        let ps = rs.with_algorithm(Algorithm::Ps256).unwrap();
        assert_eq!(ps.algorithm(), Algorithm::Ps256);
        assert_eq!(
            ps.verify(jws.signing_input.as_bytes(), &jws.signature),
            Err(CryptoError::InvalidSignature)
        );
        assert!(matches!(
            jws.verify(&ps, &Algorithm::ALL),
            Err(CryptoError::AlgorithmMismatch { .. })
        ));
        assert!(matches!(
            jws.verify(&rs, &[Algorithm::Es256, Algorithm::Ps256]),
            Err(CryptoError::AlgorithmNotAllowed { .. })
        ));
        assert_eq!(ps.with_algorithm(Algorithm::Rs256).unwrap(), rs);
        assert!(rs.with_algorithm(Algorithm::Es256).is_err());
        // The JWK renders n and e back, and its thumbprint is the key's.
        let back = rs.to_jwk();
        assert_eq!(back.e.as_deref(), Some("AQAB"));
        assert_eq!(back.thumbprint().unwrap(), rs.thumbprint());
        // A tampered token does not verify.
        let mut tampered = jws.clone();
        tampered.payload.push(b' ');
        tampered.signing_input.push('A');
        assert_eq!(
            tampered.verify(&rs, &[Algorithm::Rs256]),
            Err(CryptoError::InvalidSignature)
        );
        let n_2048 = crate::b64::decode_url(&jwk(A2_JWK).n.unwrap()).unwrap();
        let b64 = |b: &[u8]| crate::b64::encode_url(b);
        // (n, e, alg, why it is refused)
        let bad: Vec<(String, String, Option<&str>, &str)> = vec![
            (
                b64(&n_2048[..128]),
                "AQAB".into(),
                None,
                "a 1024-bit modulus",
            ),
            (b64(&[0x7f; 255]), "AQAB".into(), None, "2047 bits"),
            (b64(&[0xff; 1025]), "AQAB".into(), None, "8200 bits"),
            (b64(&n_2048), "AQAA".into(), None, "an even exponent"),
            (b64(&n_2048), "AQ".into(), None, "exponent 1"),
            (
                b64(&n_2048),
                "AQAAAAAB".into(),
                None,
                "exponent over 2^32 + 1",
            ),
            (
                b64(&n_2048),
                "AQAB".into(),
                Some("RS384"),
                "an alg Tillit does not verify",
            ),
            (b64(&n_2048), "AQAB".into(), Some("ES256"), "an EC alg"),
            ("!!".into(), "AQAB".into(), None, "n is not base64url"),
        ];
        for (n, e, alg, why) in bad {
            let key = Jwk {
                kty: "RSA".into(),
                n: Some(n),
                e: Some(e),
                alg: alg.map(str::to_owned),
                ..Jwk::default()
            };
            assert!(VerifyingKey::from_jwk(&key).is_err(), "{why}");
        }
        for missing in [r#"{"kty":"RSA","e":"AQAB"}"#, r#"{"kty":"RSA","n":"AQAB"}"#] {
            assert!(VerifyingKey::from_jwk(&jwk(missing)).is_err(), "{missing}");
        }
        // An RSA JWK with alg PS256 is a PS256 key.
        let mut ps_jwk = jwk(A2_JWK);
        ps_jwk.alg = Some("PS256".into());
        assert_eq!(
            VerifyingKey::from_jwk(&ps_jwk).unwrap().algorithm(),
            Algorithm::Ps256
        );
    }

    #[test]
    fn rfc8037_ed25519_signature_is_reproduced() {
        let key = SigningKey::from_jwk(&jwk(ED_JWK)).unwrap();
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        let token = sign_compact(Map::new(), b"Example of Ed25519 signing", &key).unwrap();
        assert_eq!(token, ED_JWS);
    }

    #[test]
    fn sign_then_verify_keeps_header_members() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let mut header = Map::new();
            header.insert("typ".into(), Value::String("statuslist+jwt".into()));
            header.insert("kid".into(), Value::String(key.kid()));
            // A caller-supplied alg is overwritten by the key's.
            header.insert("alg".into(), Value::String("none".into()));
            let token = sign_compact(header, b"{\"sub\":\"x\"}", &key).unwrap();
            let jws = decode_compact(&token).unwrap();
            assert_eq!(jws.header["typ"], "statuslist+jwt");
            assert_eq!(jws.header["kid"], Value::String(key.kid()));
            assert_eq!(jws.header["alg"], alg.jose_name());
            assert_eq!(jws.payload, b"{\"sub\":\"x\"}");
            jws.verify(&key.verifying_key(), &[alg]).unwrap();
        }
    }

    #[test]
    fn tampering_is_rejected() {
        let key = VerifyingKey::from_jwk(&jwk(A3_JWK)).unwrap();
        let parts: Vec<&str> = A3_JWS.split('.').collect();
        let other_payload = b64::encode_url(b"{\"iss\":\"eve\"}");
        let mut sig = b64::decode_url(parts[2]).unwrap();
        sig[10] ^= 0x40;
        let flipped_sig = b64::encode_url(&sig);
        let tampered = [
            format!("{}.{}.{}", parts[0], other_payload, parts[2]),
            format!("{}.{}.{}", parts[0], parts[1], flipped_sig),
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]),
            format!("{}.{}.", parts[0], parts[1]),
        ];
        for token in &tampered {
            let jws = decode_compact(token).unwrap();
            assert_eq!(
                jws.verify(&key, &[Algorithm::Es256]),
                Err(CryptoError::InvalidSignature),
                "{token}"
            );
        }
    }

    #[test]
    fn malformed_compact_is_rejected() {
        let header = b64::encode_url(br#"{"alg":"ES256"}"#);
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            ("abc".into(), "one part"),
            (format!("{header}.e30"), "two parts"),
            (format!("{header}.e30.AA.AA"), "four parts"),
            (format!("{header}.e30.AA.AA.AA"), "five parts (JWE)"),
            (format!("{header}=.e30.AA"), "padded header"),
            (format!("{header}.e3+.AA"), "standard alphabet payload"),
            (format!("{header}.e30.A"), "impossible base64 length"),
            (
                format!("{}.e30.AA", b64::encode_url(b"[1,2]")),
                "array header",
            ),
            (
                format!("{}.e30.AA", b64::encode_url(b"\"ES256\"")),
                "string header",
            ),
            (
                format!("{}.e30.AA", b64::encode_url(b"{\"alg\":")),
                "truncated JSON header",
            ),
            (
                format!("{}.e30.AA", b64::encode_url(&[0xff, 0xfe])),
                "binary header",
            ),
        ];
        for (token, why) in &cases {
            assert!(decode_compact(token).is_err(), "{why}: {token}");
        }
    }

    #[test]
    fn algorithm_header_is_checked() {
        let es256 = VerifyingKey::from_jwk(&jwk(A3_JWK)).unwrap();
        let body = A3_JWS.split_once('.').unwrap().1;
        // (header JSON, expected error)
        let cases: &[(&str, CryptoError)] = &[
            (r#"{"alg":"none"}"#, CryptoError::AlgorithmNone),
            (
                r#"{"alg":"HS256"}"#,
                CryptoError::UnsupportedAlgorithm("HS256".into()),
            ),
            (
                r#"{"alg":"es256"}"#,
                CryptoError::UnsupportedAlgorithm("es256".into()),
            ),
            (
                r#"{"alg":"EdDSA"}"#,
                CryptoError::AlgorithmMismatch {
                    header: "EdDSA",
                    key: "ES256",
                },
            ),
            (
                r#"{"alg":"ES384"}"#,
                CryptoError::AlgorithmMismatch {
                    header: "ES384",
                    key: "ES256",
                },
            ),
            (
                r#"{"alg":"PS256"}"#,
                CryptoError::AlgorithmNotAllowed {
                    alg: "PS256",
                    allowed: "ES256, ES384, EdDSA".into(),
                },
            ),
        ];
        let allowed = [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa];
        for (header, expected) in cases {
            let token = format!("{}.{}", b64::encode_url(header.as_bytes()), body);
            let jws = decode_compact(&token).unwrap();
            assert_eq!(
                jws.verify(&es256, &allowed).unwrap_err(),
                *expected,
                "{header}"
            );
        }
        for header in [r#"{}"#, r#"{"alg":7}"#, r#"{"alg":null}"#] {
            let token = format!("{}.{}", b64::encode_url(header.as_bytes()), body);
            let jws = decode_compact(&token).unwrap();
            assert!(matches!(jws.algorithm(), Err(CryptoError::MalformedJws(_))));
        }
        // A valid ES256 token is refused when ES256 is not allowed.
        let jws = decode_compact(A3_JWS).unwrap();
        assert_eq!(
            jws.verify(&es256, &[Algorithm::EdDsa]),
            Err(CryptoError::AlgorithmNotAllowed {
                alg: "ES256",
                allowed: "EdDSA".into()
            })
        );
        assert!(jws.verify(&es256, &[]).is_err());
    }

    #[test]
    fn crit_header_is_rejected() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let mut header = Map::new();
        header.insert("crit".into(), serde_json::json!(["exp"]));
        header.insert("exp".into(), serde_json::json!(1));
        let token = sign_compact(header, b"x", &key).unwrap();
        let jws = decode_compact(&token).unwrap();
        assert!(matches!(
            jws.verify(&key.verifying_key(), &[Algorithm::Es256]),
            Err(CryptoError::MalformedJws(_))
        ));
    }

    /// Every single-character change and every truncation of a valid token is rejected
    /// (by decoding or by verification), and none panics.
    #[test]
    fn every_mutation_is_rejected() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let mut header = Map::new();
        header.insert("typ".into(), Value::String("JWT".into()));
        let token = sign_compact(header, br#"{"sub":"ada"}"#, &key).unwrap();
        let vk = key.verifying_key();
        let accepts = |t: &str| {
            decode_compact(t)
                .and_then(|j| j.verify(&vk, &[Algorithm::Es256]))
                .is_ok()
        };
        assert!(accepts(&token));
        for (i, original) in token.char_indices() {
            for replacement in ['A', 'z', '-', '_', '.', '=', ' ', 'é'] {
                if replacement == original {
                    continue;
                }
                let mut mutated = token.clone();
                mutated.replace_range(i..i + 1, replacement.encode_utf8(&mut [0; 4]));
                assert!(!accepts(&mutated), "position {i} -> {replacement:?}");
            }
        }
        for len in 0..token.len() {
            assert!(!accepts(&token[..len]), "truncated to {len}");
        }
    }
}
