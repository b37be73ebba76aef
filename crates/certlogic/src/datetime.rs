//! Date-times as CertLogic defines them: UTC instants with millisecond precision.
//!
//! Arithmetic follows the ECMAScript `Date` methods the specification names (`setUTCFullYear`,
//! `setUTCMonth`, `setUTCDate`, `setUTCHours`), including their day overflow: 2020-02-29 plus one
//! year is 2021-03-01. No calendar library is involved, so the behaviour is the same everywhere.

use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_HOUR: i64 = 3_600_000;
/// ECMAScript's `TimeClip` limit: ±100,000,000 days around the epoch.
const MAX_TIME_MS: i64 = 8_640_000_000_000_000;
/// Years beyond this cannot be inside `MAX_TIME_MS`; checked before any day arithmetic.
const MAX_ABS_YEAR: i64 = 1_000_000;

/// A CertLogic date-time: milliseconds since 1970-01-01T00:00:00.000Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(i64);

/// A time unit of `plusTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Year,
    Month,
    Day,
    Hour,
}

impl TimeUnit {
    /// The unit named by a `plusTime` operand: `"year"`, `"month"`, `"day"` or `"hour"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "year" => Some(Self::Year),
            "month" => Some(Self::Month),
            "day" => Some(Self::Day),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }
}

/// Why a date(-time) string or an offset could not be turned into a date-time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateTimeError(pub String);

