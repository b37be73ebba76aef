//! Public-holiday calendars of Denmark, Sweden and Norway, computed (no tables to keep up to
//! date), and working days.
//!
//! A working day is a Monday to Friday that is not a non-working day of the calendar. The
//! non-working days are the statutory public holidays plus, where noted, the days on which
//! public administration is closed in practice ("de facto"):
//!
//! | | statutory | de facto |
//! |---|---|---|
//! | DK | nytårsdag, skærtorsdag, langfredag, påskedag, 2. påskedag, store bededag (until 2023; abolished from 2024 by lov nr. 201 af 28.02.2023), Kristi himmelfartsdag, pinsedag, 2. pinsedag, juledag, 2. juledag | grundlovsdag (5 June), juleaftensdag (24 Dec), nytårsaftensdag (31 Dec) |
//! | SE | nyårsdagen, trettondedag jul, långfredagen, påskdagen, annandag påsk, 1 maj, Kristi himmelsfärdsdag, pingstdagen, nationaldagen (6 June, from 2005), midsommardagen, alla helgons dag, juldagen, annandag jul (lag 1989:253); annandag pingst until 2004 | midsommarafton, julafton, nyårsafton |
//! | NO | nyttårsdag, skjærtorsdag, langfredag, 1. og 2. påskedag, 1. mai, 17. mai, Kristi himmelfartsdag, 1. og 2. pinsedag, 1. og 2. juledag | — (julaften and nyttårsaften are working days, often half days) |
//!
//! Easter Sunday is computed with the anonymous Gregorian algorithm (Meeus/Jones/Butcher).

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// A national holiday calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Calendar {
    /// Denmark.
    #[serde(rename = "DK")]
    Dk,
    /// Sweden.
    #[serde(rename = "SE")]
    Se,
    /// Norway.
    #[serde(rename = "NO")]
    No,
}

/// One non-working day of a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    /// The date.
    pub date: NaiveDate,
    /// Its name in the country's language.
    pub name: &'static str,
    /// `true` for a statutory public holiday, `false` for a de-facto closing day.
    pub statutory: bool,
}

/// Easter Sunday of `year` in the Gregorian calendar (anonymous Gregorian algorithm);
/// `None` only for years chrono cannot represent.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

impl Calendar {
    /// Every calendar.
    pub const ALL: [Calendar; 3] = [Self::Dk, Self::Se, Self::No];

