//! SCIM 2.0 filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2): an untrusted-input
//! parser and an evaluator over JSON resources, for the provisioning endpoints.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / [ "not" ] "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER          ; not > and > or
//! compValue = false / null / true / number / string        ; JSON literals
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! PATH      = attrPath / valuePath [subAttr]               ; PATCH "path"
//! ```
//!
//! Operators and attribute names are case-insensitive. Input is bounded: at most
//! [`MAX_FILTER_CHARS`] characters and [`MAX_DEPTH`] levels of nesting, so no input can exhaust
//! the stack or take more than linear time to parse. Parsing never panics.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_CHARS: usize = 4096;

/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_DEPTH: usize = 32;

/// Why a filter or path was refused (a SCIM `invalidFilter` / `invalidPath`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {at})")]
pub struct FilterError {
    /// Where in the input.
    pub at: usize,
    /// What is wrong, in plain English.
    pub message: String,
}

/// An attribute path: `[urn:…:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN prefix, if written (without the final `:`).
    pub uri: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute name.
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.uri {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains (strings).
    Co,
    /// Starts with (strings).
    Sw,
    /// Ends with (strings).
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr pr`: present (not null, not an empty array).
    Present(AttrPath),
    /// `attr op value`.
    Compare(AttrPath, CompareOp, Value),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
}

/// A PATCH operation's `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when there is no value filter).
    pub attr: AttrPath,
    /// `attr[filter]`: which values of a multi-valued attribute.
    pub filter: Option<Filter>,
    /// `attr[filter].sub`: the sub-attribute of the selected values.
    pub sub: Option<String>,
}

/// Parses a filter (the `filter` query parameter).
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(text)?;
    let f = p.or_expr(0)?;
    p.skip_ws();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected text after the filter"));
    }
    Ok(f)
}

