//! The element walk: every top-level element of the data set located, sequences and items
//! of any nesting skipped (PS3.5 7.5), encapsulated pixel data split into fragments
//! (PS3.5 A.4).

use super::read::*;
use super::{DatasetEncoding, ElementLayout, Fragment, LayoutError, Part10Layout, PixelDataLayout};
use crate::limits::ParseLimits;
use dicom_dictionary_std::uids;

/// How deep the walk is in nested sequences, and how deep it may go.
#[derive(Debug, Clone, Copy)]
struct Depth {
    level: usize,
    limit: usize,
}

impl Depth {
    /// One level further in, for the sequence whose header is at `pos`.
    fn inside(self, pos: usize) -> Result<Depth, LayoutError> {
        let level = self.level.saturating_add(1);
        if level > self.limit {
            return Err(LayoutError::TooDeep {
                offset: off(pos),
                limit: self.limit,
            });
        }
        Ok(Depth { level, ..self })
    }
}

/// Walks the items of an undefined-length sequence starting at `pos`, each a data set
/// whatever its length (dicom-rs reads them so); returns the offset after the (FFFE,E0DD)
/// sequence delimiter.
fn skip_items(
    bytes: &[u8],
    mut pos: usize,
    syn: Syntax,
    depth: Depth,
) -> Result<usize, LayoutError> {
    loop {
        let h = read_header(
            bytes,
            pos,
            Syntax {
                explicit: false,
                ..syn
            },
        )?;
        match (h.tag, h.length) {
            (SEQUENCE_DELIMITATION, _) => return Ok(h.value_offset),
            (ITEM, Some(len)) => {
                let end = value_end(bytes, &h, len, pos)?;
                check_defined_item(bytes, h.value_offset, end, syn, depth)?;
                pos = end;
            }
            (ITEM, None) => pos = skip_item_dataset(bytes, h.value_offset, syn, depth)?,
            _ => return Err(malformed(pos, "expected item or sequence delimiter")),
        }
    }
}

/// Skips the fragments of encapsulated pixel data below the top level (an icon image in a
/// sequence item): items whose bytes are not a data set, to dicom-rs either.
fn skip_fragments(bytes: &[u8], mut pos: usize, syn: Syntax) -> Result<usize, LayoutError> {
    loop {
        let h = read_header(
            bytes,
            pos,
            Syntax {
                explicit: false,
                ..syn
            },
        )?;
        match (h.tag, h.length) {
            (SEQUENCE_DELIMITATION, _) => return Ok(h.value_offset),
            (ITEM, Some(len)) => pos = value_end(bytes, &h, len, pos)?,
            _ => {
                return Err(malformed(
                    pos,
                    "expected fragment item or sequence delimiter",
                ))
            }
        }
    }
}

/// Walks the elements of a defined-length item occupying `pos..end`.
fn check_defined_item(
    bytes: &[u8],
    mut pos: usize,
    end: usize,
    syn: Syntax,
    depth: Depth,
) -> Result<(), LayoutError> {
    while pos < end {
        let h = read_header(bytes, pos, syn)?;
        if h.tag.0 == 0xFFFE {
            return Err(malformed(pos, "unexpected delimiter inside item"));
        }
        pos = element_end(bytes, &h, pos, end, syn, depth)?;
    }
    Ok(())
}

/// Walks the elements of an undefined-length item; returns the offset after
/// its (FFFE,E00D) item delimiter.
fn skip_item_dataset(
    bytes: &[u8],
    mut pos: usize,
    syn: Syntax,
    depth: Depth,
) -> Result<usize, LayoutError> {
    loop {
        let h = read_header(bytes, pos, syn)?;
        if h.tag == ITEM_DELIMITATION {
            return Ok(h.value_offset);
        }
        if h.tag.0 == 0xFFFE {
            return Err(malformed(pos, "unexpected delimiter inside item"));
        }
        pos = element_end(bytes, &h, pos, bytes.len(), syn, depth)?;
    }
}

