//! Audit entries (revisionsposter) and their hash chain.

use chrono::{DateTime, Datelike, SubsecRound, Timelike, Utc};
use serde_json::Value;

use crate::{jcs, AuditError};

/// The `prev_hash` of the first entry (seq 1).
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Domain-separation tag at the start of every entry's canonical encoding.
pub const ENTRY_ENCODING_TAG: &str = "tillit-audit-entry/v1";

/// A state change to record, before it has a place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Who did it: a user id, API token id or `system:<job>`. Never a name or e-mail address.
    pub actor: String,
    /// The organisation (tenant) the change belongs to, if any.
    pub org_id: Option<String>,
    /// What was done, dotted, e.g. `org.create`, `token.revoke`.
    pub action: String,
    /// The id of the object changed, if any.
    pub object_id: Option<String>,
    /// Further facts. No personal data in clear: use [`crate::pseudonymise`] for people.
    /// Integers must lie within ±(2^53-1) (I-JSON) so the canonical form is exact.
    pub details: Value,
}

impl AuditEvent {
    /// Whether the event, recorded at `time`, can become an entry: everything
    /// [`AuditEntry::next`] checks except the sequence number. A store that commits the event
    /// now and gives it its place in the log later checks this first, so that the later step
    /// cannot fail on the event.
    pub fn check(&self, time: &DateTime<Utc>) -> Result<(), AuditError> {
        if self.actor.is_empty() {
            return Err(AuditError::EmptyField("actor"));
        }
        if self.action.is_empty() {
            return Err(AuditError::EmptyField("action"));
        }
        jcs::check_i_json(&self.details).map_err(AuditError::DetailsNotIJson)?;
        if !(0..=9999).contains(&time.year()) {
            return Err(AuditError::TimeOutOfRange(time.to_rfc3339()));
        }
        Ok(())
    }
}

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Position in the log, 1-based, without gaps.
    pub seq: u64,
    /// When, in UTC, truncated to microseconds.
    pub time: DateTime<Utc>,
    /// See [`AuditEvent::actor`].
    pub actor: String,
    /// See [`AuditEvent::org_id`].
    pub org_id: Option<String>,
    /// See [`AuditEvent::action`].
    pub action: String,
    /// See [`AuditEvent::object_id`].
    pub object_id: Option<String>,
    /// See [`AuditEvent::details`].
    pub details: Value,
    /// `hash` of the entry with `seq - 1`, or [`GENESIS_HASH`] for seq 1.
    pub prev_hash: [u8; 32],
    /// SHA-256 of [`AuditEntry::canonical_encoding`].
    pub hash: [u8; 32],
}

impl AuditEntry {
    /// The entry that follows the one with `prev_seq` and `prev_hash` (pass `0` and
    /// [`GENESIS_HASH`] for the first entry). `time` is truncated to microseconds.
    pub fn next(
        prev_seq: u64,
        prev_hash: [u8; 32],
        event: AuditEvent,
        time: DateTime<Utc>,
    ) -> Result<AuditEntry, AuditError> {
        event.check(&time)?;
        let seq = prev_seq
            .checked_add(1)
            .ok_or(AuditError::SequenceOverflow(prev_seq))?;
        let mut entry = AuditEntry {
            seq,
            time: time.trunc_subsecs(6),
            actor: event.actor,
            org_id: event.org_id,
            action: event.action,
            object_id: event.object_id,
            details: event.details,
            prev_hash,
            hash: [0; 32],
        };
        entry.hash = entry.compute_hash();
        Ok(entry)
    }

    /// The canonical encoding that [`AuditEntry::compute_hash`] hashes; see the crate docs.
    pub fn canonical_encoding(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(&mut out, &mut String::new());
        out
    }

