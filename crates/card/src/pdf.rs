//! The PDF renderer (krilla): one ID-1 page per card. Text is real text (glyphs of the embedded,
//! subset DejaVu Sans with a ToUnicode map, so it can be searched and copied); the QR code is
//! vector: one filled path, the outline of the dark modules, in module units.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Transform};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::Document;
use tillit_credential::render::QUIET_ZONE;

use crate::font::Face;
use crate::layout::{self, dark_outline, Fonts, Item, Rgb};
use crate::{CardError, CardSpec};

fn render_error(what: &str) -> CardError {
    CardError::Render(what.to_string())
}

fn fill(color: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

/// Draw `cards` as one PDF, a page of 85.60 × 53.98 mm per card, in order.
pub fn render_pdf(cards: &[CardSpec]) -> Result<Vec<u8>, CardError> {
    if cards.is_empty() {
        return Err(CardError::NoCards);
    }
    let fonts = Fonts::new()?;
    let regular = Font::new(Face::Regular.data().into(), 0)
        .ok_or_else(|| render_error("the regular face cannot be embedded"))?;
    let bold = Font::new(Face::Bold.data().into(), 0)
        .ok_or_else(|| render_error("the bold face cannot be embedded"))?;
    let mut document = Document::new();
    for card in cards {
        let drawing = layout::layout(card, &fonts)?;
        let settings = PageSettings::from_wh(drawing.width, drawing.height)
            .ok_or_else(|| render_error("the card size is not a page size"))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for item in &drawing.items {
            draw(&mut surface, item, &regular, &bold)?;
        }
        surface.finish();
        page.finish();
    }
    let mut metadata = krilla::metadata::Metadata::new()
        .creator("Tillit".to_string())
        .language(cards.first().map_or("en", |c| c.lang.code()).to_string());
    if let Some(first) = cards.first() {
        metadata = metadata.title(first.title.clone());
    }
    document.set_metadata(metadata);
    document
        .finish()
        .map_err(|e| CardError::Render(format!("the PDF cannot be written: {e:?}")))
}

fn draw(
    surface: &mut Surface<'_>,
    item: &Item,
    regular: &Font,
    bold: &Font,
) -> Result<(), CardError> {
    match item {
        Item::Rect { x, y, w, h, color } => {
            let mut path = PathBuilder::new();
            path.push_rect(
                Rect::from_xywh(*x, *y, *w, *h).ok_or_else(|| render_error("empty rectangle"))?,
            );
            let path = path
                .finish()
                .ok_or_else(|| render_error("empty rectangle"))?;
            surface.set_fill(Some(fill(*color)));
            surface.draw_path(&path);
        }
        Item::Text {
            x,
            baseline,
            size,
            color,
            run,
        } => {
            let glyphs: Vec<KrillaGlyph> = run
                .glyphs
                .iter()
                .map(|g| {
                    KrillaGlyph::new(
                        GlyphId::new(u32::from(g.id)),
                        g.advance_em,
                        0.0,
                        0.0,
                        0.0,
                        g.text_range.clone(),
                        None,
                    )
                })
                .collect();
            let font = match run.face {
                Face::Regular => regular,
                Face::Bold => bold,
            };
            surface.set_fill(Some(fill(*color)));
            surface.draw_glyphs(
                Point::from_xy(*x, *baseline),
                &glyphs,
                font.clone(),
                &run.text,
                *size,
                false,
            );
        }
        Item::Qr {
            x,
            y,
            side,
            module,
            symbol,
        } => {
            // The quiet zone is white whatever lies under the square.
            draw(
                surface,
                &Item::Rect {
                    x: *x,
                    y: *y,
                    w: *side,
                    h: *side,
                    color: layout::WHITE,
                },
                regular,
                bold,
            )?;
            let mut path = PathBuilder::new();
            for points in dark_outline(symbol) {
                let mut corners = points.iter();
                if let Some(&(x, y)) = corners.next() {
                    path.move_to(x as f32, y as f32);
                    for &(x, y) in corners {
                        path.line_to(x as f32, y as f32);
                    }
                    path.close();
                }
            }
            let Some(path) = path.finish() else {
                return Ok(()); // no dark module: nothing to draw
            };
            let origin = QUIET_ZONE as f32 * module;
            surface.push_transform(&Transform::from_row(
                *module,
                0.0,
                0.0,
                *module,
                x + origin,
                y + origin,
            ));
            surface.set_fill(Some(fill(layout::BLACK)));
            surface.draw_path(&path);
            surface.pop();
        }
    }
    Ok(())
}
