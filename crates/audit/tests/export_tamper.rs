//! Tamper tables for the JSON-lines export and the live chain check: every line of a generated
//! export is changed, deleted, swapped, duplicated and cut after, and each must fail naming the
//! right line; the untouched export passes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use tillit_audit::export::{self, ExportLine, ExportVerifier};
use tillit_audit::merkle::TreeBuilder;
use tillit_audit::{
    pseudonymise, verify_chain, verify_export, AuditEntry, AuditEvent, TreeHead, Violation,
    GENESIS_HASH,
};
use tillit_crypto::{Algorithm, SigningKey, VerifyingKey};

const ENTRIES: u64 = 20;
const HEAD_SIZES: [u64; 6] = [3, 7, 8, 12, 19, 20];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

fn event(i: u64) -> AuditEvent {
    let details = match i % 5 {
        0 => json!({}),
        1 => json!({"name": "Ankeborg kommun", "country": "SE", "n": i}),
        2 => {
            json!({"person": pseudonymise(b"test secret", "19121212-1212"), "ratio": 0.25, "list": [1, null, true]})
        }
        3 => {
            json!({"note": "quote \" backslash \\ tab \t newline \n ctrl \u{1} æøå ü €", "nested": {"b": 2, "a": 1}})
        }
        _ => json!({"big": 9007199254740991u64, "neg": -12, "exp": 1e-7}),
    };
    AuditEvent {
        actor: format!("token:{}", i % 3),
        org_id: (!i.is_multiple_of(4)).then(|| format!("org-{}", i % 2)),
        action: ["org.create", "org.update", "token.revoke"][(i % 3) as usize].to_owned(),
        object_id: i.is_multiple_of(2).then(|| format!("obj-{i}")),
        details,
    }
}

fn entries() -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 0..ENTRIES {
        let (prev_seq, prev_hash) = out.last().map_or((0, GENESIS_HASH), |e| (e.seq, e.hash));
        let time = t0() + Duration::milliseconds(1500 * i as i64) + Duration::nanoseconds(777);
        out.push(AuditEntry::next(prev_seq, prev_hash, event(i), time).unwrap());
    }
    out
}

fn heads(entries: &[AuditEntry], key: &SigningKey) -> Vec<TreeHead> {
    HEAD_SIZES
        .iter()
        .map(|&size| {
            let mut tree = TreeBuilder::new();
            for e in &entries[..size as usize] {
                tree.push_leaf_hash(e.leaf_hash());
            }
            TreeHead::sign(
                size,
                tree.root(),
                t0() + Duration::seconds(size as i64 * 2),
                key,
            )
            .unwrap()
        })
        .collect()
}

struct Fixture {
    key: SigningKey,
    entries: Vec<AuditEntry>,
    heads: Vec<TreeHead>,
    lines: Vec<String>,
}

impl Fixture {
    fn new() -> Self {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let entries = entries();
        let mut heads = heads(&entries, &key);
        heads.reverse(); // the writer must sort them
        let text =
            export::write_export(entries.clone(), &heads, t0() + Duration::hours(1), &key).unwrap();
        let lines = text.split_inclusive('\n').map(str::to_owned).collect();
        Fixture {
            key,
            entries,
            heads,
            lines,
        }
    }

    fn trusted(&self) -> Vec<VerifyingKey> {
        vec![
            SigningKey::generate(Algorithm::EdDsa)
                .unwrap()
                .verifying_key(),
            self.key.verifying_key(),
        ]
    }

    fn kind(&self, line: usize) -> &'static str {
        let l = &self.lines[line - 1];
        ["entry", "tree_head", "export_end"]
            .into_iter()
            .find(|k| l.starts_with(&format!("{{\"type\":\"{k}\"")))
            .unwrap()
    }
}

fn join(lines: &[String]) -> Vec<u8> {
    lines.concat().into_bytes()
}

fn expect_violation(
    bytes: &[u8],
    keys: &[VerifyingKey],
    want_line: usize,
    what: &str,
) -> Violation {
    match export::verify_export_bytes(bytes, keys) {
        Ok(summary) => panic!("{what}: verified although tampered: {summary:?}"),
        Err(v) => {
            assert_eq!(v.line, want_line, "{what}: named the wrong line: {v}");
            assert!(!v.reason.is_empty());
            v
        }
    }
}

