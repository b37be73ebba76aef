//! Where everything on a card goes: one list of rectangles, text runs and the QR code, in PDF
//! points (1/72 in) from the top-left corner. The PDF and the PNG renderer both draw this list.
//!
//! ```text
//! ┌──────────────────────────────────────────────┐
//! │ Title (bold)                      header band │
//! │ Issuer                                        │
//! ├────────────────────────┬─────────────────────┤
//! │ Label                  │ ▄▄▄▄▄  ▄ ▄  ▄▄▄▄▄   │
//! │ Value                  │ █   █ ▀▄█▀  █   █   │
//! │ Label                  │ ▀▀▀▀▀ ▄ ▀ ▄ ▀▀▀▀▀   │
//! │ Value                  │  QR, quiet zone in  │
//! │ Giltig från 2026-12-01 │  the square         │
//! │ Giltig till 2027-12-01 │                     │
//! └────────────────────────┴─────────────────────┘
//! ```

use tillit_credential::render::{qr_symbol, QrSymbol, QUIET_ZONE};

use crate::font::{Face, Metrics, Run};
use crate::{CardError, CardSpec, CARD_HEIGHT_MM, CARD_WIDTH_MM, MAX_FIELDS};

/// Points per millimetre.
pub const PT_PER_MM: f32 = 72.0 / 25.4;

fn mm(v: f32) -> f32 {
    v * PT_PER_MM
}

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const BLACK: Rgb = Rgb(0, 0, 0);
pub const WHITE: Rgb = Rgb(255, 255, 255);
const BAND: Rgb = Rgb(0x1f, 0x3a, 0x5f);
const ON_BAND: Rgb = Rgb(0xdc, 0xe6, 0xf0);
const LABEL: Rgb = Rgb(0x55, 0x55, 0x55);

/// Header band height.
const BAND_MM: f32 = 12.0;
/// Left margin of the texts.
const MARGIN_MM: f32 = 3.5;
/// Gap between the card's edge (and the band) and the QR square, whose quiet zone is its margin.
const QR_GAP_MM: f32 = 1.0;
/// One dot of a 300 dpi card printer, in points.
const DOT: f32 = 72.0 / 300.0;
/// The smallest QR module a card prints, in dots (0.25 mm: a phone reads it at arm's length).
const MIN_MODULE_DOTS: f32 = 3.0;
/// Where the holder fields start and end.
const FIELDS_TOP_MM: f32 = 15.0;
const FIELDS_BOTTOM_MM: f32 = CARD_HEIGHT_MM - 9.5;
/// A holder field's row when there is room for label above value.
const ROW_MM: f32 = 7.4;
/// Below this row height, label and value share one line.
const TWO_LINE_MIN_MM: f32 = 6.5;

/// One thing to draw.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    /// A line of text whose baseline starts at (`x`, `baseline`).
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        color: Rgb,
        run: Run,
    },
    /// The QR symbol drawn in the square at (`x`, `y`) of side `side`, the quiet zone
    /// ([`QUIET_ZONE`] modules each side) included: `module` points per module.
    Qr {
        x: f32,
        y: f32,
        side: f32,
        module: f32,
        symbol: QrSymbol,
    },
}

/// A card's drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub width: f32,
    pub height: f32,
    pub items: Vec<Item>,
}

/// The two faces, read once for a whole batch.
pub struct Fonts {
    pub regular: Metrics<'static>,
    pub bold: Metrics<'static>,
}

impl Fonts {
    pub fn new() -> Result<Self, CardError> {
        Ok(Self {
            regular: Metrics::new(Face::Regular)?,
            bold: Metrics::new(Face::Bold)?,
        })
    }

    fn face(&self, face: Face) -> &Metrics<'static> {
        match face {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
        }
    }
}

struct Builder<'f> {
    fonts: &'f Fonts,
    items: Vec<Item>,
}

