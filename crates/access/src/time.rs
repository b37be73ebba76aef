//! Time in the model: validity periods (virkningsperiode), timestamps in documents, times of
//! day, and the Nordic local time that time windows are read in.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::AccessError;

/// A validity period (virkningsperiode): from `from` (inclusive) to `to` (exclusive); an
/// absent end is open. Cannot end before or when it starts: [`ValidityPeriod::new`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ValidityPeriod {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl ValidityPeriod {
    /// Always valid.
    pub const ALWAYS: ValidityPeriod = ValidityPeriod {
        from: None,
        to: None,
    };

    /// A period; `Err` when `to <= from`.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Self, AccessError> {
        if let (Some(f), Some(t)) = (from, to) {
            if t <= f {
                return Err(AccessError::InvalidPeriod {
                    from: rfc3339(f),
                    to: rfc3339(t),
                });
            }
        }
        Ok(Self { from, to })
    }

    /// The start (inclusive), if bounded.
    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    /// The end (exclusive), if bounded.
    pub fn to(&self) -> Option<DateTime<Utc>> {
        self.to
    }

    /// Whether `at` lies in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| f <= at) && self.to.is_none_or(|t| at < t)
    }

    pub(crate) fn span(&self) -> Span {
        Span {
            from: self.from.map_or(i64::MIN, |d| d.timestamp_micros()),
            to: self.to.map_or(i64::MAX, |d| d.timestamp_micros()),
        }
    }
}

/// A validity period as microseconds since the epoch, half-open `[from, to)`; the compiled
/// form the engine intersects and tests (16 bytes, no branches on `Option`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Span {
    pub(crate) from: i64,
    pub(crate) to: i64,
}

impl Span {
    pub(crate) const ALWAYS: Span = Span {
        from: i64::MIN,
        to: i64::MAX,
    };

    #[inline]
    pub(crate) fn contains(self, t: i64) -> bool {
        self.from <= t && t < self.to
    }

