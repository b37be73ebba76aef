//! The JSON-lines export (revisionsexport) and the verifiers for an export and for a live log.
//!
//! # Format
//!
//! UTF-8, one JSON object per line, every line ending in `\n`, no other whitespace. Each line is
//! written in exactly one way (members in the order shown, strings escaped as RFC 8785, `details`
//! in RFC 8785 canonical form, hashes and signatures lowercase hex, times as
//! [`crate::format_time`]); the verifier re-renders every parsed line and rejects one that differs
//! in any byte, so no edit can hide in spelling.
//!
//! ```text
//! {"type":"entry","seq":1,"time":"…","actor":"…","org_id":"…"|null,"action":"…","object_id":"…"|null,"details":{…},"prev_hash":"…","hash":"…"}
//! {"type":"tree_head","tree_size":N,"root_hash":"…","timestamp":"…","key_id":"…","signature":"…"}
//! {"type":"export_end","tree_size":N,"root_hash":"…","timestamp":"…","key_id":"…","head_sizes":[…],"signature":"…"}
//! ```
//!
//! * Entries start at seq 1 and follow without gaps; each `prev_hash` is the previous `hash`
//!   ([`crate::GENESIS_HASH`] for seq 1) and each `hash` is recomputed from the fields.
//! * A `tree_head` line (a stored [`TreeHead`]) directly follows the entry whose seq is its
//!   `tree_size`, at most one per size; its root must equal the Merkle root of the entries so
//!   far and its signature must verify with a trusted key.
//! * The last line is always `export_end`: a tree head signed when the export was written, over
//!   the signing input of [`ExportEnd::signing_input`] (a distinct first line, so an ordinary tree
//!   head can never stand in for it), covering every entry of the export and listing the sizes of
//!   all `tree_head` lines. A cut tail therefore always shows (the signed end is missing), and so
//!   does a deleted or inserted tree head line.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;
use tillit_crypto::{SigningKey, VerifyingKey};

use crate::entry::parse_time_fast;
use crate::merkle::TreeBuilder;
use crate::tree_head::{check_signature, find_key, signing_text};
use crate::{
    format_time, jcs, parse_hash, parse_time, AuditEntry, AuditError, StoredEntry, TreeHead,
    GENESIS_HASH,
};

/// First line of the export end's signing input.
pub const EXPORT_END_CONTEXT: &str = "tillit-audit-export-end/v1";

/// The signed last line of an export.
///
/// The signature is over the UTF-8 text
///
/// ```text
/// tillit-audit-export-end/v1\n
/// <tree_size>\n<root_hash hex>\n<timestamp>\n<key_id>\n
/// <head_sizes, decimal, comma-separated, empty when none>\n
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEnd {
    /// Number of entries in the export.
    pub tree_size: u64,
    /// Merkle root of all of them.
    pub root_hash: [u8; 32],
    /// When the export was written, truncated to microseconds.
    pub timestamp: DateTime<Utc>,
    /// RFC 7638 thumbprint of the signing key.
    pub key_id: String,
    /// `tree_size` of every `tree_head` line in the export, in order.
    pub head_sizes: Vec<u64>,
    /// Signature over [`ExportEnd::signing_input`].
    pub signature: Vec<u8>,
}

impl ExportEnd {
    /// Signs an export end. `timestamp` is truncated to microseconds.
    pub fn sign(
        tree_size: u64,
        root_hash: [u8; 32],
        head_sizes: Vec<u64>,
        timestamp: DateTime<Utc>,
        key: &SigningKey,
    ) -> Result<ExportEnd, AuditError> {
        let mut end = ExportEnd {
            tree_size,
            root_hash,
            timestamp: timestamp.trunc_subsecs(6),
            key_id: key.kid(),
            head_sizes,
            signature: Vec::new(),
        };
        end.signature = key
            .sign(&end.signing_input())
            .map_err(|e| AuditError::Signature(e.to_string()))?;
        Ok(end)
    }

    /// The exact bytes that are signed; see the type's documentation.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_text(
            EXPORT_END_CONTEXT,
            self.tree_size,
            &self.root_hash,
            &self.timestamp,
            &self.key_id,
            Some(&self.head_sizes),
        )
        .into_bytes()
    }

    /// Verifies the signature with the key among `trusted` whose thumbprint is `key_id`.
    pub fn verify_trusted(&self, trusted: &[VerifyingKey]) -> Result<(), AuditError> {
        let key = find_key(&self.key_id, trusted)?;
        check_signature(&self.key_id, &self.signing_input(), &self.signature, key)
    }
}

