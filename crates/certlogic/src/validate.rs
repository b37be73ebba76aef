//! The form check that runs before every evaluation (the specification's "validity").

use serde_json::Value;

use crate::{datetime::TimeUnit, ValidationError, MAX_DEPTH};

/// Operations written `{ "<op>": [ operands… ] }` and how many operands each takes.
pub(crate) enum Arity {
    Exactly(usize),
    AtLeast(usize),
    TwoOrThree,
}

pub(crate) fn arity(op: &str) -> Option<Arity> {
    Some(match op {
        "if" | "plusTime" | "reduce" => Arity::Exactly(3),
        "===" | "in" | "+" | "extractFromUVCI" => Arity::Exactly(2),
        "!" | "dccDateOfBirth" => Arity::Exactly(1),
        "and" => Arity::AtLeast(2),
        "<" | ">" | "<=" | ">=" | "after" | "before" | "not-after" | "not-before" => {
            Arity::TwoOrThree
        }
        _ => return None,
    })
}

/// Whether a JSON number is an integer (as ECMAScript's `Number.isInteger` judges it).
pub(crate) fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// A `var` path is `""` or period-separated non-empty fragments.
pub(crate) fn valid_path(path: &str) -> bool {
    path.is_empty() || path.split('.').all(|fragment| !fragment.is_empty())
}

pub(crate) fn validate(expr: &Value) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let mut path = String::new();
    walk(expr, &mut path, 0, &mut errors);
    errors
}

fn push(errors: &mut Vec<ValidationError>, path: &str, message: String) {
    errors.push(ValidationError {
        path: path.to_owned(),
        message,
    });
}

fn with_segment(path: &mut String, segment: &str, f: impl FnOnce(&mut String)) {
    let len = path.len();
    path.push('/');
    path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    f(path);
    path.truncate(len);
}

fn walk(expr: &Value, path: &mut String, depth: usize, errors: &mut Vec<ValidationError>) {
    if depth > MAX_DEPTH {
        push(
            errors,
            path,
            format!("nested deeper than {MAX_DEPTH} levels; flatten the expression"),
        );
        return;
    }
    match expr {
        Value::Bool(_) | Value::String(_) => {}
        Value::Number(n) if is_integer(n) => {}
        Value::Number(n) => push(
            errors,
            path,
            format!("{n} is not an integer; only integer literals are allowed"),
        ),
        Value::Null => push(
            errors,
            path,
            "null is not a CertLogic expression".to_owned(),
        ),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                with_segment(path, &i.to_string(), |p| walk(item, p, depth + 1, errors));
            }
        }
        Value::Object(map) => {
            let mut entries = map.iter();
            let (op, operands) = match (entries.next(), entries.next()) {
                (Some(entry), None) => entry,
                _ => {
                    push(
                        errors,
                        path,
                        format!(
                            "an operation object must have exactly one key (the operator), but it has {}; object literals are not allowed",
                            map.len()
                        ),
                    );
                    return;
                }
            };
            with_segment(path, op, |p| walk_operation(op, operands, p, depth, errors));
        }
    }
}

