//! Signing and verifying keys. All signature work is done by AWS-LC through `aws-lc-rs`.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin, EcPrivateKeyBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, VerificationAlgorithm,
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ECDSA_P521_SHA512_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::b64::{self, decode_url_named};
use crate::jwk::rsa_thumbprint;
use crate::{Algorithm, CryptoError, Jwk};

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// The NIST curves Tillit accepts, with their JOSE name, ECDSA algorithm and coordinate size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn from_jose(crv: &str) -> Option<Self> {
        match crv {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }
    fn from_oid(oid: &str) -> Option<Self> {
        match oid {
            OID_P256 => Some(Curve::P256),
            OID_P384 => Some(Curve::P384),
            OID_P521 => Some(Curve::P521),
            _ => None,
        }
    }
    fn jose(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
    fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::Es256,
            Curve::P384 => Algorithm::Es384,
            Curve::P521 => Algorithm::Es512,
        }
    }
    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Curve::P256 => &ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &ECDSA_P384_SHA384_FIXED,
            Curve::P521 => &ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// The public key's components, kept to render the JWK and thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicMaterial {
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

struct VerifyingInner {
    alg: Algorithm,
    material: PublicMaterial,
    thumbprint: String,
    /// Parsed once; a verify is then one signature check (no re-parsing of the point).
    parsed: ParsedPublicKey,
}

/// A public key that verifies signatures of one [`Algorithm`]. Cheap to clone.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: Arc<VerifyingInner>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.inner.alg)
            .field("kid", &self.inner.thumbprint)
            .finish()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.alg == other.inner.alg && self.inner.material == other.inner.material
    }
}
impl Eq for VerifyingKey {}

fn invalid(msg: impl Into<String>) -> CryptoError {
    CryptoError::InvalidKey(msg.into())
}

/// Smallest RSA modulus accepted, in bits (NIST SP 800-131A; AWS-LC's floor too).
pub const RSA_MIN_BITS: usize = 2048;

/// Largest RSA modulus accepted, in bits (AWS-LC's verification ceiling).
pub const RSA_MAX_BITS: usize = 8192;

/// A DER length.
fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let tail = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | tail.len() as u8);
        out.extend_from_slice(tail);
    }
}

