use serde::{Deserialize, Serialize};

use crate::{b64, sha256, CryptoError};

/// A JSON Web Key (RFC 7517) for the key types Tillit uses: `EC` (P-256/384/521), `OKP`
/// (Ed25519, RFC 8037) and, public only, `RSA` (`n`, `e`). `None` members are left out when
/// serialised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus (base64url, big-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent (base64url, big-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private key (EC scalar or Ed25519 seed). Only in private JWKs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

impl Jwk {
    /// RFC 7638 thumbprint: base64url(SHA-256) of the required members in lexicographic order
    /// without whitespace. Supported for `EC` (`crv`, `kty`, `x`, `y`), `OKP` (`crv`, `kty`, `x`)
    /// and `RSA` (`e`, `kty`, `n`).
    pub fn thumbprint(&self) -> Result<String, CryptoError> {
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                json_str(required(&self.crv, "crv")?),
                json_str(required(&self.x, "x")?),
                json_str(required(&self.y, "y")?),
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                json_str(required(&self.crv, "crv")?),
                json_str(required(&self.x, "x")?),
            ),
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                json_str(required(&self.e, "e")?),
                json_str(required(&self.n, "n")?),
            ),
            other => {
                return Err(CryptoError::InvalidKey(format!(
                    "cannot compute a thumbprint for kty {other:?}; use an EC, OKP or RSA key"
                )))
            }
        };
        Ok(b64::encode_url(&sha256(canonical.as_bytes())))
    }

    /// The same key without the private member `d`.
    pub fn to_public(&self) -> Jwk {
        Jwk {
            d: None,
            ..self.clone()
        }
    }
}

fn required<'a>(member: &'a Option<String>, name: &str) -> Result<&'a str, CryptoError> {
    member.as_deref().ok_or_else(|| {
        CryptoError::InvalidKey(format!("JWK is missing the required member {name:?}"))
    })
}

/// A JSON string literal, escaped exactly as serde_json does (no whitespace added).
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// RFC 7638 thumbprint of an RSA public key (`e`, `kty`, `n`); `n` and `e` are big-endian
/// without leading zero bytes.
pub(crate) fn rsa_thumbprint(n: &[u8], e: &[u8]) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        b64::encode_url(e),
        b64::encode_url(n)
    );
    b64::encode_url(&sha256(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (JWK JSON, expected thumbprint). Sources: RFC 8037 Appendix A.3 (Ed25519).
    const THUMBPRINTS: &[(&str, &str)] = &[
        (
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        ),
        (
            // Extra members (d, kid, alg, use) must not change the thumbprint.
            r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"abc","use":"sig"}"#,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        ),
    ];

    #[test]
    fn thumbprint_vectors() {
        for (json, expected) in THUMBPRINTS {
            let jwk: Jwk = serde_json::from_str(json).unwrap();
            assert_eq!(jwk.thumbprint().unwrap(), *expected, "{json}");
        }
    }

    #[test]
    fn rsa_thumbprint_rfc7638_example() {
        // RFC 7638 §3.1.
        let n = b64::decode_url("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw").unwrap();
        let e = b64::decode_url("AQAB").unwrap();
        assert_eq!(
            rsa_thumbprint(&n, &e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some(b64::encode_url(&n)),
            e: Some("AQAB".into()),
            alg: Some("RS256".into()),
            kid: Some("2011-04-29".into()),
            ..Jwk::default()
        };
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn thumbprint_rejects_incomplete_or_unknown() {
        for json in [
            r#"{"kty":"EC","crv":"P-256","x":"AA"}"#,
            r#"{"kty":"OKP","x":"AA"}"#,
            r#"{"kty":"oct","k":"AA"}"#,
            r#"{"kty":"RSA"}"#,
            r#"{"kty":"RSA","n":"AQAB"}"#,
        ] {
            let jwk: Jwk = serde_json::from_str(json).unwrap();
            assert!(jwk.thumbprint().is_err(), "{json}");
        }
    }

    #[test]
    fn serialisation_skips_none_and_renames_use() {
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some("AA".into()),
            use_: Some("sig".into()),
            ..Jwk::default()
        };
        assert_eq!(
            serde_json::to_string(&jwk).unwrap(),
            r#"{"kty":"OKP","crv":"Ed25519","x":"AA","use":"sig"}"#
        );
        let private = Jwk {
            d: Some("secret".into()),
            ..jwk.clone()
        };
        assert_eq!(private.to_public(), jwk);
    }
}
