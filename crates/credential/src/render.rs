//! QR code images: render a QR text as PNG or SVG, and read one back from a PNG.
//!
//! HCERT §4.2.2: "An error correction rate of 'Q' (around 25%) is RECOMMENDED.
//! The Alphanumeric (Mode 2) MUST be used in conjunction with Base45." Tillit
//! renders both `HC1:` and `TL1:` texts that way: every character of the
//! prefix and of Base45 is in the QR alphanumeric set, so the encoder's mode
//! optimiser picks alphanumeric mode for the whole text.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, EcLevel, QrCode};

use crate::error::CredentialError;

/// The error-correction level HCERT recommends (Q, about 25 %).
pub const EC_LEVEL: EcLevel = EcLevel::Q;
/// Quiet zone around the symbol, in modules (ISO/IEC 18004: at least 4).
pub const QUIET_ZONE: u32 = 4;
/// Largest PNG (width or height, pixels) [`decode_png`] accepts.
pub const MAX_DECODE_DIMENSION: u32 = 8192;

fn render_error(e: impl std::fmt::Display) -> CredentialError {
    CredentialError::InvalidInput(format!("cannot render a QR code: {e}"))
}

/// A QR symbol as Tillit draws it (level [`EC_LEVEL`]), without its quiet zone: every drawer
/// (PNG and SVG here, the printable card in `tillit-card`) adds [`QUIET_ZONE`] modules around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrSymbol {
    /// Modules per side.
    pub width: u32,
    /// Whether each module is dark, row by row (`width × width` entries).
    pub dark: Vec<bool>,
}

impl QrSymbol {
    /// Whether the module in column `x`, row `y` is dark (outside the symbol: light).
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.width
            && y < self.width
            && self
                .dark
                .get(y as usize * self.width as usize + x as usize)
                .copied()
                .unwrap_or(false)
    }
}

/// The QR symbol for `text` at level Q.
pub fn qr_symbol(text: &str) -> Result<QrSymbol, CredentialError> {
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), EC_LEVEL).map_err(render_error)?;
    let width = u32::try_from(code.width()).map_err(render_error)?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok(QrSymbol { width, dark })
}

/// Render `text` as a black-on-white PNG, `module_px` pixels per module (at least 1), with a quiet zone.
pub fn render_png(text: &str, module_px: u32) -> Result<Vec<u8>, CredentialError> {
    let symbol = qr_symbol(text)?;
    let width = symbol.width;
    let scale = module_px.max(1);
    let side = width
        .checked_add(2 * QUIET_ZONE)
        .and_then(|m| m.checked_mul(scale))
        .filter(|s| *s <= MAX_DECODE_DIMENSION)
        .ok_or_else(|| render_error("the image would be too large; use fewer pixels per module"))?;
    let img = GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / scale, y / scale);
        let inside = (QUIET_ZONE..QUIET_ZONE + width).contains(&mx)
            && (QUIET_ZONE..QUIET_ZONE + width).contains(&my);
        let is_dark = inside && symbol.is_dark(mx - QUIET_ZONE, my - QUIET_ZONE);
        Luma([if is_dark { 0 } else { 255 }])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(render_error)?;
    Ok(out)
}

/// Render `text` as a scalable SVG (one path; 1 unit per module, quiet zone included).
pub fn render_svg(text: &str) -> Result<String, CredentialError> {
    use std::fmt::Write;
    let QrSymbol { width, dark } = qr_symbol(text)?;
    let side = width + 2 * QUIET_ZONE;
    let mut path = String::new();
    for (i, is_dark) in dark.iter().enumerate() {
        if *is_dark {
            let i = u32::try_from(i).map_err(render_error)?;
            let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

/// Read the text of the first QR code found in a PNG image.
pub fn decode_png(png: &[u8]) -> Result<String, CredentialError> {
    let bad = |e: String| CredentialError::malformed("QR image", e);
    let mut reader = image::ImageReader::with_format(Cursor::new(png), ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_DIMENSION);
    limits.max_image_height = Some(MAX_DECODE_DIMENSION);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?
        .to_luma8();
    // rqrr 0.9.3 can fail an internal assertion on some low-resolution images (`scan >= 1` in
    // its grid identification): an unreadable image must be a clear error, not a crash.
    let scanned = std::panic::catch_unwind(move || {
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let mut last = None;
        for grid in prepared.detect_grids() {
            match grid.decode() {
                Ok((_, text)) => return Ok(text),
                Err(e) => last = Some(e.to_string()),
            }
        }
        Err(last)
    })
    .map_err(|_| {
        bad("the QR decoder could not read this image; try a sharper or larger picture".into())
    })?;
    let last = match scanned {
        Ok(text) => return Ok(text),
        Err(last) => last,
    };
    Err(bad(last.map_or_else(
        || "no QR code found in the image".to_string(),
        |e| format!("a QR code was found but cannot be read: {e}"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_and_svg() {
        let text = "TL1:6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK-%69LQOGI.*V76GCV4*XUA2P-FHT-HNTI4L6N$Q%UG/YL WO*Z7ON15 BM0VM.JQ$F4W17PG4.VAS5EG4V*BRL0K-RDY5RWOOH6PO9:TUQJAJG9-*NIRICVELZUZM9EN$QXB8";
        let png = render_png(text, 4).unwrap();
        assert_eq!(decode_png(&png).unwrap(), text);
        let svg = render_svg(text).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("h1v1h-1z"));
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(decode_png(b"not a png").is_err());
        let blank = GrayImage::from_pixel(64, 64, Luma([255]));
        let mut png = Vec::new();
        blank
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert!(decode_png(&png).is_err());
    }
}
