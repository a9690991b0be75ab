//! Greyscale pixel values to display values: stored value → Modality LUT (rescale slope and
//! intercept, PS3.3 C.11.1) → VOI LUT window (PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT,
//! SIGMOID) → 8-bit grey, MONOCHROME1 inverted (PS3.3 C.7.6.3.1.2).
//!
//! Without a window in the request or the data set, the frame's own range of modality values
//! is stretched over 0–255 (a LINEAR_EXACT window from its minimum to its maximum).

use super::info::{PixelInfo, VoiFunction, Window};
use crate::frames::FrameError;

/// Stored sample `index` of a native little endian frame, masked to Bits Stored, shifted by
/// High Bit and sign-extended when Pixel Representation says so.
pub fn stored_value(info: &PixelInfo, data: &[u8], index: usize) -> Option<i64> {
    let raw: u64 = match info.bits_allocated {
        1 => u64::from(data.get(index / 8)? >> (index % 8) & 1),
        8 => u64::from(*data.get(index)?),
        16 => u64::from(u16::from_le_bytes(
            data.get(index * 2..index * 2 + 2)?.try_into().ok()?,
        )),
        32 => u64::from(u32::from_le_bytes(
            data.get(index * 4..index * 4 + 4)?.try_into().ok()?,
        )),
        _ => return None,
    };
    let stored = u32::from(info.bits_stored.clamp(1, info.bits_allocated.max(1)));
    let shift = (u32::from(info.high_bit) + 1).saturating_sub(stored);
    let mask = if stored >= 64 {
        u64::MAX
    } else {
        (1u64 << stored) - 1
    };
    let value = (raw >> shift.min(63)) & mask;
    if info.is_signed() && stored < 64 && value >> (stored - 1) & 1 == 1 {
        Some(value as i64 - (1i64 << stored))
    } else {
        Some(value as i64)
    }
}

/// Modality values (rescaled) of every pixel of a one-sample frame.
pub fn modality_values(info: &PixelInfo, data: &[u8]) -> Result<Vec<f64>, FrameError> {
    let pixels = usize::from(info.rows) * usize::from(info.columns);
    (0..pixels)
        .map(|i| {
            stored_value(info, data, i)
                .map(|v| v as f64 * info.rescale_slope + info.rescale_intercept)
                .ok_or_else(|| {
                    FrameError::Undecodable(format!(
                        "frame holds {} bytes, too few for {pixels} pixels of {} bits",
                        data.len(),
                        info.bits_allocated
                    ))
                })
        })
        .collect()
}

/// The window stretching the values' range over the output.
pub fn min_max_window(values: &[f64]) -> Window {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if !min.is_finite() || !max.is_finite() {
        return Window {
            center: 0.0,
            width: 1.0,
            function: VoiFunction::LinearExact,
        };
    }
    Window {
        center: (min + max) / 2.0,
        width: (max - min).max(1.0),
        function: VoiFunction::LinearExact,
    }
}

/// One value through a window onto 0..=255 (unrounded).
pub fn apply(window: &Window, x: f64) -> f64 {
    let (c, w) = (window.center, window.width);
    let y = match window.function {
        VoiFunction::Linear => {
            let w1 = (w - 1.0).max(f64::MIN_POSITIVE);
            if x <= c - 0.5 - w1 / 2.0 {
                0.0
            } else if x > c - 0.5 + w1 / 2.0 {
                1.0
            } else {
                (x - (c - 0.5)) / w1 + 0.5
            }
        }
        VoiFunction::LinearExact => {
            if x <= c - w / 2.0 {
                0.0
            } else if x > c + w / 2.0 {
                1.0
            } else {
                (x - c) / w + 0.5
            }
        }
        VoiFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - c) / w).exp()),
    };
    y.clamp(0.0, 1.0) * 255.0
}

/// 8-bit grey of every pixel: the given window, else the data set's, else min/max.
pub fn to_grey(
    info: &PixelInfo,
    data: &[u8],
    window: Option<Window>,
) -> Result<Vec<u8>, FrameError> {
    let values = modality_values(info, data)?;
    let window = window
        .or(info.window)
        .unwrap_or_else(|| min_max_window(&values));
    let invert = info.photometric == "MONOCHROME1";
    Ok(values
        .iter()
        .map(|&v| {
            let y = apply(&window, v).round() as u8;
            if invert {
                255 - y
            } else {
                y
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids;

    fn info(bits_allocated: u16, bits_stored: u16, signed: bool) -> PixelInfo {
        PixelInfo {
            transfer_syntax: uids::EXPLICIT_VR_LITTLE_ENDIAN.into(),
            sop_class_uid: uids::CT_IMAGE_STORAGE.into(),
            rows: 1,
            columns: 4,
            samples_per_pixel: 1,
            bits_allocated,
            bits_stored,
            high_bit: bits_stored - 1,
            pixel_representation: u16::from(signed),
            photometric: "MONOCHROME2".into(),
            planar_configuration: 0,
            number_of_frames: 1,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            window: None,
            palette: None,
            pixel_data_vr: None,
        }
    }

    #[test]
    fn samples_are_masked_and_sign_extended() {
        let i = info(16, 12, true);
        // 0x0FFF is -1 in 12-bit two's complement; high bits (overlays) are ignored.
        let data = [0xFF, 0xFF, 0x01, 0x00];
        assert_eq!(stored_value(&i, &data, 0), Some(-1));
        assert_eq!(stored_value(&i, &data, 1), Some(1));
        let u = info(16, 12, false);
        assert_eq!(stored_value(&u, &data, 0), Some(4095));
        let b = info(1, 1, false);
        assert_eq!(stored_value(&b, &[0b0000_0100], 2), Some(1));
        assert_eq!(stored_value(&b, &[0b0000_0100], 1), Some(0));
    }

    #[test]
    fn windows() {
        let linear = Window {
            center: 100.0,
            width: 101.0,
            function: VoiFunction::Linear,
        };
        assert_eq!(apply(&linear, 49.0), 0.0);
        assert_eq!(apply(&linear, 151.0), 255.0);
        assert!((apply(&linear, 100.0) - 0.505 * 255.0).abs() < 1e-9);
        let sigmoid = Window {
            center: 0.0,
            width: 10.0,
            function: VoiFunction::Sigmoid,
        };
        assert!((apply(&sigmoid, 0.0) - 127.5).abs() < 1e-9);
        let mut i = info(8, 8, false);
        i.photometric = "MONOCHROME1".into();
        let grey = to_grey(&i, &[10, 20, 30, 40], None).unwrap();
        assert_eq!(grey, vec![255, 170, 85, 0]);
    }
}