/// Parses a PATCH path.
pub fn parse_path(text: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(text)?;
    p.skip_ws();
    let attr = p.attr_path()?;
    let mut out = PatchPath {
        attr,
        filter: None,
        sub: None,
    };
    if p.peek() == Some(b'[') {
        if out.attr.sub.is_some() {
            return Err(p.err("a value filter follows an attribute, not a sub-attribute"));
        }
        p.pos += 1;
        let f = p.or_expr(1)?;
        p.skip_ws();
        p.expect(b']')?;
        out.filter = Some(f);
        if p.peek() == Some(b'.') {
            p.pos += 1;
            out.sub = Some(p.name()?);
        }
    }
    p.skip_ws();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected text after the path"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, FilterError> {
        if text.len() > MAX_FILTER_CHARS {
            return Err(FilterError {
                at: MAX_FILTER_CHARS,
                message: format!("longer than {MAX_FILTER_CHARS} bytes"),
            });
        }
        if text.trim().is_empty() {
            return Err(FilterError {
                at: 0,
                message: "empty".into(),
            });
        }
        Ok(Self {
            s: text.as_bytes(),
            text,
            pos: 0,
        })
    }

    fn err(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            at: self.pos,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b == b' ' || b == b'\t') {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), FilterError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {:?}", b as char)))
        }
    }

    /// The next word (letters only) without consuming it, lowercased.
    fn peek_word(&self) -> String {
        let rest = self.s.get(self.pos..).unwrap_or_default();
        let n = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let word = self.text.get(self.pos..self.pos + n).unwrap_or("");
        // A keyword ends at a space, a parenthesis or the end.
        match rest.get(n) {
            None | Some(b' ' | b'\t' | b'(' | b')' | b']') => word.to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and_expr(depth)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.pos > save && self.peek_word() == "or" {
                self.pos += 2;
                self.require_ws()?;
                let right = self.and_expr(depth)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.pos > save && self.peek_word() == "and" {
                self.pos += 3;
                self.require_ws()?;
                let right = self.unary(depth)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn require_ws(&mut self) -> Result<(), FilterError> {
        let save = self.pos;
        self.skip_ws();
        if self.pos == save && self.peek() != Some(b'(') {
            return Err(self.err("expected a space"));
        }
        Ok(())
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.skip_ws();
        if self.peek_word() == "not" {
            self.pos += 3;
            self.skip_ws();
            self.expect(b'(')?;
            let inner = self.or_expr(depth + 1)?;
            self.skip_ws();
            self.expect(b')')?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let inner = self.or_expr(depth + 1)?;
            self.skip_ws();
            self.expect(b')')?;
            return Ok(inner);
        }
        let attr = self.attr_path()?;
        if self.peek() == Some(b'[') {
            if attr.sub.is_some() {
                return Err(self.err("a value filter follows an attribute, not a sub-attribute"));
            }
            self.pos += 1;
            let inner = self.or_expr(depth + 1)?;
            self.skip_ws();
            self.expect(b']')?;
            return Ok(Filter::ValuePath(attr, Box::new(inner)));
        }
        if !self.peek().is_some_and(|b| b == b' ' || b == b'\t') {
            return Err(self.err("expected an operator after the attribute"));
        }
        self.skip_ws();
        let word = self.peek_word();
        if word == "pr" {
            self.pos += 2;
            return Ok(Filter::Present(attr));
        }
        let op = CompareOp::parse(&word).ok_or_else(|| {
            self.err("expected an operator: eq, ne, co, sw, ew, gt, ge, lt, le or pr")
        })?;
        self.pos += 2;
        if !self.peek().is_some_and(|b| b == b' ' || b == b'\t') {
            return Err(self.err("expected a space and a value after the operator"));
        }
        self.skip_ws();
        let value = self.value()?;
        Ok(Filter::Compare(attr, op, value))
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => return Err(self.err("unterminated string")),
                        Some(b'\\') => self.pos += 2,
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                let lit = self
                    .text
                    .get(start..self.pos)
                    .ok_or_else(|| self.err("bad string"))?;
                serde_json::from_str::<Value>(lit).map_err(|e| FilterError {
                    at: start,
                    message: format!("bad string: {e}"),
                })
            }
            Some(_) => {
                let n = self
                    .s
                    .get(self.pos..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| !matches!(b, b' ' | b'\t' | b')' | b']'))
                    .count();
                self.pos += n;
                let lit = self.text.get(start..self.pos).unwrap_or("");
                match lit.to_ascii_lowercase().as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "null" => Ok(Value::Null),
                    _ => match serde_json::from_str::<Value>(lit) {
                        Ok(v @ Value::Number(_)) => Ok(v),
                        _ => Err(FilterError {
                            at: start,
                            message: format!(
                                "expected a value (a \"string\", a number, true, false or null), got {lit:?}"
                            ),
                        }),
                    },
                }
            }
            None => Err(self.err("expected a value")),
        }
    }

    fn name(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let rest = self.s.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .enumerate()
            .take_while(|(i, b)| {
                b.is_ascii_alphabetic()
                    || (*i > 0 && (b.is_ascii_digit() || **b == b'_' || **b == b'-'))
                    || (*i == 0 && **b == b'$')
            })
            .count();
        if n == 0 {
            return Err(self.err("expected an attribute name"));
        }
        self.pos += n;
        Ok(self.text.get(start..self.pos).unwrap_or("").to_owned())
    }

    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        // A URN prefix: everything up to the last ':' of the token (URNs contain dots, e.g. 2.0).
        let rest = self.s.get(self.pos..).unwrap_or_default();
        let token_len = rest
            .iter()
            .take_while(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'$')
            })
            .count();
        let token = rest.get(..token_len).unwrap_or_default();
        let uri = match token.iter().rposition(|b| *b == b':') {
            Some(i) => {
                let u = self
                    .text
                    .get(self.pos..self.pos + i)
                    .unwrap_or("")
                    .to_owned();
                if !u.to_ascii_lowercase().starts_with("urn:") {
                    return Err(self.err("a schema prefix is a URN (urn:…)"));
                }
                self.pos += i + 1;
                Some(u)
            }
            None => None,
        };
        let name = self.name()?;
        let sub = if self.peek() == Some(b'.') {
            self.pos += 1;
            Some(self.name()?)
        } else {
            None
        };
        Ok(AttrPath { uri, name, sub })
    }
}