#[test]
fn untouched_export_passes_and_has_the_documented_shape() {
    let f = Fixture::new();
    let keys = f.trusted();
    let summary = verify_export(&f.lines.concat(), &keys).unwrap();
    assert_eq!(summary.entries, ENTRIES);
    assert_eq!(summary.tree_heads, HEAD_SIZES.len());
    assert_eq!(summary.exported_at, Some(t0() + Duration::hours(1)));
    assert_eq!(f.lines.len(), ENTRIES as usize + HEAD_SIZES.len() + 1);
    assert_eq!(f.kind(f.lines.len()), "export_end");
    assert_eq!(f.kind(4), "tree_head"); // after entry 3
    assert!(f
        .lines
        .iter()
        .all(|l| l.ends_with('\n') && l.matches('\n').count() == 1));
    let first = &f.lines[0];
    assert!(first.starts_with("{\"type\":\"entry\",\"seq\":1,\"time\":\"2026-11-24T08:00:00.000000Z\",\"actor\":\"token:0\",\"org_id\":null,\"action\":\"org.create\",\"object_id\":\"obj-0\",\"details\":{},\"prev_hash\":\"0000"), "{first}");
    let last = f.lines.last().unwrap();
    assert!(
        last.contains(",\"head_sizes\":[3,7,8,12,19,20],\"signature\":\""),
        "{last}"
    );

    // The streaming verifier gives the same answer line by line.
    let mut v = ExportVerifier::new(&keys);
    for l in &f.lines {
        v.push_line(l.as_bytes()).unwrap();
    }
    assert_eq!(v.finish().unwrap(), summary);

    // And the live check agrees on the same log.
    let live = verify_chain(f.entries.clone(), &f.heads, &keys).unwrap();
    assert_eq!(
        (live.entries, live.tree_heads, live.root_hash),
        (ENTRIES, HEAD_SIZES.len(), summary.root_hash)
    );
}

/// Verifies `tail` from a checkpoint that has already accepted the lines before it.
fn verify_from(checkpoint: &ExportVerifier, tail: &[u8]) -> Result<(), Violation> {
    let mut v = checkpoint.clone();
    for line in tail.split_inclusive(|&b| b == b'\n') {
        v.push_line(line)?;
    }
    v.finish().map(|_| ())
}

#[test]
fn every_single_byte_change_fails_on_its_line() {
    let f = Fixture::new();
    let keys = f.trusted();
    let mut checkpoint = ExportVerifier::new(&keys);
    let mut checked = 0;
    for k in 1..=f.lines.len() {
        let line = f.lines[k - 1].as_bytes();
        let rest = join(&f.lines[k..]);
        for pos in 0..line.len() {
            for flip in [0x01u8, 0x20] {
                let mut tail = line.to_vec();
                tail[pos] ^= flip;
                tail.extend_from_slice(&rest);
                match verify_from(&checkpoint, &tail) {
                    Ok(()) => panic!("line {k} byte {pos} ^ {flip:#x} verified"),
                    Err(v) => assert_eq!(v.line, k, "line {k} byte {pos} ^ {flip:#x}: {v}"),
                }
                checked += 1;
            }
        }
        checkpoint.push_line(line).unwrap();
    }
    assert!(checked > 2 * 20 * 200, "only {checked} changes tried");
    // A few of the same through the whole-file entry point.
    for k in [1, 4, f.lines.len()] {
        let mut bytes = join(&f.lines);
        let at = join(&f.lines[..k - 1]).len() + 20;
        bytes[at] ^= 0x01;
        expect_violation(
            &bytes,
            &keys,
            k,
            &format!("line {k} via verify_export_bytes"),
        );
    }
}

#[test]
fn every_deleted_line_fails_on_its_line() {
    let f = Fixture::new();
    let keys = f.trusted();
    for k in 1..=f.lines.len() {
        let mut lines = f.lines.clone();
        lines.remove(k - 1);
        expect_violation(
            &join(&lines),
            &keys,
            k,
            &format!("delete line {k} ({})", f.kind(k)),
        );
    }
}

#[test]
fn every_swap_with_the_next_line_fails_on_one_of_the_two() {
    let f = Fixture::new();
    let keys = f.trusted();
    for k in 1..f.lines.len() {
        let mut lines = f.lines.clone();
        lines.swap(k - 1, k);
        // A tree head moved below the next entry is found where the head now stands: the entry
        // that moved up still continues the chain.
        let want = if f.kind(k) == "tree_head" && f.kind(k + 1) == "entry" {
            k + 1
        } else {
            k
        };
        expect_violation(
            &join(&lines),
            &keys,
            want,
            &format!("swap lines {k} and {}", k + 1),
        );
    }
}

#[test]
fn every_cut_tail_fails_on_the_first_missing_line() {
    let f = Fixture::new();
    let keys = f.trusted();
    for k in 0..f.lines.len() {
        let v = expect_violation(
            &join(&f.lines[..k]),
            &keys,
            k + 1,
            &format!("cut after line {k}"),
        );
        assert!(
            v.reason.contains("cut") || v.reason.contains("empty"),
            "{v}"
        );
    }
    // Cut inside the last line, also just before its newline.
    let all = join(&f.lines);
    expect_violation(
        &all[..all.len() - 1],
        &keys,
        f.lines.len(),
        "cut the final newline",
    );
    expect_violation(
        &all[..all.len() - 30],
        &keys,
        f.lines.len(),
        "cut inside the last line",
    );
}

