//! Files built byte by byte in every encoding, and the layout tests on them.

mod frames;
mod proptests;
mod robustness;
mod walk;

use super::read::{LONG_VRS, PIXEL_DATA, UNDEFINED_LENGTH};
use super::*;
use dicom_dictionary_std::uids;

/// Little helper that writes data set bytes in a given encoding.
pub(super) struct W {
    pub(super) buf: Vec<u8>,
    pub(super) explicit: bool,
    pub(super) big: bool,
}

impl W {
    pub(super) fn new(explicit: bool, big: bool) -> Self {
        W {
            buf: Vec::new(),
            explicit,
            big,
        }
    }
    pub(super) fn u16(&mut self, v: u16) -> &mut Self {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
        self
    }
    pub(super) fn u32(&mut self, v: u32) -> &mut Self {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
        self
    }
    /// Element header with a defined length.
    pub(super) fn head(&mut self, g: u16, e: u16, vr: &[u8; 2], len: u32) -> &mut Self {
        self.u16(g).u16(e);
        if self.explicit {
            self.buf.extend_from_slice(vr);
            if LONG_VRS.contains(&vr) {
                self.buf.extend_from_slice(&[0, 0]);
                self.u32(len);
            } else {
                self.u16(len as u16);
            }
        } else {
            self.u32(len);
        }
        self
    }
    pub(super) fn el(&mut self, g: u16, e: u16, vr: &[u8; 2], val: &[u8]) -> &mut Self {
        self.head(g, e, vr, val.len() as u32);
        self.buf.extend_from_slice(val);
        self
    }
    pub(super) fn us(&mut self, g: u16, e: u16, v: u16) -> &mut Self {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.el(g, e, b"US", &b)
    }
    pub(super) fn undef(&mut self, g: u16, e: u16, vr: &[u8; 2]) -> &mut Self {
        self.head(g, e, vr, UNDEFINED_LENGTH)
    }
    pub(super) fn item(&mut self, len: u32) -> &mut Self {
        self.u16(0xFFFE).u16(0xE000).u32(len)
    }
    pub(super) fn item_end(&mut self) -> &mut Self {
        self.u16(0xFFFE).u16(0xE00D).u32(0)
    }
    pub(super) fn seq_end(&mut self) -> &mut Self {
        self.u16(0xFFFE).u16(0xE0DD).u32(0)
    }
    pub(super) fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
}

pub(super) fn meta(ts: &str, preamble: bool, group_length: bool) -> Vec<u8> {
    let mut uid = ts.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0);
    }
    let mut body = W::new(true, false);
    body.el(0x0002, 0x0001, b"OB", &[0, 1])
        .el(0x0002, 0x0010, b"UI", &uid);
    let mut out = Vec::new();
    if preamble {
        out.extend_from_slice(&[0u8; 128]);
    }
    out.extend_from_slice(b"DICM");
    if group_length {
        let mut gl = W::new(true, false);
        gl.el(
            0x0002,
            0x0000,
            b"UL",
            &(body.buf.len() as u32).to_le_bytes(),
        );
        out.extend_from_slice(&gl.buf);
    }
    out.extend_from_slice(&body.buf);
    out
}

pub(super) fn file(ts: &str, dataset: &[u8]) -> Vec<u8> {
    let mut f = meta(ts, true, true);
    f.extend_from_slice(dataset);
    f
}

pub(super) fn tags(l: &Part10Layout) -> Vec<(u16, u16)> {
    l.elements.iter().map(|e| e.tag).collect()
}

/// Explicit LE data set with 2 frames of 2x2x1 8-bit native pixel data.
pub(super) fn explicit_native() -> Vec<u8> {
    let mut w = W::new(true, false);
    w.el(0x0008, 0x0060, b"CS", b"MR")
        .us(0x0028, 0x0002, 1)
        .el(0x0028, 0x0008, b"IS", b"2 ")
        .us(0x0028, 0x0010, 2)
        .us(0x0028, 0x0011, 2)
        .us(0x0028, 0x0100, 8)
        .el(0x7FE0, 0x0010, b"OB", &[1, 2, 3, 4, 5, 6, 7, 8]);
    file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf)
}

/// Implicit VR LE with nested undefined-length sequences and items,
/// a defined-length item and a defined-length sequence.
pub(super) fn implicit_nested() -> Vec<u8> {
    let mut w = W::new(false, false);
    w.el(0x0008, 0x0016, b"UI", b"1.2\0");
    // (0008,1140) undefined length sequence
    w.undef(0x0008, 0x1140, b"SQ");
    //   item 1: undefined length, holding a nested undefined sequence
    w.item(UNDEFINED_LENGTH)
        .el(0x0008, 0x1150, b"UI", b"1.3\0")
        .undef(0x0040, 0xA730, b"SQ")
        .item(UNDEFINED_LENGTH)
        .el(0x0040, 0xA040, b"CS", b"TEXT")
        .item_end()
        .item(8)
        .raw(&[0x40, 0x00, 0x60, 0xA1, 0, 0, 0, 0])
        .seq_end()
        .item_end();
    //   item 2: defined length (its elements walked too, as dicom-rs reads them)
    w.item(10)
        .raw(&[0x08, 0x00, 0x50, 0x11, 2, 0, 0, 0, b'1', 0])
        .seq_end();
    // Defined-length sequence, skipped by length.
    w.head(0x0040, 0x0275, b"SQ", 16)
        .item(8)
        .raw(&[0x40, 0x00, 0x07, 0x00, 0, 0, 0, 0]);
    w.us(0x0028, 0x0002, 1)
        .us(0x0028, 0x0010, 1)
        .us(0x0028, 0x0011, 3)
        .us(0x0028, 0x0100, 16)
        .el(0x7FE0, 0x0010, b"OW", &[1, 0, 2, 0, 3, 0])
        .el(0xFFFC, 0xFFFC, b"OB", &[0, 0, 0, 0]);
    file(uids::IMPLICIT_VR_LITTLE_ENDIAN, &w.buf)
}

/// Encapsulated pixel data with the given BOT and fragment payloads;
/// optional extended offset table elements.
pub(super) fn encapsulated(bot: &[u32], frags: &[&[u8]], eot: Option<(&[u64], &[u64])>) -> Vec<u8> {
    let mut w = W::new(true, false);
    w.el(0x0028, 0x0008, b"IS", b"2 ");
    if let Some((o, l)) = eot {
        let ob: Vec<u8> = o.iter().flat_map(|x| x.to_le_bytes()).collect();
        let lb: Vec<u8> = l.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.el(0x7FE0, 0x0001, b"OV", &ob)
            .el(0x7FE0, 0x0002, b"OV", &lb);
    }
    w.undef(0x7FE0, 0x0010, b"OB").item(bot.len() as u32 * 4);
    for &o in bot {
        w.u32(o);
    }
    for f in frags {
        w.item(f.len() as u32).raw(f);
    }
    w.seq_end();
    w.el(0xFFFC, 0xFFFC, b"OB", &[0, 0]);
    file(uids::JPEG_BASELINE8_BIT, &w.buf)
}

pub(super) fn fragments_of(l: &Part10Layout) -> (Vec<u32>, Vec<Fragment>) {
    match &l.pixel_data {
        Some(PixelDataLayout::Encapsulated {
            basic_offset_table,
            fragments,
        }) => (basic_offset_table.clone(), fragments.clone()),
        other => panic!("not encapsulated: {other:?}"),
    }
}
