//! The printable attestation card: an ID-1 card (85.60 × 53.98 mm, ISO/IEC 7810) with the type's
//! name, the issuer, the holder fields, the validity and the QR code, as PDF (one card per page,
//! vector QR, fonts embedded and subset) and as PNG.
//!
//! Pure: no I/O, no async, no clock. The caller passes everything already decided and localised
//! ([`CardSpec`]); only the fixed labels ("Giltig till", "Gyldig til", "Valid until") come from
//! here, in the card's [`Lang`]. Both renderers draw the same layout ([`layout`]): one list of
//! rectangles, glyph runs and the QR, placed with the font's own metrics, so the PDF and the PNG
//! agree to the point.
//!
//! The font is DejaVu Sans (regular and bold, from the `dejavu` crate; Bitstream Vera licence with
//! public-domain DejaVu changes): every Nordic letter (å ä ö æ ø, é ü) is in it, and no system
//! font is ever looked up.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod font;
mod layout;
mod pdf;
mod png;

use chrono::NaiveDate;

pub use pdf::render_pdf;
pub use png::render_png;

/// The card's width, millimetres (ID-1).
pub const CARD_WIDTH_MM: f32 = 85.60;
/// The card's height, millimetres (ID-1).
pub const CARD_HEIGHT_MM: f32 = 53.98;
/// The most holder fields a card has room for.
pub const MAX_FIELDS: usize = 6;
/// The resolutions [`render_png`] accepts, dots per inch.
pub const PNG_DPI: std::ops::RangeInclusive<u32> = 72..=1200;

/// The language of the card's fixed labels (the type's language: its display name and the
/// field labels in [`CardSpec`] are the caller's, already in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Swedish.
    Sv,
    /// Danish.
    Da,
    /// Norwegian Bokmål.
    Nb,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order of DESIGN.md (sv, da, nb, en).
    pub const ALL: [Lang; 4] = [Lang::Sv, Lang::Da, Lang::Nb, Lang::En];

    /// The BCP 47 code: `sv`, `da`, `nb`, `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::Da => "da",
            Lang::Nb => "nb",
            Lang::En => "en",
        }
    }

    /// "Valid from" in this language.
    pub fn valid_from(self) -> &'static str {
        match self {
            Lang::Sv => "Giltig från",
            Lang::Da | Lang::Nb => "Gyldig fra",
            Lang::En => "Valid from",
        }
    }

    /// "Valid until" in this language.
    pub fn valid_until(self) -> &'static str {
        match self {
            Lang::Sv => "Giltig till",
            Lang::Da | Lang::Nb => "Gyldig til",
            Lang::En => "Valid until",
        }
    }

    /// A date as this language writes it: ISO 8601 in Swedish and English (2027-12-01), the
    /// day first with dots in Danish and Norwegian (01.12.2027).
    pub fn date(self, date: NaiveDate) -> String {
        match self {
            Lang::Sv | Lang::En => date.format("%Y-%m-%d").to_string(),
            Lang::Da | Lang::Nb => date.format("%d.%m.%Y").to_string(),
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = CardError;

    /// `sv`, `da`, `nb` (also `no`, Norwegian without a written standard, as Bokmål) or `en`,
    /// any case.
    fn from_str(s: &str) -> Result<Self, CardError> {
        match s.to_ascii_lowercase().as_str() {
            "sv" => Ok(Lang::Sv),
            "da" => Ok(Lang::Da),
            "nb" | "no" => Ok(Lang::Nb),
            "en" => Ok(Lang::En),
            _ => Err(CardError::Language(s.to_string())),
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The validity a card shows: two dates, the second not before the first (the caller decides
/// in which time zone an instant becomes a date).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    from: NaiveDate,
    until: NaiveDate,
}

impl Validity {
    /// `from` ..= `until`; an `until` before `from` is refused.
    pub fn new(from: NaiveDate, until: NaiveDate) -> Result<Self, CardError> {
        if until < from {
            return Err(CardError::Validity { from, until });
        }
        Ok(Self { from, until })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn until(&self) -> NaiveDate {
        self.until
    }
}

/// What one card shows. Every text is the caller's, already in the card's language, except the
/// fixed labels (validity), which come from [`Lang`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardSpec {
    /// The attestation type's display name ("Parkeringstillstånd").
    pub title: String,
    /// The issuer's name ("Ankeborgs kommun").
    pub issuer: String,
    /// The holder fields the type names, in order, as (label, value): at most [`MAX_FIELDS`].
    pub fields: Vec<(String, String)>,
    pub validity: Validity,
    pub lang: Lang,
    /// The text the QR code carries (a `TL1:` or `HC1:` text, or any other).
    pub qr_text: String,
}

/// Why a card could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("unknown card language {0:?}; use sv, da, nb or en")]
    Language(String),
    #[error("the validity ends ({until}) before it starts ({from})")]
    Validity { from: NaiveDate, until: NaiveDate },
    #[error("a card has room for {max} holder fields, not {got}")]
    TooManyFields { got: usize, max: usize },
    #[error("no cards to draw")]
    NoCards,
    #[error("the QR code cannot be drawn: {0}")]
    Qr(String),
    #[error("a PNG card is drawn at {min} to {max} dpi, not {got}", min = PNG_DPI.start(), max = PNG_DPI.end())]
    Dpi { got: u32 },
    #[error("the card cannot be drawn: {0}")]
    Render(String),
}