/// The end of the element whose header `h` starts at `pos`, which must lie within `limit`.
/// A sequence is checked item by item at any depth, defined length or not: a data set
/// reader descends into it, reserving what each element inside claims and recursing per
/// level, so a length past its container or a nesting deeper than the limit
/// ([`ParseLimits::max_sequence_depth`]) is refused here, before it reaches one.
fn element_end(
    bytes: &[u8],
    h: &Header,
    pos: usize,
    limit: usize,
    syn: Syntax,
    depth: Depth,
) -> Result<usize, LayoutError> {
    let end = match h.length {
        Some(len) => {
            if value_size(h).is_some_and(|size| len % size != 0) {
                return Err(malformed(
                    pos,
                    "length is not a multiple of the value's size",
                ));
            }
            let end = value_end(bytes, h, len, pos)?;
            if end > limit {
                return Err(malformed(pos, "element longer than the item holding it"));
            }
            if is_sequence(h) {
                check_defined_sequence(
                    bytes,
                    h.value_offset,
                    end,
                    inner_syntax(h, syn),
                    depth.inside(pos)?,
                )?;
            }
            end
        }
        None if h.tag == PIXEL_DATA => skip_fragments(bytes, h.value_offset, syn)?,
        None => skip_items(
            bytes,
            h.value_offset,
            inner_syntax(h, syn),
            depth.inside(pos)?,
        )?,
    };
    if end > limit {
        return Err(malformed(pos, "element longer than the item holding it"));
    }
    Ok(end)
}

/// Checks the items of a defined-length sequence occupying `pos..end`.
fn check_defined_sequence(
    bytes: &[u8],
    mut pos: usize,
    end: usize,
    syn: Syntax,
    depth: Depth,
) -> Result<(), LayoutError> {
    while pos < end {
        let item = read_header(
            bytes,
            pos,
            Syntax {
                explicit: false,
                ..syn
            },
        )?;
        if item.tag != ITEM {
            return Err(malformed(pos, "expected an item in a sequence"));
        }
        pos = match item.length {
            Some(len) => {
                let item_end = value_end(bytes, &item, len, pos)?;
                if item_end > end {
                    return Err(malformed(pos, "item longer than its sequence"));
                }
                check_defined_item(bytes, item.value_offset, item_end, syn, depth)?;
                item_end
            }
            None => skip_item_dataset(bytes, item.value_offset, syn, depth)?,
        };
    }
    if pos > end {
        return Err(malformed(pos, "item longer than its sequence"));
    }
    Ok(())
}

/// Parses encapsulated pixel data (PS3.5 A.4) starting at the Basic Offset
/// Table item; returns the layout and the offset after the sequence delimiter.
fn parse_encapsulated(
    bytes: &[u8],
    start: usize,
    syn: Syntax,
) -> Result<(PixelDataLayout, usize), LayoutError> {
    let item_syn = Syntax {
        explicit: false,
        ..syn
    };
    let bot = read_header(bytes, start, item_syn)?;
    if bot.tag != ITEM {
        return Err(malformed(
            start,
            "encapsulated pixel data without offset table item",
        ));
    }
    let bot_len = bot
        .length
        .ok_or_else(|| malformed(start, "undefined length offset table"))?;
    if bot_len % 4 != 0 {
        return Err(malformed(
            start,
            "basic offset table length not a multiple of 4",
        ));
    }
    let mut pos = value_end(bytes, &bot, bot_len, start)?;
    let table = bytes
        .get(bot.value_offset..pos)
        .ok_or_else(|| truncated(start))?;
    let basic_offset_table = table
        .chunks_exact(4)
        .filter_map(|c| u32_at(c, 0, syn.big))
        .collect();

    let mut fragments = Vec::new();
    loop {
        let h = read_header(bytes, pos, item_syn)?;
        match (h.tag, h.length) {
            (SEQUENCE_DELIMITATION, _) => {
                return Ok((
                    PixelDataLayout::Encapsulated {
                        basic_offset_table,
                        fragments,
                    },
                    h.value_offset,
                ))
            }
            (ITEM, Some(len)) => {
                let end = value_end(bytes, &h, len, pos)?;
                fragments.push(Fragment {
                    item_offset: off(pos),
                    value_offset: off(h.value_offset),
                    length: u64::from(len),
                });
                pos = end;
            }
            (ITEM, None) => return Err(malformed(pos, "undefined length pixel data fragment")),
            _ => {
                return Err(malformed(
                    pos,
                    "expected fragment item or sequence delimiter",
                ))
            }
        }
    }
}

