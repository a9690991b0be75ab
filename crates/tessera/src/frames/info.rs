//! The pixel description of an instance (PS3.3 C.7.6.3 Image Pixel module, C.11.1 Modality
//! LUT, C.11.2 VOI LUT, C.7.6.3.1.5 palettes): what decoding and rendering need besides the
//! frame bytes.
//!
//! Read from the stored blob's prefix, the bytes before the first frame (one range GET that
//! covers the whole header but no pixel data), or from a whole parsed object.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids;
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use crate::frames::FrameError;

/// The VOI LUT function (PS3.3 C.11.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiFunction {
    Linear,
    LinearExact,
    Sigmoid,
}

impl VoiFunction {
    pub fn parse(raw: &str) -> Option<VoiFunction> {
        match raw.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "LINEAR" => Some(VoiFunction::Linear),
            "LINEAR_EXACT" => Some(VoiFunction::LinearExact),
            "SIGMOID" => Some(VoiFunction::Sigmoid),
            _ => None,
        }
    }
}

/// A window (VOI) to apply to modality values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
    pub function: VoiFunction,
}

/// A palette colour lookup table (PS3.3 C.7.6.3.1.5), entries widened to 16 bits.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    pub first_mapped: i64,
    /// Bits per entry as given by the descriptor (8 or 16).
    pub bits: u16,
    pub red: Vec<u16>,
    pub green: Vec<u16>,
    pub blue: Vec<u16>,
}

/// What is known about an instance's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelInfo {
    pub transfer_syntax: String,
    pub sop_class_uid: String,
    pub rows: u16,
    pub columns: u16,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    /// 0 unsigned, 1 two's complement.
    pub pixel_representation: u16,
    pub photometric: String,
    /// 0 interleaved (R1G1B1R2...), 1 planar (RR..GG..BB..).
    pub planar_configuration: u16,
    pub number_of_frames: u32,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    pub window: Option<Window>,
    pub palette: Option<Palette>,
    /// VR of a native Pixel Data element, when known (OB or OW): a big endian OW value of
    /// 8-bit samples is stored word-swapped.
    pub pixel_data_vr: Option<String>,
}

impl PixelInfo {
    /// Bytes this description takes in the cache, roughly.
    pub fn approximate_size(&self) -> u64 {
        let palette = self
            .palette
            .as_ref()
            .map(|p| (p.red.len() + p.green.len() + p.blue.len()) * 2)
            .unwrap_or(0);
        (512 + palette) as u64
    }

    pub fn is_signed(&self) -> bool {
        self.pixel_representation == 1
    }

    /// Read the description from a data set.
    pub fn from_object(
        object: &InMemDicomObject,
        transfer_syntax: &str,
        pixel_data_vr: Option<String>,
    ) -> Result<PixelInfo, FrameError> {
        let us = |tag: Tag, name: &str| -> Result<u16, FrameError> {
            uint(object, tag).ok_or_else(|| FrameError::Undecodable(format!("{name} is missing")))
        };
        let samples_per_pixel = uint(object, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let bits_allocated = us(tags::BITS_ALLOCATED, "Bits Allocated")?;
        let bits_stored = uint(object, tags::BITS_STORED).unwrap_or(bits_allocated);
        let photometric = text(object, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_else(|| {
            if samples_per_pixel == 3 {
                "RGB".into()
            } else {
                "MONOCHROME2".into()
            }
        });
        let (slope, intercept, window) = value_transforms(object);
        let info = PixelInfo {
            transfer_syntax: transfer_syntax.to_string(),
            sop_class_uid: text(object, tags::SOP_CLASS_UID)
                .unwrap_or_else(|| uids::SECONDARY_CAPTURE_IMAGE_STORAGE.into()),
            rows: us(tags::ROWS, "Rows")?,
            columns: us(tags::COLUMNS, "Columns")?,
            samples_per_pixel,
            bits_allocated,
            bits_stored,
            high_bit: uint(object, tags::HIGH_BIT).unwrap_or(bits_stored.saturating_sub(1)),
            pixel_representation: uint(object, tags::PIXEL_REPRESENTATION).unwrap_or(0),
            planar_configuration: uint(object, tags::PLANAR_CONFIGURATION).unwrap_or(0),
            number_of_frames: object
                .get(tags::NUMBER_OF_FRAMES)
                .and_then(|e| e.to_int::<u32>().ok())
                .unwrap_or(1)
                .max(1),
            rescale_slope: slope,
            rescale_intercept: intercept,
            window,
            palette: if photometric == "PALETTE COLOR" {
                palette(object)
            } else {
                None
            },
            photometric,
            pixel_data_vr,
        };
        if info.rows == 0 || info.columns == 0 || info.bits_allocated == 0 {
            return Err(FrameError::Undecodable(
                "Rows, Columns or Bits Allocated is zero".into(),
            ));
        }
        Ok(info)
    }

    /// Read the description from the bytes of a blob up to (at least) the start of its
    /// top-level Pixel Data element.
    pub fn from_prefix(
        prefix: &[u8],
        native_value_offset: Option<u64>,
    ) -> Result<Self, FrameError> {
        let (object, transfer_syntax) = parse_header(prefix)?;
        // Explicit VR: the VR sits 8 bytes before a native value (tag, VR, 2 reserved, length).
        let vr = native_value_offset
            .and_then(|end| usize::try_from(end).ok())
            .and_then(|end| prefix.get(end.checked_sub(8)?..end.checked_sub(6)?))
            .filter(|vr| *vr == b"OB" || *vr == b"OW")
            .map(|vr| String::from_utf8_lossy(vr).into_owned());
        PixelInfo::from_object(&object, &transfer_syntax, vr)
    }
}

/// Parse a Part 10 header (preamble optional) up to, not including, the Pixel Data.
pub fn parse_header(bytes: &[u8]) -> Result<(InMemDicomObject, String), FrameError> {
    let start = if bytes.get(128..132) == Some(b"DICM".as_slice()) {
        128
    } else {
        0
    };
    let file = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .read_until(tags::PIXEL_DATA)
        .from_reader(bytes.get(start..).unwrap_or_default())
        .map_err(|e| {
            FrameError::Undecodable(format!("stored header: {}", super::error::describe(&e)))
        })?;
    let transfer_syntax = file
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    Ok((file.into_inner(), transfer_syntax))
}

fn uint(object: &InMemDicomObject, tag: Tag) -> Option<u16> {
    object.get(tag).and_then(|e| e.to_int::<u16>().ok())
}

fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    object
        .get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty())
}

