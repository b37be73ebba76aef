//! RFC 8785 JSON Canonicalization Scheme (JCS) for `serde_json::Value`.
//!
//! Object members are sorted by the UTF-16 code units of their names, strings are escaped minimally
//! (only `"`, `\` and control characters; `\b \t \n \f \r` by name, the rest as lowercase `\u00xx`),
//! numbers are written as ECMAScript's `Number.prototype.toString` writes an IEEE 754 double, and there
//! is no whitespace. Integers that serde_json holds exactly (`i64`/`u64`) are written in exact decimal;
//! for magnitudes up to 2^53 this is identical to JCS, and [`check_i_json`] rejects larger ones so that
//! every stored entry is strict JCS.

use serde_json::{Number, Value};

/// Largest integer magnitude that an IEEE 754 double holds exactly (2^53 - 1), the I-JSON limit.
pub(crate) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The RFC 8785 canonical form of `value`.
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// [`canonical`] appended to `out`.
pub(crate) fn write_canonical(out: &mut String, value: &Value) {
    write_value(out, value);
}

/// Deepest nesting of arrays and objects accepted in details (well within serde_json's parse limit).
pub(crate) const MAX_DEPTH: usize = 64;

/// Checks that `value` is I-JSON (RFC 7493) as far as JCS needs: every integer fits in an IEEE
/// 754 double exactly; and that it nests at most [`MAX_DEPTH`] deep, so it can be read back.
/// Returns what is wrong, naming the JSON pointer of the first offending place.
pub(crate) fn check_i_json(value: &Value) -> Result<(), String> {
    fn walk(value: &Value, path: &mut String, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels at `{path}`"));
        }
        match value {
            Value::Number(n) => {
                let too_big = match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => u > MAX_SAFE_INTEGER,
                    (None, Some(i)) => i.unsigned_abs() > MAX_SAFE_INTEGER,
                    (None, None) => false,
                };
                if too_big {
                    let at = if path.is_empty() { "/" } else { path.as_str() };
                    return Err(format!(
                        "an integer beyond ±(2^53-1) at `{at}`: store it as a string"
                    ));
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&i.to_string());
                    walk(item, path, depth + 1)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(v, path, depth + 1)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        }
    }
    walk(value, &mut String::new(), 0)
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

/// Writes a JSON string with the minimal escaping RFC 8785 §3.2.2.2 prescribes.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&es_number_to_string(f));
    } else {
        // serde_json without `arbitrary_precision` always holds u64, i64 or f64.
        out.push_str(&n.to_string());
    }
}

/// ECMAScript `Number.prototype.toString(x)` (ECMA-262 §6.1.6.1.20), as RFC 8785 §3.2.2.3 requires.
pub(crate) fn es_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest digits that round-trip: "d.ddddde<exp>".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i64 = exp.parse().unwrap_or(0);
    let k = digits.len() as i64;
    let n = exp + 1;
    let body = if k <= n && n <= 21 {
        let mut s = digits.clone();
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
        s
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{}", "0".repeat((-n) as usize), digits)
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1.min(digits.len()));
        if rest.is_empty() {
            format!("{first}e{e_sign}{}", e.unsigned_abs())
        } else {
            format!("{first}.{rest}e{e_sign}{}", e.unsigned_abs())
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_ecmascript() {
        // Cases from RFC 8785 Appendix B and ECMAScript's algorithm.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740992.0, "9007199254740992"),
            (9007199254740994.0, "9007199254740994"),
            (295147905179352830000.0, "295147905179352830000"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (333333333.3333333, "333333333.3333333"),
            (1e23, "1e+23"),
            (4.5, "4.5"),
            (0.002, "0.002"),
            (-1.2345e-10, "-1.2345e-10"),
        ];
        for (x, want) in cases {
            assert_eq!(es_number_to_string(*x), *want, "number {x:e}");
        }
    }

    #[test]
    fn canonical_form_table() {
        let cases = [
            (
                json!({"b": 1, "a": [true, null, "x"]}),
                r#"{"a":[true,null,"x"],"b":1}"#,
            ),
            (
                json!({"\u{20ac}": 1, "\r": 2, "1": 3, "\u{1f600}": 4, "\u{fb33}": 5}),
                "{\"\\r\":2,\"1\":3,\"\u{20ac}\":1,\"\u{1f600}\":4,\"\u{fb33}\":5}",
            ),
            (
                json!("a\"b\\c\u{1}\u{1f}\u{7f}/ö"),
                "\"a\\\"b\\\\c\\u0001\\u001f\u{7f}/ö\"",
            ),
            (
                json!({"n": 1.0, "m": -0.0, "k": 1e30}),
                r#"{"k":1e+30,"m":0,"n":1}"#,
            ),
            (json!("\u{8}\t\n\u{c}\r"), r#""\b\t\n\f\r""#),
        ];
        for (value, want) in cases {
            assert_eq!(canonical(&value), want, "value {value}");
        }
    }

    #[test]
    fn canonical_is_stable_through_a_text_round_trip() {
        let values = [
            json!({"z": [1, 2.5, -3e-9, "s"], "a": {"y": null, "x": false}}),
            json!(1e21),
            json!(12345678901234.0),
        ];
        for value in values {
            let once = canonical(&value);
            let reparsed: Value = serde_json::from_str(&once).unwrap();
            assert_eq!(canonical(&reparsed), once);
        }
    }

    #[test]
    fn i_json_limits() {
        let cases = [
            (json!({"a": 9007199254740991u64}), None),
            (json!({"a": -9007199254740991i64}), None),
            (json!({"a": [1, 9007199254740992u64]}), Some("`/a/1`")),
            (
                json!({"a/b": {"c": -9007199254740992i64}}),
                Some("`/a~1b/c`"),
            ),
            (json!(u64::MAX), Some("`/`")),
            (nested(MAX_DEPTH), None),
            (nested(MAX_DEPTH + 1), Some("deeper than 64")),
        ];
        for (value, want) in cases {
            match (check_i_json(&value), want) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => assert!(e.contains(part), "{e}"),
                (got, want) => panic!("got {got:?}, want {want:?}"),
            }
        }
        let deepest = canonical(&nested(MAX_DEPTH));
        assert!(serde_json::from_str::<Value>(&deepest).is_ok());
    }

    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |v, _| json!([v]))
    }
}