fn encoding_for(transfer_syntax: &str) -> DatasetEncoding {
    match transfer_syntax {
        uids::IMPLICIT_VR_LITTLE_ENDIAN => DatasetEncoding::ImplicitLittle,
        crate::uid::EXPLICIT_VR_BIG_ENDIAN => DatasetEncoding::ExplicitBig,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => DatasetEncoding::Deflated,
        _ => DatasetEncoding::ExplicitLittle,
    }
}

fn syntax_for(encoding: DatasetEncoding) -> Syntax {
    match encoding {
        DatasetEncoding::ImplicitLittle => IMPLICIT_LE,
        DatasetEncoding::ExplicitBig => Syntax {
            explicit: true,
            big: true,
        },
        DatasetEncoding::ExplicitLittle | DatasetEncoding::Deflated => EXPLICIT_LE,
    }
}

fn element_layout(h: &Header) -> ElementLayout {
    ElementLayout {
        tag: h.tag,
        vr: h.vr,
        value_offset: off(h.value_offset),
        value_length: h.length.map(u64::from),
    }
}

/// Walks a DICOM Part 10 file and records where its elements are, with the default limits.
pub fn walk(bytes: &[u8]) -> Result<Part10Layout, LayoutError> {
    walk_with(bytes, &ParseLimits::default())
}