impl Builder<'_> {
    /// `text` fitted into `max_width` at `size` (down to `min_size`), drawn at (`x`, `baseline`);
    /// returns its width.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        face: Face,
        text: &str,
        (size, min_size): (f32, f32),
        x: f32,
        baseline: f32,
        max_width: f32,
        color: Rgb,
    ) -> f32 {
        let (run, size) = self
            .fonts
            .face(face)
            .fit(text, size, min_size, max_width.max(0.0));
        let width = run.width(size);
        if !run.glyphs.is_empty() {
            self.items.push(Item::Text {
                x,
                baseline,
                size,
                color,
                run,
            });
        }
        width
    }
}

/// Lay out `card`.
pub fn layout(card: &CardSpec, fonts: &Fonts) -> Result<Layout, CardError> {
    if card.fields.len() > MAX_FIELDS {
        return Err(CardError::TooManyFields {
            got: card.fields.len(),
            max: MAX_FIELDS,
        });
    }
    let (width, height) = (mm(CARD_WIDTH_MM), mm(CARD_HEIGHT_MM));
    let mut b = Builder {
        fonts,
        items: Vec::with_capacity(8 + 3 * card.fields.len()),
    };
    b.items.push(Item::Rect {
        x: 0.0,
        y: 0.0,
        w: width,
        h: height,
        color: WHITE,
    });
    b.items.push(Item::Rect {
        x: 0.0,
        y: 0.0,
        w: width,
        h: mm(BAND_MM),
        color: BAND,
    });
    let x = mm(MARGIN_MM);
    let band_text = width - 2.0 * x;
    b.text(
        Face::Bold,
        &card.title,
        (9.5, 6.0),
        x,
        mm(5.4),
        band_text,
        WHITE,
    );
    b.text(
        Face::Regular,
        &card.issuer,
        (6.5, 5.0),
        x,
        mm(9.7),
        band_text,
        ON_BAND,
    );

    // The QR square, quiet zone included, right of the texts and below the band. Modules are
    // whole dots of a 300 dpi card printer, on its dot grid: a module that straddles dots prints
    // (and rasterises) with blurred edges that a QR reader misreads in large symbols.
    let symbol = qr_symbol(&card.qr_text).map_err(|e| CardError::Qr(e.to_string()))?;
    let room = height - mm(BAND_MM) - 2.0 * mm(QR_GAP_MM);
    let modules = symbol.width + 2 * QUIET_ZONE;
    let dots = (room / modules as f32 / DOT).floor();
    if dots < MIN_MODULE_DOTS {
        return Err(CardError::Qr(format!(
            "its text is too long for a card: {modules} modules a side would be {:.2} mm each (at least {:.2} mm)",
            room / modules as f32 / PT_PER_MM,
            MIN_MODULE_DOTS * DOT / PT_PER_MM
        )));
    }
    let module = dots * DOT;
    let side = module * modules as f32;
    let qr_x = ((width - mm(QR_GAP_MM) - side) / DOT).floor() * DOT;
    let qr_y = ((mm(BAND_MM) + mm(QR_GAP_MM) + (room - side) / 2.0) / DOT).round() * DOT;
    let column = qr_x - x - mm(0.5);

    // Holder fields: label above value while there is room, else on one line.
    let n = card.fields.len();
    if n > 0 {
        let avail = mm(FIELDS_BOTTOM_MM - FIELDS_TOP_MM);
        let row = (avail / n as f32).min(mm(ROW_MM));
        for (i, (label, value)) in card.fields.iter().enumerate() {
            let top = mm(FIELDS_TOP_MM) + row * i as f32;
            if row >= mm(TWO_LINE_MIN_MM) {
                b.text(
                    Face::Regular,
                    label,
                    (5.5, 4.5),
                    x,
                    top + mm(2.2),
                    column,
                    LABEL,
                );
                b.text(
                    Face::Regular,
                    value,
                    (8.0, 5.5),
                    x,
                    top + mm(5.6),
                    column,
                    BLACK,
                );
            } else {
                let baseline = top + row * 0.72;
                let used = b.text(
                    Face::Regular,
                    label,
                    (5.0, 4.5),
                    x,
                    baseline,
                    column * 0.4,
                    LABEL,
                );
                let gap = if used > 0.0 { mm(1.2) } else { 0.0 };
                b.text(
                    Face::Regular,
                    value,
                    (7.0, 5.0),
                    x + used + gap,
                    baseline,
                    column - used - gap,
                    BLACK,
                );
            }
        }
    }

    // Validity, at the foot of the text column, the dates in one column.
    let lang = card.lang;
    let lines = [
        (lang.valid_from(), card.validity.from(), height - mm(6.3)),
        (lang.valid_until(), card.validity.until(), height - mm(2.8)),
    ];
    let mut dates_x = x;
    for (label, _, baseline) in lines {
        let used = b.text(
            Face::Regular,
            label,
            (6.0, 5.0),
            x,
            baseline,
            column * 0.6,
            LABEL,
        );
        dates_x = dates_x.max(x + used + mm(1.2));
    }
    for (_, date, baseline) in lines {
        b.text(
            Face::Bold,
            &lang.date(date),
            (6.5, 5.0),
            dates_x,
            baseline,
            x + column - dates_x,
            BLACK,
        );
    }

    b.items.push(Item::Qr {
        x: qr_x,
        y: qr_y,
        side,
        module,
        symbol,
    });
    Ok(Layout {
        width,
        height,
        items: b.items,
    })
}

