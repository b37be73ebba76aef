//! The holder's side (RFC 9901 §4.3, §6): choose disclosures by claim path
//! and bind the presentation to the holder key with a KB-JWT.

use chrono::{DateTime, Utc};
use tillit_crypto::SigningKey;

use super::core::{sign_key_binding, SdJwt};
use super::path::{ClaimPath, PathElement};
use crate::error::CredentialError;

/// The holder's key-binding input: key, verifier audience, verifier nonce, time.
#[derive(Clone, Copy)]
pub struct KeyBindingInput<'a> {
    pub key: &'a SigningKey,
    pub audience: &'a str,
    pub nonce: &'a str,
    pub iat: DateTime<Utc>,
}

/// Which claims an SD-JWT (as received from the issuer) can disclose, by path.
pub fn disclosable_paths(issued: &str) -> Result<Vec<ClaimPath>, CredentialError> {
    let sd = SdJwt::parse(issued)?;
    let processed = sd.process()?;
    let mut paths: Vec<ClaimPath> = processed
        .revealed
        .into_iter()
        .map(|(_, p)| ClaimPath(p))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Build a presentation of `issued` that discloses the claims named by `disclose`.
///
/// A path discloses the claim and everything inside it, and pulls in the
/// disclosures of the claims it is nested in. A path that names no
/// disclosable claim is an error (so a typo does not silently disclose less).
/// With `key_binding`, a KB-JWT is appended; otherwise the result ends in `~`.
pub fn present(
    issued: &str,
    disclose: &[ClaimPath],
    key_binding: Option<KeyBindingInput<'_>>,
) -> Result<String, CredentialError> {
    let sd = SdJwt::parse(issued)?;
    let processed = sd.process()?;
    let revealed: Vec<(usize, Vec<PathElement>)> = processed.revealed;
    for wanted in disclose {
        if !revealed.iter().any(|(_, p)| wanted.covers(p)) {
            return Err(CredentialError::InvalidInput(format!(
                "claim {wanted} is not selectively disclosable in this SD-JWT"
            )));
        }
    }
    let mut chosen: Vec<usize> = revealed
        .iter()
        .filter(|(_, p)| disclose.iter().any(|w| w.covers(p) || w.needs(p)))
        .map(|(i, _)| *i)
        .collect();
    chosen.sort_unstable();
    chosen.dedup();

    let mut out = String::from(sd.issuer_jwt());
    out.push('~');
    for i in chosen {
        if let Some(d) = sd.disclosures().get(i) {
            out.push_str(d.encoded());
            out.push('~');
        }
    }
    if let Some(kb) = key_binding {
        let jwt = sign_key_binding(&out, kb.key, kb.audience, kb.nonce, kb.iat)?;
        out.push_str(&jwt);
    }
    Ok(out)
}
