//! `ChainVerifier::push_stored` (the rows as a store keeps them, not decoded) gives the same
//! verdicts as `ChainVerifier::push` on the decoded entries: the same log verifies to the same
//! root, a details text in another JSON spelling that means the same still verifies, and every
//! edit of a stored field is found at its entry.

use chrono::{TimeZone, Utc};
use serde_json::json;
use tillit_audit::{
    canonical_json, format_time, AuditEntry, AuditEvent, ChainVerifier, StoredEntry, GENESIS_HASH,
};

/// A log of `n` entries, each with its stored texts (time, details, prev_hash, hash).
fn log(n: u64) -> Vec<(AuditEntry, [String; 4])> {
    let mut out = Vec::new();
    let (mut seq, mut prev) = (0, GENESIS_HASH);
    for i in 0..n {
        let event = AuditEvent {
            actor: format!("token:{}", i % 3),
            org_id: (i % 2 == 0).then(|| "org-1".to_owned()),
            action: "attestation.issue".to_owned(),
            object_id: (i % 5 != 0).then(|| format!("obj-{i}")),
            details: json!({"zone": "B", "idx": i, "n": 1.5, "list": [1, "å", null]}),
        };
        let time = Utc.with_ymd_and_hms(2026, 12, 2, 4, 0, 0).unwrap()
            + chrono::Duration::microseconds(i as i64 * 1_234_567);
        let e = AuditEntry::next(seq, prev, event, time).unwrap();
        (seq, prev) = (e.seq, e.hash);
        let texts = [
            format_time(&e.time),
            canonical_json(&e.details),
            hex::encode(e.prev_hash),
            hex::encode(e.hash),
        ];
        out.push((e, texts));
    }
    out
}

fn stored<'a>(e: &'a AuditEntry, t: &'a [String; 4]) -> StoredEntry<'a> {
    StoredEntry {
        seq: e.seq,
        time: &t[0],
        actor: &e.actor,
        org_id: e.org_id.as_deref(),
        action: &e.action,
        object_id: e.object_id.as_deref(),
        details: &t[1],
        prev_hash: &t[2],
        hash: &t[3],
    }
}

#[test]
fn stored_rows_verify_to_the_root_the_decoded_entries_give() {
    let log = log(37);
    let mut decoded = ChainVerifier::new(&[], &[]).unwrap();
    let mut raw = ChainVerifier::new(&[], &[]).unwrap();
    for (e, t) in &log {
        decoded.push(e).unwrap();
        raw.push_stored(&stored(e, t)).unwrap();
    }
    let (a, b) = (decoded.finish().unwrap(), raw.finish().unwrap());
    assert_eq!((a.entries, a.root_hash), (b.entries, b.root_hash));
    assert_eq!(a.last_entry_time, b.last_entry_time);
}

#[test]
fn every_edit_of_a_stored_field_is_found_at_its_entry() {
    let log = log(12);
    let at = 7usize; // the edited entry (0-based), seq 8
                     // (what is edited, the edit applied to a copy of the stored row, must verify?)
    type Edit = fn(&mut StoredEntry<'static>);
    let cases: Vec<(&str, Edit, bool)> = vec![
        ("unchanged", |_| {}, true),
        (
            "details re-spelt, same meaning",
            |s| s.details = r#"{ "list": [1, "\u00e5", null], "n": 15e-1, "idx": 7, "zone": "B" }"#,
            true,
        ),
        (
            "details changed",
            |s| s.details = r#"{"idx":7,"list":[1,"å",null],"n":1.5,"zone":"C"}"#,
            false,
        ),
        ("details not JSON", |s| s.details = "{", false),
        ("actor", |s| s.actor = "token:9", false),
        ("org_id added", |s| s.org_id = Some("org-1"), false),
        ("action", |s| s.action = "attestation.revoke", false),
        ("object_id", |s| s.object_id = Some("obj-x"), false),
        ("time", |s| s.time = "2026-12-02T04:00:08.641970Z", false),
        (
            "time not canonical",
            |s| s.time = "2026-12-02T04:00:08.641969+00:00",
            false,
        ),
        (
            "time impossible",
            |s| s.time = "2026-02-30T04:00:08.641969Z",
            false,
        ),
        (
            "hash",
            |s| s.hash = "00000000000000000000000000000000000000000000000000000000000000ff",
            false,
        ),
        (
            "hash upper case",
            |s| s.hash = "ABCDEF0000000000000000000000000000000000000000000000000000000000",
            false,
        ),
        (
            "prev_hash",
            |s| s.prev_hash = "0000000000000000000000000000000000000000000000000000000000000000",
            false,
        ),
        ("seq", |s| s.seq = 9, false),
    ];
    // The stored texts live for the whole test.
    let log: &'static [(AuditEntry, [String; 4])] = Box::leak(log.into_boxed_slice());
    assert_eq!(
        log[at].1[0], "2026-12-02T04:00:08.641969Z",
        "the case table's time"
    );
    for (what, edit, ok) in cases {
        let mut v = ChainVerifier::new(&[], &[]).unwrap();
        let mut found = None;
        for (i, (e, t)) in log.iter().enumerate() {
            let mut row = stored(e, t);
            if i == at {
                edit(&mut row);
            }
            if let Err(violation) = v.push_stored(&row) {
                found = Some((i, violation));
                break;
            }
        }
        match (ok, found) {
            (true, None) => {}
            (false, Some((i, violation))) => {
                assert_eq!(i, at, "{what}: found at entry {i}: {violation}");
                assert_eq!(
                    violation.seq,
                    Some(row_seq(what, at)),
                    "{what}: {violation}"
                );
            }
            (true, Some((i, violation))) => panic!("{what}: refused at {i}: {violation}"),
            (false, None) => panic!("{what}: not detected"),
        }
    }
}

/// The seq a violation names: the edited row's (its own seq when that was the edit).
fn row_seq(what: &str, at: usize) -> u64 {
    if what == "seq" {
        9
    } else {
        at as u64 + 1
    }
}