/// The first place where an export or a live log fails verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}{}: {reason}", seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
pub struct Violation {
    /// 1-based line of the export that is bad (for a cut export: the first missing line). For
    /// [`verify_chain`], the 1-based position in the log, which equals the seq of an intact entry.
    pub line: usize,
    /// The seq concerned: the entry's, or the `tree_size` of a tree head, when known.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub reason: String,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Number of entries (the last seq).
    pub entries: u64,
    /// Number of tree heads checked.
    pub tree_heads: usize,
    /// Merkle root over all entries.
    pub root_hash: [u8; 32],
    /// Time of the last entry, if any.
    pub last_entry_time: Option<DateTime<Utc>>,
    /// For an export: when it was written (the export end's timestamp).
    pub exported_at: Option<DateTime<Utc>>,
}

/// Summary of a verified export.
pub type ExportSummary = Summary;

/// One parsed export line.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportLine {
    /// `{"type":"entry",…}`
    Entry(AuditEntry),
    /// `{"type":"tree_head",…}`
    TreeHead(TreeHead),
    /// `{"type":"export_end",…}`
    ExportEnd(ExportEnd),
}

/// The export line of an entry, without the newline.
pub fn entry_line(e: &AuditEntry) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"type\":\"entry\",\"seq\":");
    s.push_str(&e.seq.to_string());
    s.push_str(",\"time\":");
    jcs::write_string(&mut s, &format_time(&e.time));
    s.push_str(",\"actor\":");
    jcs::write_string(&mut s, &e.actor);
    s.push_str(",\"org_id\":");
    write_opt(&mut s, e.org_id.as_deref());
    s.push_str(",\"action\":");
    jcs::write_string(&mut s, &e.action);
    s.push_str(",\"object_id\":");
    write_opt(&mut s, e.object_id.as_deref());
    s.push_str(",\"details\":");
    s.push_str(&jcs::canonical(&e.details));
    s.push_str(",\"prev_hash\":\"");
    s.push_str(&hex::encode(e.prev_hash));
    s.push_str("\",\"hash\":\"");
    s.push_str(&hex::encode(e.hash));
    s.push_str("\"}");
    s
}

/// The export line of a tree head, without the newline.
pub fn tree_head_line(h: &TreeHead) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"type\":\"tree_head\",");
    write_head_fields(&mut s, h.tree_size, &h.root_hash, &h.timestamp, &h.key_id);
    s.push_str(",\"signature\":\"");
    s.push_str(&hex::encode(&h.signature));
    s.push_str("\"}");
    s
}

/// The export line of an export end, without the newline.
pub fn export_end_line(e: &ExportEnd) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"type\":\"export_end\",");
    write_head_fields(&mut s, e.tree_size, &e.root_hash, &e.timestamp, &e.key_id);
    s.push_str(",\"head_sizes\":[");
    let sizes: Vec<String> = e.head_sizes.iter().map(u64::to_string).collect();
    s.push_str(&sizes.join(","));
    s.push_str("],\"signature\":\"");
    s.push_str(&hex::encode(&e.signature));
    s.push_str("\"}");
    s
}

fn write_opt(s: &mut String, v: Option<&str>) {
    match v {
        Some(v) => jcs::write_string(s, v),
        None => s.push_str("null"),
    }
}

fn write_head_fields(
    s: &mut String,
    size: u64,
    root: &[u8; 32],
    time: &DateTime<Utc>,
    key_id: &str,
) {
    s.push_str("\"tree_size\":");
    s.push_str(&size.to_string());
    s.push_str(",\"root_hash\":\"");
    s.push_str(&hex::encode(root));
    s.push_str("\",\"timestamp\":");
    jcs::write_string(s, &format_time(time));
    s.push_str(",\"key_id\":");
    jcs::write_string(s, key_id);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFields {
    seq: u64,
    time: String,
    actor: String,
    org_id: Option<String>,
    action: String,
    object_id: Option<String>,
    details: Value,
    prev_hash: String,
    hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadFields {
    tree_size: u64,
    root_hash: String,
    timestamp: String,
    key_id: String,
    signature: String,
    head_sizes: Option<Vec<u64>>,
}

fn parse_err(msg: impl std::fmt::Display) -> AuditError {
    AuditError::Export(format!("not a valid export line: {msg}"))
}

fn signature_hex(text: &str) -> Result<Vec<u8>, AuditError> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(parse_err("signature has uppercase hex digits"));
    }
    hex::decode(text).map_err(|e| parse_err(format_args!("signature is not hex: {e}")))
}