/// A DER INTEGER of a non-negative big-endian magnitude (no leading zeros).
fn der_uint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let pad = magnitude.first().is_none_or(|b| b & 0x80 != 0);
    out.push(0x02);
    der_len(out, magnitude.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn pkcs1_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    der_uint(&mut body, n);
    der_uint(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(0x30);
    der_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Bits in a big-endian magnitude without leading zero bytes.
fn bit_len(magnitude: &[u8]) -> usize {
    magnitude
        .first()
        .map_or(0, |b| magnitude.len() * 8 - b.leading_zeros() as usize)
}

/// Big-endian integer without leading zero bytes (JWK / RFC 7638 form).
fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default().to_vec()
}

impl VerifyingKey {
    fn build(alg: Algorithm, material: PublicMaterial, parsed: ParsedPublicKey) -> Self {
        let thumbprint = match &material {
            PublicMaterial::Rsa { n, e } => rsa_thumbprint(n, e),
            _ => {
                // EC and OKP thumbprints cannot fail: every required member is present.
                let jwk = public_jwk(alg, &material, None);
                jwk.thumbprint().unwrap_or_default()
            }
        };
        VerifyingKey {
            inner: Arc::new(VerifyingInner {
                alg,
                material,
                thumbprint,
                parsed,
            }),
        }
    }

    fn from_ec_coordinates(curve: Curve, x: Vec<u8>, y: Vec<u8>) -> Result<Self, CryptoError> {
        let len = curve.coordinate_len();
        if x.len() != len || y.len() != len {
            return Err(invalid(format!(
                "{} coordinates must be {len} bytes each, got x={} y={}",
                curve.jose(),
                x.len(),
                y.len()
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        let parsed = ParsedPublicKey::new(curve.verification(), &point)
            .map_err(|e| invalid(format!("{} point rejected: {e}", curve.jose())))?;
        Ok(Self::build(
            curve.algorithm(),
            PublicMaterial::Ec { curve, x, y },
            parsed,
        ))
    }

    fn from_ed25519(x: Vec<u8>) -> Result<Self, CryptoError> {
        if x.len() != 32 {
            return Err(invalid(format!(
                "Ed25519 public key must be 32 bytes, got {}",
                x.len()
            )));
        }
        let parsed = ParsedPublicKey::new(&ED25519, &x)
            .map_err(|e| invalid(format!("Ed25519 public key rejected: {e}")))?;
        Ok(Self::build(
            Algorithm::EdDsa,
            PublicMaterial::Ed25519 { x },
            parsed,
        ))
    }

    /// An RSA public key (modulus and exponent, big-endian) for RS256 or PS256: 2048 to 8192
    /// bits, an odd exponent of at least 3 and at most 2^32 + 1 (AWS-LC's bounds).
    pub fn from_rsa_components(n: &[u8], e: &[u8], alg: Algorithm) -> Result<Self, CryptoError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_len(&n);
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(invalid(format!(
                "RSA modulus is {bits} bits; {RSA_MIN_BITS} to {RSA_MAX_BITS} are accepted"
            )));
        }
        if e.len() > 5 || e.last().is_none_or(|b| b & 1 == 0) || bit_len(&e) < 2 {
            return Err(invalid(
                "RSA exponent must be odd, at least 3 and at most 2^32 + 1",
            ));
        }
        let verification: &'static dyn VerificationAlgorithm = match alg {
            Algorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
            Algorithm::Ps256 => &RSA_PSS_2048_8192_SHA256,
            other => {
                return Err(invalid(format!(
                    "an RSA key verifies RS256 or PS256, not {other}"
                )))
            }
        };
        let der = pkcs1_rsa_public_key(&n, &e);
        let parsed = ParsedPublicKey::new(verification, &der)
            .map_err(|err| invalid(format!("RSA key rejected: {err}")))?;
        Ok(Self::build(alg, PublicMaterial::Rsa { n, e }, parsed))
    }

    /// The same RSA key for another RSA algorithm (`RS256` or `PS256`): a JWK without `alg`
    /// may sign with either. Other keys have one algorithm; asking for another is an error.
    pub fn with_algorithm(&self, alg: Algorithm) -> Result<Self, CryptoError> {
        if alg == self.inner.alg {
            return Ok(self.clone());
        }
        match &self.inner.material {
            PublicMaterial::Rsa { n, e } => Self::from_rsa_components(n, e, alg),
            _ => Err(invalid(format!(
                "a {} key cannot verify {alg}",
                self.inner.alg
            ))),
        }
    }

    /// A public key from a JWK (`EC` P-256/P-384/P-521, `OKP` Ed25519, or `RSA` with `n` and
    /// `e`). A private member `d` is ignored. If the JWK names an `alg`, it must match the key
    /// type; an RSA JWK is for its `alg` (`RS256` or `PS256`), RS256 when it names none (see
    /// [`VerifyingKey::with_algorithm`]).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CryptoError> {
        let key = match jwk.kty.as_str() {
            "EC" => {
                let crv = jwk
                    .crv
                    .as_deref()
                    .ok_or_else(|| invalid("EC JWK has no \"crv\""))?;
                let curve = Curve::from_jose(crv).ok_or_else(|| {
                    invalid(format!(
                        "unsupported EC curve {crv:?}; use P-256, P-384 or P-521"
                    ))
                })?;
                let x = decode_url_named(
                    jwk.x
                        .as_deref()
                        .ok_or_else(|| invalid("EC JWK has no \"x\""))?,
                    "JWK x",
                )?;
                let y = decode_url_named(
                    jwk.y
                        .as_deref()
                        .ok_or_else(|| invalid("EC JWK has no \"y\""))?,
                    "JWK y",
                )?;
                Self::from_ec_coordinates(curve, x, y)?
            }
            "OKP" => {
                let crv = jwk
                    .crv
                    .as_deref()
                    .ok_or_else(|| invalid("OKP JWK has no \"crv\""))?;
                if crv != "Ed25519" {
                    return Err(invalid(format!(
                        "unsupported OKP curve {crv:?}; only Ed25519 is supported"
                    )));
                }
                let x = decode_url_named(
                    jwk.x
                        .as_deref()
                        .ok_or_else(|| invalid("OKP JWK has no \"x\""))?,
                    "JWK x",
                )?;
                Self::from_ed25519(x)?
            }
            "RSA" => {
                let n = decode_url_named(
                    jwk.n
                        .as_deref()
                        .ok_or_else(|| invalid("RSA JWK has no \"n\""))?,
                    "JWK n",
                )?;
                let e = decode_url_named(
                    jwk.e
                        .as_deref()
                        .ok_or_else(|| invalid("RSA JWK has no \"e\""))?,
                    "JWK e",
                )?;
                let alg = match jwk.alg.as_deref() {
                    None | Some("RS256") => Algorithm::Rs256,
                    Some("PS256") => Algorithm::Ps256,
                    Some(other) => {
                        return Err(invalid(format!(
                            "RSA JWK alg {other:?} is not supported; use RS256 or PS256"
                        )))
                    }
                };
                Self::from_rsa_components(&n, &e, alg)?
            }
            other => {
                return Err(invalid(format!(
                    "unsupported JWK kty {other:?}; use EC, OKP or RSA"
                )))
            }
        };
        if let Some(alg) = jwk.alg.as_deref() {
            if alg != key.algorithm().jose_name() {
                return Err(invalid(format!(
                    "JWK alg {alg:?} does not match its key type ({})",
                    key.algorithm()
                )));
            }
        }
        Ok(key)
    }

    /// A public key from a DER `SubjectPublicKeyInfo` (RFC 5280): EC P-256/P-384/P-521
    /// (uncompressed point), Ed25519, or RSA (2048-8192 bits, for PS256; RS256 through
    /// [`VerifyingKey::with_algorithm`]).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| invalid(format!("not a DER SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes after SubjectPublicKeyInfo"));
        }
        Self::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CryptoError> {
        let key_oid = spki.algorithm.algorithm.to_id_string();
        let key_bits: &[u8] = &spki.subject_public_key.data;
        match key_oid.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve_oid = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .ok_or_else(|| invalid("EC key without a named curve"))?;
                let curve = Curve::from_oid(&curve_oid).ok_or_else(|| {
                    invalid(format!(
                        "unsupported EC curve {curve_oid}; use P-256, P-384 or P-521"
                    ))
                })?;
                let len = curve.coordinate_len();
                let (tag, coords) = key_bits
                    .split_first()
                    .ok_or_else(|| invalid("empty EC point"))?;
                if *tag != 0x04 || coords.len() != 2 * len {
                    return Err(invalid(format!(
                        "EC point must be uncompressed (0x04 || x || y, {} bytes)",
                        1 + 2 * len
                    )));
                }
                let (x, y) = coords.split_at(len);
                Self::from_ec_coordinates(curve, x.to_vec(), y.to_vec())
            }
            OID_ED25519 => Self::from_ed25519(key_bits.to_vec()),
            OID_RSA_ENCRYPTION | OID_RSASSA_PSS => {
                let (_, rsa) = RSAPublicKey::from_der(key_bits)
                    .map_err(|e| invalid(format!("bad RSAPublicKey: {e}")))?;
                let n = strip_leading_zeros(rsa.modulus);
                let e = strip_leading_zeros(rsa.exponent);
                // AWS-LC reads the PKCS#1 RSAPublicKey directly.
                let parsed = ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, key_bits)
                    .map_err(|err| invalid(format!("RSA key rejected: {err}")))?;
                Ok(Self::build(
                    Algorithm::Ps256,
                    PublicMaterial::Rsa { n, e },
                    parsed,
                ))
            }
            other => Err(invalid(format!(
                "unsupported public key algorithm {other}; use EC, Ed25519 or RSA"
            ))),
        }
    }

    /// The public JWK, with `kid` = RFC 7638 thumbprint and `alg`.
    pub fn to_jwk(&self) -> Jwk {
        public_jwk(
            self.inner.alg,
            &self.inner.material,
            Some(self.inner.thumbprint.clone()),
        )
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.alg
    }

    /// RFC 7638 thumbprint (base64url SHA-256).
    pub fn thumbprint(&self) -> String {
        self.inner.thumbprint.clone()
    }

    /// Verifies `sig` over `msg`. ECDSA signatures are raw `r || s`; Ed25519 64 bytes;
    /// PS256 the RSA-PSS signature (salt length 32); RS256 the PKCS#1 v1.5 signature.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.inner
            .parsed
            .verify_sig(msg, sig)
            .map_err(|_| CryptoError::InvalidSignature)
    }
}

