//! The evaluator. Runs only on expressions that passed [`crate::validate`], but still checks
//! every shape it relies on, so no input can make it panic.

use std::{cell::Cell, cmp::Ordering, rc::Rc};

use serde_json::{Map, Number, Value};

use crate::{
    datetime::{dcc_date_of_birth, DateTime, TimeUnit},
    validate::{is_integer, valid_path},
    CertLogicError, MAX_DEPTH,
};

/// At most this many evaluation steps (operations, literals, `reduce` iterations) per
/// evaluation: nested `reduce`s would otherwise make the work exponential in the input size.
pub const MAX_STEPS: usize = 250_000;
/// Values built during evaluation (arrays, `reduce` contexts) may have at most this many nodes.
pub const MAX_VALUE_NODES: usize = 100_000;
/// ... and at most this nesting, so converting and dropping them cannot exhaust the stack.
pub const MAX_VALUE_DEPTH: usize = 128;

/// Size and nesting of a composite value, fixed when it is built.
#[derive(Clone, Copy, Debug)]
struct Shape {
    nodes: usize,
    depth: usize,
}

/// A value during evaluation: JSON borrowed from the expression or data, a scalar computed here,
/// a date-time (which JSON cannot hold), an array of such values, or the data context that
/// `reduce` hands its lambda. Composites are shared (`Rc`), so copying a value is O(1).
#[derive(Clone, Debug)]
enum Val<'a> {
    Ref(&'a Value),
    Owned(Value),
    DateTime(DateTime),
    Array(Rc<[Val<'a>]>, Shape),
    /// `{ "accumulator": …, "current": … }`.
    Reduce(Rc<(Val<'a>, Val<'a>)>, Shape),
}

const NULL: Val<'static> = Val::Owned(Value::Null);

fn eval_err(message: impl Into<String>) -> CertLogicError {
    CertLogicError::Evaluation(message.into())
}

/// An integer operand: exact when it fits `i64`, otherwise the IEEE double ECMAScript would use.
#[derive(Clone, Copy)]
enum Int {
    Exact(i64),
    Float(f64),
}

impl Int {
    fn as_f64(self) -> f64 {
        match self {
            // Precision loss is ECMAScript's own behaviour for integers beyond 2^53.
            #[allow(clippy::cast_precision_loss)]
            Int::Exact(i) => i as f64,
            Int::Float(f) => f,
        }
    }
    fn cmp(self, other: Int) -> Option<Ordering> {
        match (self, other) {
            (Int::Exact(a), Int::Exact(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }
}

fn int_of(n: &Number) -> Option<Int> {
    if let Some(i) = n.as_i64() {
        return Some(Int::Exact(i));
    }
    if is_integer(n) {
        return n.as_f64().map(Int::Float);
    }
    None
}

impl<'a> Val<'a> {
    fn shape(&self) -> Shape {
        match self {
            Val::Array(_, shape) | Val::Reduce(_, shape) => *shape,
            _ => Shape { nodes: 1, depth: 0 },
        }
    }

    fn composite_shape(parts: &[Val<'a>]) -> Result<Shape, CertLogicError> {
        let mut shape = Shape { nodes: 1, depth: 1 };
        for part in parts {
            let s = part.shape();
            shape.nodes = shape.nodes.saturating_add(s.nodes);
            shape.depth = shape.depth.max(s.depth + 1);
        }
        if shape.nodes > MAX_VALUE_NODES || shape.depth > MAX_VALUE_DEPTH {
            return Err(eval_err(format!(
                "a value built during evaluation exceeds {MAX_VALUE_NODES} nodes or {MAX_VALUE_DEPTH} levels"
            )));
        }
        Ok(shape)
    }

    fn array(items: Vec<Val<'a>>) -> Result<Self, CertLogicError> {
        let shape = Self::composite_shape(&items)?;
        Ok(Val::Array(items.into(), shape))
    }

    fn context(accumulator: Val<'a>, current: Val<'a>) -> Result<Self, CertLogicError> {
        let shape = Self::composite_shape(&[accumulator.clone(), current.clone()])?;
        Ok(Val::Reduce(Rc::new((accumulator, current)), shape))
    }

    fn json(&self) -> Option<&Value> {
        match self {
            Val::Ref(v) => Some(v),
            Val::Owned(v) => Some(v),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.json(), Some(Value::Null))
    }

    fn as_str(&self) -> Option<&str> {
        self.json().and_then(Value::as_str)
    }

    fn as_int(&self) -> Option<Int> {
        match self.json() {
            Some(Value::Number(n)) => int_of(n),
            _ => None,
        }
    }

    /// `Some(true)` truthy, `Some(false)` falsy, `None` neither — exactly the specification's
    /// lists: date-times and non-integer numbers are neither.
    fn boolsiness(&self) -> Option<bool> {
        match self {
            Val::Ref(_) | Val::Owned(_) => match self.json()? {
                Value::Null => Some(false),
                Value::Bool(b) => Some(*b),
                Value::Number(n) => match int_of(n)? {
                    Int::Exact(i) => Some(i != 0),
                    Int::Float(f) => Some(f != 0.0),
                },
                Value::String(s) => Some(!s.is_empty()),
                Value::Array(a) => Some(!a.is_empty()),
                Value::Object(o) => Some(!o.is_empty()),
            },
            Val::DateTime(_) => None,
            Val::Array(items, _) => Some(!items.is_empty()),
            Val::Reduce(..) => Some(true),
        }
    }

    /// The items of an array value, or `None` if this is not an array.
    fn items(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::Ref(Value::Array(items)) => Some(items.iter().map(Val::Ref).collect()),
            Val::Owned(Value::Array(items)) => {
                Some(items.iter().cloned().map(Val::Owned).collect())
            }
            Val::Array(items, _) => Some(items.to_vec()),
            _ => None,
        }
    }

    /// One step of a `var` path.
    fn child(&self, fragment: &str) -> Val<'a> {
        let index = || -> Option<usize> {
            if fragment.bytes().all(|c| c.is_ascii_digit()) {
                fragment.parse().ok()
            } else {
                None
            }
        };
        match self {
            Val::Ref(Value::Object(map)) => map.get(fragment).map_or(NULL, Val::Ref),
            Val::Ref(Value::Array(items)) => {
                index().and_then(|i| items.get(i)).map_or(NULL, Val::Ref)
            }
            Val::Owned(Value::Object(map)) => map.get(fragment).cloned().map_or(NULL, Val::Owned),
            Val::Owned(Value::Array(items)) => index()
                .and_then(|i| items.get(i))
                .cloned()
                .map_or(NULL, Val::Owned),
            Val::Array(items, _) => index().and_then(|i| items.get(i)).cloned().unwrap_or(NULL),
            Val::Reduce(context, _) => match fragment {
                "accumulator" => context.0.clone(),
                "current" => context.1.clone(),
                _ => NULL,
            },
            _ => NULL,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Val::Ref(v) => (*v).clone(),
            Val::Owned(v) => v.clone(),
            Val::DateTime(d) => Value::String(d.to_string()),
            Val::Array(items, _) => Value::Array(items.iter().map(Val::to_json).collect()),
            Val::Reduce(context, _) => {
                let mut map = Map::new();
                map.insert("accumulator".to_owned(), context.0.to_json());
                map.insert("current".to_owned(), context.1.to_json());
                Value::Object(map)
            }
        }
    }
}

/// `===`: without type coercion. Strings, integers, booleans and `null` compare by value;
/// numbers numerically; arrays and objects structurally; date-times by instant.
fn strict_equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::DateTime(x), Val::DateTime(y)) => x == y,
        (Val::DateTime(_), _) | (_, Val::DateTime(_)) => false,
        (Val::Reduce(x, _), Val::Reduce(y, _)) => {
            strict_equal(&x.0, &y.0) && strict_equal(&x.1, &y.1)
        }
        (Val::Reduce(..), _) | (_, Val::Reduce(..)) => false,
        (Val::Array(..), _) | (_, Val::Array(..)) => match (a.items(), b.items()) {
            (Some(x), Some(y)) => {
                x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| strict_equal(p, q))
            }
            _ => false,
        },
        _ => match (a.json(), b.json()) {
            (Some(x), Some(y)) => json_equal(x, y),
            _ => false,
        },
    }
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => p == q,
            _ => x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(p, q)| p == q),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