/// How the evaluator compares strings of an attribute: `true` for a case-exact attribute
/// (e.g. `id`), `false` for one compared without regard to case (e.g. `userName`).
pub type CaseExact<'a> = &'a dyn Fn(&AttrPath) -> bool;

fn get_ci<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The values `attr` names in `resource` (flattened over multi-valued attributes).
pub fn values<'v>(resource: &'v Value, attr: &AttrPath) -> Vec<&'v Value> {
    let Some(top) = get_ci(resource, &attr.name) else {
        return Vec::new();
    };
    let tops: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    match &attr.sub {
        None => tops,
        Some(sub) => tops
            .into_iter()
            .filter_map(|t| get_ci(t, sub))
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                v => vec![v],
            })
            .collect(),
    }
}

impl Filter {
    /// Whether `resource` (a SCIM resource as JSON) matches. Comparisons of values of different
    /// types do not match; `gt`/`ge`/`lt`/`le` order strings (date-times as their text, which
    /// orders RFC 3339 UTC times correctly) and numbers.
    pub fn matches(&self, resource: &Value, case_exact: CaseExact<'_>) -> bool {
        match self {
            Filter::Present(attr) => values(resource, attr)
                .into_iter()
                .any(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty())),
            Filter::Compare(attr, op, value) => {
                let exact = case_exact(attr);
                let found = values(resource, attr);
                if *op == CompareOp::Ne {
                    return !found
                        .iter()
                        .any(|v| compare(v, CompareOp::Eq, value, exact));
                }
                if found.is_empty() && *op == CompareOp::Eq && value.is_null() {
                    return true;
                }
                found.iter().any(|v| compare(v, *op, value, exact))
            }
            Filter::And(a, b) => a.matches(resource, case_exact) && b.matches(resource, case_exact),
            Filter::Or(a, b) => a.matches(resource, case_exact) || b.matches(resource, case_exact),
            Filter::Not(a) => !a.matches(resource, case_exact),
            Filter::ValuePath(attr, inner) => {
                let Some(top) = get_ci(resource, &attr.name) else {
                    return false;
                };
                match top {
                    Value::Array(items) => items.iter().any(|i| inner.matches(i, case_exact)),
                    v => inner.matches(v, case_exact),
                }
            }
        }
    }
}

