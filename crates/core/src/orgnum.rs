use std::fmt;

use serde::Serialize;

use crate::{CoreError, Country};

/// A national organisation number, validated for its country and kept in canonical form.
///
/// | country | name | canonical form | check |
/// |---|---|---|---|
/// | SE | organisationsnummer | `NNNNNN-NNNN` | Luhn (mod 10) over the 10 digits |
/// | DK | CVR-nummer | `NNNNNNNN` | length only (8 digits) |
/// | NO | organisasjonsnummer | `NNNNNNNNN` | mod 11, weights 3 2 7 6 5 4 3 2 |
/// | FI | Y-tunnus (FO-nummer) | `NNNNNNN-N` | mod 11, weights 7 9 10 5 8 4 2 |
/// | IS | kennitala | `NNNNNN-NNNN` | mod 11 on digit 9, weights 3 2 7 6 5 4 3 2; century digit 8, 9 or 0 |
///
/// Input may contain spaces, and the hyphen may be left out where the canonical form has one.
/// Serialises as the canonical string; it is parsed together with its [`Country`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct OrganisationNumber {
    #[serde(skip)]
    country: Country,
    value: String,
}

impl From<OrganisationNumber> for String {
    fn from(n: OrganisationNumber) -> String {
        n.value
    }
}

impl OrganisationNumber {
    /// Validates `input` as an organisation number of `country`.
    pub fn parse(country: Country, input: &str) -> Result<Self, CoreError> {
        let invalid = |reason: &str| CoreError::InvalidOrganisationNumber {
            country,
            value: input.to_owned(),
            reason: reason.to_owned(),
        };
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let (digits, hyphen_at, expected_len, format) = match country {
            Country::Se => (strip_hyphen(&compact, 6), Some(6), 10, "NNNNNN-NNNN"),
            Country::Dk => (Some(compact.clone()), None, 8, "8 digits (NNNNNNNN)"),
            Country::No => (Some(compact.clone()), None, 9, "9 digits (NNNNNNNNN)"),
            Country::Fi => (strip_hyphen(&compact, 7), Some(7), 8, "NNNNNNN-N"),
            Country::Is => (strip_hyphen(&compact, 6), Some(6), 10, "NNNNNN-NNNN"),
        };
        let digits = digits.ok_or_else(|| invalid(&format!("expected {format}")))?;
        let values: Vec<u32> = digits
            .chars()
            .map(|c| c.to_digit(10).filter(|_| c.is_ascii_digit()))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid(&format!("expected only digits: {format}")))?;
        if values.len() != expected_len {
            return Err(invalid(&format!(
                "expected {expected_len} digits ({format}), got {}",
                values.len()
            )));
        }
        let ok = match country {
            Country::Se => luhn_valid(&values),
            Country::Dk => true,
            Country::No => mod11_valid(&values, &[3, 2, 7, 6, 5, 4, 3, 2], 8),
            Country::Fi => finnish_valid(&values),
            Country::Is => {
                mod11_valid(&values, &[3, 2, 7, 6, 5, 4, 3, 2], 8)
                    && matches!(values.get(9), Some(8 | 9 | 0))
            }
        };
        if !ok {
            return Err(invalid(
                "check digit does not match: check for a typing error",
            ));
        }
        let value = match hyphen_at {
            Some(at) => match (digits.get(..at), digits.get(at..)) {
                (Some(head), Some(tail)) => format!("{head}-{tail}"),
                _ => return Err(invalid(&format!("expected {format}"))),
            },
            None => digits,
        };
        Ok(Self { country, value })
    }

    /// The country whose format this number follows.
    pub fn country(&self) -> Country {
        self.country
    }

    /// The canonical form (see the table above).
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for OrganisationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Removes a hyphen that stands exactly at `at`; any other hyphen is an error (None).
fn strip_hyphen(s: &str, at: usize) -> Option<String> {
    match s.find('-') {
        None => Some(s.to_owned()),
        Some(pos) if pos == at && s.matches('-').count() == 1 => Some(s.replacen('-', "", 1)),
        Some(_) => None,
    }
}

fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Modulus 11 with check digit `11 - (sum mod 11)` (11 → 0, 10 → never valid) at `check_at`.
fn mod11_valid(digits: &[u32], weights: &[u32], check_at: usize) -> bool {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    digits.get(check_at) == Some(&check)
}

/// Y-tunnus: remainder 0 → check 0, remainder 1 → never valid, otherwise 11 - remainder.
fn finnish_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .zip([7, 9, 10, 5, 8, 4, 2])
        .map(|(d, w)| d * w)
        .sum();
    let check = match sum % 11 {
        0 => 0,
        1 => return false,
        r => 11 - r,
    };
    digits.get(7) == Some(&check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use Country::*;
        // (country, input, Some(canonical) when valid)
        let cases: &[(Country, &str, Option<&str>)] = &[
            (Se, "556016-0680", Some("556016-0680")),
            (Se, "5560160680", Some("556016-0680")),
            (Se, "202100-5489", Some("202100-5489")),
            (Se, " 212000-0142 ", Some("212000-0142")),
            (Se, "556016-0681", None),
            (Se, "55601-60680", None),
            (Se, "556016-068", None),
            (Se, "556016-06800", None),
            (Se, "55601A-0680", None),
            (Se, "", None),
            (Dk, "24256790", Some("24256790")),
            (Dk, "2425 6790", Some("24256790")),
            (Dk, "2425679", None),
            (Dk, "242567901", None),
            (Dk, "2425-6790", None),
            (Dk, "２４２５６７９０", None),
            (No, "923609016", Some("923609016")),
            (No, "923 609 016", Some("923609016")),
            (No, "974760673", Some("974760673")),
            (No, "923609017", None),
            (No, "92360901", None),
            (Fi, "0112038-9", Some("0112038-9")),
            (Fi, "01120389", Some("0112038-9")),
            (Fi, "2617416-4", Some("2617416-4")),
            (Fi, "0112038-8", None),
            (Fi, "112038-9", None),
            (Fi, "011203-89", None),
            (Is, "530269-7609", Some("530269-7609")),
            (Is, "5302697609", Some("530269-7609")),
            (Is, "460207-0880", Some("460207-0880")),
            (Is, "530269-7619", None),
            (Is, "530269-7605", None),
            (Is, "53026976", None),
        ];
        for &(country, input, expected) in cases {
            let got = OrganisationNumber::parse(country, input);
            match (expected, &got) {
                (Some(canonical), Ok(n)) => {
                    assert_eq!(n.as_str(), canonical, "{country} {input:?}");
                    assert_eq!(n.country(), country);
                    assert_eq!(
                        serde_json::to_string(n).unwrap(),
                        format!("\"{canonical}\"")
                    );
                    // Canonical form parses to itself.
                    assert_eq!(&OrganisationNumber::parse(country, canonical).unwrap(), n);
                }
                (None, Err(CoreError::InvalidOrganisationNumber { value, .. })) => {
                    assert_eq!(value, input)
                }
                _ => panic!("{country} {input:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn no_input_panics() {
        let inputs = [
            "-",
            "--",
            "ä",
            "5560160680-",
            "-5560160680",
            "999999-9999999",
        ];
        for country in Country::ALL {
            for input in inputs {
                assert!(
                    OrganisationNumber::parse(country, input).is_err(),
                    "{country} {input}"
                );
            }
        }
    }
}
