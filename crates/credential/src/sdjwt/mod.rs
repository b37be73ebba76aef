//! SD-JWT (RFC 9901) and SD-JWT VC (draft-ietf-oauth-sd-jwt-vc).
//!
//! - Issuer: [`issue_vc`] (or the generic [`issue`]) makes chosen claims
//!   selectively disclosable by [`ClaimPath`] — object properties, nested
//!   objects, array elements, recursively — with 128-bit salts, decoy digests
//!   and shuffled `_sd` arrays.
//! - Holder: [`present`] keeps the disclosures for the chosen claims and
//!   appends a KB-JWT (`typ: kb+jwt`, `aud`, `nonce`, `iat`, `sd_hash`).
//! - Verifier: [`verify_report`] (step report, used by `crate::verify`) and
//!   [`verify`] (typed). Algorithms: ES256, ES384, EdDSA only.
//!
//! Digests are always over the disclosure strings exactly as received.

mod core;
mod disclosure;
mod issue;
mod path;
mod present;
mod vc;

pub use self::core::{
    numeric_date, sign_key_binding, KeyBinding, KeyBindingCheck, Processed, SdJwt,
    ALLOWED_ALGORITHMS, CLOCK_SKEW_SECONDS, KB_JWT_TYP, KB_MAX_AGE_SECONDS,
};
pub use disclosure::{decoy_digest, digest_of, new_salt, Disclosure, SD_ALG_SHA256};
pub use issue::{issue, IssueOptions, Issued, IssuedDisclosure};
pub use path::{ClaimPath, PathElement};
pub use present::{disclosable_paths, present, KeyBindingInput};
pub use vc::{
    issue_vc, verify, verify_report, StatusReference, VcInput, VerifiedVc, NEVER_SELECTIVE,
    TYP_DC_SD_JWT, TYP_VC_SD_JWT,
};
