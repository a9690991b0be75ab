//! The WADO workload's ultrasound cine: one Ultrasound Multi-frame Image Storage Part 10
//! file (native explicit VR little endian, 8-bit RGB, PlanarConfiguration 0, NumberOfFrames
//! N, FrameTime and CineRate set) in the MR series' study, its own series. Each frame is a
//! fan-shaped B-mode sector of seeded speckle with a pulsing dark chamber and a colour
//! Doppler box, so frames differ from each other and do not compress to nothing.

use bytes::{BufMut, BytesMut};
use dicom_core::smallvec::smallvec;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use rand::{Rng, SeedableRng};

use super::synth::{part10_header, put_pixel_data_head, xorshift, Synth};
use super::wado_mr::STUDY_DESCRIPTION;
use super::wado_synth::MultiFrame;

/// Frames per second the cine was "acquired" at (CineRate; FrameTime is 1000 / this).
const CINE_RATE: u32 = 30;
/// Half the sector's opening angle, in radians (about 38 degrees).
const HALF_ANGLE: f64 = 0.66;

/// A `columns` x `rows` cine of `frames` frames in study `study` of workload `cell`.
pub fn cine(
    synth: &Synth,
    cell: u32,
    study: u64,
    columns: u16,
    rows: u16,
    frames: u32,
) -> Result<MultiFrame, String> {
    let root = &synth.uid_root;
    let series_uid = format!("{root}.10.{cell}.{study}");
    let sop_uid = format!("{root}.11.{cell}.{study}");
    let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let frame_time = format!("{:.4}", 1000.0 / f64::from(CINE_RATE));
    let own = [
        text(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\CARDIAC"),
        text(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
        ),
        text(tags::SOP_INSTANCE_UID, VR::UI, &sop_uid),
        text(tags::SERIES_DATE, VR::DA, "20240115"),
        text(tags::MODALITY, VR::CS, "US"),
        text(tags::MANUFACTURER, VR::LO, "Tessera Bench"),
        text(tags::SERIES_DESCRIPTION, VR::LO, "Cardiac cine"),
        text(tags::CINE_RATE, VR::IS, &CINE_RATE.to_string()),
        text(tags::FRAME_TIME, VR::DS, &frame_time),
        text(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
        text(tags::SERIES_NUMBER, VR::IS, "4"),
        text(tags::INSTANCE_NUMBER, VR::IS, "1"),
        text(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
        DataElement::new(
            tags::FRAME_INCREMENT_POINTER,
            VR::AT,
            PrimitiveValue::Tags(smallvec![tags::FRAME_TIME]),
        ),
        us(tags::SAMPLES_PER_PIXEL, 3),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"),
        us(tags::PLANAR_CONFIGURATION, 0),
        us(tags::ROWS, rows),
        us(tags::COLUMNS, columns),
        us(tags::BITS_ALLOCATED, 8),
        us(tags::BITS_STORED, 8),
        us(tags::HIGH_BIT, 7),
        us(tags::PIXEL_REPRESENTATION, 0),
        text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
    ];
    let elements = synth
        .study_elements_as(cell, study, STUDY_DESCRIPTION)
        .into_iter()
        .chain(own)
        .collect();
    let header = part10_header(elements, "the ultrasound cine")?;

    let (w, h) = (usize::from(columns), usize::from(rows));
    let frame_len = w * h * 3;
    let total = frame_len * frames as usize;
    // An odd value length gets one padding byte, as Part 5 wants.
    let value_len = u32::try_from(total + total % 2)
        .map_err(|_| "the cine's Pixel Data would exceed 4 GiB".to_string())?;
    let mut out = BytesMut::with_capacity(header.len() + 12 + value_len as usize);
    out.put_slice(&header);
    put_pixel_data_head(&mut out, b"OB", value_len);
    let pixel_offset = out.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(synth.seed ^ 0x05ca_1ab1e);
    let mut noise = rng.random::<u64>() | 1;
    for frame in 0..frames {
        let phase = f64::from(frame) / f64::from(CINE_RATE) * std::f64::consts::TAU;
        put_frame(&mut out, w, h, phase, &mut noise);
    }
    if total % 2 == 1 {
        out.put_u8(0);
    }
    MultiFrame::new(
        out.freeze(),
        series_uid,
        sop_uid,
        frames,
        pixel_offset,
        frame_len,
    )
}

/// One RGB frame (R, G, B per pixel) at heartbeat `phase`.
fn put_frame(out: &mut BytesMut, w: usize, h: usize, phase: f64, noise: &mut u64) {
    let chamber = 0.16 + 0.04 * phase.sin();
    for row in 0..h {
        // Normalised so the sector's apex is at (0, 0) and its depth 1.
        let y = (row as f64 + 0.5) / h as f64;
        for col in 0..w {
            let x = (col as f64 + 0.5 - w as f64 / 2.0) / h as f64;
            let depth = (x * x + y * y).sqrt();
            let angle = x.atan2(y);
            if angle.abs() > HALF_ANGLE || !(0.04..=0.95).contains(&depth) {
                // Outside the sector: black, but for the odd stray bit of noise.
                let v = (xorshift(noise) % 251 == 0) as u8 * 12;
                out.put_slice(&[v, v, v]);
                continue;
            }
            let speckle = (xorshift(noise) % 96) as f64;
            let dx = (x - 0.02 * phase.cos()) / 0.75;
            let dy = y - 0.55;
            let in_chamber = (dx * dx + dy * dy).sqrt() < chamber;
            let tissue = 70.0 + 50.0 * (depth * 30.0 - phase).sin() * (angle * 9.0).cos();
            let gray = if in_chamber {
                speckle * 0.2
            } else {
                (tissue + speckle) * (1.1 - depth * 0.5)
            };
            let g = gray.clamp(0.0, 255.0) as u8;
            let doppler = (0.35..0.5).contains(&y) && x.abs() < 0.08 && in_chamber;
            if doppler {
                let flow = (phase + y * 20.0).sin();
                let strength = (flow.abs() * 200.0 + speckle * 0.5).min(255.0) as u8;
                if flow > 0.0 {
                    out.put_slice(&[strength, g / 4, g / 4]);
                } else {
                    out.put_slice(&[g / 4, g / 4, strength]);
                }
            } else {
                out.put_slice(&[g, g, g]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cine_is_an_rgb_part10_file_whose_frames_are_where_we_say() {
        let synth = Synth::new(8, 4, 3);
        let us = cine(&synth, 3, 0, 24, 16, 5).unwrap();
        let obj = dicom_object::DefaultDicomObject::from_reader(&us.file[..]).unwrap();
        let text = |tag| obj.element(tag).unwrap().to_str().unwrap().to_string();
        let int = |tag| obj.element(tag).unwrap().to_int::<u32>().unwrap();
        assert_eq!(
            text(tags::SOP_CLASS_UID),
            uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE
        );
        assert_eq!(text(tags::MODALITY), "US");
        assert_eq!(text(tags::PHOTOMETRIC_INTERPRETATION), "RGB");
        assert_eq!(text(tags::STUDY_INSTANCE_UID), synth.study_uid(3, 0));
        assert_eq!(text(tags::SOP_INSTANCE_UID), us.sop_uid);
        assert_eq!(int(tags::NUMBER_OF_FRAMES), 5);
        assert_eq!(int(tags::SAMPLES_PER_PIXEL), 3);
        assert_eq!(int(tags::PLANAR_CONFIGURATION), 0);
        assert_eq!(int(tags::CINE_RATE), 30);
        assert_eq!((int(tags::COLUMNS), int(tags::ROWS)), (24, 16));
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        let frame_len = 24 * 16 * 3;
        assert_eq!(pixels.len(), 5 * frame_len);
        assert_eq!(&pixels[3 * frame_len..4 * frame_len], &us.frame(4)[..]);
        assert_ne!(us.frame(1), us.frame(2));
    }

    #[test]
    fn an_odd_pixel_data_length_is_padded() {
        let synth = Synth::new(8, 4, 3);
        let us = cine(&synth, 3, 0, 3, 1, 3).unwrap();
        let obj = dicom_object::DefaultDicomObject::from_reader(&us.file[..]).unwrap();
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(pixels.len(), 28);
        assert_eq!(&pixels[18..27], &us.frame(3)[..]);
    }
}