#[test]
fn every_duplicated_line_fails_on_the_copy() {
    let f = Fixture::new();
    let keys = f.trusted();
    for k in 1..=f.lines.len() {
        let mut lines = f.lines.clone();
        lines.insert(k, f.lines[k - 1].clone());
        expect_violation(
            &join(&lines),
            &keys,
            k + 1,
            &format!("duplicate line {k} ({})", f.kind(k)),
        );
    }
}

#[test]
fn inserted_lines_fail() {
    let f = Fixture::new();
    let keys = f.trusted();
    let e5 = &f.entries[4];
    // A well-formed entry chained onto entry 5 (so its own line still checks out); the chain
    // breaks at the original entry 6 that now follows it.
    let forged = AuditEntry::next(e5.seq, e5.hash, event(99), e5.time).unwrap();
    // A correctly signed tree head the export_end does not list (size 5 has no head here).
    let mut tree = TreeBuilder::new();
    for e in &f.entries[..5] {
        tree.push_leaf_hash(e.leaf_hash());
    }
    let head5 = TreeHead::sign(5, tree.root(), t0(), &f.key).unwrap();
    // The inserted line becomes line 7: after entries 1..=5 and the head at 3.
    let at = 7;
    let cases: Vec<(&str, String, usize)> = vec![
        (
            "forged entry",
            format!("{}\n", export::entry_line(&forged)),
            at + 1,
        ),
        (
            "unlisted tree head",
            format!("{}\n", export::tree_head_line(&head5)),
            at,
        ),
        ("blank line", "\n".to_owned(), at),
        ("comment", "# note\n".to_owned(), at),
        ("empty object", "{}\n".to_owned(), at),
    ];
    for (what, line, want) in cases {
        let mut lines = f.lines.clone();
        lines.insert(at - 1, line);
        expect_violation(&join(&lines), &keys, want, what);
    }
}

#[test]
fn keys_matter() {
    let f = Fixture::new();
    let stranger = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .verifying_key();
    // The first tree head is on line 4.
    let v = expect_violation(&join(&f.lines), &[stranger], 4, "untrusted key");
    assert!(v.reason.contains("not among the"), "{v}");
    expect_violation(&join(&f.lines), &[], 4, "no keys");
    // Re-signing everything with another key does not help an attacker without the trusted key.
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let forged =
        export::write_export(f.entries.clone(), &heads(&f.entries, &other), t0(), &other).unwrap();
    expect_violation(forged.as_bytes(), &f.trusted(), 4, "signed by another key");
}

#[test]
fn non_canonical_spellings_of_a_valid_line_fail() {
    let f = Fixture::new();
    let keys = f.trusted();
    let first = f.lines[0].trim_end_matches('\n');
    let head = f.lines[3].trim_end_matches('\n');
    let cases: Vec<(&str, String, usize)> = vec![
        ("CRLF", format!("{first}\r\n"), 1),
        (
            "space after colon",
            first.replacen("\"seq\":1", "\"seq\": 1", 1) + "\n",
            1,
        ),
        (
            "uppercase hash",
            first.replacen(
                &first[first.len() - 66..first.len() - 2],
                &first[first.len() - 66..first.len() - 2].to_uppercase(),
                1,
            ) + "\n",
            1,
        ),
        (
            "reordered members",
            first.replacen(
                "{\"type\":\"entry\",\"seq\":1,",
                "{\"seq\":1,\"type\":\"entry\",",
                1,
            ) + "\n",
            1,
        ),
        (
            "escaped slash-free char",
            first.replacen("token:0", "token\\u003a0", 1) + "\n",
            1,
        ),
        (
            "time with offset",
            first.replacen("08:00:00.000000Z", "08:00:00.000000+00:00", 1) + "\n",
            1,
        ),
        (
            "extra member",
            first.replacen("{\"type\":\"entry\",", "{\"type\":\"entry\",\"x\":1,", 1) + "\n",
            1,
        ),
        (
            "seq as float",
            first.replacen("\"seq\":1,", "\"seq\":1.0,", 1) + "\n",
            1,
        ),
        (
            "head with head_sizes",
            head.replacen(",\"signature\"", ",\"head_sizes\":[],\"signature\"", 1) + "\n",
            4,
        ),
    ];
    for (what, line, want) in cases {
        let mut lines = f.lines.clone();
        lines[want - 1] = line;
        expect_violation(&join(&lines), &keys, want, what);
    }
    expect_violation(b"", &keys, 1, "empty export");
}

