//! Decoding untrusted image bytes with limits checked before any pixel is decoded.

use std::io::Cursor;
use std::path::Path;

use image::{ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use crate::FaceError;

/// Largest accepted width or height.
pub const MAX_SIDE: u32 = 8192;
/// Largest accepted pixel count (width × height).
pub const MAX_PIXELS: u64 = 40_000_000;
/// Largest accepted file, in bytes.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Decodes JPEG or PNG bytes to 8-bit RGB. The header's dimensions are checked against
/// [`MAX_SIDE`] and [`MAX_PIXELS`] before decoding, and the decoder's allocations are capped.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, FaceError> {
    if bytes.len() > MAX_BYTES {
        return Err(FaceError::Invalid(format!(
            "画像ファイルが大きすぎます（{} バイト、上限 {MAX_BYTES}）。縮小してください / image file too large ({} bytes, limit {MAX_BYTES}); scale it down",
            bytes.len(),
            bytes.len()
        )));
    }
    let format = image::guess_format(bytes).map_err(|e| FaceError::NotAnImage(e.to_string()))?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(FaceError::NotAnImage(format!("{format:?}")));
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader.into_dimensions().map_err(map_err)?;
    check_dims(w, h)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(map_err)?;
    check_dims(img.width(), img.height())?;
    Ok(img.into_rgb8())
}

/// Reads and decodes a file.
pub fn open(path: &Path) -> Result<RgbImage, FaceError> {
    let meta = std::fs::metadata(path).map_err(|e| FaceError::io(path, e))?;
    if meta.len() > MAX_BYTES as u64 {
        return Err(FaceError::Invalid(format!(
            "画像ファイルが大きすぎます: {} / image file too large: {}",
            path.display(),
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| FaceError::io(path, e))?;
    decode(&bytes)
}

fn check_dims(w: u32, h: u32) -> Result<(), FaceError> {
    if w == 0 || h == 0 {
        return Err(FaceError::CorruptImage("zero-sized image".into()));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(FaceError::TooLarge {
            width: w,
            height: h,
            max_side: MAX_SIDE,
        });
    }
    Ok(())
}

fn map_err(e: ImageError) -> FaceError {
    match e {
        ImageError::Limits(l) => FaceError::Invalid(format!(
            "画像が大きすぎます: {l}。縮小してください / image too large: {l}; scale it down"
        )),
        ImageError::Unsupported(u) => FaceError::NotAnImage(u.to_string()),
        ImageError::Decoding(d) => FaceError::CorruptImage(d.to_string()),
        ImageError::IoError(io) => FaceError::CorruptImage(io.to_string()),
        other => FaceError::CorruptImage(other.to_string()),
    }
}