pub(crate) fn evaluate(expr: &Value, data: &Value) -> Result<Value, CertLogicError> {
    let steps = Steps(Cell::new(0));
    eval(expr, &Val::Ref(data), 0, &steps).map(|v| v.to_json())
}

/// Evaluation steps taken so far.
struct Steps(Cell<usize>);

impl Steps {
    fn take(&self) -> Result<(), CertLogicError> {
        let taken = self.0.get() + 1;
        self.0.set(taken);
        if taken > MAX_STEPS {
            return Err(eval_err(format!("evaluation exceeded {MAX_STEPS} steps")));
        }
        Ok(())
    }
}

fn eval<'a>(
    expr: &'a Value,
    data: &Val<'a>,
    depth: usize,
    steps: &Steps,
) -> Result<Val<'a>, CertLogicError> {
    if depth > MAX_DEPTH {
        return Err(eval_err(format!(
            "expression nested deeper than {MAX_DEPTH} levels"
        )));
    }
    steps.take()?;
    match expr {
        Value::Bool(_) | Value::String(_) => Ok(Val::Ref(expr)),
        Value::Number(n) if is_integer(n) => Ok(Val::Ref(expr)),
        Value::Number(n) => Err(eval_err(format!("{n} is not an integer literal"))),
        Value::Null => Err(eval_err("null is not a CertLogic expression")),
        Value::Array(items) => items
            .iter()
            .map(|item| eval(item, data, depth + 1, steps))
            .collect::<Result<Vec<_>, _>>()
            .and_then(Val::array),
        Value::Object(map) => {
            let mut entries = map.iter();
            let (Some((op, operands)), None) = (entries.next(), entries.next()) else {
                return Err(eval_err("an operation object must have exactly one key"));
            };
            operation(op, operands, data, depth, steps)
        }
    }
}

