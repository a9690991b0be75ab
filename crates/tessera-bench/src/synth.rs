//! Synthetic CT instances. The pixels (a phantom disc plus a gradient) are made once per
//! run and shared; each instance only gets a fresh small header (file meta + attributes)
//! with UIDs derived from (cell, index) under a random per-run root, so runs never collide.

use bytes::{BufMut, Bytes, BytesMut};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemElement;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use rand::{Rng, SeedableRng};

/// Fixed Implementation Class UID of the bench generator.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.203622342785218226046478118424734094612";
const SLICE_THICKNESS_MM: f64 = 1.25;
const RESCALE_INTERCEPT: i32 = -1024;

pub struct Synth {
    pub size: u16,
    pub slices: u32,
    pub seed: u64,
    /// `2.25.<random u128>`: fresh every run.
    pub uid_root: String,
    /// The Pixel Data element: its 12-byte explicit-VR header, then the pixels.
    pixel_element: Bytes,
}

/// One Part 10 file as two pieces: `header` (preamble to the last attribute before Pixel
/// Data) and `pixels` (the shared Pixel Data element). Concatenated they form the file.
pub struct Instance {
    pub header: Bytes,
    pub pixels: Bytes,
}

impl Instance {
    pub fn len(&self) -> usize {
        self.header.len() + self.pixels.len()
    }
}

impl Synth {
    pub fn new(size: u16, slices: u32, seed: u64) -> Self {
        let uid_root = format!("2.25.{}", rand::random::<u128>().max(1));
        Synth {
            size,
            slices: slices.max(1),
            seed,
            uid_root,
            pixel_element: pixel_element(size, seed),
        }
    }

    /// Study Instance UID of study `study` of workload `cell`.
    pub fn study_uid(&self, cell: u32, study: u64) -> String {
        format!("{}.1.{cell}.{study}", self.uid_root)
    }

    /// Series Instance UID of the CT series of study `study` of workload `cell`.
    pub fn series_uid(&self, cell: u32, study: u64) -> String {
        format!("{}.2.{cell}.{study}", self.uid_root)
    }

    /// SOP Instance UID of instance `index` of workload `cell`.
    pub fn sop_uid(&self, cell: u32, index: u64) -> String {
        format!("{}.3.{cell}.{index}", self.uid_root)
    }

    /// The pixel values every slice shares (the Pixel Data element's value).
    pub fn pixel_values(&self) -> Bytes {
        self.pixel_element.slice(12..)
    }

    /// The patient and study attributes every instance of study `study` of `cell` carries.
    pub fn study_elements(&self, cell: u32, study: u64) -> Vec<InMemElement> {
        self.study_elements_as(cell, study, "Synthetic CT phantom")
    }