/// Walks a DICOM Part 10 file and records where its elements are; sequences nested deeper
/// than `limits` allow are refused ([`LayoutError::TooDeep`]).
pub fn walk_with(bytes: &[u8], limits: &ParseLimits) -> Result<Part10Layout, LayoutError> {
    let top = Depth {
        level: 0,
        limit: limits.max_sequence_depth,
    };
    let (has_preamble, meta_start) =
        if bytes.get(PREAMBLE_LEN..PREAMBLE_LEN + 4) == Some(b"DICM".as_slice()) {
            (true, PREAMBLE_LEN + 4)
        } else if bytes.get(..4) == Some(b"DICM".as_slice()) {
            (false, 4)
        } else {
            return Err(LayoutError::NotPart10);
        };

    // File meta information: explicit VR little endian, group 0002.
    let mut meta = Vec::new();
    let mut group_end: Option<usize> = None;
    let mut transfer_syntax: Option<String> = None;
    let mut pos = meta_start;
    loop {
        if let Some(end) = group_end {
            if pos < end && pos >= bytes.len() {
                return Err(truncated(pos));
            }
            // Trust the group length for deflated data, whose compressed
            // bytes could look like a group 0002 tag; otherwise tolerate a
            // wrong group length by reading on while the group is 0002.
            let deflated =
                transfer_syntax.as_deref() == Some(uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
            if pos >= end && deflated {
                break;
            }
        }
        if pos >= bytes.len() {
            break;
        }
        let group = u16_at(bytes, pos, false).ok_or_else(|| truncated(pos))?;
        if group != 0x0002 {
            break;
        }
        let h = read_header(bytes, pos, EXPLICIT_LE)?;
        let len = h
            .length
            .ok_or_else(|| malformed(pos, "undefined length in file meta group"))?;
        let end = value_end(bytes, &h, len, pos)?;
        let value = bytes
            .get(h.value_offset..end)
            .ok_or_else(|| truncated(pos))?;
        if h.tag == FILE_META_GROUP_LENGTH && group_end.is_none() {
            if let Ok(v) = <[u8; 4]>::try_from(value) {
                let gl = to_usize(u64::from(u32::from_le_bytes(v)), pos)?;
                group_end = Some(end.checked_add(gl).ok_or_else(|| truncated(pos))?);
            }
        } else if h.tag == TRANSFER_SYNTAX_UID {
            let text = std::str::from_utf8(value)
                .map_err(|_| malformed(pos, "transfer syntax UID is not text"))?;
            let text = text.trim_end_matches(['\0', ' ']).trim_start_matches(' ');
            transfer_syntax = Some(text.to_owned());
        }
        meta.push(element_layout(&h));
        pos = end;
    }
    let dataset_offset = pos;
    let transfer_syntax = transfer_syntax.ok_or_else(|| {
        if pos >= bytes.len() {
            truncated(pos)
        } else {
            malformed(meta_start, "missing transfer syntax UID")
        }
    })?;
    let encoding = encoding_for(&transfer_syntax);

    let mut layout = Part10Layout {
        has_preamble,
        dataset_offset: off(dataset_offset),
        transfer_syntax,
        encoding,
        meta,
        elements: Vec::new(),
        pixel_data: None,
    };
    if encoding == DatasetEncoding::Deflated {
        return Ok(layout);
    }

    let mut syn = syntax_for(encoding);
    // Some writers label an Implicit VR Little Endian data set with an
    // explicit little endian transfer syntax; like pydicom and DCMTK, look
    // at the first element and fall back to implicit VR when it has no VR.
    if encoding == DatasetEncoding::ExplicitLittle {
        let vr = slice_at(bytes, pos.saturating_add(4), 2);
        let group = u16_at(bytes, pos, false);
        if let (Some(vr), Some(group)) = (vr, group) {
            if group != 0xFFFE && !KNOWN_VRS.iter().any(|k| k.as_slice() == vr) {
                syn = IMPLICIT_LE;
                layout.encoding = DatasetEncoding::ImplicitLittle;
            }
        }
    }
    while pos < bytes.len() {
        let h = read_header(bytes, pos, syn)?;
        if h.tag.0 == 0xFFFE {
            return Err(malformed(pos, "item or delimiter tag at top level"));
        }
        let end = match h.length {
            Some(len) => {
                let end = element_end(bytes, &h, pos, bytes.len(), syn, top)?;
                if h.tag == PIXEL_DATA && layout.pixel_data.is_none() {
                    layout.pixel_data = Some(PixelDataLayout::Native {
                        value_offset: off(h.value_offset),
                        length: u64::from(len),
                    });
                }
                end
            }
            None if h.tag == PIXEL_DATA && layout.pixel_data.is_none() => {
                let (pd, end) = parse_encapsulated(bytes, h.value_offset, syn)?;
                layout.pixel_data = Some(pd);
                end
            }
            None if h.tag == PIXEL_DATA => skip_fragments(bytes, h.value_offset, syn)?,
            None => skip_items(
                bytes,
                h.value_offset,
                inner_syntax(&h, syn),
                top.inside(pos)?,
            )?,
        };
        layout.elements.push(element_layout(&h));
        pos = end;
    }
    Ok(layout)
}

/// The first top-level element with `tag`, if any.
pub fn find_element(layout: &Part10Layout, tag: (u16, u16)) -> Option<&ElementLayout> {
    layout.elements.iter().find(|e| e.tag == tag)
}

/// The value bytes of a defined-length element, if they lie within `bytes`.
pub fn element_value<'a>(bytes: &'a [u8], element: &ElementLayout) -> Option<&'a [u8]> {
    let start = usize::try_from(element.value_offset).ok()?;
    let len = usize::try_from(element.value_length?).ok()?;
    slice_at(bytes, start, len)
}