fn walk_operation(
    op: &str,
    operands: &Value,
    path: &mut String,
    depth: usize,
    errors: &mut Vec<ValidationError>,
) {
    if op == "var" {
        match operands {
            Value::String(p) if valid_path(p) => {}
            Value::String(p) => push(
                errors,
                path,
                format!("data access path {p:?} has an empty fragment; use \"\" or fragments separated by single periods"),
            ),
            _ => push(errors, path, "not of the form { \"var\": \"<path>\" } (the path must be a string)".to_owned()),
        }
        return;
    }
    let Some(arity) = arity(op) else {
        push(
            errors,
            path,
            format!("unknown operator {op:?}; CertLogic does not allow it"),
        );
        return;
    };
    let Value::Array(values) = operands else {
        push(
            errors,
            path,
            format!("operation not of the form {{ \"{op}\": [ <operands…> ] }}"),
        );
        return;
    };
    let n = values.len();
    let count_ok = match arity {
        Arity::Exactly(k) => n == k,
        Arity::AtLeast(k) => n >= k,
        Arity::TwoOrThree => n == 2 || n == 3,
    };
    if !count_ok {
        let expected = match arity {
            Arity::Exactly(k) => format!("exactly {k}"),
            Arity::AtLeast(k) => format!("at least {k}"),
            Arity::TwoOrThree => "2 or 3".to_owned(),
        };
        push(
            errors,
            path,
            format!("a {op:?} operation must have {expected} operands, but it has {n}"),
        );
    }
    for (i, value) in values.iter().enumerate() {
        with_segment(path, &i.to_string(), |p| match (op, i) {
            ("plusTime", 1) | ("extractFromUVCI", 1) => {
                if !matches!(value, Value::Number(v) if is_integer(v)) {
                    push(
                        errors,
                        p,
                        format!(
                            "operand #2 of {op:?} must be an integer literal, but it is {value}"
                        ),
                    );
                }
            }
            ("plusTime", 2) => {
                if value.as_str().and_then(TimeUnit::from_name).is_none() {
                    push(
                        errors,
                        p,
                        format!("operand #3 of \"plusTime\" must be one of \"year\", \"month\", \"day\", \"hour\", but it is {value}"),
                    );
                }
            }
            _ => walk(value, p, depth + 1, errors),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_valid_expressions() {
        let cases = [
            json!(true),
            json!(17),
            json!(1.0),
            json!("apple"),
            json!([1, "a", [true]]),
            json!({"var": ""}),
            json!({"var": "payload.v.0.dt"}),
            json!({"if": [{"var": "x"}, 1, 2]}),
            json!({"and": [true, false, true]}),
            json!({"<": [1, 2, 3]}),
            json!({"not-after": [{"plusTime": ["2021", 0, "day"]}, {"plusTime": [{"var": "d"}, -1, "year"]}]}),
            json!({"!": [{"in": ["a", ["a"]]}]}),
            json!({"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, 1]}, 0]}),
            json!({"extractFromUVCI": [{"var": "u"}, -1]}),
            json!({"dccDateOfBirth": [{"var": "dob"}]}),
        ];
        for expr in cases {
            assert_eq!(validate(&expr), vec![], "{expr}");
        }
    }

    #[test]
    fn rejects_malformed_expressions() {
        let cases = [
            (json!(null), ""),
            (json!(1.5), ""),
            (json!({}), ""),
            (json!({"var": "a", "if": []}), ""),
            (json!({"var": 1}), "/var"),
            (json!({"var": ["a", 1]}), "/var"),
            (json!({"var": "a..b"}), "/var"),
            (json!({"var": "a."}), "/var"),
            (json!({"or": [true, false]}), "/or"),
            (json!({"!==": [1, 2]}), "/!=="),
            (json!({"==": [1, 1]}), "/=="),
            (json!({"if": [true, 1]}), "/if"),
            (json!({"if": [true, 1, 2, 3]}), "/if"),
            (json!({"if": true}), "/if"),
            (json!({"and": [true]}), "/and"),
            (json!({"<": [1]}), "/<"),
            (json!({"<": [1, 2, 3, 4]}), "/<"),
            (json!({"===": [1, 2, 3]}), "/==="),
            (json!({"!": [true, false]}), "/!"),
            (json!({"!": []}), "/!"),
            (json!({"plusTime": ["2021", "1", "day"]}), "/plusTime/1"),
            (
                json!({"plusTime": ["2021", {"var": "n"}, "day"]}),
                "/plusTime/1",
            ),
            (json!({"plusTime": ["2021", 1, "week"]}), "/plusTime/2"),
            (json!({"plusTime": ["2021", 1]}), "/plusTime"),
            (
                json!({"extractFromUVCI": [{"var": "u"}, 0.5]}),
                "/extractFromUVCI/1",
            ),
            (json!({"reduce": [[], 0]}), "/reduce"),
            (json!({"dccDateOfBirth": []}), "/dccDateOfBirth"),
            (json!([1, {"if": [null, 1, 2]}]), "/1/if/0"),
            (json!({"a/b~": [1]}), "/a~1b~0"),
        ];
        for (expr, path) in cases {
            let errors = validate(&expr);
            assert!(!errors.is_empty(), "{expr} should be invalid");
            assert_eq!(
                errors.first().map(|e| e.path.as_str()),
                Some(path),
                "{expr}: {errors:?}"
            );
        }
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing() {
        let mut expr = json!(true);
        for _ in 0..100_000 {
            let mut map = serde_json::Map::new();
            map.insert("!".to_owned(), Value::Array(vec![expr]));
            expr = Value::Object(map);
        }
        let errors = validate(&expr);
        assert_eq!(errors.len(), 1);
        assert!(errors.iter().all(|e| e.message.contains("nested deeper")));
        // Dropping a 100 000-level `Value` recurses in serde_json; leak it instead of overflowing.
        std::mem::forget(expr);
    }
}