    /// [`Synth::study_elements`] with another Study Description.
    pub fn study_elements_as(&self, cell: u32, study: u64, description: &str) -> Vec<InMemElement> {
        let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        vec![
            text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100"),
            text(tags::STUDY_DATE, VR::DA, "20240115"),
            text(tags::STUDY_TIME, VR::TM, "093000"),
            text(
                tags::ACCESSION_NUMBER,
                VR::SH,
                &format!("B{}{cell}{study}", self.seed),
            ),
            text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, ""),
            text(tags::STUDY_DESCRIPTION, VR::LO, description),
            text(
                tags::PATIENT_NAME,
                VR::PN,
                &format!("Bench^Phantom{}-{cell}-{study}", self.seed),
            ),
            text(
                tags::PATIENT_ID,
                VR::LO,
                &format!("BENCH-{}-{cell}-{study}", self.seed),
            ),
            text(tags::PATIENT_BIRTH_DATE, VR::DA, "19700101"),
            text(tags::PATIENT_SEX, VR::CS, "O"),
            text(
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                &self.study_uid(cell, study),
            ),
            text(tags::STUDY_ID, VR::SH, &study.to_string()),
        ]
    }

    /// Instance `index` of workload `cell`: study `index / slices`, slice `index % slices`.
    pub fn instance(&self, cell: u32, index: u64) -> Result<Instance, String> {
        let study = index / u64::from(self.slices);
        let slice = index % u64::from(self.slices);
        let root = &self.uid_root;
        let series_uid = self.series_uid(cell, study);
        let sop_uid = self.sop_uid(cell, index);
        let frame_uid = format!("{root}.4.{cell}.{study}");
        let z = -(slice as f64) * SLICE_THICKNESS_MM;
        let half = f64::from(self.size) * 0.7 / 2.0;
        let spacing = 0.7_f64 * 512.0 / f64::from(self.size.max(1));
        let size = self.size;

        let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let series = [
            text(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\AXIAL"),
            text(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE),
            text(tags::SOP_INSTANCE_UID, VR::UI, &sop_uid),
            text(tags::SERIES_DATE, VR::DA, "20240115"),
            text(tags::MODALITY, VR::CS, "CT"),
            text(tags::MANUFACTURER, VR::LO, "Tessera Bench"),
            text(tags::SERIES_DESCRIPTION, VR::LO, "Axial 1.25mm"),
            text(tags::BODY_PART_EXAMINED, VR::CS, "CHEST"),
            text(tags::SLICE_THICKNESS, VR::DS, "1.25"),
            text(tags::KVP, VR::DS, "120"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
            text(tags::SERIES_NUMBER, VR::IS, "1"),
            text(tags::INSTANCE_NUMBER, VR::IS, &(slice + 1).to_string()),
            text(
                tags::RESCALE_INTERCEPT,
                VR::DS,
                &RESCALE_INTERCEPT.to_string(),
            ),
            text(tags::RESCALE_SLOPE, VR::DS, "1"),
            text(tags::RESCALE_TYPE, VR::LO, "HU"),
        ];
        let plane = SlicePlane {
            corner: -half,
            z,
            frame_uid: &frame_uid,
            size,
            spacing,
            signed: true,
            window: ("40", "400"),
        };
        let elements = self
            .study_elements(cell, study)
            .into_iter()
            .chain(series)
            .chain(plane.elements())
            .collect();
        let header = part10_header(elements, "a synthetic instance")?;
        Ok(Instance {
            header: Bytes::from(header),
            pixels: self.pixel_element.clone(),
        })
    }
}

/// Where an axial 16-bit greyscale slice (12 bits stored) lies and how it is shown: its
/// Image Plane and Image Pixel attributes and a default window, shared by the CT and MR
/// generators.
pub struct SlicePlane<'a> {
    /// x and y of the first pixel's centre (mm).
    pub corner: f64,
    pub z: f64,
    pub frame_uid: &'a str,
    pub size: u16,
    /// Pixel spacing (mm), the same along rows and columns.
    pub spacing: f64,
    pub signed: bool,
    /// Window centre and width.
    pub window: (&'a str, &'a str),
}

impl SlicePlane<'_> {
    pub fn elements(&self) -> Vec<InMemElement> {
        let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let (corner, z, spacing) = (self.corner, self.z, self.spacing);
        vec![
            text(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                &format!("{corner:.2}\\{corner:.2}\\{z:.2}"),
            ),
            text(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0"),
            text(tags::FRAME_OF_REFERENCE_UID, VR::UI, self.frame_uid),
            text(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""),
            text(tags::SLICE_LOCATION, VR::DS, &format!("{z:.2}")),
            us(tags::SAMPLES_PER_PIXEL, 1),
            text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            us(tags::ROWS, self.size),
            us(tags::COLUMNS, self.size),
            text(
                tags::PIXEL_SPACING,
                VR::DS,
                &format!("{spacing:.4}\\{spacing:.4}"),
            ),
            us(tags::BITS_ALLOCATED, 16),
            us(tags::BITS_STORED, 12),
            us(tags::HIGH_BIT, 11),
            us(tags::PIXEL_REPRESENTATION, u16::from(self.signed)),
            text(tags::WINDOW_CENTER, VR::DS, self.window.0),
            text(tags::WINDOW_WIDTH, VR::DS, self.window.1),
        ]
    }
}

