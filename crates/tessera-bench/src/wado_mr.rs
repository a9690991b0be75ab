//! The WADO workload's MR series: `slices` MR Image Storage Part 10 files (native explicit VR
//! little endian, `size` x `size`, 16-bit allocated, 12 stored, unsigned MONOCHROME2) of a
//! head phantom whose outline and ventricles change along the series, plus seeded noise.
//! Unlike the CT slices, every slice has its own pixels, so a server answering another
//! slice's frame is caught by comparing bytes.

use bytes::{BufMut, Bytes, BytesMut};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use rand::{Rng, SeedableRng};

use super::synth::{part10_header, put_pixel_data_head, xorshift, SlicePlane, Synth};

/// Study Description of the study the MR series and the ultrasound cine share.
pub const STUDY_DESCRIPTION: &str = "Synthetic MR head and ultrasound cine";
const SLICE_SPACING_MM: f64 = 3.0;
const FIELD_OF_VIEW_MM: f64 = 230.0;

pub struct MrSeries {
    pub series_uid: String,
    /// The Part 10 files, in Instance Number order.
    pub files: Vec<Bytes>,
    /// Each file's Pixel Data value (its only frame), in the same order.
    pub frames: Vec<Bytes>,
}

impl MrSeries {
    pub fn sop_uid(synth: &Synth, cell: u32, slice: u64) -> String {
        format!("{}.8.{cell}.{slice}", synth.uid_root)
    }

    pub fn file_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len() as u64).sum()
    }
}

