//! Amount ceilings, time windows (first N working days in DK/SE/NO, time of day), LoA.
use tillit_access::{Loa, LoginAssurance, Model};

use crate::support::{check, model, Row};

/// A municipality with an economy system; `rules` is spliced in as the document's `rules`.
pub fn base(rules: &str) -> Model {
    model(&format!(
        r#"
classifications: [{{ id: kommune }}]
it_systems:
  - {{ id: oekonomi, classification: kommune }}
  - {{ id: borgerservice, classification: kommune, required_loa: substantial }}
rights:
  - {{ id: godkende-faktura, it_system: oekonomi, classification: kommune }}
  - {{ id: loen-indberet, it_system: oekonomi, classification: kommune }}
  - {{ id: udbetale, it_system: oekonomi, classification: kommune, required_loa: high }}
  - {{ id: se-sag, it_system: borgerservice, classification: kommune }}
  - {{ id: natjob, it_system: oekonomi, classification: kommune }}
roles:
  - {{ id: bogholder, classifications: [kommune], rights: [godkende-faktura, loen-indberet, udbetale, se-sag, natjob] }}
persons: [{{ id: p1 }}, {{ id: p2 }}]
users: [{{ id: kasper, person: p1 }}, {{ id: admin, person: p2 }}]
assignments:
  - {{ id: a1, user: kasper, roles: [bogholder], assigned_by: admin }}
rules:
{rules}
"#
    ))
}