/// `elements` as a Part 10 file up to (not including) Pixel Data: preamble, file meta group
/// (explicit VR little endian, the bench's implementation UID), then the attributes.
pub fn part10_header(elements: Vec<InMemElement>, what: &str) -> Result<Vec<u8>, String> {
    let file = InMemDicomObject::from_element_iter(elements)
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
                .implementation_version_name("TESSERA_BENCH"),
        )
        .map_err(|err| format!("building the file meta group of {what}: {err}"))?;
    let mut header = Vec::with_capacity(2048);
    file.write_all(&mut header)
        .map_err(|err| format!("encoding {what}: {err}"))?;
    Ok(header)
}

/// The 12-byte explicit VR little endian head of a Pixel Data element (`vr` OB or OW) of
/// `len` bytes, which must be even.
pub fn put_pixel_data_head(out: &mut BytesMut, vr: &[u8; 2], len: u32) {
    out.put_u16_le(tags::PIXEL_DATA.group());
    out.put_u16_le(tags::PIXEL_DATA.element());
    out.put_slice(vr);
    out.put_u16_le(0);
    out.put_u32_le(len);
}

/// xorshift64: cheap deterministic noise; `state` must not be 0.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The Pixel Data element (OW, explicit VR little endian) of a `size` x `size` signed
/// 12-bit CT slice: air around a body disc with lungs, a spine insert, a left-to-right
/// gradient and a little deterministic (seeded) noise.
fn pixel_element(size: u16, seed: u64) -> Bytes {
    let n = usize::from(size);
    let len = (n * n * 2) as u32;
    let mut out = BytesMut::with_capacity(12 + n * n * 2);
    out.put_u16_le(tags::PIXEL_DATA.group());
    out.put_u16_le(tags::PIXEL_DATA.element());
    out.put_slice(b"OW");
    out.put_u16_le(0);
    out.put_u32_le(len);

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let cx = 0.5 + rng.random_range(-0.03..0.03);
    let cy = 0.5 + rng.random_range(-0.03..0.03);
    let gradient = rng.random_range(10.0..40.0);
    let mut noise = seed | 1;
    let inside = |x: f64, y: f64, ex: f64, ey: f64, rx: f64, ry: f64| {
        let dx = (x - ex) / rx;
        let dy = (y - ey) / ry;
        dx * dx + dy * dy <= 1.0
    };
    for row in 0..n {
        let y = (row as f64 + 0.5) / n as f64;
        for col in 0..n {
            let x = (col as f64 + 0.5) / n as f64;
            // xorshift: cheap deterministic noise in [-8, 8).
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let jitter = (noise % 16) as f64 - 8.0;
            let hu = if !inside(x, y, cx, cy, 0.42, 0.34) {
                -1000.0
            } else if inside(x, y, cx, cy + 0.2, 0.06, 0.06) {
                700.0 + jitter * 4.0
            } else if inside(x, y, cx - 0.17, cy - 0.02, 0.12, 0.2)
                || inside(x, y, cx + 0.17, cy - 0.02, 0.12, 0.2)
            {
                -820.0 + jitter * 2.0
            } else {
                30.0 + gradient * (x - 0.5) + jitter
            };
            let stored = (hu as i32 - RESCALE_INTERCEPT).clamp(-2048, 2047) as i16;
            out.put_i16_le(stored);
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_is_a_parseable_part10_file_with_fresh_uids() {
        let synth = Synth::new(16, 4, 7);
        let a = synth.instance(1, 5).unwrap();
        let b = synth.instance(1, 6).unwrap();
        assert_ne!(a.header, b.header);
        let mut file = a.header.to_vec();
        file.extend_from_slice(&a.pixels);
        assert_eq!(file.len(), a.len());
        assert_eq!(&file[128..132], b"DICM");
        let obj = dicom_object::DefaultDicomObject::from_reader(&file[..]).unwrap();
        let sop = obj
            .element(tags::SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(sop, format!("{}.3.1.5", synth.uid_root));
        assert_eq!(obj.meta().media_storage_sop_instance_uid(), sop);
        let number = obj.element(tags::INSTANCE_NUMBER).unwrap().to_int::<u32>();
        assert_eq!(number.unwrap(), 2);
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(pixels.len(), 16 * 16 * 2);
    }

    #[test]
    fn pixels_are_deterministic_per_seed() {
        assert_eq!(pixel_element(32, 3), pixel_element(32, 3));
        assert_ne!(pixel_element(32, 3), pixel_element(32, 4));
    }
}
