//! Levels of assurance (sikringsniveau / tillitsnivå / sikkerhetsnivå) on the eIDAS scale.
//!
//! NSIS (Denmark) and eIDAS share three levels, Low < Substantial < High. A login is only as
//! strong as the weakest of its identity registration (IAL), authentication (AAL) and
//! federation (FAL): [`LoginAssurance::loa`] is their minimum. [`Loa::from_uri`] reads the
//! eIDAS, NSIS, Swedish (Tillitsramverket, LoA 2–4 and its eIDAS URIs) and Norwegian ID-porten
//! vocabularies; [`Loa::uri`] writes eIDAS, NSIS, Swedish and Norwegian values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A level of assurance on the eIDAS / NSIS scale; ordered, `Low < Substantial < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loa {
    /// eIDAS "low", NSIS "Lav", Swedish LoA 2.
    Low,
    /// eIDAS "substantial", NSIS "Betydelig", Swedish LoA 3, ID-porten `idporten-loa-substantial`.
    Substantial,
    /// eIDAS "high", NSIS "Høj", Swedish LoA 4, ID-porten `idporten-loa-high`.
    High,
}

/// A vocabulary in which a level of assurance is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoaVocabulary {
    /// `http://eidas.europa.eu/LoA/{low,substantial,high}`.
    Eidas,
    /// Danish NSIS: `https://data.gov.dk/concept/core/nsis/loa/{Low,Substantial,High}`.
    Nsis,
    /// Swedish Tillitsramverket: `http://id.elegnamnden.se/loa/1.0/loa{2,3,4}`.
    Sweden,
    /// Norwegian ID-porten `acr`: `idporten-loa-substantial`, `idporten-loa-high` (no Low).
    IdPorten,
}

const EIDAS: [(&str, Loa); 3] = [
    ("http://eidas.europa.eu/LoA/low", Loa::Low),
    ("http://eidas.europa.eu/LoA/substantial", Loa::Substantial),
    ("http://eidas.europa.eu/LoA/high", Loa::High),
];

const NSIS: [(&str, Loa); 3] = [
    ("https://data.gov.dk/concept/core/nsis/loa/Low", Loa::Low),
    (
        "https://data.gov.dk/concept/core/nsis/loa/Substantial",
        Loa::Substantial,
    ),
    ("https://data.gov.dk/concept/core/nsis/loa/High", Loa::High),
];

/// Swedish authentication-context URIs (ELN-0603, section 3.1.1), first the one written.
/// LoA 1 and `uncertified-loa3` map to nothing: neither is certified to an eIDAS level.
const SWEDEN: [(&str, Loa); 12] = [
    ("http://id.elegnamnden.se/loa/1.0/loa2", Loa::Low),
    ("http://id.elegnamnden.se/loa/1.0/loa3", Loa::Substantial),
    ("http://id.elegnamnden.se/loa/1.0/loa4", Loa::High),
    (
        "http://id.elegnamnden.se/loa/1.0/loa2-nonresident",
        Loa::Low,
    ),
    (
        "http://id.elegnamnden.se/loa/1.0/loa3-nonresident",
        Loa::Substantial,
    ),
    (
        "http://id.elegnamnden.se/loa/1.0/loa4-nonresident",
        Loa::High,
    ),
    ("http://id.elegnamnden.se/loa/1.0/eidas-low", Loa::Low),
    (
        "http://id.elegnamnden.se/loa/1.0/eidas-sub",
        Loa::Substantial,
    ),
    ("http://id.elegnamnden.se/loa/1.0/eidas-high", Loa::High),
    ("http://id.elegnamnden.se/loa/1.0/eidas-nf-low", Loa::Low),
    (
        "http://id.elegnamnden.se/loa/1.0/eidas-nf-sub",
        Loa::Substantial,
    ),
    ("http://id.elegnamnden.se/loa/1.0/eidas-nf-high", Loa::High),
];

/// ID-porten `acr` values; `Level3`/`Level4` are the values of the old OIDC provider.
const IDPORTEN: [(&str, Loa); 4] = [
    ("idporten-loa-substantial", Loa::Substantial),
    ("idporten-loa-high", Loa::High),
    ("Level3", Loa::Substantial),
    ("Level4", Loa::High),
];

impl Loa {
    /// Every level, lowest first.
    pub const ALL: [Loa; 3] = [Self::Low, Self::Substantial, Self::High];