#[test]
fn amount_ceilings() {
    let m = base("  - { id: max-50000, kind: amount_limit, max_amount: 50000, rights: [godkende-faktura] }\n  - { id: max-lav, kind: amount_limit, max_amount: 49999.5, rights: [godkende-faktura], valid_from: \"2026-01-01\" }");
    let f = "godkende-faktura";
    let rows = [
        Row { user: "kasper", right: f, amount: Some(0.0), allowed: true, reason: "allowed: assignment a1", ..Row::default() },
        Row { user: "kasper", right: f, amount: Some(49_999.99), allowed: true, reason: "everywhere (the assignment has no restrictions)", ..Row::default() },
        Row { user: "kasper", right: f, amount: Some(50_000.0), allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: f, amount: Some(50_000.01), reason: "the amount 50000.01 exceeds the ceiling 50000 that rule max-50000 sets for right godkende-faktura", ..Row::default() },
        Row { user: "kasper", right: f, amount: Some(1e12), reason: "exceeds the ceiling", ..Row::default() },
        // A missing amount satisfies no amount rule.
        Row { user: "kasper", right: f, reason: "rule max-50000 limits right godkende-faktura to amounts up to 50000; the check gives no amount", ..Row::default() },
        // The later, lower ceiling applies only from its start.
        Row { user: "kasper", right: f, amount: Some(49_999.9), at: "2026-01-02T10:00:00Z", reason: "ceiling 49999.5 that rule max-lav", ..Row::default() },
        Row { user: "kasper", right: f, amount: Some(49_999.0), at: "2026-01-02T10:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        // Other rights are not limited.
        Row { user: "kasper", right: "loen-indberet", allowed: true, reason: "allowed", ..Row::default() },
    ];
    check(&m, &rows);
    assert!(
        tillit_access::Amount::new(-1.0).is_none()
            && tillit_access::Amount::new(f64::NAN).is_none()
    );
}

#[test]
fn first_working_days_in_all_three_calendars() {
    // Local time 10:00 is 08:00 or 09:00 UTC; the cases use midday UTC so the date is the same.
    let rules = "  - { id: dk5, kind: time_window, first_working_days: 5, calendar: DK, rights: [loen-indberet] }";
    let dk = base(rules);
    let se = base(&rules.replace("dk5", "se5").replace("DK", "SE"));
    let no = base(&rules.replace("dk5", "no5").replace("DK", "NO"));
    // (model, calendar, date, allowed, reason fragment)
    let cases: &[(&Model, &str, &str, bool, &str)] = &[
        // April 2021: Easter Sunday 4 April. DK/NO close Thu 1, Fri 2, Mon 5; SE Fri 2 and Mon 5.
        (&dk, "DK", "2021-04-01", false, "2021-04-01 is not one"),
        (&dk, "DK", "2021-04-06", true, ""),
        (&dk, "DK", "2021-04-12", true, ""),
        (&dk, "DK", "2021-04-13", false, "only on the first 5 working days of the month (DK calendar); 2021-04-13 is working day 6"),
        (&no, "NO", "2021-04-12", true, ""),
        (&no, "NO", "2021-04-13", false, "working day 6"),
        (&se, "SE", "2021-04-01", true, ""),
        (&se, "SE", "2021-04-09", true, ""),
        (&se, "SE", "2021-04-12", false, "working day 6"),
        // April 2024: Easter Sunday 31 March, 2. påskedag 1 April.
        (&dk, "DK", "2024-04-01", false, "is not one"),
        (&dk, "DK", "2024-04-08", true, ""),
        (&dk, "DK", "2024-04-09", false, "working day 6"),
        (&se, "SE", "2024-04-08", true, ""),
        (&no, "NO", "2024-04-09", false, "working day 6"),
        // May 2025: 1 May (Thursday) is a holiday in SE and NO, not in DK.
        (&dk, "DK", "2025-05-07", true, ""),
        (&dk, "DK", "2025-05-08", false, "working day 6"),
        (&se, "SE", "2025-05-01", false, "is not one"),
        (&se, "SE", "2025-05-08", true, ""),
        (&no, "NO", "2025-05-09", false, "working day 6"),
        // May 2024 in Norway: 1 May (Wed) closed; 17 May is late in the month anyway.
        (&no, "NO", "2024-05-08", true, ""),
        (&no, "NO", "2024-05-09", false, "is not one"), // Kristi himmelfartsdag
        (&no, "NO", "2024-05-17", false, "is not one"),
        // May 2023 in Denmark: store bededag, Friday 5 May (the last one).
        (&dk, "DK", "2023-05-05", false, "is not one"),
        (&dk, "DK", "2023-05-08", true, ""),
        (&dk, "DK", "2023-05-09", false, "working day 6"),
        // June: DK grundlovsdag 5 June, SE nationaldag 6 June.
        (&dk, "DK", "2025-06-05", false, "is not one"),
        (&dk, "DK", "2025-06-10", true, ""),
        (&se, "SE", "2025-06-06", false, "is not one"),
        (&se, "SE", "2025-06-09", true, ""),
        (&no, "NO", "2025-06-09", false, "is not one"),
        // January: 1 January everywhere, SE also 6 January.
        (&dk, "DK", "2026-01-08", true, ""),
        (&dk, "DK", "2026-01-09", false, "working day 6"),
        (&se, "SE", "2026-01-06", false, "is not one"),
        (&se, "SE", "2026-01-09", true, ""),
        (&no, "NO", "2026-01-09", false, "working day 6"),
        (&dk, "DK", "2027-01-01", false, "is not one"),
        // January 2022: 1 Jan is a Saturday; Mon 3 is the first working day, 6 Jan closes SE.
        (&dk, "DK", "2022-01-07", true, ""),
        (&dk, "DK", "2022-01-10", false, "working day 6"),
        (&se, "SE", "2022-01-07", true, ""),
        (&se, "SE", "2022-01-10", true, ""),
        (&se, "SE", "2022-01-11", false, "working day 6"),
        // Weekends.
        (&dk, "DK", "2025-03-01", false, "is not one"),
        (&dk, "DK", "2025-03-03", true, ""),
        // December in the first week: nothing special; Christmas is late in the month.
        (&se, "SE", "2025-12-05", true, ""),
        (&se, "SE", "2025-12-08", false, "working day 6"),
    ];
    for (i, (m, cal, date, allowed, reason)) in cases.iter().enumerate() {
        let at: &'static str = Box::leak(format!("{date}T11:00:00Z").into_boxed_str());
        let row = Row {
            user: "kasper",
            right: "loen-indberet",
            at,
            allowed: *allowed,
            reason: if *allowed { "allowed" } else { reason },
            ..Row::default()
        };
        check(m, std::slice::from_ref(&row));
        let _ = (i, cal);
    }
}

#[test]
fn time_of_day_in_local_time() {
    let m = base(
        "  - { id: kontortid, kind: time_window, from_time: \"08:00\", to_time: \"16:30\", rights: [godkende-faktura] }\n  - { id: nat, kind: time_window, from_time: \"22:00\", to_time: \"06:00\", rights: [natjob] }\n  - { id: hverdage, kind: time_window, calendar: DK, rights: [se-sag] }\n  - { id: loft, kind: amount_limit, max_amount: 1000000, rights: [godkende-faktura] }",
    );
    let f = "godkende-faktura";
    let a = Some(10.0);
    let rows = [
        // Winter: CET = UTC+1.
        Row { user: "kasper", right: f, amount: a, at: "2025-01-15T06:59:59Z", reason: "rule kontortid allows right godkende-faktura only from 08:00 to 16:30 local time (Europe/Copenhagen, Stockholm, Oslo); it is 07:59", ..Row::default() },
        Row { user: "kasper", right: f, amount: a, at: "2025-01-15T07:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: f, amount: a, at: "2025-01-15T15:29:59Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: f, amount: a, at: "2025-01-15T15:30:00Z", reason: "it is 16:30", ..Row::default() },
        // Summer: CEST = UTC+2.
        Row { user: "kasper", right: f, amount: a, at: "2025-07-15T06:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: f, amount: a, at: "2025-07-15T14:45:00Z", reason: "it is 16:45", ..Row::default() },
        // The day DST starts: 01:00 UTC becomes 03:00 local.
        Row { user: "kasper", right: "natjob", at: "2025-03-30T00:30:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "natjob", at: "2025-03-30T04:30:00Z", reason: "only from 22:00 to 06:00 local time", ..Row::default() },
        // A window across midnight.
        Row { user: "kasper", right: "natjob", at: "2025-01-15T21:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "natjob", at: "2025-01-15T04:59:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "natjob", at: "2025-01-15T12:00:00Z", reason: "it is 13:00", ..Row::default() },
        // A calendar without first_working_days: working days only. Local date counts:
        // 23:30 UTC on Friday 31 Jan is Saturday 00:30 in Copenhagen.
        Row { user: "kasper", right: "se-sag", loa: Some(Loa::High), at: "2025-01-31T22:30:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "se-sag", loa: Some(Loa::High), at: "2025-01-31T23:30:00Z", reason: "only on working days (DK calendar); 2025-02-01 is not one", ..Row::default() },
        Row { user: "kasper", right: "se-sag", loa: Some(Loa::High), at: "2025-12-24T10:00:00Z", reason: "2025-12-24 is not one", ..Row::default() },
    ];
    check(&m, &rows);
    // Two failing rules give two reasons.
    let d = crate::support::decide(
        &m,
        &Row {
            user: "kasper",
            right: f,
            at: "2025-01-15T20:00:00Z",
            ..Row::default()
        },
        &[],
    );
    assert!(!d.allowed && d.reasons.len() == 2, "{:?}", d.reasons);
}

#[test]
fn login_assurance_refusals() {
    let m = base("  []");
    let rows = [
        // The IT system borgerservice requires Substantial.
        Row { user: "kasper", right: "se-sag", loa: Some(Loa::Substantial), allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "se-sag", loa: Some(Loa::High), allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "se-sag", loa: Some(Loa::Low), reason: "right se-sag requires a login at assurance level Substantial or higher; this login is Low", ..Row::default() },
        Row { user: "kasper", right: "se-sag", reason: "requires a login at assurance level Substantial or higher; the check gives no level", ..Row::default() },
        // The right udbetale requires High.
        Row { user: "kasper", right: "udbetale", loa: Some(Loa::Substantial), reason: "assurance level High or higher; this login is Substantial", ..Row::default() },
        Row { user: "kasper", right: "udbetale", loa: Some(Loa::High), allowed: true, reason: "allowed", ..Row::default() },
        // No requirement: any login, or none.
        Row { user: "kasper", right: "loen-indberet", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "kasper", right: "loen-indberet", loa: Some(Loa::Low), allowed: true, reason: "allowed", ..Row::default() },
    ];
    check(&m, &rows);
    // A login's level is its weakest part; a URI from any vocabulary maps onto it.
    let login = LoginAssurance {
        ial: Loa::High,
        aal: Loa::Substantial,
        fal: Loa::High,
    };
    let d = crate::support::decide(
        &m,
        &Row {
            user: "kasper",
            right: "udbetale",
            loa: Some(login.loa()),
            ..Row::default()
        },
        &[],
    );
    assert!(!d.allowed && d.reasons[0].contains("this login is Substantial"));
    for (uri, allowed) in [
        ("http://id.elegnamnden.se/loa/1.0/loa4", true),
        ("idporten-loa-substantial", false),
        ("Level4", true),
        ("https://data.gov.dk/concept/core/nsis/loa/High", true),
        ("http://eidas.europa.eu/LoA/low", false),
    ] {
        let d = crate::support::decide(
            &m,
            &Row {
                user: "kasper",
                right: "udbetale",
                loa: Loa::from_uri(uri),
                ..Row::default()
            },
            &[],
        );
        assert_eq!(d.allowed, allowed, "{uri}: {:?}", d.reasons);
    }
}
