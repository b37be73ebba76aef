//! The card's two faces (DejaVu Sans regular and bold) and the one text measure both renderers
//! use: one glyph per character through the font's cmap, placed by its advance width. Card
//! texts are short single lines in Latin script, where that is what a shaper would do too (no
//! ligatures or marks in the card's texts that DejaVu would form); no kerning.

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, GlyphId, MetadataProvider};

use crate::CardError;

/// Which face a text is set in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    Regular,
    Bold,
}

impl Face {
    /// The font file (TrueType).
    pub fn data(self) -> &'static [u8] {
        match self {
            Face::Regular => dejavu::sans::regular(),
            Face::Bold => dejavu::sans::bold(),
        }
    }
}

/// One placed glyph: its id, the byte range of the character it draws, its advance in em.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacedGlyph {
    pub id: u16,
    pub text_range: std::ops::Range<usize>,
    pub advance_em: f32,
}

/// A line of text set in one face: the glyphs and the text they draw (for the PDF's text layer).
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub face: Face,
    pub text: String,
    pub glyphs: Vec<PlacedGlyph>,
}

impl Run {
    /// The run's width at `size`, in the unit of `size`.
    pub fn width(&self, size: f32) -> f32 {
        self.glyphs.iter().map(|g| g.advance_em).sum::<f32>() * size
    }
}

/// A face's cmap and advances, read once per rendering.
pub struct Metrics<'a> {
    face: Face,
    font: FontRef<'a>,
    units_per_em: f32,
}

impl Metrics<'static> {
    pub fn new(face: Face) -> Result<Self, CardError> {
        let font = FontRef::new(face.data())
            .map_err(|e| CardError::Render(format!("the card font cannot be read: {e}")))?;
        let units_per_em = f32::from(
            font.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        Ok(Self {
            face,
            font,
            units_per_em: units_per_em.max(1.0),
        })
    }
}

impl<'a> Metrics<'a> {
    pub fn font(&self) -> &FontRef<'a> {
        &self.font
    }

    /// Set `text` as one line: control characters become spaces; a character the font lacks
    /// draws its `.notdef` box (DejaVu Sans covers every Latin, Greek and Cyrillic letter).
    pub fn run(&self, text: &str) -> Run {
        let charmap = self.font.charmap();
        let advances = self
            .font
            .glyph_metrics(Size::unscaled(), LocationRef::default());
        let mut shown = String::with_capacity(text.len());
        let mut glyphs = Vec::with_capacity(text.len());
        for ch in text.chars() {
            let ch = if ch.is_control() { ' ' } else { ch };
            let start = shown.len();
            shown.push(ch);
            let id = charmap.map(ch).unwrap_or(GlyphId::NOTDEF);
            let advance = advances.advance_width(id).unwrap_or(0.0);
            glyphs.push(PlacedGlyph {
                id: u16::try_from(id.to_u32()).unwrap_or(0),
                text_range: start..shown.len(),
                advance_em: advance / self.units_per_em,
            });
        }
        Run {
            face: self.face,
            text: shown,
            glyphs,
        }
    }

    /// `text` at `size`, made to fit `max_width`: at `size` when it fits, else smaller down to
    /// `min_size`, else cut with an ellipsis at `min_size`. Returns the run and its size.
    pub fn fit(&self, text: &str, size: f32, min_size: f32, max_width: f32) -> (Run, f32) {
        let run = self.run(text);
        let width = run.width(size);
        if width <= max_width {
            return (run, size);
        }
        let shrunk = size * max_width / width;
        if shrunk >= min_size {
            return (run, shrunk);
        }
        // No card line holds more than ~120 characters even at the smallest size.
        let mut chars: Vec<char> = text.chars().take(160).collect();
        while !chars.is_empty() {
            chars.pop();
            let cut: String = chars.iter().collect::<String>().trim_end().to_string() + "…";
            let run = self.run(&cut);
            if run.width(min_size) <= max_width {
                return (run, min_size);
            }
        }
        (self.run("…"), min_size)
    }
}