fn operation<'a>(
    op: &str,
    operands: &'a Value,
    data: &Val<'a>,
    depth: usize,
    steps: &Steps,
) -> Result<Val<'a>, CertLogicError> {
    if op == "var" {
        let Some(path) = operands.as_str().filter(|p| valid_path(p)) else {
            return Err(eval_err("not of the form { \"var\": \"<path>\" }"));
        };
        return Ok(access(data, path));
    }
    let Value::Array(args) = operands else {
        return Err(eval_err(format!(
            "operation not of the form {{ \"{op}\": [ <operands…> ] }}"
        )));
    };
    let arg = |i: usize| -> Result<&'a Value, CertLogicError> {
        args.get(i)
            .ok_or_else(|| eval_err(format!("operand #{} of {op:?} is missing", i + 1)))
    };
    let ev = |e: &'a Value| eval(e, data, depth + 1, steps);
    match op {
        "if" => {
            let guard = ev(arg(0)?)?;
            match guard.boolsiness() {
                Some(true) => ev(arg(1)?),
                Some(false) => ev(arg(2)?),
                None => Err(eval_err(
                    "the guard of an \"if\" evaluated to something neither truthy nor falsy",
                )),
            }
        }
        "!" => match ev(arg(0)?)?.boolsiness() {
            Some(b) => Ok(Val::Owned(Value::Bool(!b))),
            None => Err(eval_err(
                "the operand of \"!\" evaluated to something neither truthy nor falsy",
            )),
        },
        "and" => {
            if args.len() < 2 {
                return Err(eval_err(
                    "an \"and\" operation must have at least 2 operands",
                ));
            }
            let mut last = NULL;
            for operand in args {
                let value = ev(operand)?;
                match value.boolsiness() {
                    Some(true) => last = value,
                    Some(false) => return Ok(value),
                    None => {
                        return Err(eval_err(
                            "an operand of \"and\" evaluated to something neither truthy nor falsy",
                        ))
                    }
                }
            }
            Ok(last)
        }
        "===" => {
            let (a, b) = (ev(arg(0)?)?, ev(arg(1)?)?);
            Ok(Val::Owned(Value::Bool(strict_equal(&a, &b))))
        }
        "in" => {
            let (needle, haystack) = (ev(arg(0)?)?, ev(arg(1)?)?);
            let items = haystack
                .items()
                .ok_or_else(|| eval_err("the right-hand side of \"in\" must be an array"))?;
            Ok(Val::Owned(Value::Bool(
                items.iter().any(|item| strict_equal(&needle, item)),
            )))
        }
        "+" => {
            let (a, b) = (ev(arg(0)?)?, ev(arg(1)?)?);
            let (Some(x), Some(y)) = (a.as_int(), b.as_int()) else {
                return Err(eval_err("both operands of \"+\" must be integers"));
            };
            let sum = match (x, y) {
                (Int::Exact(p), Int::Exact(q)) => p.checked_add(q).map(Number::from),
                _ => None,
            };
            let sum = match sum {
                Some(n) => n,
                None => Number::from_f64(x.as_f64() + y.as_f64())
                    .ok_or_else(|| eval_err("the sum of \"+\" is out of range"))?,
            };
            Ok(Val::Owned(Value::Number(sum)))
        }
        "<" | ">" | "<=" | ">=" => {
            let values = eval_comparands(args, &ev)?;
            let ints = values
                .iter()
                .map(Val::as_int)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| eval_err(format!("all operands of {op:?} must be integers")))?;
            Ok(Val::Owned(Value::Bool(chain(op, &ints, |a, b| a.cmp(*b)))))
        }
        "after" | "before" | "not-after" | "not-before" => {
            let values = eval_comparands(args, &ev)?;
            let dates = values
                .iter()
                .map(|v| match v {
                    Val::DateTime(d) => Some(*d),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    eval_err(format!(
                        "all operands of {op:?} must be date-times (made with \"plusTime\" or \"dccDateOfBirth\")"
                    ))
                })?;
            let symbol = match op {
                "after" => ">",
                "before" => "<",
                "not-after" => "<=",
                _ => ">=",
            };
            Ok(Val::Owned(Value::Bool(chain(symbol, &dates, |a, b| {
                Some(a.cmp(b))
            }))))
        }
        "plusTime" => {
            let amount =
                match arg(1)? {
                    Value::Number(n) => match int_of(n) {
                        Some(Int::Exact(i)) => i,
                        Some(Int::Float(_)) => {
                            return Err(CertLogicError::DateTime(
                                "the amount of \"plusTime\" is out of range".into(),
                            ))
                        }
                        None => return Err(eval_err(
                            "the amount (operand #2) of \"plusTime\" must be an integer literal",
                        )),
                    },
                    _ => {
                        return Err(eval_err(
                            "the amount (operand #2) of \"plusTime\" must be an integer literal",
                        ))
                    }
                };
            let unit = arg(2)?
                .as_str()
                .and_then(TimeUnit::from_name)
                .ok_or_else(|| eval_err("the unit (operand #3) of \"plusTime\" must be \"year\", \"month\", \"day\" or \"hour\""))?;
            let date = ev(arg(0)?)?;
            let text = date.as_str().ok_or_else(|| {
                eval_err("the date operand of \"plusTime\" must evaluate to a string")
            })?;
            DateTime::parse(text)
                .and_then(|d| d.plus(amount, unit))
                .map(Val::DateTime)
                .map_err(|e| CertLogicError::DateTime(e.0))
        }
        "dccDateOfBirth" => {
            let value = ev(arg(0)?)?;
            let text = value.as_str().ok_or_else(|| {
                eval_err("the operand of \"dccDateOfBirth\" must evaluate to a string")
            })?;
            dcc_date_of_birth(text)
                .map(Val::DateTime)
                .map_err(|e| CertLogicError::DateTime(e.0))
        }
        "reduce" => {
            let (operand, lambda, initial) = (arg(0)?, arg(1)?, arg(2)?);
            let list = ev(operand)?;
            let mut accumulator = ev(initial)?;
            if list.is_null() {
                return Ok(accumulator);
            }
            let items = list.items().ok_or_else(|| {
                eval_err("the operand of \"reduce\" must evaluate to an array or null")
            })?;
            for current in items {
                steps.take()?;
                let context = Val::context(accumulator, current)?;
                accumulator = eval(lambda, &context, depth + 1, steps)?;
            }
            Ok(accumulator)
        }
        "extractFromUVCI" => {
            let index = match arg(1)? {
                Value::Number(n) => int_of(n),
                _ => None,
            }
            .ok_or_else(|| {
                eval_err("the index (operand #2) of \"extractFromUVCI\" must be an integer literal")
            })?;
            let value = ev(arg(0)?)?;
            if value.is_null() {
                return Ok(NULL);
            }
            let uvci = value.as_str().ok_or_else(|| {
                eval_err("the UVCI (operand #1) of \"extractFromUVCI\" must be a string or null")
            })?;
            Ok(extract_from_uvci(uvci, index)
                .map_or(NULL, |s| Val::Owned(Value::String(s.to_owned()))))
        }
        _ => Err(eval_err(format!("unknown operator {op:?}"))),
    }
}