/// Parses one export line (without its newline). Only the exact form the writer produces is
/// accepted: the parsed content is rendered again and must equal `line` byte for byte.
pub fn parse_line(line: &str) -> Result<ExportLine, AuditError> {
    let mut value: Value =
        serde_json::from_str(line).map_err(|e| parse_err(format_args!("bad JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| parse_err("not a JSON object"))?;
    let kind = match obj.remove("type") {
        Some(Value::String(s)) => s,
        _ => return Err(parse_err("no string member `type`")),
    };
    let parsed = match kind.as_str() {
        "entry" => {
            let f: EntryFields =
                serde_json::from_value(value).map_err(|e| parse_err(format_args!("entry: {e}")))?;
            ExportLine::Entry(AuditEntry {
                seq: f.seq,
                time: parse_time(&f.time)?,
                actor: f.actor,
                org_id: f.org_id,
                action: f.action,
                object_id: f.object_id,
                details: f.details,
                prev_hash: parse_hash("prev_hash", &f.prev_hash)?,
                hash: parse_hash("hash", &f.hash)?,
            })
        }
        "tree_head" | "export_end" => {
            let f: HeadFields = serde_json::from_value(value)
                .map_err(|e| parse_err(format_args!("{kind}: {e}")))?;
            let timestamp = parse_time(&f.timestamp)?;
            let root_hash = parse_hash("root_hash", &f.root_hash)?;
            let signature = signature_hex(&f.signature)?;
            match (kind.as_str(), f.head_sizes) {
                ("tree_head", None) => ExportLine::TreeHead(TreeHead {
                    tree_size: f.tree_size,
                    root_hash,
                    timestamp,
                    key_id: f.key_id,
                    signature,
                }),
                ("export_end", Some(head_sizes)) => ExportLine::ExportEnd(ExportEnd {
                    tree_size: f.tree_size,
                    root_hash,
                    timestamp,
                    key_id: f.key_id,
                    head_sizes,
                    signature,
                }),
                ("tree_head", Some(_)) => {
                    return Err(parse_err("tree_head: unknown field `head_sizes`"))
                }
                _ => return Err(parse_err("export_end: missing field `head_sizes`")),
            }
        }
        other => return Err(parse_err(format_args!("unknown type `{other}`"))),
    };
    let rendered = match &parsed {
        ExportLine::Entry(e) => entry_line(e),
        ExportLine::TreeHead(h) => tree_head_line(h),
        ExportLine::ExportEnd(e) => export_end_line(e),
    };
    if rendered != line {
        return Err(parse_err(
            "not in canonical form (member order, spacing, escapes, number or hex spelling differ from what the writer produces)",
        ));
    }
    Ok(parsed)
}

/// The hash chain and Merkle tree of the entries seen so far.
#[derive(Debug, Clone, Default)]
struct Chain {
    count: u64,
    prev_hash: [u8; 32],
    tree: TreeBuilder,
    last_time: Option<DateTime<Utc>>,
    /// Scratch buffers for the entry encoding, reused for every entry.
    buf: Vec<u8>,
    text: String,
}

impl Chain {
    fn new() -> Self {
        Chain {
            prev_hash: GENESIS_HASH,
            ..Chain::default()
        }
    }

    fn append(&mut self, e: &AuditEntry) -> Result<(), String> {
        let expected = self.count.saturating_add(1);
        if e.seq != expected {
            return Err(if e.seq < expected {
                format!("expected seq {expected} but found seq {}: an entry was inserted, duplicated or moved here", e.seq)
            } else if e.seq == expected.saturating_add(1) {
                format!("expected seq {expected} but found seq {}: entry {expected} is missing (deleted or moved)", e.seq)
            } else {
                format!(
                    "expected seq {expected} but found seq {}: entries {expected} to {} are missing (deleted or moved)",
                    e.seq,
                    e.seq - 1
                )
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(format!(
                "prev_hash is not the hash of entry {}: the chain is broken here (an entry was altered, deleted or inserted)",
                self.count
            ));
        }
        if e.compute_hash_with(&mut self.buf, &mut self.text) != e.hash {
            return Err(
                "hash does not match the entry's contents: the entry was altered".to_owned(),
            );
        }
        self.count = expected;
        self.prev_hash = e.hash;
        self.tree.push_leaf_hash(e.leaf_hash());
        self.last_time = Some(e.time);
        Ok(())
    }

    /// [`Chain::append`] for an entry as stored: the hash is taken over the stored texts
    /// (`details` as the canonical JSON text a store writes); only when that does not match is
    /// `details` parsed and canonicalised, so stored JSON that is not in canonical form but means
    /// the same still verifies, exactly as through [`AuditEntry`].
    fn append_stored(&mut self, e: &StoredEntry<'_>) -> Result<(), String> {
        let expected = self.count.saturating_add(1);
        if e.seq != expected {
            return Err(if e.seq < expected {
                format!("expected seq {expected} but found seq {}: an entry was inserted, duplicated or moved here", e.seq)
            } else if e.seq == expected.saturating_add(1) {
                format!("expected seq {expected} but found seq {}: entry {expected} is missing (deleted or moved)", e.seq)
            } else {
                format!(
                    "expected seq {expected} but found seq {}: entries {expected} to {} are missing (deleted or moved)",
                    e.seq,
                    e.seq - 1
                )
            });
        }
        let prev_hash = parse_hash("prev_hash", e.prev_hash).map_err(|err| err.to_string())?;
        let hash = parse_hash("hash", e.hash).map_err(|err| err.to_string())?;
        let time = parse_time_fast(e.time).map_err(|err| err.to_string())?;
        if prev_hash != self.prev_hash {
            return Err(format!(
                "prev_hash is not the hash of entry {}: the chain is broken here (an entry was altered, deleted or inserted)",
                self.count
            ));
        }
        if e.hash_as_stored(&prev_hash, &mut self.buf) != hash {
            // Details stored in another JSON spelling: canonicalise and hash again.
            let canonical = serde_json::from_str::<Value>(e.details)
                .map(|v| jcs::canonical(&v))
                .ok();
            let again = canonical.filter(|c| c != e.details).map(|c| {
                StoredEntry { details: &c, ..*e }.hash_as_stored(&prev_hash, &mut self.buf)
            });
            if again != Some(hash) {
                return Err(
                    "hash does not match the entry's contents: the entry was altered".to_owned(),
                );
            }
        }
        self.count = expected;
        self.prev_hash = hash;
        self.tree.push_leaf_hash(crate::merkle::leaf_hash(&hash));
        self.last_time = Some(time);
        Ok(())
    }

    fn check_root(&self, what: &str, size: u64, root: &[u8; 32]) -> Result<(), String> {
        if size != self.count {
            return Err(format!(
                "{what} covers {size} entries but {} entries precede it: it must directly follow entry {size} (a line was deleted, inserted or moved)",
                self.count
            ));
        }
        if *root != self.tree.root() {
            return Err(format!(
                "{what} root_hash does not match the Merkle root of entries 1..={size}: the signed history differs from these entries"
            ));
        }
        Ok(())
    }
}

/// Streams an export line by line. Feed every line with its `\n` to [`ExportVerifier::push_line`]
/// and call [`ExportVerifier::finish`] at the end; stop at the first error. Cloning gives a
/// checkpoint to resume from.
#[derive(Debug, Clone)]
pub struct ExportVerifier<'k> {
    keys: &'k [VerifyingKey],
    line: usize,
    chain: Chain,
    /// (tree_size, line) of every tree_head line so far.
    heads: Vec<(u64, usize)>,
    end: Option<ExportEnd>,
}

impl<'k> ExportVerifier<'k> {
    /// A verifier that trusts signatures by `trusted_keys`.
    pub fn new(trusted_keys: &'k [VerifyingKey]) -> Self {
        ExportVerifier {
            keys: trusted_keys,
            line: 0,
            chain: Chain::new(),
            heads: Vec::new(),
            end: None,
        }
    }

    fn violation(&self, seq: Option<u64>, reason: impl Into<String>) -> Violation {
        Violation {
            line: self.line,
            seq,
            reason: reason.into(),
        }
    }

    /// Checks the next line; `raw` must include its terminating `\n`.
    pub fn push_line(&mut self, raw: &[u8]) -> Result<(), Violation> {
        self.line = self.line.saturating_add(1);
        if self.end.is_some() {
            return Err(self.violation(
                None,
                "a line follows export_end: lines were appended, or export_end was moved",
            ));
        }
        let Some(body) = raw.strip_suffix(b"\n") else {
            return Err(self.violation(
                None,
                "the line does not end with a newline: the export was cut inside this line",
            ));
        };
        let text = std::str::from_utf8(body)
            .map_err(|e| self.violation(None, format!("not UTF-8: {e}")))?;
        let parsed = parse_line(text).map_err(|e| self.violation(None, e.to_string()))?;
        match parsed {
            ExportLine::Entry(e) => {
                self.chain
                    .append(&e)
                    .map_err(|r| self.violation(Some(e.seq), r))?;
            }
            ExportLine::TreeHead(h) => {
                let seq = Some(h.tree_size);
                if self
                    .heads
                    .last()
                    .is_some_and(|&(size, _)| size == h.tree_size)
                {
                    return Err(self.violation(
                        seq,
                        format!(
                            "a second tree head for size {}: a line was duplicated or inserted",
                            h.tree_size
                        ),
                    ));
                }
                self.chain
                    .check_root("tree head", h.tree_size, &h.root_hash)
                    .map_err(|r| self.violation(seq, r))?;
                h.verify_trusted(self.keys)
                    .map_err(|e| self.violation(seq, e.to_string()))?;
                self.heads.push((h.tree_size, self.line));
            }
            ExportLine::ExportEnd(end) => {
                let seq = Some(end.tree_size);
                self.chain
                    .check_root("export_end", end.tree_size, &end.root_hash)
                    .map_err(|r| self.violation(seq, r))?;
                end.verify_trusted(self.keys)
                    .map_err(|e| self.violation(seq, e.to_string()))?;
                self.check_head_list(&end.head_sizes)?;
                self.end = Some(end);
            }
        }
        Ok(())
    }

    /// Compares the tree heads seen with the signed list in export_end and names the line of the
    /// first difference.
    fn check_head_list(&self, listed: &[u64]) -> Result<(), Violation> {
        for i in 0..listed.len().max(self.heads.len()) {
            let want = listed.get(i).copied();
            let seen = self.heads.get(i).copied();
            match (want, seen) {
                (Some(w), Some((s, _))) if w == s => {}
                (Some(w), Some((s, _))) if s < w => {
                    return Err(self.unlisted(s, self.heads_line(i)))
                }
                (None, Some((s, line))) => return Err(self.unlisted(s, line)),
                (Some(w), _) => {
                    // Lines before the missing head: `w` entries and the `i` heads before it.
                    let line = usize::try_from(w)
                        .unwrap_or(usize::MAX)
                        .saturating_add(i)
                        .saturating_add(1);
                    return Err(Violation {
                        line,
                        seq: Some(w),
                        reason: format!(
                            "the tree head for size {w} that the signed export_end lists is missing after entry {w}: a tree head line was deleted"
                        ),
                    });
                }
                (None, None) => break,
            }
        }
        Ok(())
    }

    fn heads_line(&self, i: usize) -> usize {
        self.heads.get(i).map_or(self.line, |&(_, line)| line)
    }

    fn unlisted(&self, size: u64, line: usize) -> Violation {
        Violation {
            line,
            seq: Some(size),
            reason: format!("the tree head for size {size} is not listed in the signed export_end: it was inserted"),
        }
    }

    /// Ends the stream: the export must have ended with a valid export_end line.
    pub fn finish(self) -> Result<ExportSummary, Violation> {
        match self.end {
            Some(end) => Ok(Summary {
                entries: self.chain.count,
                tree_heads: self.heads.len(),
                root_hash: self.chain.tree.root(),
                last_entry_time: self.chain.last_time,
                exported_at: Some(end.timestamp),
            }),
            None => Err(Violation {
                line: self.line.saturating_add(1),
                seq: (self.chain.count > 0).then_some(self.chain.count),
                reason: if self.line == 0 {
                    "the export is empty: it must end with a signed export_end line".to_owned()
                } else {
                    format!(
                        "the export ends after line {} without the signed export_end line: its tail was cut",
                        self.line
                    )
                },
            }),
        }
    }
}

/// Verifies a whole export held as bytes.
pub fn verify_export_bytes(
    bytes: &[u8],
    trusted_keys: &[VerifyingKey],
) -> Result<ExportSummary, Violation> {
    let mut verifier = ExportVerifier::new(trusted_keys);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        verifier.push_line(line)?;
    }
    verifier.finish()
}

/// Verifies a whole export: `Ok` when intact, else the first bad line.
pub fn verify_export(
    text: &str,
    trusted_keys: &[VerifyingKey],
) -> Result<ExportSummary, Violation> {
    verify_export_bytes(text.as_bytes(), trusted_keys)
}

/// Writes an export incrementally: [`ExportWriter::push`] each entry in seq order, write what it
/// returns, then write what [`ExportWriter::finish`] returns. It checks the chain as it goes, so a
/// damaged log cannot produce an export that verifies.
#[derive(Debug)]
pub struct ExportWriter {
    heads: Vec<TreeHead>,
    next_head: usize,
    chain: Chain,
    written: Vec<u64>,
}

impl ExportWriter {
    /// `heads`: the stored tree heads, in any order. Heads of size 0 are left out (they cover
    /// nothing), and of several heads for one size the earliest signed is kept.
    pub fn new(heads: &[TreeHead]) -> Self {
        let mut heads: Vec<TreeHead> = heads.iter().filter(|h| h.tree_size > 0).cloned().collect();
        heads.sort_by(|a, b| {
            a.tree_size
                .cmp(&b.tree_size)
                .then(a.timestamp.cmp(&b.timestamp))
        });
        heads.dedup_by_key(|h| h.tree_size);
        ExportWriter {
            heads,
            next_head: 0,
            chain: Chain::new(),
            written: Vec::new(),
        }
    }

    /// The lines (each ending in `\n`) for the next entry and any tree head at its size.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<String, AuditError> {
        self.chain.append(entry).map_err(|r| {
            AuditError::Export(format!("seq {}: {r}; run `tillit audit verify`", entry.seq))
        })?;
        let mut out = entry_line(entry);
        out.push('\n');
        while let Some(h) = self.heads.get(self.next_head) {
            if h.tree_size > self.chain.count {
                break;
            }
            self.next_head += 1;
            if h.tree_size < self.chain.count {
                continue; // Entries pushed out of order would have failed above; unreachable.
            }
            self.chain
                .check_root("tree head", h.tree_size, &h.root_hash)
                .map_err(|r| AuditError::Export(format!("{r}; run `tillit audit verify`")))?;
            out.push_str(&tree_head_line(h));
            out.push('\n');
            self.written.push(h.tree_size);
        }
        Ok(out)
    }

    /// The signed export_end line (with its `\n`). Tree heads beyond the last entry are left out.
    pub fn finish(self, timestamp: DateTime<Utc>, key: &SigningKey) -> Result<String, AuditError> {
        let end = ExportEnd::sign(
            self.chain.count,
            self.chain.tree.root(),
            self.written,
            timestamp,
            key,
        )?;
        let mut out = export_end_line(&end);
        out.push('\n');
        Ok(out)
    }
}

/// Writes a complete export of `entries` (in seq order, from seq 1) with the stored `heads`,
/// ending in an export_end signed with `key` at `timestamp`.
pub fn write_export(
    entries: impl IntoIterator<Item = AuditEntry>,
    heads: &[TreeHead],
    timestamp: DateTime<Utc>,
    key: &SigningKey,
) -> Result<String, AuditError> {
    let mut writer = ExportWriter::new(heads);
    let mut out = String::new();
    for e in entries {
        out.push_str(&writer.push(&e)?);
    }
    out.push_str(&writer.finish(timestamp, key)?);
    Ok(out)
}

/// Verifies the live log: `entries` in seq order from seq 1 and all stored tree `heads` (any
/// order). Checks the hash chain, every entry hash, every tree head's root against the entries
/// and its signature with `trusted_keys`, and that no tree head covers more entries than exist
/// (which shows a cut tail). `Violation::line` is the 1-based position in the log.
/// [`ChainVerifier`] does the same one entry at a time, for a log read in pages.
pub fn verify_chain(
    entries: impl IntoIterator<Item = AuditEntry>,
    heads: &[TreeHead],
    trusted_keys: &[VerifyingKey],
) -> Result<Summary, Violation> {
    let mut verifier = ChainVerifier::new(heads, trusted_keys)?;
    for e in entries {
        verifier.push(&e)?;
    }
    verifier.finish()
}

/// [`verify_chain`] as a stream: [`ChainVerifier::push`] each entry in seq order, then
/// [`ChainVerifier::finish`]; stop at the first error. Memory is O(log n) plus the heads.
#[derive(Debug, Clone)]
pub struct ChainVerifier<'a> {
    heads: Vec<&'a TreeHead>,
    next_head: usize,
    keys: &'a [VerifyingKey],
    chain: Chain,
    line: usize,
}

impl<'a> ChainVerifier<'a> {
    /// A verifier for a log with these stored tree heads (any order), signed by `trusted_keys`.
    /// Checks the heads of size 0 at once.
    pub fn new(heads: &'a [TreeHead], trusted_keys: &'a [VerifyingKey]) -> Result<Self, Violation> {
        let mut heads: Vec<&TreeHead> = heads.iter().collect();
        heads.sort_by_key(|h| h.tree_size);
        let mut v = Self {
            heads,
            next_head: 0,
            keys: trusted_keys,
            chain: Chain::new(),
            line: 0,
        };
        v.check_heads_here()?;
        Ok(v)
    }

    /// Checks the tree heads whose size is the number of entries seen so far.
    fn check_heads_here(&mut self) -> Result<(), Violation> {
        while let Some(h) = self
            .heads
            .get(self.next_head)
            .filter(|h| h.tree_size == self.chain.count)
        {
            let at = usize::try_from(h.tree_size).unwrap_or(usize::MAX);
            let v = |reason: String| Violation {
                line: at,
                seq: Some(h.tree_size),
                reason,
            };
            self.chain
                .check_root(
                    &format!("tree head signed {}", format_time(&h.timestamp)),
                    h.tree_size,
                    &h.root_hash,
                )
                .map_err(v)?;
            h.verify_trusted(self.keys).map_err(|e| v(e.to_string()))?;
            self.next_head += 1;
        }
        Ok(())
    }

    /// The next entry of the log.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), Violation> {
        self.line = self.line.saturating_add(1);
        self.chain.append(e).map_err(|reason| Violation {
            line: self.line,
            seq: Some(e.seq),
            reason,
        })?;
        self.check_heads_here()
    }

    /// The next entry of the log, as stored ([`StoredEntry`]): the same checks as
    /// [`ChainVerifier::push`] without decoding the entry first.
    pub fn push_stored(&mut self, e: &StoredEntry<'_>) -> Result<(), Violation> {
        self.line = self.line.saturating_add(1);
        self.chain.append_stored(e).map_err(|reason| Violation {
            line: self.line,
            seq: Some(e.seq),
            reason,
        })?;
        self.check_heads_here()
    }

    /// Entries seen so far.
    pub fn count(&self) -> u64 {
        self.chain.count
    }

    /// The Merkle root of the entries seen so far.
    pub fn root(&self) -> [u8; 32] {
        self.chain.tree.root()
    }

    /// Ends the log: no stored tree head may cover more entries than were seen.
    pub fn finish(self) -> Result<Summary, Violation> {
        if let Some(h) = self.heads.get(self.next_head) {
            let n = self.chain.count;
            return Err(Violation {
                line: usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1),
                seq: Some(n.saturating_add(1)),
                reason: format!(
                    "a tree head signed {} covers {} entries but the log holds only {n}: entries after seq {n} were deleted",
                    format_time(&h.timestamp),
                    h.tree_size
                ),
            });
        }
        Ok(Summary {
            entries: self.chain.count,
            tree_heads: self.heads.len(),
            root_hash: self.chain.tree.root(),
            last_entry_time: self.chain.last_time,
            exported_at: None,
        })
    }
}