    /// The ISO country code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Dk => "DK",
            Self::Se => "SE",
            Self::No => "NO",
        }
    }

    /// The non-working days of `year` (besides weekends), in date order.
    pub fn holidays(self, year: i32) -> Vec<Holiday> {
        let mut out = Vec::with_capacity(20);
        self.each_holiday(year, |h| out.push(h));
        out.sort_by_key(|h| h.date);
        out
    }

    fn each_holiday(self, year: i32, mut f: impl FnMut(Holiday)) {
        let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d);
        let easter = easter_sunday(year);
        let rel =
            |days: i64| easter.and_then(|e| e.checked_add_signed(chrono::Duration::days(days)));
        // The Saturday (or Friday) in a 7-day range starting at month/day.
        let weekday_from = |m: u32, d: u32, wd: Weekday| {
            let start = fixed(m, d)?;
            let ahead =
                (7 + wd.num_days_from_monday() - start.weekday().num_days_from_monday()) % 7;
            start.checked_add_days(chrono::Days::new(u64::from(ahead)))
        };
        let mut emit = |date: Option<NaiveDate>, name: &'static str, statutory: bool| {
            if let Some(date) = date {
                f(Holiday {
                    date,
                    name,
                    statutory,
                });
            }
        };
        match self {
            Self::Dk => {
                emit(fixed(1, 1), "Nytårsdag", true);
                emit(rel(-3), "Skærtorsdag", true);
                emit(rel(-2), "Langfredag", true);
                emit(rel(0), "Påskedag", true);
                emit(rel(1), "2. påskedag", true);
                if year <= 2023 {
                    emit(rel(26), "Store bededag", true);
                }
                emit(rel(39), "Kristi himmelfartsdag", true);
                emit(rel(49), "Pinsedag", true);
                emit(rel(50), "2. pinsedag", true);
                emit(fixed(6, 5), "Grundlovsdag", false);
                emit(fixed(12, 24), "Juleaftensdag", false);
                emit(fixed(12, 25), "Juledag", true);
                emit(fixed(12, 26), "2. juledag", true);
                emit(fixed(12, 31), "Nytårsaftensdag", false);
            }
            Self::Se => {
                emit(fixed(1, 1), "Nyårsdagen", true);
                emit(fixed(1, 6), "Trettondedag jul", true);
                emit(rel(-2), "Långfredagen", true);
                emit(rel(0), "Påskdagen", true);
                emit(rel(1), "Annandag påsk", true);
                emit(fixed(5, 1), "Första maj", true);
                emit(rel(39), "Kristi himmelsfärdsdag", true);
                emit(rel(49), "Pingstdagen", true);
                if year <= 2004 {
                    emit(rel(50), "Annandag pingst", true);
                } else {
                    emit(fixed(6, 6), "Sveriges nationaldag", true);
                }
                emit(weekday_from(6, 19, Weekday::Fri), "Midsommarafton", false);
                emit(weekday_from(6, 20, Weekday::Sat), "Midsommardagen", true);
                emit(weekday_from(10, 31, Weekday::Sat), "Alla helgons dag", true);
                emit(fixed(12, 24), "Julafton", false);
                emit(fixed(12, 25), "Juldagen", true);
                emit(fixed(12, 26), "Annandag jul", true);
                emit(fixed(12, 31), "Nyårsafton", false);
            }
            Self::No => {
                emit(fixed(1, 1), "Nyttårsdag", true);
                emit(rel(-3), "Skjærtorsdag", true);
                emit(rel(-2), "Langfredag", true);
                emit(rel(0), "1. påskedag", true);
                emit(rel(1), "2. påskedag", true);
                emit(fixed(5, 1), "Offentlig høytidsdag (1. mai)", true);
                emit(fixed(5, 17), "Grunnlovsdag (17. mai)", true);
                emit(rel(39), "Kristi himmelfartsdag", true);
                emit(rel(49), "1. pinsedag", true);
                emit(rel(50), "2. pinsedag", true);
                emit(fixed(12, 25), "1. juledag", true);
                emit(fixed(12, 26), "2. juledag", true);
            }
        }
    }

    /// The days of `month` (bit `d-1` for day `d`) that are not working days: weekends and
    /// this calendar's non-working days. `0` for an impossible month.
    pub fn non_working_mask(self, year: i32, month: u32) -> u32 {
        let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
            return 0;
        };
        let mut mask = 0u32;
        let mut d = first;
        while d.month() == month {
            if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                mask |= 1 << (d.day0());
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        self.each_holiday(year, |h| {
            if h.date.month() == month {
                mask |= 1 << h.date.day0();
            }
        });
        mask
    }

    /// Whether `date` is a working day.
    pub fn is_working_day(self, date: NaiveDate) -> bool {
        self.non_working_mask(date.year(), date.month()) & (1 << date.day0()) == 0
    }

    /// Which working day of its month `date` is (1 for the first), or `None` when it is not a
    /// working day.
    pub fn working_day_of_month(self, date: NaiveDate) -> Option<u32> {
        let mask = self.non_working_mask(date.year(), date.month());
        let bit = 1u32 << date.day0();
        if mask & bit != 0 {
            return None;
        }
        // Working days up to and including `date`.
        let upto = (bit - 1) | bit;
        Some((!mask & upto).count_ones())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn easter_sundays() {
        let known = [
            (1818, "1818-03-22"),
            (1943, "1943-04-25"),
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2011, "2011-04-24"),
            (2019, "2019-04-21"),
            (2020, "2020-04-12"),
            (2021, "2021-04-04"),
            (2022, "2022-04-17"),
            (2023, "2023-04-09"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ];
        for (y, want) in known {
            assert_eq!(easter_sunday(y), Some(d(want)), "{y}");
        }
        // Every Easter falls on a Sunday between 22 March and 25 April.
        for y in 1900..2200 {
            let e = easter_sunday(y).unwrap();
            assert_eq!(e.weekday(), Weekday::Sun);
            assert!(
                e >= d(&format!("{y}-03-22")) && e <= d(&format!("{y}-04-25")),
                "{y}"
            );
        }
    }

    #[test]
    fn non_working_days() {
        use Calendar::*;
        // (calendar, date, working?)
        let cases = [
            (Dk, "2023-05-05", false), // store bededag, last year
            (Dk, "2024-04-26", true),  // would have been store bededag: abolished
            (Dk, "2022-05-13", false), // store bededag
            (Dk, "2025-04-17", false), // skærtorsdag
            (Se, "2025-04-17", true),  // no skärtorsdag in Sweden
            (No, "2025-04-17", false), // skjærtorsdag
            (Dk, "2025-04-18", false),
            (Se, "2025-04-18", false),
            (No, "2025-04-18", false),
            (Dk, "2025-04-21", false),
            (Se, "2025-04-21", false),
            (No, "2025-04-21", false),
            (Dk, "2025-05-01", true), // 1 May is no holiday in Denmark
            (Se, "2025-05-01", false),
            (No, "2025-05-01", false),
            (No, "2024-05-17", false),
            (Dk, "2024-05-17", true),
            (Se, "2024-05-17", true),
            (Dk, "2025-05-29", false), // Kristi himmelfart (Easter + 39)
            (Se, "2025-05-29", false),
            (No, "2025-05-29", false),
            (Dk, "2025-05-30", true),
            (Dk, "2025-06-09", false), // 2. pinsedag
            (No, "2025-06-09", false),
            (Se, "2025-06-09", true), // annandag pingst abolished 2005
            (Se, "2004-05-31", false),
            (Se, "2025-06-06", false), // nationaldagen
            (Se, "2004-06-07", true),  // not yet a holiday (and a Monday)
            (Dk, "2025-06-05", false), // grundlovsdag
            (Se, "2025-06-20", false), // midsommarafton
            (Se, "2024-06-21", false),
            (Se, "2026-06-19", false),
            (Se, "2026-06-18", true),
            (Dk, "2025-06-20", true),
            (Dk, "2025-12-24", false),
            (Se, "2025-12-24", false),
            (No, "2025-12-24", true), // julaften: a working day in Norway
            (Dk, "2025-12-31", false),
            (Se, "2025-12-31", false),
            (No, "2025-12-31", true),
            (Se, "2026-01-06", false), // trettondedag jul
            (Dk, "2026-01-06", true),
            (Dk, "2026-01-01", false),
            (Dk, "2025-12-25", false),
            (No, "2025-12-26", false),
            (Se, "2025-11-03", true), // alla helgons dag 2025 is Saturday 1 Nov
            (Dk, "2025-11-01", false), // a Saturday
            (Dk, "2025-11-03", true),
        ];
        for (cal, date, working) in cases {
            assert_eq!(cal.is_working_day(d(date)), working, "{cal:?} {date}");
        }
        let alla = Se.holidays(2025);
        assert!(alla
            .iter()
            .any(|h| h.name == "Alla helgons dag" && h.date == d("2025-11-01")));
        assert!(alla
            .iter()
            .any(|h| h.name == "Midsommardagen" && h.date == d("2025-06-21")));
        assert_eq!(Dk.holidays(2023).len(), 14);
        assert_eq!(Dk.holidays(2024).len(), 13);
        assert_eq!(No.holidays(2025).len(), 12);
    }

    #[test]
    fn working_day_numbers() {
        use Calendar::*;
        // (calendar, date, which working day of the month)
        let cases = [
            // April 2021: Easter 4 April; DK and NO close 1, 2, 5 April, SE 2 and 5 April.
            (Dk, "2021-04-01", None),
            (Dk, "2021-04-06", Some(1)),
            (Dk, "2021-04-12", Some(5)),
            (Dk, "2021-04-13", Some(6)),
            (No, "2021-04-12", Some(5)),
            (Se, "2021-04-01", Some(1)),
            (Se, "2021-04-06", Some(2)),
            (Se, "2021-04-09", Some(5)),
            (Se, "2021-04-12", Some(6)),
            // May 2025: 1 May is a Thursday.
            (Dk, "2025-05-01", Some(1)),
            (Dk, "2025-05-07", Some(5)),
            (Se, "2025-05-01", None),
            (Se, "2025-05-08", Some(5)),
            (No, "2025-05-08", Some(5)),
            (No, "2025-05-09", Some(6)),
            // January 2026: 1 January is a Thursday; SE also closes 6 January.
            (Dk, "2026-01-02", Some(1)),
            (Dk, "2026-01-08", Some(5)),
            (Se, "2026-01-08", Some(4)),
            (Se, "2026-01-09", Some(5)),
            (No, "2026-01-08", Some(5)),
            // June 2025: DK grundlovsdag 5th and 2. pinsedag 9th; SE nationaldag 6th.
            (Dk, "2025-06-06", Some(4)),
            (Dk, "2025-06-10", Some(5)),
            (Se, "2025-06-09", Some(5)),
            (No, "2025-06-06", Some(5)),
            (No, "2025-06-10", Some(6)),
            // May 2023 in DK: store bededag on Friday 5 May.
            (Dk, "2023-05-04", Some(4)),
            (Dk, "2023-05-05", None),
            (Dk, "2023-05-08", Some(5)),
            // December 2024: 24–26 and 31 closed in DK and SE; NO only 25–26.
            (Dk, "2024-12-23", Some(16)),
            (Dk, "2024-12-27", Some(17)),
            (No, "2024-12-24", Some(17)),
            (No, "2024-12-31", Some(20)),
            (Se, "2024-12-31", None),
            // A weekend day is no working day.
            (Dk, "2025-03-01", None),
        ];
        for (cal, date, want) in cases {
            assert_eq!(cal.working_day_of_month(d(date)), want, "{cal:?} {date}");
        }
    }
}
