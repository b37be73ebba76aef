//! The PNG renderer (tiny-skia): the same layout as the PDF, rasterised at a given resolution.
//! Glyphs are filled from the font's outlines (skrifa), anti-aliased; the QR modules are snapped
//! to whole pixels and drawn without anti-aliasing, so every module is sharp at any resolution.

use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::{GlyphId, MetadataProvider};
use tillit_credential::render::QUIET_ZONE;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Rect, Transform};

use crate::font::Face;
use crate::layout::{self, dark_runs, Fonts, Item, Rgb};
use crate::{CardError, CardSpec, PNG_DPI};

fn paint(color: Rgb, anti_alias: bool) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(color.0, color.1, color.2, 255);
    paint.anti_alias = anti_alias;
    paint
}

/// Glyph outlines, in pixels with y down, into a tiny-skia path.
struct Pen<'p> {
    path: &'p mut PathBuilder,
    x: f32,
    y: f32,
}

impl OutlinePen for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.path.move_to(self.x + x, self.y - y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.path.line_to(self.x + x, self.y - y);
    }
    fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
        self.path
            .quad_to(self.x + cx0, self.y - cy0, self.x + x, self.y - y);
    }
    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        self.path.cubic_to(
            self.x + cx0,
            self.y - cy0,
            self.x + cx1,
            self.y - cy1,
            self.x + x,
            self.y - y,
        );
    }
    fn close(&mut self) {
        self.path.close();
    }
}

/// Draw `card` as a PNG image at `dpi` dots per inch (300: 1011 × 638 pixels).
pub fn render_png(card: &CardSpec, dpi: u32) -> Result<Vec<u8>, CardError> {
    if !PNG_DPI.contains(&dpi) {
        return Err(CardError::Dpi { got: dpi });
    }
    let fonts = Fonts::new()?;
    let drawing = layout::layout(card, &fonts)?;
    let scale = dpi as f32 / 72.0;
    let px = |pt: f32| (pt * scale).round().max(1.0) as u32;
    let mut pixmap = Pixmap::new(px(drawing.width), px(drawing.height))
        .ok_or_else(|| CardError::Render("the image size is out of range".into()))?;
    for item in &drawing.items {
        match item {
            Item::Rect { x, y, w, h, color } => {
                if let Some(rect) = Rect::from_xywh(x * scale, y * scale, w * scale, h * scale) {
                    pixmap.fill_rect(rect, &paint(*color, false), Transform::identity(), None);
                }
            }
            Item::Text {
                x,
                baseline,
                size,
                color,
                run,
            } => {
                let metrics = match run.face {
                    Face::Regular => &fonts.regular,
                    Face::Bold => &fonts.bold,
                };
                let outlines = metrics.font().outline_glyphs();
                let ppem = size * scale;
                let settings = || DrawSettings::unhinted(Size::new(ppem), LocationRef::default());
                let mut path = PathBuilder::new();
                let mut pen_x = x * scale;
                for glyph in &run.glyphs {
                    if let Some(outline) = outlines.get(GlyphId::new(u32::from(glyph.id))) {
                        let mut pen = Pen {
                            path: &mut path,
                            x: pen_x,
                            y: baseline * scale,
                        };
                        // A glyph that cannot be drawn is left out; the others still are.
                        let _ = outline.draw(settings(), &mut pen);
                    }
                    pen_x += glyph.advance_em * ppem;
                }
                if let Some(path) = path.finish() {
                    pixmap.fill_path(
                        &path,
                        &paint(*color, true),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
            Item::Qr {
                x, y, side, symbol, ..
            } => {
                // Whole pixels per module, the symbol centred in its square.
                let total = symbol.width + 2 * QUIET_ZONE;
                let side_px = (side * scale).floor() as u32;
                let module = (side_px / total).max(1);
                let inset = (side_px.saturating_sub(module * total)) / 2;
                let x0 = (x * scale).round() as u32 + inset + QUIET_ZONE * module;
                let y0 = (y * scale).round() as u32 + inset + QUIET_ZONE * module;
                if let Some(rect) =
                    Rect::from_xywh(x * scale, y * scale, side * scale, side * scale)
                {
                    pixmap.fill_rect(
                        rect,
                        &paint(layout::WHITE, false),
                        Transform::identity(),
                        None,
                    );
                }
                let mut path = PathBuilder::new();
                for (mx, my, len) in dark_runs(symbol) {
                    if let Some(rect) = Rect::from_xywh(
                        (x0 + mx * module) as f32,
                        (y0 + my * module) as f32,
                        (len * module) as f32,
                        module as f32,
                    ) {
                        path.push_rect(rect);
                    }
                }
                if let Some(path) = path.finish() {
                    pixmap.fill_path(
                        &path,
                        &paint(layout::BLACK, false),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
        }
    }
    pixmap
        .encode_png()
        .map_err(|e| CardError::Render(format!("the PNG cannot be written: {e}")))
}
