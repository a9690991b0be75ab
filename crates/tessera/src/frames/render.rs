//! Rendered images (PS3.18 8.3.5 and 10.4.1.1.3): one native frame to an 8-bit greyscale or
//! RGB picture, scaled to the viewport, encoded as JPEG or PNG.
//!
//! Greyscale goes through `window` (Modality LUT, VOI window, MONOCHROME1 inversion).
//! Colour: RGB as is (16-bit samples reduced to their top 8 stored bits), YBR_FULL and
//! native YBR_FULL_422 converted to RGB (PS3.3 C.7.6.3.1.2), PALETTE COLOR looked up in its
//! tables (C.7.6.3.1.5); planar data is interleaved first.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{ExtendedColorType, ImageEncoder};

use super::decode::native_layout;
use super::info::PixelInfo;
use super::params::RenderParams;
use super::window::{stored_value, to_grey};
use crate::frames::FrameError;

/// An output format of rendered resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }
}

/// A picture before encoding: 8-bit grey or interleaved RGB.
struct Picture {
    width: u32,
    height: u32,
    rgb: bool,
    pixels: Vec<u8>,
}

/// Render one native little endian frame (CPU work: call off the runtime).
pub fn render(
    info: &PixelInfo,
    native: &[u8],
    params: &RenderParams,
    format: ImageFormat,
) -> Result<Vec<u8>, FrameError> {
    let picture = picture(info, native, params)?;
    let picture = fit(picture, params.viewport);
    encode(&picture, format, params.quality)
}

fn picture(info: &PixelInfo, data: &[u8], params: &RenderParams) -> Result<Picture, FrameError> {
    let (photometric, planar) = native_layout(info);
    let (width, height) = (u32::from(info.columns), u32::from(info.rows));
    let pixels = usize::from(info.rows) * usize::from(info.columns);
    let grey = |pixels: Vec<u8>| Picture {
        width,
        height,
        rgb: false,
        pixels,
    };
    let rgb = |pixels: Vec<u8>| Picture {
        width,
        height,
        rgb: true,
        pixels,
    };
    match (photometric, info.samples_per_pixel) {
        ("MONOCHROME1" | "MONOCHROME2", 1) => Ok(grey(to_grey(info, data, params.window)?)),
        ("PALETTE COLOR", 1) => Ok(rgb(palette(info, data, pixels)?)),
        ("YBR_FULL_422", 3) if planar == 0 && info.bits_allocated == 8 => {
            Ok(rgb(ybr_422(data, pixels)?))
        }
        ("RGB" | "YBR_FULL" | "YBR_RCT" | "YBR_ICT" | "YBR_PARTIAL_420" | "YBR_PARTIAL_422", 3) => {
            let mut out = interleaved_rgb(info, data, planar, pixels)?;
            if photometric == "YBR_FULL" {
                for px in out.chunks_exact_mut(3) {
                    let [r, g, b] = ybr_to_rgb(px[0], px[1], px[2]);
                    px.copy_from_slice(&[r, g, b]);
                }
            }
            Ok(rgb(out))
        }
        (other, samples) => Err(FrameError::Undecodable(format!(
            "rendering {other} with {samples} samples per pixel is not supported"
        ))),
    }
}

fn too_short(len: usize) -> FrameError {
    FrameError::Undecodable(format!("frame of {len} bytes is too short for its size"))
}

/// Colour samples as 8-bit interleaved RGB.
fn interleaved_rgb(
    info: &PixelInfo,
    data: &[u8],
    planar: u16,
    pixels: usize,
) -> Result<Vec<u8>, FrameError> {
    let shift = info.bits_stored.saturating_sub(8);
    let mut unsigned = info.clone();
    unsigned.pixel_representation = 0;
    unsigned.palette = None;
    let mut out = Vec::with_capacity(pixels * 3);
    for p in 0..pixels {
        for c in 0..3 {
            let index = if planar == 1 {
                c * pixels + p
            } else {
                p * 3 + c
            };
            let v = stored_value(&unsigned, data, index).ok_or_else(|| too_short(data.len()))?;
            out.push((v >> shift).clamp(0, 255) as u8);
        }
    }
    Ok(out)
}

/// Full-range YCbCr (ITU-R BT.601) to RGB.
fn ybr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f64::from(y), f64::from(cb) - 128.0, f64::from(cr) - 128.0);
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    [
        clamp(y + 1.402 * cr),
        clamp(y - 0.344136 * cb - 0.714136 * cr),
        clamp(y + 1.772 * cb),
    ]
}