    /// Writes the canonical encoding to `out` (cleared first), using `text` as scratch space.
    fn encode_into(&self, out: &mut Vec<u8>, text: &mut String) {
        out.clear();
        put_str(out, ENTRY_ENCODING_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        text.clear();
        write_time(text, &self.time);
        put_str(out, text);
        put_str(out, &self.actor);
        put_opt(out, self.org_id.as_deref());
        put_str(out, &self.action);
        put_opt(out, self.object_id.as_deref());
        text.clear();
        jcs::write_canonical(text, &self.details);
        put_str(out, text);
        out.extend_from_slice(&self.prev_hash);
    }

    /// SHA-256 over the canonical encoding of every field except `hash`.
    pub fn compute_hash(&self) -> [u8; 32] {
        tillit_crypto::sha256(&self.canonical_encoding())
    }

    /// [`AuditEntry::compute_hash`] with buffers the caller keeps between entries (a verifier
    /// of millions of entries allocates nothing per entry).
    pub fn compute_hash_with(&self, buf: &mut Vec<u8>, text: &mut String) -> [u8; 32] {
        self.encode_into(buf, text);
        tillit_crypto::sha256(buf)
    }

    /// The RFC 9162 Merkle leaf for this entry: the 32 bytes of `hash`. The leaf hash in the tree
    /// is therefore `SHA-256(0x00 || hash)`.
    pub fn leaf_data(&self) -> Vec<u8> {
        self.hash.to_vec()
    }

    /// `merkle::leaf_hash(&self.leaf_data())`.
    pub fn leaf_hash(&self) -> [u8; 32] {
        crate::merkle::leaf_hash(&self.hash)
    }
}

/// An entry as a store keeps it: every field as its stored text, borrowed from the row. A verifier
/// of millions of entries checks these directly ([`crate::ChainVerifier::push_stored`]) instead
/// of decoding each row into an [`AuditEntry`] (allocating strings and parsing `details` into a
/// JSON tree only to write it out again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEntry<'a> {
    /// `seq`.
    pub seq: u64,
    /// `time` as stored ([`format_time`]'s form).
    pub time: &'a str,
    /// `actor`.
    pub actor: &'a str,
    /// `org_id`.
    pub org_id: Option<&'a str>,
    /// `action`.
    pub action: &'a str,
    /// `object_id`.
    pub object_id: Option<&'a str>,
    /// `details` as stored JSON text (a store writes [`crate::canonical_json`]; other JSON text
    /// that means the same is accepted too, at the cost of parsing it).
    pub details: &'a str,
    /// `prev_hash`, 64 lower-case hex digits.
    pub prev_hash: &'a str,
    /// `hash`, 64 lower-case hex digits.
    pub hash: &'a str,
}

impl StoredEntry<'_> {
    /// The hash over the stored texts, taking `details` as the canonical JSON text it should be
    /// (equal to [`AuditEntry::compute_hash`] of the decoded entry exactly when it is).
    pub(crate) fn hash_as_stored(&self, prev_hash: &[u8; 32], buf: &mut Vec<u8>) -> [u8; 32] {
        encode_fields(
            buf,
            self.seq,
            self.time,
            self.actor,
            self.org_id,
            self.action,
            self.object_id,
            self.details,
            prev_hash,
        );
        tillit_crypto::sha256(buf)
    }
}

/// The canonical encoding of the given field texts into `out` (cleared first).
#[allow(clippy::too_many_arguments)]
fn encode_fields(
    out: &mut Vec<u8>,
    seq: u64,
    time: &str,
    actor: &str,
    org_id: Option<&str>,
    action: &str,
    object_id: Option<&str>,
    details: &str,
    prev_hash: &[u8; 32],
) {
    out.clear();
    put_str(out, ENTRY_ENCODING_TAG);
    out.extend_from_slice(&seq.to_be_bytes());
    put_str(out, time);
    put_str(out, actor);
    put_opt(out, org_id);
    put_str(out, action);
    put_opt(out, object_id);
    put_str(out, details);
    out.extend_from_slice(prev_hash);
}