fn first_float(object: &InMemDicomObject, tag: Tag) -> Option<f64> {
    object
        .get(tag)
        .and_then(|e| e.to_multi_float64().ok())
        .and_then(|v| v.first().copied())
        .filter(|v| v.is_finite())
}

/// The first item of a sequence.
fn first_item(object: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    object
        .get(tag)
        .and_then(|e| e.items())
        .and_then(|i| i.first())
}

/// Rescale and window from the top level, else from the Shared Functional Groups of an
/// enhanced multi-frame object (PS3.3 C.7.6.16.2.9 and C.7.6.16.2.10).
fn value_transforms(object: &InMemDicomObject) -> (f64, f64, Option<Window>) {
    let shared = first_item(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let transformation =
        shared.and_then(|s| first_item(s, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE));
    let voi = shared.and_then(|s| first_item(s, tags::FRAME_VOILUT_SEQUENCE));
    let pick = |tag: Tag, nested: Option<&InMemDicomObject>| {
        first_float(object, tag).or_else(|| nested.and_then(|n| first_float(n, tag)))
    };
    let slope = pick(tags::RESCALE_SLOPE, transformation).unwrap_or(1.0);
    let intercept = pick(tags::RESCALE_INTERCEPT, transformation).unwrap_or(0.0);
    let center = pick(tags::WINDOW_CENTER, voi);
    let width = pick(tags::WINDOW_WIDTH, voi);
    let function = text(object, tags::VOILUT_FUNCTION)
        .or_else(|| voi.and_then(|v| text(v, tags::VOILUT_FUNCTION)))
        .and_then(|f| VoiFunction::parse(&f))
        .unwrap_or(VoiFunction::Linear);
    let window = match (center, width) {
        (Some(center), Some(width)) if width > 0.0 => Some(Window {
            center,
            width,
            function,
        }),
        _ => None,
    };
    (if slope == 0.0 { 1.0 } else { slope }, intercept, window)
}

fn palette(object: &InMemDicomObject) -> Option<Palette> {
    let lut = |descriptor: Tag, data: Tag| -> Option<(Vec<i64>, Vec<u16>)> {
        let desc: Vec<i64> = object.get(descriptor)?.to_multi_int::<i64>().ok()?;
        let bytes = object.get(data)?.to_bytes().ok()?;
        let entries = match desc.first().copied()? {
            0 => 65536,
            n => usize::try_from(n).ok()?,
        };
        // 8-bit entries may come packed two per word (PS3.3 C.7.6.3.1.6).
        let values = if bytes.len() == entries {
            bytes.iter().map(|&b| u16::from(b)).collect()
        } else {
            bytes
                .chunks_exact(2)
                .take(entries)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        Some((desc, values))
    };
    let (desc, red) = lut(
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let (_, green) = lut(
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let (_, blue) = lut(
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    Some(Palette {
        first_mapped: desc.get(1).copied().unwrap_or(0),
        bits: desc
            .get(2)
            .and_then(|b| u16::try_from(*b).ok())
            .unwrap_or(16),
        red,
        green,
        blue,
    })
}