impl fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(message: impl Into<String>) -> DateTimeError {
    DateTimeError(message.into())
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (`m` in 1..=12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(y, m, d)` of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// ECMAScript `MakeDay(year, month, date)` with a 0-based month that may overflow in either
/// direction, and a date that may too.
fn make_day(year: i64, month0: i64, date: i64) -> Result<i64, DateTimeError> {
    let year = year
        .checked_add(month0.div_euclid(12))
        .filter(|y| y.abs() <= MAX_ABS_YEAR)
        .ok_or_else(|| err("date-time out of range"))?;
    let month = month0.rem_euclid(12) + 1;
    days_from_civil(year, month, 1)
        .checked_add(date)
        .and_then(|d| d.checked_sub(1))
        .ok_or_else(|| err("date-time out of range"))
}

impl DateTime {
    /// Milliseconds since the epoch; rejects instants outside ECMAScript's date range.
    pub fn from_millis(ms: i64) -> Result<Self, DateTimeError> {
        if ms.checked_abs().is_some_and(|a| a <= MAX_TIME_MS) {
            Ok(Self(ms))
        } else {
            Err(err("date-time out of range"))
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00.000Z.
    pub fn millis(self) -> i64 {
        self.0
    }

    fn from_parts(days: i64, ms_in_day: i64) -> Result<Self, DateTimeError> {
        days.checked_mul(MS_PER_DAY)
            .and_then(|t| t.checked_add(ms_in_day))
            .ok_or_else(|| err("date-time out of range"))
            .and_then(Self::from_millis)
    }

    /// Parses a date(-time) string in one of the formats the specification allows for `plusTime`:
    /// `YYYY`, `YYYY-MM` (both read as `dccDateOfBirth` reads them: the last day they allow),
    /// `YYYY-MM-DD`, and `YYYY-MM-DDThh:mm:ss[.S…][Z|±h|±hh|±hmm|±hhmm|±h:mm|±hh:mm]`.
    /// A missing offset means `Z`; fractional seconds are truncated to milliseconds.
    pub fn parse(input: &str) -> Result<Self, DateTimeError> {
        let bad = || {
            err(format!(
                "not an allowed date or date-time format: {input:?} (use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.S][offset])"
            ))
        };
        let b = input.as_bytes();
        let mut cur = Cursor { b, pos: 0 };
        let year = cur.digits(4).ok_or_else(bad)?;
        if cur.at_end() {
            return Self::from_parts(days_from_civil(year, 12, 31), 0);
        }
        cur.expect(b'-').ok_or_else(bad)?;
        let month = cur.digits(2).ok_or_else(bad)?;
        if !(1..=12).contains(&month) {
            return Err(err(format!("month out of range in {input:?}")));
        }
        if cur.at_end() {
            return Self::from_parts(days_from_civil(year, month, days_in_month(year, month)), 0);
        }
        cur.expect(b'-').ok_or_else(bad)?;
        let day = cur.digits(2).ok_or_else(bad)?;
        if !(1..=days_in_month(year, month)).contains(&day) {
            return Err(err(format!("day out of range in {input:?}")));
        }
        let days = days_from_civil(year, month, day);
        if cur.at_end() {
            return Self::from_parts(days, 0);
        }
        cur.expect(b'T').ok_or_else(bad)?;
        let hour = cur.digits(2).ok_or_else(bad)?;
        cur.expect(b':').ok_or_else(bad)?;
        let minute = cur.digits(2).ok_or_else(bad)?;
        cur.expect(b':').ok_or_else(bad)?;
        let second = cur.digits(2).ok_or_else(bad)?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err(format!("time of day out of range in {input:?}")));
        }
        let mut millis = 0;
        if cur.peek() == Some(b'.') {
            cur.pos += 1;
            let start = cur.pos;
            while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                if cur.pos - start < 3 {
                    millis = millis * 10 + i64::from(cur.peek().unwrap_or(b'0') - b'0');
                }
                cur.pos += 1;
            }
            let count = cur.pos - start;
            if count == 0 {
                return Err(bad());
            }
            for _ in count..3 {
                millis *= 10;
            }
        }
        let offset_minutes = match cur.peek() {
            None => 0,
            Some(b'Z') => {
                cur.pos += 1;
                0
            }
            Some(sign @ (b'+' | b'-')) => {
                cur.pos += 1;
                let rest = b.get(cur.pos..).ok_or_else(bad)?;
                cur.pos = b.len();
                let (h, m) = parse_offset(rest).ok_or_else(bad)?;
                if h > 23 || m > 59 {
                    return Err(err(format!("timezone offset out of range in {input:?}")));
                }
                let total = h * 60 + m;
                if sign == b'-' {
                    -total
                } else {
                    total
                }
            }
            Some(_) => return Err(bad()),
        };
        if !cur.at_end() {
            return Err(bad());
        }
        let ms_in_day = ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis;
        Self::from_parts(days, ms_in_day)
    }

    /// This date-time offset by `amount` units, with ECMAScript `Date` semantics in UTC.
    pub fn plus(self, amount: i64, unit: TimeUnit) -> Result<Self, DateTimeError> {
        let days = self.0.div_euclid(MS_PER_DAY);
        let ms_in_day = self.0.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let new_days = match unit {
            TimeUnit::Hour => {
                return amount
                    .checked_mul(MS_PER_HOUR)
                    .and_then(|delta| self.0.checked_add(delta))
                    .ok_or_else(|| err("date-time out of range"))
                    .and_then(Self::from_millis);
            }
            TimeUnit::Day => make_day(
                y,
                m - 1,
                d.checked_add(amount)
                    .ok_or_else(|| err("date-time out of range"))?,
            )?,
            TimeUnit::Month => make_day(
                y,
                (m - 1)
                    .checked_add(amount)
                    .ok_or_else(|| err("date-time out of range"))?,
                d,
            )?,
            TimeUnit::Year => make_day(
                y.checked_add(amount)
                    .ok_or_else(|| err("date-time out of range"))?,
                m - 1,
                d,
            )?,
        };
        Self::from_parts(new_days, ms_in_day)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as ECMAScript's `Date.prototype.toISOString` writes it.
impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MS_PER_DAY);
        let ms = self.0.rem_euclid(MS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        let (h, mi, s, milli) = (
            ms / MS_PER_HOUR,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
        );
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}")?;
        } else {
            let sign = if y < 0 { '-' } else { '+' };
            write!(f, "{sign}{:06}", y.abs())?;
        }
        write!(f, "-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

/// Offset after the sign: `h`, `hh`, `hmm`, `hhmm`, `h:mm` or `hh:mm`.
fn parse_offset(rest: &[u8]) -> Option<(i64, i64)> {
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(s.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0')))
    };
    if let Some(colon) = rest.iter().position(|&c| c == b':') {
        let (h, m) = (rest.get(..colon)?, rest.get(colon + 1..)?);
        if !(1..=2).contains(&h.len()) || m.len() != 2 {
            return None;
        }
        return Some((num(h)?, num(m)?));
    }
    match rest.len() {
        1 | 2 => Some((num(rest)?, 0)),
        3 | 4 => {
            let split = rest.len() - 2;
            Some((num(rest.get(..split)?)?, num(rest.get(split..)?)?))
        }
        _ => None,
    }
}

struct Cursor<'b> {
    b: &'b [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }
    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }
    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.pos..self.pos + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        Some(s.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0')))
    }
}

/// `dccDateOfBirth`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` to the last instant-at-midnight consistent
/// with it (`YYYY` → `YYYY-12-31`, `YYYY-MM` → last day of that month).
pub fn dcc_date_of_birth(input: &str) -> Result<DateTime, DateTimeError> {
    if !matches!(input.len(), 4 | 7 | 10) {
        return Err(err(format!(
            "not an allowed date of birth: {input:?} (use YYYY, YYYY-MM or YYYY-MM-DD)"
        )));
    }
    DateTime::parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_allowed_format() {
        let cases = [
            ("2021", "2021-12-31T00:00:00.000Z"),
            ("2020-02", "2020-02-29T00:00:00.000Z"),
            ("2021-02", "2021-02-28T00:00:00.000Z"),
            ("2021-06-01", "2021-06-01T00:00:00.000Z"),
            ("2021-06-01T12:34:56", "2021-06-01T12:34:56.000Z"),
            ("2021-06-01T12:34:56Z", "2021-06-01T12:34:56.000Z"),
            ("2021-06-01T12:34:56+2", "2021-06-01T10:34:56.000Z"),
            ("2021-06-01T12:34:56-02", "2021-06-01T14:34:56.000Z"),
            ("2021-06-01T12:34:56+230", "2021-06-01T10:04:56.000Z"),
            ("2021-06-01T12:34:56+0230", "2021-06-01T10:04:56.000Z"),
            ("2021-06-01T12:34:56+2:30", "2021-06-01T10:04:56.000Z"),
            ("2021-06-01T12:34:56+02:30", "2021-06-01T10:04:56.000Z"),
            ("2021-06-01T12:34:56.1", "2021-06-01T12:34:56.100Z"),
            ("2021-06-01T12:34:56.12Z", "2021-06-01T12:34:56.120Z"),
            (
                "2021-06-01T12:34:56.123456789+01",
                "2021-06-01T11:34:56.123Z",
            ),
            ("2021-06-01T00:00:00.9999-0130", "2021-06-01T01:30:00.999Z"),
            ("2021-01-01T00:30:00+01:00", "2020-12-31T23:30:00.000Z"),
        ];
        for (input, expected) in cases {
            let parsed = DateTime::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.to_string(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_formats_outside_the_specification() {
        let cases = [
            "",
            "21",
            "2021-1",
            "2021-13",
            "2021-02-30",
            "2021-06-01T",
            "2021-06-01T12:34",
            "2021-06-01 12:34:56",
            "2021-06-01T24:00:00",
            "2021-06-01T12:34:56.",
            "2021-06-01T12:34:56+",
            "2021-06-01T12:34:56+12345",
            "2021-06-01T12:34:56+1:3",
            "2021-06-01T12:34:56z",
            "2021-06-01T12:34:56+25",
            "2021-06-01T12:34:56Zjunk",
            "２０２１",
        ];
        for input in cases {
            assert!(
                DateTime::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
    }

    #[test]
    fn plus_time_follows_the_ecmascript_date_methods() {
        let cases = [
            ("2020-02-29", 1, TimeUnit::Day, "2020-03-01T00:00:00.000Z"),
            ("2020-02-29", 1, TimeUnit::Month, "2020-03-29T00:00:00.000Z"),
            ("2020-02-29", 1, TimeUnit::Year, "2021-03-01T00:00:00.000Z"),
            (
                "2020-02-29",
                -18,
                TimeUnit::Year,
                "2002-03-01T00:00:00.000Z",
            ),
            ("2021-01-31", 1, TimeUnit::Month, "2021-03-03T00:00:00.000Z"),
            (
                "2021-03-31",
                -13,
                TimeUnit::Month,
                "2020-03-02T00:00:00.000Z",
            ),
            (
                "2021-06-01T00:00:00Z",
                40,
                TimeUnit::Hour,
                "2021-06-02T16:00:00.000Z",
            ),
            (
                "2021-06-23T00:00:00Z",
                -180,
                TimeUnit::Day,
                "2020-12-25T00:00:00.000Z",
            ),
            (
                "2021-01-01T23:00:00.5Z",
                0,
                TimeUnit::Day,
                "2021-01-01T23:00:00.500Z",
            ),
            (
                "1969-12-31T23:59:59.999Z",
                1,
                TimeUnit::Hour,
                "1970-01-01T00:59:59.999Z",
            ),
        ];
        for (input, amount, unit, expected) in cases {
            let got = DateTime::parse(input)
                .and_then(|d| d.plus(amount, unit))
                .unwrap();
            assert_eq!(got.to_string(), expected, "{input} + {amount} {unit:?}");
        }
        let base = DateTime::parse("2021-01-01").unwrap();
        for unit in [
            TimeUnit::Year,
            TimeUnit::Month,
            TimeUnit::Day,
            TimeUnit::Hour,
        ] {
            assert!(base.plus(i64::MAX, unit).is_err());
            assert!(base.plus(i64::MIN, unit).is_err());
            assert!(base.plus(3_000_000_000, unit).is_err());
        }
    }

    #[test]
    fn date_of_birth_is_the_last_consistent_date() {
        let cases = [
            ("2004", Some("2004-12-31T00:00:00.000Z")),
            ("2004-02", Some("2004-02-29T00:00:00.000Z")),
            ("2004-01-05", Some("2004-01-05T00:00:00.000Z")),
            ("", None),
            ("2004-01-05T00:00:00Z", None),
            ("04", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                dcc_date_of_birth(input)
                    .ok()
                    .map(|d| d.to_string())
                    .as_deref(),
                expected,
                "{input}"
            );
        }
    }
}
