//! A zlib (RFC 1950) encoder for QR payloads: one DEFLATE (RFC 1951) block with the fixed
//! Huffman code, greedy LZ77 matching over a small hash table, or a stored block when that is
//! shorter.
//!
//! Why not a library: the general-purpose compressors (miniz_oxide, zlib-rs, libdeflate) keep
//! 128–160 KiB of hash and window tables that must be cleared for every stream, which on a
//! payload of a few hundred bytes costs more than the ECDSA signature over it
//! (docs/benchmarks.md). A QR payload is at most a few KiB, so a 16 KiB table and one block
//! are enough; the fixed code avoids building a Huffman tree per payload, and on CBOR of this
//! size it is within a few bytes of the dynamic codes the libraries choose. Any inflater reads
//! the result; the tests inflate it with miniz_oxide over a table of inputs and the fuzz target
//! `deflate` round-trips arbitrary data.

/// Hash table size (log2) for the 3-byte prefixes; 4096 heads = 16 KiB, cleared per call.
const HASH_BITS: u32 = 12;
/// DEFLATE's window: a match may reach back at most this far.
const WINDOW: usize = 32 * 1024;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// Largest stored block (LEN is 16 bits).
const MAX_STORED: usize = 65_535;

/// zlib-compress `data`: header `78 01`, one or more DEFLATE blocks, Adler-32.
pub fn zlib_compress(data: &[u8]) -> Vec<u8> {
    let mut bits = BitWriter::with_capacity(data.len() / 2 + 16);
    // CMF 0x78: deflate, 32 KiB window. FLG 0x01: "fastest" level, no dictionary, and
    // (0x78 * 256 + 0x01) is a multiple of 31 as the header check requires.
    bits.out.extend_from_slice(&[0x78, 0x01]);
    encode_fixed(&mut bits, data);
    let mut out = bits.finish();
    let stored_len = 2 + stored_size(data.len());
    if out.len() > stored_len {
        out.clear();
        out.extend_from_slice(&[0x78, 0x01]);
        encode_stored(&mut out, data);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// Size of `data` as stored blocks: 5 header bytes per block of up to 65,535 bytes.
fn stored_size(len: usize) -> usize {
    len + 5 * len.div_ceil(MAX_STORED).max(1)
}

fn encode_stored(out: &mut Vec<u8>, data: &[u8]) {
    let mut chunks = data.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        // BFINAL in bit 0, BTYPE 00 (stored); the rest of the byte pads to a byte boundary.
        out.push(last);
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

/// One final block with the fixed Huffman code (RFC 1951 §3.2.6).
fn encode_fixed(bits: &mut BitWriter, data: &[u8]) {
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE 01: fixed Huffman codes
    let mut head = [0u32; 1 << HASH_BITS]; // position + 1 of the last 3-byte prefix seen; 0 = none
    let mut i = 0;
    while let Some(prefix) = data.get(i..i + MIN_MATCH) {
        let slot = hash(prefix);
        let candidate = head.get(slot).copied().unwrap_or(0);
        set_head(&mut head, slot, i);
        if let Some(length) = match_length(data, candidate, i) {
            // `candidate` is `position + 1` of an earlier position, so the distance is ≥ 1.
            let distance = i + 1 - to_usize(candidate);
            put_length(bits, length);
            put_distance(bits, distance);
            // Index the positions inside the match so later text can refer to them.
            for p in i + 1..i + length {
                if let Some(prefix) = data.get(p..p + MIN_MATCH) {
                    set_head(&mut head, hash(prefix), p);
                }
            }
            i += length;
        } else {
            put_literal(bits, prefix.first().copied().unwrap_or(0));
            i += 1;
        }
    }
    for &byte in data.get(i..).unwrap_or_default() {
        put_literal(bits, byte);
    }
    put_symbol(bits, 256); // end of block
}

fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn set_head(head: &mut [u32], slot: usize, position: usize) {
    if let (Some(entry), Ok(value)) = (head.get_mut(slot), u32::try_from(position + 1)) {
        *entry = value;
    }
}

fn hash(prefix: &[u8]) -> usize {
    let v = prefix
        .iter()
        .take(MIN_MATCH)
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    to_usize(v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS))
}

/// The length of the match between the text at `candidate - 1` and at `i`, if it is a usable
/// one (at least 3 bytes, within the window).
fn match_length(data: &[u8], candidate: u32, i: usize) -> Option<usize> {
    let start = to_usize(candidate).checked_sub(1)?;
    if i - start > WINDOW {
        return None;
    }
    let limit = MAX_MATCH.min(data.len() - i);
    let earlier = data.get(start..start + limit)?;
    let here = data.get(i..i + limit)?;
    let length = earlier.iter().zip(here).take_while(|(a, b)| a == b).count();
    (length >= MIN_MATCH).then_some(length)
}

fn put_literal(bits: &mut BitWriter, byte: u8) {
    put_symbol(bits, u16::from(byte));
}

/// A literal/length symbol (0..=287) in the fixed code.
fn put_symbol(bits: &mut BitWriter, symbol: u16) {
    let (code, len) = FIXED_LITERAL_LENGTH
        .get(usize::from(symbol))
        .copied()
        .unwrap_or((0, 0));
    bits.put(u32::from(code), u32::from(len));
}

/// A match length (3..=258): its length symbol and extra bits.
fn put_length(bits: &mut BitWriter, length: usize) {
    let (symbol, extra_bits, extra) = length_code(length);
    put_symbol(bits, symbol);
    bits.put(extra, extra_bits);
}

/// A match distance (1..=32768): its 5-bit fixed code and extra bits.
fn put_distance(bits: &mut BitWriter, distance: usize) {
    let (code, extra_bits, extra) = distance_code(distance);
    bits.put(reverse(u32::from(code), 5), 5);
    bits.put(extra, extra_bits);
}

/// RFC 1951 §3.2.5: the length symbol (257..=285), its number of extra bits and their value.
/// Lengths 3..=10 have a symbol each; then each group of four symbols doubles the span.
fn length_code(length: usize) -> (u16, u32, u32) {
    let x = u32::try_from(length.saturating_sub(MIN_MATCH)).unwrap_or(0);
    let (symbol, extra_bits) = if x < 8 {
        (257 + x, 0)
    } else if x >= 255 {
        (285, 0)
    } else {
        let nb = 31 - x.leading_zeros(); // floor(log2 x), 3..=7
        (257 + 4 * (nb - 1) + ((x >> (nb - 2)) & 3), nb - 2)
    };
    let extra = x & ((1 << extra_bits) - 1);
    (u16::try_from(symbol).unwrap_or(285), extra_bits, extra)
}

/// RFC 1951 §3.2.5: the distance code (0..=29), its number of extra bits and their value.
/// Distances 1..=4 have a code each; then each pair of codes doubles the span.
fn distance_code(distance: usize) -> (u8, u32, u32) {
    let x = u32::try_from(distance.saturating_sub(1)).unwrap_or(0);
    let (code, extra_bits) = if x < 4 {
        (x, 0)
    } else {
        let nb = 31 - x.leading_zeros(); // floor(log2 x), 2..=14
        (2 * nb + ((x >> (nb - 1)) & 1), nb - 1)
    };
    let extra = x & ((1 << extra_bits) - 1);
    (u8::try_from(code).unwrap_or(29), extra_bits, extra)
}

/// Huffman codes are sent most significant bit first, into an LSB-first bit stream.
const fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

/// The fixed literal/length code of RFC 1951 §3.2.6, bit-reversed: `(code, length)` per symbol.
// Evaluated at compile time: an index out of range fails the build, it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const FIXED_LITERAL_LENGTH: [(u16, u8); 288] = {
    let mut table = [(0u16, 0u8); 288];
    let mut symbol = 0;
    while symbol < 288 {
        let (code, len) = match symbol {
            0..=143 => (0x30 + symbol, 8),
            144..=255 => (0x190 + symbol - 144, 9),
            256..=279 => (symbol - 256, 7),
            _ => (0xc0 + symbol - 280, 8),
        };
        table[symbol as usize] = (reverse(code, len) as u16, len as u8);
        symbol += 1;
    }
    table
};

/// Adler-32 (RFC 1950 §8.2).
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // The largest run for which `b` cannot overflow a u32 before the modulo (zlib's NMAX).
    const RUN: usize = 5_552;
    let (mut a, mut b) = (1u32, 0u32);
    for run in data.chunks(RUN) {
        for &byte in run {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Packs bits least significant first, as DEFLATE requires.
struct BitWriter {
    out: Vec<u8>,
    pending: u64,
    count: u32,
}

impl BitWriter {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            pending: 0,
            count: 0,
        }
    }

    /// Append the low `count` bits of `value` (`count` ≤ 32).
    fn put(&mut self, value: u32, count: u32) {
        self.pending |= u64::from(value) << self.count;
        self.count += count;
        if self.count >= 32 {
            self.out
                .extend_from_slice(&(self.pending as u32).to_le_bytes());
            self.pending >>= 32;
            self.count -= 32;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.count > 0 {
            self.out.push(self.pending as u8);
            self.pending >>= 8;
            self.count = self.count.saturating_sub(8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(data: &[u8]) -> Vec<u8> {
        miniz_oxide::inflate::decompress_to_vec_zlib(data).expect("a valid zlib stream")
    }

    fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn any_inflater_reads_what_it_writes() {
        let cbor_like = {
            let mut v = Vec::new();
            for i in 0..40 {
                v.extend_from_slice(b"\xa2\x63sub\x6c19811228987");
                v.push(b'0' + (i % 10) as u8);
                v.extend_from_slice(b"\x64name\x65Kalle");
            }
            v
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("one byte", vec![0x42]),
            ("two bytes", vec![0, 255]),
            ("three equal bytes", vec![7; 3]),
            (
                "a long run (matches overlapping themselves)",
                vec![b'a'; 1000],
            ),
            ("a run of exactly 258 + 3", vec![0; 261]),
            ("every byte value", (0..=255).collect()),
            ("CBOR-like repetitive text", cbor_like),
            ("random 100", pseudo_random(100, 1)),
            ("random 3000 (stored is shorter)", pseudo_random(3000, 2)),
            ("random 70000 (two stored blocks)", pseudo_random(70_000, 3)),
            (
                "repeats further apart than the window",
                [pseudo_random(40_000, 4), pseudo_random(40_000, 4)].concat(),
            ),
            (
                "text",
                b"Jaktkort for Kalle Anka, Ankeborg. Jaktkort for Kalle Anka, Dalarna.".to_vec(),
            ),
        ];
        for (name, data) in cases {
            let compressed = zlib_compress(&data);
            assert_eq!(&compressed[..2], &[0x78, 0x01], "{name}: zlib header");
            assert_eq!(inflate(&compressed), data, "{name}: round trip");
            assert!(
                compressed.len() <= 2 + stored_size(data.len()) + 4,
                "{name}: never longer than stored"
            );
        }
    }

    #[test]
    fn compresses_repetitive_data() {
        let data = b"hunting licence ".repeat(20);
        let compressed = zlib_compress(&data);
        assert!(
            compressed.len() < data.len() / 4,
            "{} bytes",
            compressed.len()
        );
    }

    #[test]
    fn every_match_length_and_distance_code_round_trips() {
        // A random prefix followed by copies of its pieces at chosen distances and lengths.
        let base = pseudo_random(33_000, 9);
        for (length, distance) in [
            (3, 1),
            (4, 2),
            (10, 3),
            (11, 4),
            (13, 5),
            (18, 7),
            (35, 100),
            (130, 1000),
            (227, 4097),
            (257, 16_385),
            (258, 24_577),
            (258, 32_768),
        ] {
            let mut data = base[..32_800].to_vec();
            let from = data.len() - distance;
            let piece = data[from..from + length.min(distance)].to_vec();
            for k in 0..length {
                data.push(piece[k % piece.len()]);
            }
            assert_eq!(
                inflate(&zlib_compress(&data)),
                data,
                "length {length}, distance {distance}"
            );
        }
    }

    /// The length and distance tables of RFC 1951 §3.2.5 as published: base value and number
    /// of extra bits per symbol. Every length and distance maps to the symbol whose range holds it.
    #[test]
    fn length_and_distance_codes_follow_rfc1951_tables() {
        const LENGTH_BASE: [usize; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const LENGTH_EXTRA: [u32; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        const DISTANCE_BASE: [usize; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        const DISTANCE_EXTRA: [u32; 30] = [
            0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
            12, 13, 13,
        ];
        for length in 3..=258 {
            let (symbol, extra_bits, extra) = length_code(length);
            let i = usize::from(symbol - 257);
            assert_eq!(LENGTH_EXTRA[i], extra_bits, "length {length}");
            assert_eq!(LENGTH_BASE[i] + extra as usize, length, "length {length}");
            assert!(extra < 1 << extra_bits || extra_bits == 0 && extra == 0);
        }
        for distance in 1..=32_768 {
            let (code, extra_bits, extra) = distance_code(distance);
            let i = usize::from(code);
            assert_eq!(DISTANCE_EXTRA[i], extra_bits, "distance {distance}");
            assert_eq!(
                DISTANCE_BASE[i] + extra as usize,
                distance,
                "distance {distance}"
            );
        }
    }

    #[test]
    fn adler32_matches_rfc1950_examples() {
        for (input, expected) in [
            (&b""[..], 0x0000_0001),
            (b"a", 0x0062_0062),
            (b"Wikipedia", 0x11E6_0398),
        ] {
            assert_eq!(adler32(input), expected);
        }
        let long = vec![0xffu8; 100_000];
        assert_eq!(adler32(&long), miniz_adler(&long));
    }

    fn miniz_adler(data: &[u8]) -> u32 {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(data, 1);
        u32::from_be_bytes(compressed[compressed.len() - 4..].try_into().unwrap())
    }
}
