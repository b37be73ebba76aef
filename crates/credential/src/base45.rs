//! Base45 (RFC 9285), the text encoding that fits QR alphanumeric mode.
//!
//! Two bytes become three characters, a last single byte two characters.
//! Decoding is strict (RFC 9285 §4.2): a character outside the 45-character
//! alphabet, a dangling single character, and a group whose value does not fit
//! its bytes (a triple above 65535, a pair above 255) are all rejected.

use std::fmt;

/// The alphabet of RFC 9285 §4.1, value = index.
const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why a text is not valid Base45.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base45Error {
    /// A character outside the alphabet (lower-case letters included).
    InvalidCharacter { position: usize, character: char },
    /// The text ends with one character that is not part of a pair or triple.
    DanglingCharacter,
    /// A group decodes to a value that does not fit its bytes.
    Overflow { position: usize, value: u32 },
}

impl fmt::Display for Base45Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCharacter {
                position,
                character,
            } => write!(
                f,
                "character {character:?} at position {position} is not in the Base45 alphabet \
                 (0-9, A-Z, space and $%*+-./:); was the text lower-cased or cut?"
            ),
            Self::DanglingCharacter => {
                write!(
                    f,
                    "the text ends with a single character that is not a whole group; was it cut?"
                )
            }
            Self::Overflow { position, value } => write!(
                f,
                "the group at position {position} decodes to {value}, more than its bytes can hold"
            ),
        }
    }
}

impl std::error::Error for Base45Error {}

/// Character → value (0..45), or [`INVALID`] for a character outside the alphabet.
// Evaluated at compile time: an index out of range fails the build, it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xff;

fn value_of(position: usize, c: u8) -> Result<u32, Base45Error> {
    match VALUES.get(usize::from(c)) {
        Some(&v) if v != INVALID => Ok(u32::from(v)),
        _ => Err(Base45Error::InvalidCharacter {
            position,
            character: char::from(c),
        }),
    }
}

fn symbol(v: u32) -> u8 {
    // `v` is always `< 45` by construction (`% 45` or a quotient of a value < 45^3).
    ALPHABET.get(v as usize).copied().unwrap_or(b'0')
}

/// Encode bytes as Base45.
pub fn encode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len().div_ceil(2) * 3);
    let mut chunks = input.chunks_exact(2);
    for pair in &mut chunks {
        if let [a, b] = pair {
            let n = u32::from(*a) * 256 + u32::from(*b);
            out.extend_from_slice(&[symbol(n % 45), symbol(n / 45 % 45), symbol(n / (45 * 45))]);
        }
    }
    if let [a] = chunks.remainder() {
        let n = u32::from(*a);
        out.extend_from_slice(&[symbol(n % 45), symbol(n / 45)]);
    }
    // Every symbol is from the ASCII alphabet.
    String::from_utf8(out).unwrap_or_default()
}

/// Decode a Base45 text strictly (RFC 9285 §4.2).
pub fn decode(input: &str) -> Result<Vec<u8>, Base45Error> {
    decode_bytes(input.as_bytes()).map_err(|err| match err {
        // Every byte before the first invalid one is ASCII, so `position` is a char boundary.
        Base45Error::InvalidCharacter {
            position,
            character,
        } => Base45Error::InvalidCharacter {
            position,
            character: input
                .get(position..)
                .and_then(|s| s.chars().next())
                .unwrap_or(character),
        },
        other => other,
    })
}

fn decode_bytes(bytes: &[u8]) -> Result<Vec<u8>, Base45Error> {
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for (i, group) in bytes.chunks(3).enumerate() {
        let position = i * 3;
        match group {
            [c, d, e] => {
                let n = value_of(position, *c)?
                    + value_of(position + 1, *d)? * 45
                    + value_of(position + 2, *e)? * 45 * 45;
                let word =
                    u16::try_from(n).map_err(|_| Base45Error::Overflow { position, value: n })?;
                out.extend_from_slice(&word.to_be_bytes());
            }
            [c, d] => {
                let n = value_of(position, *c)? + value_of(position + 1, *d)? * 45;
                let byte =
                    u8::try_from(n).map_err(|_| Base45Error::Overflow { position, value: n })?;
                out.push(byte);
            }
            [c] => {
                value_of(position, *c)?;
                return Err(Base45Error::DanglingCharacter);
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_and_byte() {
        for len in 0..40usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 255) as u8).collect();
            assert_eq!(decode(&encode(&data)).unwrap(), data, "length {len}");
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(decode(&encode(&[0xff, 0xff])).unwrap(), [0xff, 0xff]);
    }

    #[test]
    fn rejects_with_the_reason() {
        let cases: &[(&str, Base45Error)] = &[
            (
                "GGW",
                Base45Error::Overflow {
                    position: 0,
                    value: 65536,
                },
            ),
            (
                ":::",
                Base45Error::Overflow {
                    position: 0,
                    value: 91124,
                },
            ),
            (
                "BB8:6",
                Base45Error::Overflow {
                    position: 3,
                    value: 314,
                },
            ),
            ("A", Base45Error::DanglingCharacter),
            ("BB8A", Base45Error::DanglingCharacter),
            (
                "ab",
                Base45Error::InvalidCharacter {
                    position: 0,
                    character: 'a',
                },
            ),
            (
                "BB8=",
                Base45Error::InvalidCharacter {
                    position: 3,
                    character: '=',
                },
            ),
            (
                "BB\u{e9}",
                Base45Error::InvalidCharacter {
                    position: 2,
                    character: '\u{e9}',
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input).unwrap_err(), *want, "{input:?}");
        }
    }
}