/// [`parse_time`] without chrono's general parser for the one form [`format_time`] writes
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`); anything else goes to [`parse_time`], so the two accept
/// exactly the same texts.
pub(crate) fn parse_time_fast(text: &str) -> Result<DateTime<Utc>, AuditError> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    }
    let b = text.as_bytes();
    let fast = (|| {
        if b.len() != 27
            || b.get(4) != Some(&b'-')
            || b.get(7) != Some(&b'-')
            || b.get(10) != Some(&b'T')
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
            || b.get(19) != Some(&b'.')
            || b.get(26) != Some(&b'Z')
        {
            return None;
        }
        let year = i32::try_from(num(b.get(0..4)?)?).ok()?;
        let date = chrono::NaiveDate::from_ymd_opt(year, num(b.get(5..7)?)?, num(b.get(8..10)?)?)?;
        let time = date.and_hms_micro_opt(
            num(b.get(11..13)?)?,
            num(b.get(14..16)?)?,
            num(b.get(17..19)?)?,
            num(b.get(20..26)?)?,
        )?;
        Some(time.and_utc())
    })();
    match fast {
        Some(t) => Ok(t),
        None => parse_time(text),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// The canonical text form of an audit time: RFC 3339, UTC, exactly six fractional digits, `Z`,
/// e.g. `2026-11-24T01:09:28.123456Z`. Sub-microsecond digits are dropped.
pub fn format_time(time: &DateTime<Utc>) -> String {
    let mut out = String::with_capacity(27);
    write_time(&mut out, time);
    out
}

/// [`format_time`] appended to `out` (without chrono's formatter: verification writes one
/// time per entry).
fn write_time(out: &mut String, time: &DateTime<Utc>) {
    let (year, nanos) = (time.year(), time.timestamp_subsec_nanos());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Out of RFC 3339's range, or a leap second: chrono's general formatter.
        out.push_str(&time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        return;
    }
    fn digits(out: &mut String, value: u32, width: u32) {
        for i in (0..width).rev() {
            let d = (value / 10u32.pow(i)) % 10;
            out.push(char::from(b'0' + d as u8));
        }
    }
    digits(out, year.unsigned_abs(), 4);
    out.push('-');
    digits(out, time.month(), 2);
    out.push('-');
    digits(out, time.day(), 2);
    out.push('T');
    digits(out, time.hour(), 2);
    out.push(':');
    digits(out, time.minute(), 2);
    out.push(':');
    digits(out, time.second(), 2);
    out.push('.');
    digits(out, nanos / 1000, 6);
    out.push('Z');
}

/// Parses the canonical text form written by [`format_time`], and only that form.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, AuditError> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .map_err(|_| AuditError::InvalidTime(text.to_owned()))?
        .with_timezone(&Utc);
    if format_time(&parsed) != text {
        return Err(AuditError::InvalidTime(text.to_owned()));
    }
    Ok(parsed)
}

/// Parses a 32-byte hash written as 64 lowercase hex digits.
pub fn parse_hash(field: &'static str, text: &str) -> Result<[u8; 32], AuditError> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(AuditError::InvalidHash {
            field,
            reason: "uppercase hex digits".to_owned(),
        });
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|e| AuditError::InvalidHash {
        field,
        reason: e.to_string(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn event(actor: &str, action: &str, details: Value) -> AuditEvent {
        AuditEvent {
            actor: actor.to_owned(),
            org_id: Some("org-1".to_owned()),
            action: action.to_owned(),
            object_id: None,
            details,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 1, 9, 28).unwrap()
            + chrono::Duration::nanoseconds(123_456_789)
    }

    #[test]
    fn canonical_encoding_layout() {
        let e = AuditEntry::next(
            0,
            GENESIS_HASH,
            event("u1", "org.create", json!({"b": 1, "a": "x"})),
            t0(),
        )
        .unwrap();
        let mut want = Vec::new();
        let s = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        s(&mut want, "tillit-audit-entry/v1");
        want.extend_from_slice(&1u64.to_be_bytes());
        s(&mut want, "2026-11-24T01:09:28.123456Z");
        s(&mut want, "u1");
        want.push(1);
        s(&mut want, "org-1");
        s(&mut want, "org.create");
        want.push(0);
        s(&mut want, r#"{"a":"x","b":1}"#);
        want.extend_from_slice(&[0u8; 32]);
        assert_eq!(e.canonical_encoding(), want);
        let digest = tillit_crypto::sha256(&want);
        assert_eq!(e.hash, digest);
        assert_eq!(e.compute_hash(), e.hash);
        assert_eq!(e.leaf_data(), e.hash.to_vec());
        assert_eq!(e.time.timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn next_rejects_bad_events() {
        let cases = [
            (
                0,
                event("", "a.b", json!({})),
                AuditError::EmptyField("actor"),
            ),
            (
                0,
                event("u", "", json!({})),
                AuditError::EmptyField("action"),
            ),
            (
                u64::MAX,
                event("u", "a.b", json!({})),
                AuditError::SequenceOverflow(u64::MAX),
            ),
            (
                0,
                event("u", "a.b", json!({"n": 1u64 << 60})),
                AuditError::DetailsNotIJson(
                    "an integer beyond ±(2^53-1) at `/n`: store it as a string".to_owned(),
                ),
            ),
        ];
        for (prev, ev, want) in cases {
            assert_eq!(
                AuditEntry::next(prev, GENESIS_HASH, ev, t0()).unwrap_err(),
                want
            );
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = AuditEntry::next(
            6,
            [7; 32],
            event("u1", "org.create", json!({"k": [1, 2]})),
            t0(),
        )
        .unwrap();
        type Mutation = Box<dyn Fn(&mut AuditEntry)>;
        let mutations: Vec<(&str, Mutation)> = vec![
            ("seq", Box::new(|e| e.seq += 1)),
            (
                "time",
                Box::new(|e| e.time += chrono::Duration::microseconds(1)),
            ),
            ("actor", Box::new(|e| e.actor.push('x'))),
            ("org_id none", Box::new(|e| e.org_id = None)),
            ("org_id empty", Box::new(|e| e.org_id = Some(String::new()))),
            ("action", Box::new(|e| e.action = "org.delete".to_owned())),
            ("object_id", Box::new(|e| e.object_id = Some(String::new()))),
            ("details", Box::new(|e| e.details = json!({"k": [2, 1]}))),
            ("prev_hash", Box::new(|e| e.prev_hash[31] ^= 1)),
            // Moving bytes between adjacent fields must not collide (length prefixes).
            (
                "actor/action boundary",
                Box::new(|e| {
                    e.actor = "u1o".to_owned();
                    e.action = "rg.create".to_owned();
                }),
            ),
        ];
        for (name, mutate) in mutations {
            let mut e = base.clone();
            mutate(&mut e);
            assert_ne!(e.compute_hash(), base.hash, "mutation {name}");
        }
    }

    #[test]
    fn hash_survives_a_text_round_trip_of_every_field() {
        let e = AuditEntry::next(
            41,
            [3; 32],
            event(
                "token:7",
                "org.update",
                json!({"z": 1.0, "a": {"ö": "\u{1}"}, "n": -2.5e-8}),
            ),
            t0(),
        )
        .unwrap();
        let time = format_time(&e.time);
        let details = e.details.to_string();
        let prev = hex::encode(e.prev_hash);
        let back = AuditEntry {
            seq: e.seq,
            time: parse_time(&time).unwrap(),
            actor: e.actor.clone(),
            org_id: e.org_id.clone(),
            action: e.action.clone(),
            object_id: e.object_id.clone(),
            details: serde_json::from_str(&details).unwrap(),
            prev_hash: parse_hash("prev_hash", &prev).unwrap(),
            hash: e.hash,
        };
        assert_eq!(back.compute_hash(), e.hash);
    }

    #[test]
    fn time_text_matches_the_general_formatter() {
        let cases = [
            Utc.with_ymd_and_hms(2026, 11, 24, 1, 9, 28).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(7),
            t0(),
        ];
        for t in cases {
            assert_eq!(
                format_time(&t),
                t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                "{t:?}"
            );
            assert_eq!(parse_time(&format_time(&t)).unwrap(), t.trunc_subsecs(6));
        }
    }

    #[test]
    fn time_text_is_strict() {
        let cases = [
            ("2026-11-24T01:09:28.123456Z", true),
            ("2026-11-24T01:09:28.000000Z", true),
            ("2026-11-24T01:09:28Z", false),
            ("2026-11-24T01:09:28.123Z", false),
            ("2026-11-24T01:09:28.1234567Z", false),
            ("2026-11-24T01:09:28.123456+00:00", false),
            ("2026-11-24T02:09:28.123456+01:00", false),
            ("2026-11-24t01:09:28.123456z", false),
            ("", false),
        ];
        for (text, ok) in cases {
            assert_eq!(parse_time(text).is_ok(), ok, "time {text:?}");
        }
    }

    #[test]
    fn hash_text_is_strict() {
        let good = "00".repeat(32);
        let cases = [
            (good.clone(), true),
            ("AB".repeat(32), false),
            ("00".repeat(31), false),
            ("00".repeat(33), false),
            (format!("{}0g", "00".repeat(31)), false),
        ];
        for (text, ok) in cases {
            assert_eq!(parse_hash("h", &text).is_ok(), ok, "hash {text:?}");
        }
    }
}