/// The MR series of study `study` of workload `cell`.
pub fn series(
    synth: &Synth,
    cell: u32,
    study: u64,
    size: u16,
    slices: u32,
) -> Result<MrSeries, String> {
    let root = &synth.uid_root;
    let series_uid = format!("{root}.7.{cell}.{study}");
    let frame_uid = format!("{root}.9.{cell}.{study}");
    let spacing = FIELD_OF_VIEW_MM / f64::from(size.max(1));
    let corner = -FIELD_OF_VIEW_MM / 2.0;
    let mut files = Vec::with_capacity(slices as usize);
    let mut frames = Vec::with_capacity(slices as usize);
    for slice in 0..u64::from(slices) {
        let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let z = slice as f64 * SLICE_SPACING_MM - 60.0;
        let own = [
            text(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\M\\ND"),
            text(tags::SOP_CLASS_UID, VR::UI, uids::MR_IMAGE_STORAGE),
            text(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                &MrSeries::sop_uid(synth, cell, slice),
            ),
            text(tags::SERIES_DATE, VR::DA, "20240115"),
            text(tags::MODALITY, VR::CS, "MR"),
            text(tags::MANUFACTURER, VR::LO, "Tessera Bench"),
            text(tags::SERIES_DESCRIPTION, VR::LO, "Axial T2 FSE"),
            text(tags::BODY_PART_EXAMINED, VR::CS, "HEAD"),
            text(tags::SCANNING_SEQUENCE, VR::CS, "SE"),
            text(tags::SEQUENCE_VARIANT, VR::CS, "SK"),
            text(tags::SCAN_OPTIONS, VR::CS, "FS"),
            text(tags::MR_ACQUISITION_TYPE, VR::CS, "2D"),
            text(tags::SLICE_THICKNESS, VR::DS, "3"),
            text(tags::REPETITION_TIME, VR::DS, "4000"),
            text(tags::ECHO_TIME, VR::DS, "90"),
            text(tags::IMAGING_FREQUENCY, VR::DS, "63.87"),
            text(tags::IMAGED_NUCLEUS, VR::SH, "1H"),
            text(tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "1.5"),
            text(tags::SPACING_BETWEEN_SLICES, VR::DS, "3"),
            text(tags::ECHO_TRAIN_LENGTH, VR::IS, "16"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
            text(tags::SERIES_NUMBER, VR::IS, "3"),
            text(tags::INSTANCE_NUMBER, VR::IS, &(slice + 1).to_string()),
        ];
        let plane = SlicePlane {
            corner,
            z,
            frame_uid: &frame_uid,
            size,
            spacing,
            signed: false,
            window: ("1200", "2400"),
        };
        let elements = synth
            .study_elements_as(cell, study, STUDY_DESCRIPTION)
            .into_iter()
            .chain(own)
            .chain(plane.elements())
            .collect();
        let header = part10_header(elements, "an MR slice")?;
        let pixels = pixels(
            size,
            slice as f64 / f64::from(slices.max(2) - 1),
            synth.seed ^ slice,
        );
        let mut out = BytesMut::with_capacity(header.len() + 12 + pixels.len());
        out.put_slice(&header);
        let len = u32::try_from(pixels.len()).map_err(|_| "MR slice too large".to_string())?;
        put_pixel_data_head(&mut out, b"OW", len);
        let offset = out.len();
        out.put_slice(&pixels);
        let file = out.freeze();
        frames.push(file.slice(offset..));
        files.push(file);
    }
    Ok(MrSeries {
        series_uid,
        files,
        frames,
    })
}

/// One `size` x `size` slice at `depth` (0 at the bottom of the series, 1 at the top): air,
/// a skull ring, brain with a smooth grey-white pattern, two ventricles, seeded noise.
fn pixels(size: u16, depth: f64, seed: u64) -> Vec<u8> {
    let n = usize::from(size);
    let mut out = Vec::with_capacity(n * n * 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut noise = rng.random::<u64>() | 1;
    // The head narrows towards the top; the ventricles are largest mid-series.
    let head = 0.44 * (1.0 - 0.5 * (depth - 0.4).max(0.0).powi(2)).sqrt();
    let ventricle = 0.09 * (1.0 - (2.0 * depth - 1.0).powi(2)).max(0.0);
    let ellipse = |x: f64, y: f64, ex: f64, ey: f64, rx: f64, ry: f64| {
        let dx = (x - ex) / rx;
        let dy = (y - ey) / ry;
        dx * dx + dy * dy
    };
    for row in 0..n {
        let y = (row as f64 + 0.5) / n as f64;
        for col in 0..n {
            let x = (col as f64 + 0.5) / n as f64;
            let jitter = (xorshift(&mut noise) % 64) as f64 - 32.0;
            let r = ellipse(x, y, 0.5, 0.5, head * 0.85, head);
            let value = if r > 1.0 {
                20.0 + jitter.abs() * 0.5
            } else if r > 0.8 {
                400.0 + jitter
            } else if ellipse(x, y, 0.45, 0.48, ventricle * 0.5, ventricle * 1.6) <= 1.0
                || ellipse(x, y, 0.55, 0.48, ventricle * 0.5, ventricle * 1.6) <= 1.0
            {
                2600.0 + jitter * 2.0
            } else {
                let folds = (x * 40.0 + depth * 6.0).sin() * (y * 33.0).cos();
                1100.0 + 250.0 * folds + 200.0 * depth + jitter
            };
            out.put_u16_le(value.clamp(0.0, 4095.0) as u16);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_part10_files_whose_frames_are_where_we_say() {
        let synth = Synth::new(8, 4, 3);
        let mr = series(&synth, 3, 0, 16, 4).unwrap();
        assert_eq!((mr.files.len(), mr.frames.len()), (4, 4));
        for (i, (file, frame)) in mr.files.iter().zip(&mr.frames).enumerate() {
            let obj = dicom_object::DefaultDicomObject::from_reader(&file[..]).unwrap();
            let text = |tag| obj.element(tag).unwrap().to_str().unwrap().to_string();
            assert_eq!(text(tags::SOP_CLASS_UID), uids::MR_IMAGE_STORAGE);
            assert_eq!(text(tags::MODALITY), "MR");
            assert_eq!(text(tags::STUDY_INSTANCE_UID), synth.study_uid(3, 0));
            assert_eq!(text(tags::SERIES_INSTANCE_UID), mr.series_uid);
            assert_eq!(
                text(tags::SOP_INSTANCE_UID),
                MrSeries::sop_uid(&synth, 3, i as u64)
            );
            assert_eq!(text(tags::INSTANCE_NUMBER), (i + 1).to_string());
            let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
            assert_eq!(pixels.len(), 16 * 16 * 2);
            assert_eq!(&pixels[..], &frame[..]);
        }
        assert_ne!(mr.frames[0], mr.frames[1]);
        let again = series(&Synth::new(8, 4, 3), 3, 0, 16, 4).unwrap();
        assert_eq!(again.frames, mr.frames, "pixels depend on the seed alone");
    }
}