fn compare(found: &Value, op: CompareOp, want: &Value, exact: bool) -> bool {
    // A complex value without a sub-attribute compares by its `value` (RFC 7644 §3.4.2.2).
    let found = match found {
        Value::Object(o) => o
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map_or(found, |(_, v)| v),
        v => v,
    };
    match (found, want) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return false;
            };
            let ord = a.partial_cmp(&b);
            match op {
                CompareOp::Eq => ord == Some(Ordering::Equal),
                CompareOp::Ne => ord != Some(Ordering::Equal),
                CompareOp::Gt => ord == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CompareOp::Lt => ord == Some(Ordering::Less),
                CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        (Value::Null, Value::Null) => matches!(op, CompareOp::Eq),
        _ => matches!(op, CompareOp::Ne),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(name: &str) -> AttrPath {
        let (name, sub) = match name.split_once('.') {
            Some((n, s)) => (n, Some(s.to_owned())),
            None => (name, None),
        };
        AttrPath {
            uri: None,
            name: name.to_owned(),
            sub,
        }
    }

    fn cmp(name: &str, op: CompareOp, v: Value) -> Filter {
        Filter::Compare(p(name), op, v)
    }

    #[test]
    fn filters_parse_as_the_rfc_examples_say() {
        use CompareOp::*;
        let b = Box::new;
        let cases: Vec<(&str, Filter)> = vec![
            (
                r#"userName eq "bjensen""#,
                cmp("userName", Eq, json!("bjensen")),
            ),
            (
                r#"name.familyName co "O'Malley""#,
                cmp("name.familyName", Co, json!("O'Malley")),
            ),
            (r#"userName sw "J""#, cmp("userName", Sw, json!("J"))),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                Filter::Compare(
                    AttrPath {
                        uri: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                        name: "userName".into(),
                        sub: None,
                    },
                    Sw,
                    json!("J"),
                ),
            ),
            ("title pr", Filter::Present(p("title"))),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Gt, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Ge, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Lt, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Le, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"title pr and userType eq "Employee""#,
                Filter::And(
                    b(Filter::Present(p("title"))),
                    b(cmp("userType", Eq, json!("Employee"))),
                ),
            ),
            (
                r#"title pr or userType eq "Intern""#,
                Filter::Or(
                    b(Filter::Present(p("title"))),
                    b(cmp("userType", Eq, json!("Intern"))),
                ),
            ),
            (
                // and binds tighter than or.
                r#"a eq 1 or b eq 2 and c eq 3"#,
                Filter::Or(
                    b(cmp("a", Eq, json!(1))),
                    b(Filter::And(
                        b(cmp("b", Eq, json!(2))),
                        b(cmp("c", Eq, json!(3))),
                    )),
                ),
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                Filter::And(
                    b(cmp("userType", Eq, json!("Employee"))),
                    b(Filter::Or(
                        b(cmp("emails", Co, json!("example.com"))),
                        b(cmp("emails.value", Co, json!("example.org"))),
                    )),
                ),
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                Filter::And(
                    b(cmp("userType", Ne, json!("Employee"))),
                    b(Filter::Not(b(Filter::Or(
                        b(cmp("emails", Co, json!("example.com"))),
                        b(cmp("emails.value", Co, json!("example.org"))),
                    )))),
                ),
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                Filter::ValuePath(
                    p("emails"),
                    b(Filter::And(
                        b(cmp("type", Eq, json!("work"))),
                        b(cmp("value", Co, json!("@example.com"))),
                    )),
                ),
            ),
            ("active EQ TRUE", cmp("active", Eq, json!(true))),
            ("x eq null", cmp("x", Eq, Value::Null)),
            ("x gt -1.5e2", cmp("x", Gt, json!(-150.0))),
            (
                r#"x eq "a \"quoted\" \u00e6""#,
                cmp("x", Eq, json!("a \"quoted\" æ")),
            ),
            ("  ((a pr))  ", Filter::Present(p("a"))),
            (
                "members[value eq \"2819c223\"]",
                Filter::ValuePath(p("members"), b(cmp("value", Eq, json!("2819c223")))),
            ),
            ("$ref pr", Filter::Present(p("$ref"))),
        ];
        for (text, want) in cases {
            assert_eq!(parse_filter(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_filters_are_refused_with_a_position() {
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        let nots = "not (".repeat(40) + "a pr" + &")".repeat(40);
        let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_CHARS));
        let cases: Vec<(&str, &str)> = vec![
            ("", "empty"),
            ("   ", "empty"),
            ("userName", "expected an operator"),
            ("userName eq", "expected a space"),
            ("userName eq ", "expected a value"),
            ("userName xx \"a\"", "expected an operator"),
            ("userName eq \"a", "unterminated"),
            ("userName eq bjensen", "expected a value"),
            ("userName eq \"a\" and", "expected a space"),
            ("(userName pr", "expected ')'"),
            ("userName pr)", "unexpected text"),
            ("emails[type eq \"work\"", "expected ']'"),
            ("a.b[c pr]", "value filter"),
            ("not a pr", "expected '('"),
            ("http://x:a pr", "URN"),
            ("foo:a pr", "URN"),
            ("a eq \"\\x\"", "bad string"),
            ("a pr andb pr", "unexpected text"),
            (&deep, "nested deeper"),
            (&nots, "nested deeper"),
            (&long, "longer than"),
            ("ü eq 1", "attribute name"),
        ];
        for (text, want) in cases {
            let err = parse_filter(text).expect_err(text);
            assert!(err.message.contains(want), "{text:?}: {err}");
            assert!(err.at <= text.len().max(MAX_FILTER_CHARS), "{text:?}");
        }
    }

    #[test]
    fn patch_paths() {
        let cases: Vec<(&str, Result<PatchPath, &str>)> = vec![
            (
                "active",
                Ok(PatchPath {
                    attr: p("active"),
                    filter: None,
                    sub: None,
                }),
            ),
            (
                "name.familyName",
                Ok(PatchPath {
                    attr: p("name.familyName"),
                    filter: None,
                    sub: None,
                }),
            ),
            (
                r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
                Ok(PatchPath {
                    attr: p("members"),
                    filter: Some(cmp(
                        "value",
                        CompareOp::Eq,
                        json!("2819c223-7f76-453a-919d-413861904646"),
                    )),
                    sub: None,
                }),
            ),
            (
                r#"emails[type eq "work"].value"#,
                Ok(PatchPath {
                    attr: p("emails"),
                    filter: Some(cmp("type", CompareOp::Eq, json!("work"))),
                    sub: Some("value".into()),
                }),
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:displayName",
                Ok(PatchPath {
                    attr: AttrPath {
                        uri: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                        name: "displayName".into(),
                        sub: None,
                    },
                    filter: None,
                    sub: None,
                }),
            ),
            ("", Err("empty")),
            ("members[", Err("attribute name")),
            ("members[value eq 1", Err("expected ']'")),
            ("members[value eq 1].", Err("attribute name")),
            ("a b", Err("unexpected text")),
        ];
        for (text, want) in cases {
            match (parse_path(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(e), Err(want)) => assert!(e.message.contains(want), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn evaluation() {
        let user = json!({
            "id": "2819c223",
            "userName": "BJensen",
            "active": true,
            "name": {"familyName": "Jensen"},
            "emails": [{"value": "bj@example.com", "type": "work"}, {"value": "b@home.org", "type": "home"}],
            "meta": {"lastModified": "2024-05-13T04:42:34Z"},
            "members": [],
            "n": 5,
        });
        let exact = |a: &AttrPath| a.name == "id";
        let cases: Vec<(&str, bool)> = vec![
            (r#"userName eq "bjensen""#, true),
            (r#"USERNAME eq "BJENSEN""#, true),
            (r#"id eq "2819C223""#, false),
            (r#"id eq "2819c223""#, true),
            (r#"userName ne "bjensen""#, false),
            (r#"userName ne "other""#, true),
            (r#"userName co "jen""#, true),
            (r#"userName sw "bj""#, true),
            (r#"userName ew "sen""#, true),
            (r#"userName ew "bj""#, false),
            ("userName pr", true),
            ("title pr", false),
            ("members pr", false),
            ("active eq true", true),
            ("active eq false", false),
            ("active gt false", false),
            (r#"name.familyName eq "jensen""#, true),
            (r#"emails.value ew "home.org""#, true),
            (r#"emails co "example.com""#, true),
            (r#"emails co "nowhere""#, false),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#,
                false,
            ),
            (r#"meta.lastModified gt "2024-01-01T00:00:00Z""#, true),
            (r#"meta.lastModified lt "2024-01-01T00:00:00Z""#, false),
            (r#"meta.lastModified ge "2024-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified le "2024-05-13T04:42:33Z""#, false),
            ("n gt 4", true),
            ("n ge 5", true),
            ("n lt 5", false),
            ("n le 5.0", true),
            (r#"n eq "5""#, false),
            ("title eq null", true),
            (r#"not (userName eq "bjensen")"#, false),
            (r#"userName eq "x" or (active eq true and n eq 5)"#, true),
        ];
        for (text, want) in cases {
            let f = parse_filter(text).unwrap();
            assert_eq!(f.matches(&user, &exact), want, "{text}");
        }
    }
}