/// The dark modules of `symbol` as horizontal runs: (column, row, length), the quiet zone
/// excluded. Runs keep a card's PDF small (one rectangle per run, not per module).
pub fn dark_runs(symbol: &QrSymbol) -> Vec<(u32, u32, u32)> {
    let mut runs = Vec::new();
    for y in 0..symbol.width {
        let mut x = 0;
        while x < symbol.width {
            if symbol.is_dark(x, y) {
                let start = x;
                while x < symbol.width && symbol.is_dark(x, y) {
                    x += 1;
                }
                runs.push((start, y, x - start));
            } else {
                x += 1;
            }
        }
    }
    runs
}

/// The outline of the dark modules of `symbol`: closed polygons in module coordinates (corner
/// points only, the quiet zone excluded), each walked with the dark side on its right (clockwise
/// around dark areas with y down), so that filling them with the non-zero rule paints exactly
/// the dark modules. Fewer points than one rectangle per run: the PDF's QR is about a third
/// smaller.
pub fn dark_outline(symbol: &QrSymbol) -> Vec<Vec<(u32, u32)>> {
    let w = symbol.width;
    let side = w as usize + 1;
    let vertex = |x: u32, y: u32| y as usize * side + x as usize;
    // Every boundary edge of the dark area, by its start vertex (at most two start at one).
    let mut out: Vec<[Option<(u32, u32)>; 2]> = vec![[None, None]; side * side];
    let mut edges = 0usize;
    let mut add = |from: (u32, u32), to: (u32, u32)| {
        if let Some(slots) = out.get_mut(vertex(from.0, from.1)) {
            if let Some(slot) = slots.iter_mut().find(|s| s.is_none()) {
                *slot = Some(to);
                edges += 1;
            }
        }
    };
    let dark = |x: i64, y: i64| x >= 0 && y >= 0 && symbol.is_dark(x as u32, y as u32);
    for y in 0..w {
        for x in 0..w {
            if !symbol.is_dark(x, y) {
                continue;
            }
            let (xi, yi) = (i64::from(x), i64::from(y));
            if !dark(xi, yi - 1) {
                add((x, y), (x + 1, y));
            }
            if !dark(xi + 1, yi) {
                add((x + 1, y), (x + 1, y + 1));
            }
            if !dark(xi, yi + 1) {
                add((x + 1, y + 1), (x, y + 1));
            }
            if !dark(xi - 1, yi) {
                add((x, y + 1), (x, y));
            }
        }
    }
    let mut loops = Vec::new();
    let mut left = edges;
    let mut start_at = 0usize;
    while left > 0 {
        // The first vertex with an unused edge.
        let Some(start) = (start_at..out.len())
            .find(|&i| out.get(i).is_some_and(|s| s.iter().any(Option::is_some)))
        else {
            break;
        };
        start_at = start;
        let start_xy = ((start % side) as u32, (start / side) as u32);
        let mut points = vec![start_xy];
        let mut at = start_xy;
        let mut direction = (0i64, 0i64);
        // Every vertex has as many edges out as in, so the walk comes back to its start.
        while let Some(next) = out
            .get_mut(vertex(at.0, at.1))
            .and_then(|slots| slots.iter_mut().find_map(Option::take))
        {
            left -= 1;
            let step = (
                i64::from(next.0) - i64::from(at.0),
                i64::from(next.1) - i64::from(at.1),
            );
            if step == direction {
                if let Some(last) = points.last_mut() {
                    *last = next; // straight on: move the corner
                }
            } else {
                points.push(next);
            }
            direction = step;
            at = next;
            if at == start_xy {
                break;
            }
        }
        // The walk ends where it began: drop the repeated start, and the start itself when
        // the loop passes straight through it.
        if points.len() > 1 && points.last() == points.first() {
            points.pop();
        }
        if let (Some(&first), Some(&second), Some(&last)) =
            (points.first(), points.get(1), points.last())
        {
            let collinear = (first.0 == last.0 && first.0 == second.0)
                || (first.1 == last.1 && first.1 == second.1);
            if points.len() >= 3 && collinear {
                points.remove(0);
            }
        }
        loops.push(points);
    }
    loops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Lang, Validity};
    use chrono::NaiveDate;

    fn card(fields: usize, value: &str) -> CardSpec {
        CardSpec {
            title: "Parkeringstillstånd".into(),
            issuer: "Ankeborgs kommun".into(),
            fields: (0..fields)
                .map(|i| (format!("Fält {i}"), value.to_string()))
                .collect(),
            validity: Validity::new(
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                NaiveDate::from_ymd_opt(2027, 12, 1).unwrap(),
            )
            .unwrap(),
            lang: Lang::Sv,
            qr_text: "TL1:EXAMPLE".into(),
        }
    }

    fn texts(l: &Layout) -> Vec<(f32, f32, f32, f32, String)> {
        l.items
            .iter()
            .filter_map(|i| match i {
                Item::Text {
                    x,
                    baseline,
                    size,
                    run,
                    ..
                } => Some((*x, *baseline, *size, run.width(*size), run.text.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every text stays on the card, left of the QR square (out of its quiet zone) and within
    /// its row, whatever the number of fields and however long the values.
    #[test]
    fn texts_stay_clear_of_the_qr_and_the_edges() {
        let fonts = Fonts::new().unwrap();
        let long = "Karl-Åke Ölund-Ærøskøbing von Übermüller-Éclair af Näsby".repeat(3);
        for fields in 0..=MAX_FIELDS {
            for value in ["Kalle Anka", long.as_str(), ""] {
                let l = layout(&card(fields, value), &fonts).unwrap();
                let Some(Item::Qr {
                    x: qr_x,
                    y: qr_y,
                    side,
                    ..
                }) = l.items.last()
                else {
                    panic!("the QR is drawn last")
                };
                assert!(qr_x + side <= l.width && qr_y + side <= l.height);
                for (x, baseline, size, w, text) in texts(&l) {
                    assert!(x >= 0.0 && baseline <= l.height, "{text}");
                    if baseline > *qr_y {
                        assert!(
                            x + w <= *qr_x + 0.01,
                            "{fields} fields: {text:?} runs into the QR"
                        );
                    } else {
                        assert!(x + w <= l.width, "{text:?} off the card");
                    }
                    assert!(size >= 4.5, "{text:?} at {size} pt");
                }
                // One label and one value per field, the title, issuer and two validity lines.
                let expected = 2 + 4 + 2 * fields - if value.is_empty() { fields } else { 0 };
                assert_eq!(
                    texts(&l).len(),
                    expected,
                    "{fields} fields, value {value:?}"
                );
            }
        }
        assert!(matches!(
            layout(&card(MAX_FIELDS + 1, "x"), &fonts),
            Err(CardError::TooManyFields { got: 7, max: 6 })
        ));
    }

    #[test]
    fn long_values_shrink_then_are_cut() {
        let fonts = Fonts::new().unwrap();
        let cases = [
            ("Kalle Anka", 8.0, "Kalle Anka"),
            (
                "Kalle Anka Kalle Anka Kalle Ank",
                0.0,
                "Kalle Anka Kalle Anka Kalle Ank",
            ),
            (&"Åsa Öberg ".repeat(10), 5.5, "…"),
        ];
        for (value, size, shown) in cases {
            let l = layout(&card(1, value), &fonts).unwrap();
            let (_, _, got_size, _, text) = texts(&l)
                .into_iter()
                .find(|t| t.4.starts_with(value.chars().next().unwrap()))
                .unwrap();
            if size > 0.0 {
                assert_eq!(got_size, size, "{value}");
            } else {
                assert!(got_size < 8.0 && got_size > 5.5, "{value}: {got_size}");
            }
            if shown == "…" {
                assert!(text.ends_with('…') && text.len() < value.len(), "{text}");
            } else {
                assert_eq!(text, shown);
            }
        }
    }

    #[test]
    fn dark_runs_cover_exactly_the_dark_modules() {
        let symbol = qr_symbol("TL1:6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK").unwrap();
        let runs = dark_runs(&symbol);
        let mut covered = vec![false; (symbol.width * symbol.width) as usize];
        for (x, y, len) in runs {
            for dx in 0..len {
                let i = (y * symbol.width + x + dx) as usize;
                assert!(!covered[i]);
                covered[i] = true;
            }
        }
        assert_eq!(covered, symbol.dark);
    }

    /// The non-zero winding number of the outline at each module's centre is 1 on the dark
    /// modules and 0 on the light ones: the outline paints exactly the symbol.
    #[test]
    fn dark_outline_paints_exactly_the_dark_modules() {
        let checker = QrSymbol {
            width: 3,
            dark: vec![true, false, true, false, true, false, true, false, true],
        };
        let ring = QrSymbol {
            width: 3,
            dark: vec![true, true, true, true, false, true, true, true, true],
        };
        let symbols = [
            qr_symbol("TL1:6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK").unwrap(),
            qr_symbol(&"TL1:".repeat(60)).unwrap(),
            checker,
            ring,
        ];
        for symbol in &symbols {
            let loops = dark_outline(symbol);
            for y in 0..symbol.width {
                for x in 0..symbol.width {
                    let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                    let mut winding = 0i32;
                    for points in &loops {
                        for (i, a) in points.iter().enumerate() {
                            let b = points[(i + 1) % points.len()];
                            let (ax, ay, bx, by) = (a.0 as f64, a.1 as f64, b.0 as f64, b.1 as f64);
                            // Vertical edges crossing the horizontal ray to the right of the point.
                            if ax == bx && ax > px && (ay.min(by)..ay.max(by)).contains(&py) {
                                winding += if by > ay { 1 } else { -1 };
                            }
                        }
                    }
                    let want = i32::from(symbol.is_dark(x, y));
                    assert_eq!(winding.abs(), want, "module ({x}, {y}) of {}", symbol.width);
                }
            }
            let corners: usize = loops.iter().map(Vec::len).sum();
            let rectangles = 4 * dark_runs(symbol).len();
            assert!(corners <= rectangles, "no more points than rectangles");
            if symbol.width > 3 {
                println!(
                    "{} modules: {corners} corners, {rectangles} rectangle points",
                    symbol.width
                );
                assert!(corners * 10 < rectangles * 8, "a real symbol: far fewer");
            }
            // Only corners: no point lies on a straight line between its neighbours.
            for points in &loops {
                for (i, b) in points.iter().enumerate() {
                    let a = points[(i + points.len() - 1) % points.len()];
                    let c = points[(i + 1) % points.len()];
                    assert!(!((a.0 == b.0 && b.0 == c.0) || (a.1 == b.1 && b.1 == c.1)));
                }
            }
        }
    }

    #[test]
    fn a_text_too_long_for_a_card_qr_is_refused() {
        let fonts = Fonts::new().unwrap();
        let mut c = card(1, "x");
        c.qr_text = "TL1:".to_string() + &"A".repeat(3000);
        assert!(matches!(layout(&c, &fonts), Err(CardError::Qr(_))));
    }
}
