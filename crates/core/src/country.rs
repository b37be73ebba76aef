use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The Nordic countries Tillit serves, as ISO 3166-1 alpha-2 codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Country {
    /// Sweden (Sverige).
    #[serde(rename = "SE")]
    Se,
    /// Denmark (Danmark).
    #[serde(rename = "DK")]
    Dk,
    /// Norway (Norge).
    #[serde(rename = "NO")]
    No,
    /// Finland (Suomi).
    #[serde(rename = "FI")]
    Fi,
    /// Iceland (Ísland).
    #[serde(rename = "IS")]
    Is,
}

impl Country {
    /// Every country, in a fixed order.
    pub const ALL: [Country; 5] = [Self::Se, Self::Dk, Self::No, Self::Fi, Self::Is];

    /// The ISO 3166-1 alpha-2 code ("SE", ...).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Se => "SE",
            Self::Dk => "DK",
            Self::No => "NO",
            Self::Fi => "FI",
            Self::Is => "IS",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Country {
    type Err = CoreError;

    /// Parses the upper-case ISO code exactly ("SE", not "se" or "Sweden").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| CoreError::UnknownCountry(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_serde() {
        let cases = [
            ("SE", Some(Country::Se)),
            ("DK", Some(Country::Dk)),
            ("NO", Some(Country::No)),
            ("FI", Some(Country::Fi)),
            ("IS", Some(Country::Is)),
            ("se", None),
            ("DE", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Country>().ok(), expected, "{input}");
            let from_json = serde_json::from_str::<Country>(&format!("\"{input}\"")).ok();
            assert_eq!(from_json, expected, "{input}");
            if let Some(c) = expected {
                assert_eq!(c.to_string(), input);
                assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{input}\""));
            }
        }
        assert!("XX"
            .parse::<Country>()
            .unwrap_err()
            .to_string()
            .contains("SE, DK, NO, FI, IS"));
    }
}
