//! Claim paths: which claim (object property or array element, at any depth)
//! an issuer makes selectively disclosable, or a holder chooses to disclose.
//!
//! String form: keys joined by `.`, array positions as `[n]`, every element of
//! an array as `[]` — `address.street_address`, `nationalities[0]`,
//! `degrees[].type`. JSON form (as in SD-JWT VC claim paths): an array of
//! strings (keys), non-negative integers (positions) and `null` (every element).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::CredentialError;

/// One step of a claim path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElement {
    /// An object property.
    Key(String),
    /// An array element at this position.
    Index(usize),
    /// Every element of an array (only in patterns, never in a concrete path).
    AnyIndex,
}

/// A path from the top of the claims to one claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClaimPath(pub Vec<PathElement>);

impl ClaimPath {
    /// A path of object keys only: `ClaimPath::keys(["address", "locality"])`.
    pub fn keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(
            keys.into_iter()
                .map(|k| PathElement::Key(k.into()))
                .collect(),
        )
    }

    /// Parse the string form (see the module docs).
    pub fn parse(s: &str) -> Result<Self, CredentialError> {
        let bad =
            |reason: &str| CredentialError::InvalidInput(format!("claim path {s:?}: {reason}"));
        let mut out = Vec::new();
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad("empty path"));
        }
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or_else(|| bad("'[' without ']'"))?;
                let inner = after.get(..close).unwrap_or_default();
                if inner.is_empty() {
                    out.push(PathElement::AnyIndex);
                } else {
                    let n = inner
                        .parse::<usize>()
                        .map_err(|_| bad("array position is not a number"))?;
                    out.push(PathElement::Index(n));
                }
                rest = after.get(close + 1..).unwrap_or_default();
                if let Some(r) = rest.strip_prefix('.') {
                    if r.is_empty() {
                        return Err(bad("trailing '.'"));
                    }
                    rest = r;
                }
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let key = rest.get(..end).unwrap_or_default();
                if key.is_empty() {
                    return Err(bad("empty key"));
                }
                out.push(PathElement::Key(key.to_string()));
                rest = rest.get(end..).unwrap_or_default();
                if let Some(r) = rest.strip_prefix('.') {
                    if r.is_empty() {
                        return Err(bad("trailing '.'"));
                    }
                    rest = r;
                }
            }
        }
        Ok(Self(out))
    }

    /// Parse the JSON form `["address", "street_address"]`, `["nationalities", null]`.
    pub fn from_json(v: &Value) -> Result<Self, CredentialError> {
        let bad = |reason: &str| CredentialError::InvalidInput(format!("claim path {v}: {reason}"));
        let items = v.as_array().ok_or_else(|| bad("not an array"))?;
        if items.is_empty() {
            return Err(bad("empty path"));
        }
        items
            .iter()
            .map(|item| match item {
                Value::String(k) => Ok(PathElement::Key(k.clone())),
                Value::Null => Ok(PathElement::AnyIndex),
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(PathElement::Index)
                    .ok_or_else(|| bad("array position is not a non-negative integer")),
                _ => Err(bad(
                    "elements must be strings, non-negative integers or null",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|e| match e {
                    PathElement::Key(k) => Value::String(k.clone()),
                    PathElement::Index(i) => Value::from(*i),
                    PathElement::AnyIndex => Value::Null,
                })
                .collect(),
        )
    }

    /// Whether this pattern names exactly the concrete path `concrete`.
    pub fn matches(&self, concrete: &[PathElement]) -> bool {
        self.0.len() == concrete.len()
            && self
                .0
                .iter()
                .zip(concrete)
                .all(|(p, c)| element_matches(p, c))
    }

    /// Whether this pattern names `concrete` or one of its ancestors
    /// (disclosing `address` discloses everything inside it).
    pub fn covers(&self, concrete: &[PathElement]) -> bool {
        self.0.len() <= concrete.len()
            && self
                .0
                .iter()
                .zip(concrete)
                .all(|(p, c)| element_matches(p, c))
    }

    /// Whether `concrete` is a strict ancestor of a path this pattern names
    /// (to disclose `address.locality`, the `address` disclosure is needed too).
    pub fn needs(&self, concrete: &[PathElement]) -> bool {
        concrete.len() < self.0.len()
            && self
                .0
                .iter()
                .zip(concrete)
                .all(|(p, c)| element_matches(p, c))
    }

    /// Whether `claims` holds at least one claim this pattern names (an optional claim left out
    /// of an attestation names none, and has nothing to make disclosable).
    pub fn is_present_in(&self, claims: &Value) -> bool {
        fn walk(rest: &[PathElement], v: &Value) -> bool {
            let Some((first, rest)) = rest.split_first() else {
                return true;
            };
            match (first, v) {
                (PathElement::Key(k), Value::Object(map)) => {
                    map.get(k).is_some_and(|child| walk(rest, child))
                }
                (PathElement::Index(i), Value::Array(items)) => {
                    items.get(*i).is_some_and(|child| walk(rest, child))
                }
                (PathElement::AnyIndex, Value::Array(items)) => {
                    items.iter().any(|child| walk(rest, child))
                }
                _ => false,
            }
        }
        walk(&self.0, claims)
    }

    /// The first key of the path, if the path starts with a key.
    pub fn first_key(&self) -> Option<&str> {
        match self.0.first() {
            Some(PathElement::Key(k)) => Some(k),
            _ => None,
        }
    }
}

fn element_matches(pattern: &PathElement, concrete: &PathElement) -> bool {
    match (pattern, concrete) {
        (PathElement::AnyIndex, PathElement::Index(_)) => true,
        (p, c) => p == c,
    }
}

impl FromStr for ClaimPath {
    type Err = CredentialError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            match e {
                PathElement::Key(k) if i == 0 => write!(f, "{k}")?,
                PathElement::Key(k) => write!(f, ".{k}")?,
                PathElement::Index(n) => write!(f, "[{n}]")?,
                PathElement::AnyIndex => write!(f, "[]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathElement::*;

    #[test]
    fn presence_in_claims() {
        let claims = serde_json::json!({
            "name": "Ada",
            "address": { "locality": "Ankeborg" },
            "degrees": [{ "type": "BSc" }, { "year": 2020 }],
            "empty": [],
        });
        let cases: &[(&str, bool)] = &[
            ("name", true),
            ("nickname", false),
            ("address.locality", true),
            ("address.street", false),
            ("name.first", false),
            ("degrees[0].type", true),
            ("degrees[1].type", false),
            ("degrees[5]", false),
            ("degrees[].type", true),
            ("degrees[].grade", false),
            ("empty[]", false),
            ("address[0]", false),
        ];
        for (path, expected) in cases {
            let p = ClaimPath::parse(path).expect(path);
            assert_eq!(p.is_present_in(&claims), *expected, "{path}");
        }
    }

    #[test]
    fn parses_string_forms() {
        let cases: &[(&str, Option<Vec<PathElement>>)] = &[
            ("given_name", Some(vec![Key("given_name".into())])),
            (
                "address.locality",
                Some(vec![Key("address".into()), Key("locality".into())]),
            ),
            (
                "nationalities[1]",
                Some(vec![Key("nationalities".into()), Index(1)]),
            ),
            (
                "degrees[].type",
                Some(vec![Key("degrees".into()), AnyIndex, Key("type".into())]),
            ),
            ("a[0][2]", Some(vec![Key("a".into()), Index(0), Index(2)])),
            ("", None),
            ("a..b", None),
            ("a.", None),
            ("a[x]", None),
            ("a[1", None),
        ];
        for (input, expected) in cases {
            let got = ClaimPath::parse(input).ok().map(|p| p.0);
            assert_eq!(&got, expected, "{input}");
            if let Some(p) = got {
                assert_eq!(ClaimPath(p).to_string(), *input, "round trip {input}");
            }
        }
    }

    #[test]
    fn json_form_round_trips() {
        let p = ClaimPath::from_json(&serde_json::json!(["degrees", null, "type", 2])).unwrap();
        assert_eq!(
            p.0,
            vec![
                Key("degrees".into()),
                AnyIndex,
                Key("type".into()),
                Index(2)
            ]
        );
        assert_eq!(p.to_json(), serde_json::json!(["degrees", null, "type", 2]));
        assert!(ClaimPath::from_json(&serde_json::json!(["a", -1])).is_err());
        assert!(ClaimPath::from_json(&serde_json::json!([])).is_err());
    }

    #[test]
    fn matching() {
        let p = ClaimPath::parse("degrees[].type").unwrap();
        let concrete = [Key("degrees".into()), Index(3), Key("type".into())];
        assert!(p.matches(&concrete));
        assert!(p.covers(&concrete));
        assert!(p.needs(&concrete[..2]));
        assert!(!p.needs(&concrete));
        assert!(ClaimPath::parse("degrees").unwrap().covers(&concrete));
        assert!(!ClaimPath::parse("degrees[0]").unwrap().covers(&concrete));
    }
}
