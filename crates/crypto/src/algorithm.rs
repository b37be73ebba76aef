/// Signature algorithms Tillit understands. `Es384`, `Es512`, `Ps256` and `Rs256` are
/// verify-only (PS256 = RSA-PSS with SHA-256, used by some EU DCC signers; RS256 =
/// RSASSA-PKCS1-v1_5 with SHA-256, what most OpenID providers sign id_tokens with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
    /// Ed25519 (RFC 8037).
    EdDsa,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

/// (algorithm, JOSE name, COSE id) — one table, so the mappings cannot drift apart.
const TABLE: [(Algorithm, &str, i64); 6] = [
    (Algorithm::Es256, "ES256", -7),
    (Algorithm::Es384, "ES384", -35),
    (Algorithm::Es512, "ES512", -36),
    (Algorithm::EdDsa, "EdDSA", -8),
    (Algorithm::Ps256, "PS256", -37),
    (Algorithm::Rs256, "RS256", -257),
];

impl Algorithm {
    /// Every algorithm, in table order.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Ps256,
        Algorithm::Rs256,
    ];

    /// The JOSE `alg` value (RFC 7518, RFC 8037).
    pub fn jose_name(self) -> &'static str {
        self.row().1
    }

    /// Parses a JOSE `alg` value (case-sensitive). `none` and unknown names give `None`.
    pub fn from_jose_name(name: &str) -> Option<Self> {
        TABLE
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(a, _, _)| *a)
    }

    /// The COSE algorithm identifier (RFC 9053, RFC 8812): -7, -35, -36, -8, -37, -257.
    pub fn cose_id(self) -> i64 {
        self.row().2
    }

    /// Parses a COSE algorithm identifier.
    pub fn from_cose_id(id: i64) -> Option<Self> {
        TABLE.iter().find(|(_, _, i)| *i == id).map(|(a, _, _)| *a)
    }

    /// This algorithm's row of [`TABLE`]; the table has a row for every variant (test
    /// `names_and_ids_roundtrip`), so the fallback is never taken.
    #[allow(clippy::indexing_slicing)] // constant index into a constant, non-empty array
    fn row(self) -> &'static (Algorithm, &'static str, i64) {
        TABLE
            .iter()
            .find(|(a, _, _)| *a == self)
            .unwrap_or(&TABLE[0])
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.jose_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_roundtrip() {
        for (alg, name, id) in TABLE {
            assert_eq!(alg.jose_name(), name);
            assert_eq!(alg.cose_id(), id);
            assert_eq!(Algorithm::from_jose_name(name), Some(alg));
            assert_eq!(Algorithm::from_cose_id(id), Some(alg));
        }
        assert_eq!(Algorithm::ALL.len(), TABLE.len());
        for alg in Algorithm::ALL {
            assert_eq!(alg.row().0, alg, "{alg:?} has its own row");
        }
    }

    #[test]
    fn unknown_names_and_ids() {
        for name in [
            "none", "NONE", "es256", "HS256", "rs256", "RS384", "", "EDDSA", "Ed25519",
        ] {
            assert_eq!(Algorithm::from_jose_name(name), None, "{name}");
        }
        for id in [0, -6, -9, -258, 7, i64::MIN, i64::MAX] {
            assert_eq!(Algorithm::from_cose_id(id), None, "{id}");
        }
    }
}