    #[inline]
    pub(crate) fn and(self, other: Span) -> Span {
        Span {
            from: self.from.max(other.from),
            to: self.to.min(other.to),
        }
    }

    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.from >= self.to
    }

    /// Whether `self` covers all of `other`.
    #[inline]
    pub(crate) fn covers(self, other: Span) -> bool {
        self.from <= other.from && other.to <= self.to
    }
}

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A timestamp in a document: RFC 3339 (`2025-01-01T00:00:00Z`, any offset) or a plain date
/// (`2025-01-01`, meaning 00:00 UTC that day). Written as RFC 3339 in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl FromStr for Timestamp {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(d) = DateTime::parse_from_rfc3339(s) {
            return Ok(Self(d.with_timezone(&Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            if let Some(dt) = d.and_hms_opt(0, 0, 0) {
                return Ok(Self(dt.and_utc()));
            }
        }
        Err(AccessError::InvalidValue {
            what: "timestamp",
            value: s.to_owned(),
            expected: "RFC 3339 (2025-01-01T08:00:00Z) or a date (2025-01-01)",
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A time of day, `HH:MM` or `HH:MM:SS` (24-hour), in the calendar's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(NaiveTime);

impl TimeOfDay {
    /// From hours and minutes; `None` when out of range.
    pub fn hm(h: u32, m: u32) -> Option<Self> {
        NaiveTime::from_hms_opt(h, m, 0).map(Self)
    }

    /// The time.
    pub fn time(&self) -> NaiveTime {
        self.0
    }

    pub(crate) fn seconds(&self) -> u32 {
        self.0.num_seconds_from_midnight()
    }
}

impl FromStr for TimeOfDay {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 5 || s.len() == 8;
        let parsed = if s.len() == 5 {
            NaiveTime::parse_from_str(s, "%H:%M").ok()
        } else {
            NaiveTime::parse_from_str(s, "%H:%M:%S").ok()
        };
        match parsed {
            Some(t) if ok && t.nanosecond() == 0 => Ok(Self(t)),
            _ => Err(AccessError::InvalidValue {
                what: "time of day",
                value: s.to_owned(),
                expected: "HH:MM or HH:MM:SS, 00:00 to 23:59:59",
            }),
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.second() == 0 {
            write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
        } else {
            write!(
                f,
                "{:02}:{:02}:{:02}",
                self.0.hour(),
                self.0.minute(),
                self.0.second()
            )
        }
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The local time in Denmark, Sweden and Norway (Europe/Copenhagen, Europe/Stockholm and
/// Europe/Oslo have had the same rules since 1996): CET (UTC+1), and CEST (UTC+2) from 01:00
/// UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October (EU directive
/// 2000/84/EC, which Norway applies too). The 1996 rules are applied to earlier years too.
pub fn nordic_local_time(at: DateTime<Utc>) -> NaiveDateTime {
    let utc = at.naive_utc();
    let year = utc.year();
    let start = last_sunday(year, 3).and_then(|d| d.and_hms_opt(1, 0, 0));
    let end = last_sunday(year, 10).and_then(|d| d.and_hms_opt(1, 0, 0));
    let summer = matches!((start, end), (Some(s), Some(e)) if s <= utc && utc < e);
    utc + chrono::Duration::hours(if summer { 2 } else { 1 })
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let last = NaiveDate::from_ymd_opt(year, month + 1, 1)?.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    last.checked_sub_days(chrono::Days::new(u64::from(back)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse::<Timestamp>().unwrap().0
    }

    #[test]
    fn periods_cannot_end_before_they_start() {
        let a = utc("2025-01-01");
        let b = utc("2025-02-01");
        assert!(ValidityPeriod::new(Some(a), Some(b)).is_ok());
        assert!(ValidityPeriod::new(Some(b), Some(a)).is_err());
        assert!(ValidityPeriod::new(Some(a), Some(a)).is_err());
        let p = ValidityPeriod::new(Some(a), Some(b)).unwrap();
        assert!(p.contains(a) && !p.contains(b));
        assert!(
            p.span().contains(a.timestamp_micros()) && !p.span().contains(b.timestamp_micros())
        );
        assert_eq!(ValidityPeriod::ALWAYS.span(), Span::ALWAYS);
    }

    #[test]
    fn local_time_follows_cet_and_cest() {
        let cases = [
            ("2025-01-15T12:00:00Z", "2025-01-15 13:00:00"),
            ("2025-03-30T00:59:59Z", "2025-03-30 01:59:59"),
            ("2025-03-30T01:00:00Z", "2025-03-30 03:00:00"),
            ("2025-07-01T22:30:00Z", "2025-07-02 00:30:00"),
            ("2025-10-26T00:59:59Z", "2025-10-26 02:59:59"),
            ("2025-10-26T01:00:00Z", "2025-10-26 02:00:00"),
            ("2024-03-31T01:00:00Z", "2024-03-31 03:00:00"),
            ("2024-12-31T23:30:00Z", "2025-01-01 00:30:00"),
        ];
        for (at, want) in cases {
            let got = nordic_local_time(utc(at))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            assert_eq!(got, want, "{at}");
        }
    }

    #[test]
    fn times_of_day_and_timestamps_parse() {
        let ok = ["08:00", "23:59", "00:00", "16:30:15"];
        for s in ok {
            assert_eq!(s.parse::<TimeOfDay>().unwrap().to_string(), s);
        }
        let bad = ["8:00", "24:00", "08:60", "0800", "08:00:00.5", "", "08:00Z"];
        for s in bad {
            assert!(s.parse::<TimeOfDay>().is_err(), "{s}");
        }
        assert_eq!(utc("2025-01-01T01:00:00+01:00"), utc("2025-01-01"));
        assert!("2025-13-01".parse::<Timestamp>().is_err());
        assert!("yesterday".parse::<Timestamp>().is_err());
    }
}