fn eval_comparands<'a>(
    args: &'a [Value],
    ev: &impl Fn(&'a Value) -> Result<Val<'a>, CertLogicError>,
) -> Result<Vec<Val<'a>>, CertLogicError> {
    if !(2..=3).contains(&args.len()) {
        return Err(eval_err("a comparison must have 2 or 3 operands"));
    }
    args.iter().map(ev).collect()
}

/// `a op b` for two operands, `(a op b) and (b op c)` for three.
fn chain<T>(op: &str, values: &[T], cmp: impl Fn(&T, &T) -> Option<Ordering>) -> bool {
    values
        .windows(2)
        .all(|pair| match (pair.first(), pair.get(1)) {
            (Some(a), Some(b)) => match (op, cmp(a, b)) {
                ("<", Some(o)) => o == Ordering::Less,
                (">", Some(o)) => o == Ordering::Greater,
                ("<=", Some(o)) => o != Ordering::Greater,
                (">=", Some(o)) => o != Ordering::Less,
                _ => false,
            },
            _ => false,
        })
}

fn access<'a>(data: &Val<'a>, path: &str) -> Val<'a> {
    if path.is_empty() {
        return data.clone();
    }
    let mut fragments = path.split('.');
    let mut current = match fragments.next() {
        Some(first) => data.child(first),
        None => return data.clone(),
    };
    for fragment in fragments {
        if current.is_null() {
            return NULL;
        }
        current = current.child(fragment);
    }
    current
}