#[test]
fn lines_round_trip_through_the_parser() {
    let f = Fixture::new();
    for (i, l) in f.lines.iter().enumerate() {
        let body = l.trim_end_matches('\n');
        let rendered = match export::parse_line(body).unwrap() {
            ExportLine::Entry(e) => {
                assert_eq!(e, f.entries[e.seq as usize - 1], "line {}", i + 1);
                export::entry_line(&e)
            }
            ExportLine::TreeHead(h) => export::tree_head_line(&h),
            ExportLine::ExportEnd(e) => export::export_end_line(&e),
        };
        assert_eq!(rendered, body);
    }
}

#[test]
fn writer_refuses_a_damaged_log() {
    let f = Fixture::new();
    let mut broken = f.entries.clone();
    broken[6].actor = "someone else".to_owned();
    assert!(export::write_export(broken, &f.heads, t0(), &f.key).is_err());
    let mut gap = f.entries.clone();
    gap.remove(3);
    assert!(export::write_export(gap, &f.heads, t0(), &f.key).is_err());
    let mut bad_head = f.heads.clone();
    bad_head[0].root_hash[0] ^= 1;
    assert!(export::write_export(f.entries.clone(), &bad_head, t0(), &f.key).is_err());
    // Heads beyond the exported entries are left out; the export still verifies.
    let partial = export::write_export(f.entries[..10].to_vec(), &f.heads, t0(), &f.key).unwrap();
    let s = verify_export(&partial, &f.trusted()).unwrap();
    assert_eq!((s.entries, s.tree_heads), (10, 3));
    // An empty log exports to a lone export_end.
    let empty = export::write_export(Vec::new(), &[], t0(), &f.key).unwrap();
    assert_eq!(empty.lines().count(), 1);
    assert_eq!(verify_export(&empty, &f.trusted()).unwrap().entries, 0);
}

#[test]
fn live_chain_tamper_table() {
    let f = Fixture::new();
    let keys = f.trusted();
    type Tamper = Box<dyn Fn(&mut Vec<AuditEntry>, &mut Vec<TreeHead>)>;
    // (what, tamper, Err(position) or Ok(()))
    let cases: Vec<(&str, Tamper, Result<(), usize>)> = vec![
        ("untouched", Box::new(|_, _| {}), Ok(())),
        (
            "details changed",
            Box::new(|e, _| e[9].details = json!({"x": 1})),
            Err(10),
        ),
        (
            "time changed",
            Box::new(|e, _| e[0].time += Duration::microseconds(1)),
            Err(1),
        ),
        ("org changed", Box::new(|e, _| e[14].org_id = None), Err(15)),
        (
            "hash recomputed after a change",
            Box::new(|e, _| {
                e[4].action = "x.y".into();
                e[4].hash = e[4].compute_hash();
            }),
            Err(6),
        ),
        (
            "whole tail re-chained after a change",
            Box::new(|e, _| {
                e[4].action = "x.y".into();
                for i in 4..e.len() {
                    if i > 4 {
                        e[i].prev_hash = e[i - 1].hash;
                    }
                    e[i].hash = e[i].compute_hash();
                }
            }),
            Err(7),
        ),
        (
            "entry deleted",
            Box::new(|e, _| {
                e.remove(11);
            }),
            Err(12),
        ),
        ("entries swapped", Box::new(|e, _| e.swap(2, 3)), Err(3)),
        (
            "entry duplicated",
            Box::new(|e, _| {
                let d = e[5].clone();
                e.insert(6, d);
            }),
            Err(7),
        ),
        (
            "tail cut below the last head",
            Box::new(|e, _| e.truncate(17)),
            Err(18),
        ),
        (
            "head root altered",
            Box::new(|_, h| h[2].root_hash[3] ^= 1),
            Err(HEAD_SIZES[3] as usize),
        ),
        (
            "head signature altered",
            Box::new(|_, h| h[0].signature[10] ^= 1),
            Err(20),
        ),
        (
            "heads in any order",
            Box::new(|_, h| h.rotate_left(2)),
            Ok(()),
        ),
        // Known limit of a live check: entries after the newest tree head can be cut without a
        // trace. Signing a head every T seconds bounds that window; an export always seals its
        // end.
        (
            "tail cut above the last head",
            Box::new(|e, h| {
                h.retain(|x| x.tree_size <= 12);
                e.truncate(15);
            }),
            Ok(()),
        ),
    ];
    for (what, tamper, want) in cases {
        let (mut e, mut h) = (f.entries.clone(), f.heads.clone());
        tamper(&mut e, &mut h);
        match (verify_chain(e, &h, &keys), want) {
            (Ok(_), Ok(())) => {}
            (Err(v), Err(line)) => assert_eq!(v.line, line, "{what}: {v}"),
            (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }
}