    /// The lower-case name used in Tillit's own documents: `low`, `substantial`, `high`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Substantial => "substantial",
            Self::High => "high",
        }
    }

    /// The level written in `vocabulary`; `None` where it has no such level (ID-porten Low).
    pub fn uri(self, vocabulary: LoaVocabulary) -> Option<&'static str> {
        let table: &[(&'static str, Loa)] = match vocabulary {
            LoaVocabulary::Eidas => &EIDAS,
            LoaVocabulary::Nsis => &NSIS,
            LoaVocabulary::Sweden => &SWEDEN,
            LoaVocabulary::IdPorten => &IDPORTEN,
        };
        table.iter().find(|(_, l)| *l == self).map(|(u, _)| *u)
    }

    /// The NSIS URI, as Tillit writes it in a token's `acr`.
    pub fn nsis_uri(self) -> &'static str {
        match self {
            Self::Low => "https://data.gov.dk/concept/core/nsis/loa/Low",
            Self::Substantial => "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            Self::High => "https://data.gov.dk/concept/core/nsis/loa/High",
        }
    }

    /// Reads a level from any known vocabulary (eIDAS, NSIS, Swedish, ID-porten) or from
    /// Tillit's own names. Exact match: URIs are case-sensitive. `None` for anything else —
    /// an unknown value is no assurance, never a guess.
    pub fn from_uri(value: &str) -> Option<Loa> {
        EIDAS
            .iter()
            .chain(NSIS.iter())
            .chain(SWEDEN.iter())
            .chain(IDPORTEN.iter())
            .find(|(u, _)| *u == value)
            .map(|(_, l)| *l)
            .or_else(|| Self::ALL.into_iter().find(|l| l.as_str() == value))
    }
}

impl fmt::Display for Loa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Low => "Low",
            Self::Substantial => "Substantial",
            Self::High => "High",
        })
    }
}

impl FromStr for Loa {
    type Err = CoreError;

    /// Same as [`Loa::from_uri`], with an error naming the input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_uri(s).ok_or_else(|| CoreError::UnknownLoa(s.to_owned()))
    }
}

/// The assurance of one login: identity registration (IAL), authentication (AAL) and
/// federation (FAL). NSIS: "if a user is to reach a system at Substantial, all three must be
/// Substantial".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginAssurance {
    /// Strength of identity registration (styrken af registrering af identitet).
    pub ial: Loa,
    /// Strength of authentication (styrken af autentifikation).
    pub aal: Loa,
    /// Strength of the federation (styrken af føderationens it-sikkerhed).
    pub fal: Loa,
}

impl LoginAssurance {
    /// The login's level: the minimum of IAL, AAL and FAL.
    pub fn loa(&self) -> Loa {
        self.ial.min(self.aal).min(self.fal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_map_both_ways() {
        use Loa::*;
        use LoaVocabulary::*;
        let cases: &[(&str, Option<Loa>)] = &[
            ("http://eidas.europa.eu/LoA/low", Some(Low)),
            ("http://eidas.europa.eu/LoA/substantial", Some(Substantial)),
            ("http://eidas.europa.eu/LoA/high", Some(High)),
            ("http://eidas.europa.eu/LoA/High", None),
            ("https://data.gov.dk/concept/core/nsis/loa/Low", Some(Low)),
            (
                "https://data.gov.dk/concept/core/nsis/loa/Substantial",
                Some(Substantial),
            ),
            ("https://data.gov.dk/concept/core/nsis/loa/High", Some(High)),
            ("https://data.gov.dk/concept/core/nsis/loa/high", None),
            ("http://id.elegnamnden.se/loa/1.0/loa1", None),
            ("http://id.elegnamnden.se/loa/1.0/loa2", Some(Low)),
            ("http://id.elegnamnden.se/loa/1.0/loa3", Some(Substantial)),
            ("http://id.elegnamnden.se/loa/1.0/loa4", Some(High)),
            (
                "http://id.elegnamnden.se/loa/1.0/eidas-nf-sub",
                Some(Substantial),
            ),
            ("http://id.swedenconnect.se/loa/1.0/uncertified-loa3", None),
            ("idporten-loa-substantial", Some(Substantial)),
            ("idporten-loa-high", Some(High)),
            ("Level3", Some(Substantial)),
            ("Level4", Some(High)),
            ("Level2", None),
            ("substantial", Some(Substantial)),
            ("", None),
        ];
        for (uri, want) in cases {
            assert_eq!(Loa::from_uri(uri), *want, "{uri}");
        }
        let written: &[(Loa, LoaVocabulary, Option<&str>)] = &[
            (Low, Eidas, Some("http://eidas.europa.eu/LoA/low")),
            (
                High,
                Nsis,
                Some("https://data.gov.dk/concept/core/nsis/loa/High"),
            ),
            (
                Substantial,
                Sweden,
                Some("http://id.elegnamnden.se/loa/1.0/loa3"),
            ),
            (Low, IdPorten, None),
            (High, IdPorten, Some("idporten-loa-high")),
        ];
        for (loa, voc, want) in written {
            assert_eq!(loa.uri(*voc), *want, "{loa} {voc:?}");
        }
        for loa in Loa::ALL {
            assert_eq!(Some(loa), Loa::from_uri(loa.nsis_uri()));
            assert_eq!(Some(loa.nsis_uri()), loa.uri(Nsis));
        }
        assert!(matches!("x".parse::<Loa>(), Err(CoreError::UnknownLoa(s)) if s == "x"));
    }

    #[test]
    fn login_level_is_the_weakest_part() {
        use Loa::*;
        let cases = [
            ((High, High, High), High),
            ((High, Substantial, High), Substantial),
            ((Substantial, High, Low), Low),
            ((Low, Low, Low), Low),
        ];
        for ((ial, aal, fal), want) in cases {
            assert_eq!(LoginAssurance { ial, aal, fal }.loa(), want);
        }
        assert!(Low < Substantial && Substantial < High);
        assert_eq!(
            serde_json::to_string(&Substantial).unwrap(),
            "\"substantial\""
        );
    }
}