fn public_jwk(alg: Algorithm, material: &PublicMaterial, kid: Option<String>) -> Jwk {
    let base = Jwk {
        kid,
        alg: Some(alg.jose_name().to_owned()),
        ..Jwk::default()
    };
    match material {
        PublicMaterial::Ec { curve, x, y } => Jwk {
            kty: "EC".into(),
            crv: Some(curve.jose().into()),
            x: Some(b64::encode_url(x)),
            y: Some(b64::encode_url(y)),
            ..base
        },
        PublicMaterial::Ed25519 { x } => Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(b64::encode_url(x)),
            ..base
        },
        PublicMaterial::Rsa { n, e } => Jwk {
            kty: "RSA".into(),
            n: Some(b64::encode_url(n)),
            e: Some(b64::encode_url(e)),
            ..base
        },
    }
}

enum SignerInner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct SigningShared {
    signer: SignerInner,
    verifying: VerifyingKey,
    private_jwk: Jwk,
}

/// A private key: ES256 (P-256) or EdDSA (Ed25519). Cheap to clone; `Debug` shows no secrets.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<SigningShared>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm())
            .field("kid", &self.inner.verifying.inner.thumbprint)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key from the CSPRNG. Only `Es256` and `EdDsa` can sign in Tillit.
    pub fn generate(alg: Algorithm) -> Result<Self, CryptoError> {
        match alg {
            Algorithm::Es256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| CryptoError::Internal("P-256 key generation"))?;
                Self::from_ecdsa(pair)
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::generate()
                    .map_err(|_| CryptoError::Internal("Ed25519 key generation"))?;
                Self::from_ed25519(pair)
            }
            other => Err(CryptoError::VerifyOnly {
                alg: other.jose_name(),
            }),
        }
    }

    fn from_ecdsa(pair: EcdsaKeyPair) -> Result<Self, CryptoError> {
        let point = pair.public_key().as_ref();
        let coords = point
            .get(1..)
            .filter(|c| c.len() == 64)
            .ok_or(CryptoError::Internal("P-256 public key encoding"))?;
        let (x, y) = coords.split_at(32);
        let verifying = VerifyingKey::from_ec_coordinates(Curve::P256, x.to_vec(), y.to_vec())?;
        let d = AsBigEndian::<EcPrivateKeyBin>::as_be_bytes(&pair.private_key())
            .map_err(|_| CryptoError::Internal("P-256 private key export"))?;
        let private_jwk = Jwk {
            d: Some(b64::encode_url(d.as_ref())),
            ..verifying.to_jwk()
        };
        Ok(SigningKey {
            inner: Arc::new(SigningShared {
                signer: SignerInner::Ecdsa(pair),
                verifying,
                private_jwk,
            }),
        })
    }

    fn from_ed25519(pair: Ed25519KeyPair) -> Result<Self, CryptoError> {
        let verifying = VerifyingKey::from_ed25519(pair.public_key().as_ref().to_vec())?;
        let seed = pair
            .seed()
            .and_then(|s| AsBigEndian::<Curve25519SeedBin>::as_be_bytes(&s))
            .map_err(|_| CryptoError::Internal("Ed25519 seed export"))?;
        let private_jwk = Jwk {
            d: Some(b64::encode_url(seed.as_ref())),
            ..verifying.to_jwk()
        };
        Ok(SigningKey {
            inner: Arc::new(SigningShared {
                signer: SignerInner::Ed25519(pair),
                verifying,
                private_jwk,
            }),
        })
    }

    /// A key from a private JWK (with `d`): EC P-256 or OKP Ed25519. The public members must
    /// match `d`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CryptoError> {
        let d_b64 = jwk
            .d
            .as_deref()
            .ok_or_else(|| invalid("JWK has no private member \"d\"; a signing key needs one"))?;
        let d = decode_url_named(d_b64, "JWK d")?;
        // Validates kty, crv, x, y, and alg against the key type.
        let public = VerifyingKey::from_jwk(jwk)?;
        match (&public.inner.material, public.algorithm()) {
            (PublicMaterial::Ec { x, y, .. }, Algorithm::Es256) => {
                if d.len() != 32 {
                    return Err(invalid(format!(
                        "P-256 private key must be 32 bytes, got {}",
                        d.len()
                    )));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                )
                .map_err(|e| invalid(format!("P-256 private key rejected: {e}")))?;
                Self::from_ecdsa(pair)
            }
            (PublicMaterial::Ed25519 { x }, _) => {
                if d.len() != 32 {
                    return Err(invalid(format!(
                        "Ed25519 private key (seed) must be 32 bytes, got {}",
                        d.len()
                    )));
                }
                let pair = Ed25519KeyPair::from_seed_and_public_key(&d, x)
                    .map_err(|e| invalid(format!("Ed25519 private key rejected: {e}")))?;
                Self::from_ed25519(pair)
            }
            (_, alg) => Err(CryptoError::VerifyOnly {
                alg: alg.jose_name(),
            }),
        }
    }

    /// The private JWK: public members, `d`, `kid` (= thumbprint) and `alg`. Secret: store sealed.
    pub fn to_private_jwk(&self) -> Jwk {
        self.inner.private_jwk.clone()
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.inner.verifying.clone()
    }

    /// `Es256` or `EdDsa`.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.verifying.algorithm()
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> String {
        self.inner.verifying.thumbprint()
    }

    /// Signs `msg`. ECDSA gives raw `r || s` (64 bytes, JOSE/COSE form); Ed25519 64 bytes.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.inner.signer {
            SignerInner::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CryptoError::Internal("ECDSA signing")),
            SignerInner::Ed25519(pair) => pair
                .try_sign(msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CryptoError::Internal("Ed25519 signing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_per_signing_algorithm() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            let msg = b"Tillit roundtrip";
            let sig = key.sign(msg).unwrap();
            assert_eq!(sig.len(), 64, "{alg}");
            let vk = key.verifying_key();
            vk.verify(msg, &sig).unwrap();
            // Tampered message and signature are rejected.
            assert_eq!(
                vk.verify(b"Tillit roundtriP", &sig),
                Err(CryptoError::InvalidSignature)
            );
            for i in [0, 31, 32, 63] {
                let mut bad = sig.clone();
                bad[i] ^= 0x01;
                assert_eq!(
                    vk.verify(msg, &bad),
                    Err(CryptoError::InvalidSignature),
                    "{alg} byte {i}"
                );
            }
            assert_eq!(
                vk.verify(msg, &sig[..63]),
                Err(CryptoError::InvalidSignature)
            );
            assert_eq!(vk.verify(msg, &[]), Err(CryptoError::InvalidSignature));
            // Another key of the same algorithm does not verify it.
            let other = SigningKey::generate(alg).unwrap().verifying_key();
            assert_eq!(other.verify(msg, &sig), Err(CryptoError::InvalidSignature));
        }
    }

    #[test]
    fn jwk_roundtrips() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let private = key.to_private_jwk();
            assert!(private.d.is_some());
            assert_eq!(private.kid.as_deref(), Some(key.kid().as_str()));
            assert_eq!(private.alg.as_deref(), Some(alg.jose_name()));
            assert_eq!(private.thumbprint().unwrap(), key.kid());

            let json = serde_json::to_string(&private).unwrap();
            let reloaded = SigningKey::from_jwk(&serde_json::from_str(&json).unwrap()).unwrap();
            assert_eq!(reloaded.kid(), key.kid());
            assert_eq!(reloaded.to_private_jwk(), private);
            // A signature by the reloaded key verifies with the original public key.
            let sig = reloaded.sign(b"m").unwrap();
            key.verifying_key().verify(b"m", &sig).unwrap();

            let public = key.verifying_key().to_jwk();
            assert_eq!(public, private.to_public());
            let vk = VerifyingKey::from_jwk(&public).unwrap();
            assert_eq!(vk, key.verifying_key());
            assert_eq!(vk.thumbprint(), key.kid());
            // A public JWK is not a signing key.
            assert!(SigningKey::from_jwk(&public).is_err());
        }
    }

    #[test]
    fn verify_only_algorithms_cannot_generate() {
        for alg in [
            Algorithm::Es384,
            Algorithm::Es512,
            Algorithm::Ps256,
            Algorithm::Rs256,
        ] {
            assert!(matches!(
                SigningKey::generate(alg),
                Err(CryptoError::VerifyOnly { .. })
            ));
        }
    }

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn bad_public_jwks_are_rejected() {
        let cases: Vec<(String, &str)> = vec![
            (
                format!(r#"{{"kty":"EC","crv":"P-384","x":"{P256_X}","y":"{P256_Y}"}}"#),
                "P-256 coordinates labelled P-384",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"secp256k1","x":"{P256_X}","y":"{P256_Y}"}}"#),
                "unsupported curve",
            ),
            (
                format!(r#"{{"kty":"EC","x":"{P256_X}","y":"{P256_Y}"}}"#),
                "missing crv",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}"}}"#),
                "missing y",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"AAAA{P256_Y}"}}"#),
                "y too long",
            ),
            (
                format!(
                    r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{P256_Y}"}}"#,
                    &P256_X[..42]
                ),
                "x too short",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"{P256_X}"}}"#),
                "point not on curve",
            ),
            (
                format!(
                    r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"{P256_Y}","alg":"ES384"}}"#
                ),
                "alg does not match curve",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}=","y":"{P256_Y}"}}"#),
                "padded base64",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"X25519","x":"{ED_X}"}}"#),
                "X25519 is not a signature curve",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"Ed448","x":"{ED_X}"}}"#),
                "Ed448 unsupported",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, &ED_X[..40]),
                "short Ed25519 key",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}AA"}}"#),
                "long Ed25519 key",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","alg":"ES256"}}"#),
                "alg mismatch",
            ),
            (
                r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned(),
                "RSA JWK",
            ),
            (r#"{"kty":"oct","k":"AAAA"}"#.to_owned(), "symmetric key"),
        ];
        for (json, why) in &cases {
            assert!(VerifyingKey::from_jwk(&jwk(json)).is_err(), "{why}: {json}");
        }
        // The good ones of the same shape are accepted (so the table tests what it says).
        VerifyingKey::from_jwk(&jwk(&format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"{P256_Y}","alg":"ES256"}}"#
        )))
        .unwrap();
        VerifyingKey::from_jwk(&jwk(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","alg":"EdDSA"}}"#
        )))
        .unwrap();
    }

    #[test]
    fn bad_private_jwks_are_rejected() {
        let d_other = "jpsQnnGQmL-YBIffH1136cLnT8EgfH3cTzP9kGkoFtM";
        let cases: Vec<(String, &str)> = vec![
            (
                format!(
                    r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"{P256_Y}","d":"{d_other}"}}"#
                ),
                "d of another key",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"{P256_Y}","d":"AAAA"}}"#),
                "short d",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","d":"{d_other}"}}"#),
                "Ed25519 seed of another key",
            ),
            (
                format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","d":"AAAA"}}"#),
                "short seed",
            ),
        ];
        for (json, why) in &cases {
            assert!(SigningKey::from_jwk(&jwk(json)).is_err(), "{why}");
        }
    }

    /// (SPKI DER, algorithm, a signer for it) for every verify algorithm, signed by AWS-LC
    /// directly so that verify-only algorithms get a roundtrip too.
    fn spki_and_signature(alg: Algorithm, msg: &[u8]) -> (Vec<u8>, Vec<u8>) {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
        use aws_lc_rs::signature::{
            RsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING, ECDSA_P521_SHA512_FIXED_SIGNING,
            RSA_PSS_SHA256,
        };
        let rng = SystemRandom::new();
        match alg {
            Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512 => {
                let signing = match alg {
                    Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
                    Algorithm::Es384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
                    _ => &ECDSA_P521_SHA512_FIXED_SIGNING,
                };
                let pair = EcdsaKeyPair::generate(signing).unwrap();
                let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
                let sig = pair.sign(&rng, msg).unwrap();
                (spki.as_ref().to_vec(), sig.as_ref().to_vec())
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::generate().unwrap();
                let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
                (spki.as_ref().to_vec(), pair.sign(msg).as_ref().to_vec())
            }
            Algorithm::Ps256 | Algorithm::Rs256 => {
                let pkcs8 = PrivateDecryptingKey::generate(KeySize::Rsa2048)
                    .unwrap()
                    .as_der()
                    .unwrap();
                let pair = RsaKeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
                let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let padding: &dyn aws_lc_rs::signature::RsaEncoding = if alg == Algorithm::Ps256 {
                    &RSA_PSS_SHA256
                } else {
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256
                };
                pair.sign(padding, &rng, msg, &mut sig).unwrap();
                (spki.as_ref().to_vec(), sig)
            }
        }
    }

    #[test]
    fn spki_roundtrip_for_every_algorithm() {
        let msg = b"verify me";
        for alg in Algorithm::ALL {
            let (spki, sig) = spki_and_signature(alg, msg);
            let key = VerifyingKey::from_spki_der(&spki)
                .unwrap()
                .with_algorithm(alg)
                .unwrap();
            assert_eq!(key.algorithm(), alg);
            key.verify(msg, &sig).unwrap();
            assert_eq!(
                key.verify(b"verify mE", &sig),
                Err(CryptoError::InvalidSignature),
                "{alg}"
            );
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(
                key.verify(msg, &bad),
                Err(CryptoError::InvalidSignature),
                "{alg}"
            );
            let jwk = key.to_jwk();
            assert_eq!(jwk.alg.as_deref(), Some(alg.jose_name()));
            assert_eq!(jwk.kid.as_deref(), Some(key.thumbprint().as_str()));
            // Every key survives SPKI -> JWK -> key (RSA with its n and e).
            assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap(), key);
            assert_eq!(jwk.thumbprint().unwrap(), key.thumbprint());
            // Truncated and extended DER is rejected.
            assert!(
                VerifyingKey::from_spki_der(&spki[..spki.len() - 1]).is_err(),
                "{alg}"
            );
            let mut longer = spki.clone();
            longer.push(0);
            assert!(VerifyingKey::from_spki_der(&longer).is_err(), "{alg}");
        }
        assert!(VerifyingKey::from_spki_der(&[]).is_err());
        assert!(VerifyingKey::from_spki_der(&[0x30, 0x00]).is_err());
    }
}