/// The fragment at `index` of a UCI split on `/`, `#` and `:`, after an optional `URN:UVCI:`.
fn extract_from_uvci(uvci: &str, index: Int) -> Option<&str> {
    let Int::Exact(index) = index else {
        return None;
    };
    let index = usize::try_from(index).ok()?;
    let rest = uvci.strip_prefix("URN:UVCI:").unwrap_or(uvci);
    rest.split(['/', '#', ':']).nth(index)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{evaluate, CertLogicError};

    #[test]
    fn evaluates_table() {
        let data = json!({"x": [1, 2, 3], "s": "abc", "f": 1.5, "o": {"a": 1}, "dob": "2004-02", "n": null});
        let cases = [
            (
                json!({"+": [9007199254740000_i64, 1]}),
                json!(9007199254740001_i64),
            ),
            (json!({"+": [i64::MAX, 1]}), json!(9223372036854775808.0)),
            (json!({"===": [[1, 2], [1, 2]]}), json!(true)),
            (json!({"===": [{"var": "o"}, {"var": "o"}]}), json!(true)),
            (json!({"===": [1, 1.0]}), json!(true)),
            (
                json!({"===": [{"var": "n"}, {"var": "missing"}]}),
                json!(true),
            ),
            (json!({"in": [[1], [[1], [2]]]}), json!(true)),
            (json!({"var": "s.0"}), json!(null)),
            (json!({"var": "x.length"}), json!(null)),
            (json!({"var": "x.01"}), json!(2)),
            (json!({"var": "x.99999999999999999999999"}), json!(null)),
            (
                json!({"plusTime": [{"var": "dob"}, 0, "day"]}),
                json!("2004-02-29T00:00:00.000Z"),
            ),
            (
                json!([{"dccDateOfBirth": ["2004"]}]),
                json!(["2004-12-31T00:00:00.000Z"]),
            ),
            (
                json!({"===": [{"plusTime": ["2004", 0, "day"]}, {"dccDateOfBirth": ["2004"]}]}),
                json!(true),
            ),
            (
                json!({"after": [{"plusTime": ["2004-01-02", 0, "day"]}, {"plusTime": ["2004-01-01T23:00:00-02", 0, "day"]}]}),
                json!(false),
            ),
            (
                json!({"before": [{"plusTime": ["2004", 0, "day"]}, {"plusTime": ["2005", 0, "day"]}, {"plusTime": ["2006", 0, "day"]}]}),
                json!(true),
            ),
            (
                json!({"reduce": [{"var": "x"}, {"var": ""}, 0]}),
                json!({"accumulator": {"accumulator": {"accumulator": 0, "current": 1}, "current": 2}, "current": 3}),
            ),
            (
                json!({"reduce": [[{"plusTime": ["2021", 0, "day"]}], {"var": "current"}, 0]}),
                json!("2021-12-31T00:00:00.000Z"),
            ),
            (
                json!({"extractFromUVCI": ["URN:UVCI:01:SE:X#1", 9223372036854775807_i64]}),
                json!(null),
            ),
        ];
        for (expr, expected) in cases {
            assert_eq!(evaluate(&expr, &data), Ok(expected), "{expr}");
        }
    }

    #[test]
    fn type_mismatches_are_errors() {
        let data = json!({"x": [1], "s": "abc", "f": 1.5, "d": "2021-13-01"});
        let cases = [
            json!({"if": [{"var": "f"}, 1, 2]}),
            json!({"!": [{"plusTime": ["2021", 0, "day"]}]}),
            json!({"and": [true, {"plusTime": ["2021", 0, "day"]}]}),
            json!({"in": ["a", "abc"]}),
            json!({"in": ["a", {"var": "missing"}]}),
            json!({"+": [1, "2"]}),
            json!({"+": [1, {"var": "f"}]}),
            json!({"<": [1, "2"]}),
            json!({"<": [1, 2, {"var": "missing"}]}),
            json!({"before": ["2021-01-01", "2021-01-02"]}),
            json!({"before": [{"plusTime": ["2021", 0, "day"]}, 1]}),
            json!({"plusTime": [{"var": "d"}, 0, "day"]}),
            json!({"plusTime": [{"plusTime": ["2021", 0, "day"]}, 0, "day"]}),
            json!({"plusTime": [{"var": "missing"}, 0, "day"]}),
            json!({"plusTime": ["2021", 1e300, "day"]}),
            json!({"dccDateOfBirth": [{"var": "missing"}]}),
            json!({"dccDateOfBirth": [""]}),
            json!({"reduce": [{"var": "s"}, 0, 0]}),
            json!({"extractFromUVCI": [1, 0]}),
        ];
        for expr in cases {
            let result = evaluate(&expr, &data);
            assert!(
                matches!(
                    result,
                    Err(CertLogicError::Evaluation(_) | CertLogicError::DateTime(_))
                ),
                "{expr}: {result:?}"
            );
        }
    }

    #[test]
    fn runaway_evaluations_hit_the_limits() {
        let ten = json!([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // Nested reduces: 10^7 lambda evaluations without the step budget.
        let mut expr = json!(0);
        for _ in 0..7 {
            expr = json!({"reduce": [ten.clone(), expr, 0]});
        }
        // The accumulator doubles each step: 2^40 nodes without the size limit.
        let doubling =
            json!({"reduce": [{"var": "x"}, [{"var": "accumulator"}, {"var": "accumulator"}], 0]});
        // The accumulator nests one level deeper each step.
        let nesting = json!({"reduce": [{"var": "x"}, {"var": ""}, 0]});
        let data = json!({"x": vec![0; 5000]});
        for expr in [expr, doubling, nesting] {
            let result = evaluate(&expr, &data);
            assert!(
                matches!(result, Err(CertLogicError::Evaluation(ref m)) if m.contains("exceed")),
                "{expr}: {result:?}"
            );
        }
    }

    #[test]
    fn invalid_expressions_are_rejected_before_evaluation() {
        // The untaken branch is malformed: validation still rejects the whole expression.
        let result = evaluate(&json!({"if": [true, 1, {"or": []}]}), &json!({}));
        assert!(
            matches!(result, Err(CertLogicError::InvalidExpression(ref e)) if e.path == "/if/2/or"),
            "{result:?}"
        );
    }
}