/// Native YBR_FULL_422: Y1 Y2 Cb Cr for each pair of pixels.
fn ybr_422(data: &[u8], pixels: usize) -> Result<Vec<u8>, FrameError> {
    let needed = pixels.div_ceil(2) * 4;
    let data = data.get(..needed).ok_or_else(|| too_short(data.len()))?;
    let mut out = Vec::with_capacity(pixels * 3);
    for group in data.chunks_exact(4) {
        let (cb, cr) = (group[2], group[3]);
        for &y in &group[..2] {
            if out.len() < pixels * 3 {
                out.extend_from_slice(&ybr_to_rgb(y, cb, cr));
            }
        }
    }
    Ok(out)
}

fn palette(info: &PixelInfo, data: &[u8], pixels: usize) -> Result<Vec<u8>, FrameError> {
    let lut = info.palette.as_ref().ok_or_else(|| {
        FrameError::Undecodable(
            "PALETTE COLOR without (non-segmented) palette lookup tables".into(),
        )
    })?;
    let entry = |table: &[u16], index: usize| -> u8 {
        let v = table
            .get(index.min(table.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0);
        if lut.bits == 16 || v > 255 {
            (v >> 8) as u8
        } else {
            v as u8
        }
    };
    let mut out = Vec::with_capacity(pixels * 3);
    for p in 0..pixels {
        let v = stored_value(info, data, p).ok_or_else(|| too_short(data.len()))?;
        let index = usize::try_from(v.saturating_sub(lut.first_mapped).max(0)).unwrap_or(0);
        out.extend_from_slice(&[
            entry(&lut.red, index),
            entry(&lut.green, index),
            entry(&lut.blue, index),
        ]);
    }
    Ok(out)
}

/// The size fitting (width, height) into the viewport with the aspect ratio kept.
pub fn fitted_size(width: u32, height: u32, viewport: (u32, u32)) -> (u32, u32) {
    let scale =
        (f64::from(viewport.0) / f64::from(width)).min(f64::from(viewport.1) / f64::from(height));
    let w = (f64::from(width) * scale).round().max(1.0) as u32;
    let h = (f64::from(height) * scale).round().max(1.0) as u32;
    (w.min(viewport.0), h.min(viewport.1))
}

fn fit(picture: Picture, viewport: Option<(u32, u32)>) -> Picture {
    let Some(viewport) = viewport else {
        return picture;
    };
    let (w, h) = fitted_size(picture.width, picture.height, viewport);
    if (w, h) == (picture.width, picture.height) {
        return picture;
    }
    let pixels = if picture.rgb {
        image::RgbImage::from_raw(picture.width, picture.height, picture.pixels)
            .map(|img| image::imageops::resize(&img, w, h, FilterType::Triangle).into_raw())
    } else {
        image::GrayImage::from_raw(picture.width, picture.height, picture.pixels)
            .map(|img| image::imageops::resize(&img, w, h, FilterType::Triangle).into_raw())
    };
    Picture {
        width: w,
        height: h,
        rgb: picture.rgb,
        pixels: pixels.unwrap_or_default(),
    }
}

fn encode(picture: &Picture, format: ImageFormat, quality: u8) -> Result<Vec<u8>, FrameError> {
    let color = if picture.rgb {
        ExtendedColorType::Rgb8
    } else {
        ExtendedColorType::L8
    };
    let mut out = Vec::new();
    let result = match format {
        ImageFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, quality).write_image(
            &picture.pixels,
            picture.width,
            picture.height,
            color,
        ),
        ImageFormat::Png => PngEncoder::new(&mut out).write_image(
            &picture.pixels,
            picture.width,
            picture.height,
            color,
        ),
    };
    result.map_err(|e| FrameError::Undecodable(format!("encoding the image: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewport_keeps_the_aspect_ratio() {
        assert_eq!(fitted_size(256, 1024, (128, 128)), (32, 128));
        assert_eq!(fitted_size(100, 100, (300, 200)), (200, 200));
        assert_eq!(fitted_size(640, 480, (64, 64)), (64, 48));
        assert_eq!(fitted_size(3, 3, (1, 1)), (1, 1));
    }

    #[test]
    fn ybr_conversion() {
        assert_eq!(ybr_to_rgb(128, 128, 128), [128, 128, 128]);
        assert_eq!(ybr_to_rgb(76, 85, 255), [254, 0, 0]);
        let two = ybr_422(&[10, 20, 128, 128], 2).unwrap();
        assert_eq!(two, vec![10, 10, 10, 20, 20, 20]);
    }
}
