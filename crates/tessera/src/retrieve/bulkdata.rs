//! Retrieve bulk data (PS3.18 10.4.1.1.3): the value behind every BulkDataURI the metadata
//! hands out, top-level (`bulkdata/7FE00010`) or nested (`bulkdata/00540016/0/00181072`).
//!
//! Byte order follows the transfer syntax asked for (PS3.18 8.7.3.5.2): as stored
//! (`transfer-syntax=*` or the stored UID) or little endian (the default, Explicit VR Little
//! Endian); big endian values are swapped per their VR. Pixel Data:
//! - native: located from the frame ranges recorded at ingest and streamed from the blob
//!   with a range read (the rest of the object is never read);
//! - encapsulated, as stored: the value as stored, i.e. the Basic Offset Table item and the
//!   fragment items, without the sequence delimiter (what pydicom calls PixelData). Frames
//!   one by one, as bare codestreams, are the `/frames` resource;
//! - encapsulated, little endian asked: decoded to native pixels, or 406 without a decoder.
//!
//! Other top-level values are read from a prefix of the blob when the pixel data comes last,
//! nested ones by parsing the data set.

use dicom_dictionary_std::uids;
use std::ops::Range;

use bytes::Bytes;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use futures::stream::{self, StreamExt};

use super::transcode::{self, Pixels, Target};
use super::values::{primitive_bytes, swap_units, unit_size};
use super::{blocking, RetrieveService, Scope};
use crate::index::InstanceRow;
use crate::retrieve::RetrieveError;
use crate::storage::{BlobKey, ByteStream};
use tessera_dicom::layout::{self, PixelDataLayout};
use tessera_dicom::limits::ParseLimits;

/// A bulk data location inside an instance: sequence steps, then the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPath {
    steps: Vec<(Tag, usize)>,
    tag: Tag,
}

fn parse_tag(raw: &str) -> Option<Tag> {
    if raw.len() != 8 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let n = u32::from_str_radix(raw, 16).ok()?;
    Some(Tag((n >> 16) as u16, (n & 0xFFFF) as u16))
}

impl BulkPath {
    /// `TAG` or `TAG/ITEM/TAG...` with tags as 8 hex digits and item indexes from 0.
    pub fn parse(raw: &str) -> Option<BulkPath> {
        let parts: Vec<&str> = raw.split('/').collect();
        if parts.len() % 2 == 0 {
            return None;
        }
        let mut steps = Vec::new();
        for pair in parts[..parts.len() - 1].chunks(2) {
            let tag = parse_tag(pair[0])?;
            if pair[1].is_empty() || !pair[1].bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            steps.push((tag, pair[1].parse().ok()?));
        }
        Some(BulkPath {
            steps,
            tag: parse_tag(parts[parts.len() - 1])?,
        })
    }

    /// The path as the metadata writes it (upper-case hex).
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for (tag, item) in &self.steps {
            out.push_str(&format!("{:04X}{:04X}/{item}/", tag.0, tag.1));
        }
        out.push_str(&format!("{:04X}{:04X}", self.tag.0, self.tag.1));
        out
    }

    fn is_pixel_data(&self) -> bool {
        self.steps.is_empty() && self.tag == tags::PIXEL_DATA
    }
}

/// Located bulk data, ready to be streamed whole or in part.
#[derive(Debug, Clone)]
pub struct BulkData {
    /// The transfer syntax the bytes are in.
    pub transfer_syntax: String,
    pub length: u64,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Bytes(Bytes),
    /// `length` bytes of a blob from `offset`.
    Blob {
        key: BlobKey,
        offset: u64,
    },
}

impl BulkData {
    fn bytes(bytes: Bytes, transfer_syntax: &str) -> BulkData {
        BulkData {
            transfer_syntax: transfer_syntax.to_string(),
            length: bytes.len() as u64,
            source: Source::Bytes(bytes),
        }
    }
}

/// How the stored transfer syntax encodes things.
#[derive(Debug, Clone, Copy)]
struct Stored {
    big_endian: bool,
    implicit: bool,
    deflated: bool,
    encapsulated: bool,
}

impl Stored {
    fn of(uid: &str) -> Stored {
        Stored {
            big_endian: uid == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN,
            implicit: uid == uids::IMPLICIT_VR_LITTLE_ENDIAN,
            deflated: uid == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
            encapsulated: TransferSyntaxRegistry
                .get(uid)
                .is_some_and(|ts| ts.is_encapsulated_pixel_data()),
        }
    }
}

/// What the client gets: the stored byte order, or little endian (decoded pixels).
struct Output<'a> {
    as_stored: bool,
    transfer_syntax: &'a str,
}

fn unreadable(row: &InstanceRow, what: impl std::fmt::Display) -> RetrieveError {
    RetrieveError::Unreadable(format!("instance {}: {what}", row.sop_uid))
}

impl RetrieveService {
    /// Locate the bulk data at `raw_path` of the instance `scope` names, in the byte order
    /// `target` asks for.
    pub async fn bulk_data(
        &self,
        scope: &Scope,
        raw_path: &str,
        target: &Target,
    ) -> Result<BulkData, RetrieveError> {
        let row = self.rows(scope).await?.remove(0);
        let path = BulkPath::parse(raw_path)
            .filter(|p| {
                row.metadata
                    .contains(&format!("\"BulkDataURI\":\"bulkdata/{}\"", p.canonical()))
            })
            .ok_or_else(|| {
                RetrieveError::NotFound(format!(
                    "{} has no bulk data at bulkdata/{raw_path}",
                    scope.path()
                ))
            })?;
        let stored_uid = row.transfer_syntax_uid.clone();
        let stored = Stored::of(&stored_uid);
        let output = match target {
            Target::AsStored => Output {
                as_stored: true,
                transfer_syntax: &stored_uid,
            },
            Target::Syntax(uid) if *uid == stored_uid => Output {
                as_stored: true,
                transfer_syntax: &stored_uid,
            },
            Target::Syntax(uid)
                if uid == uids::EXPLICIT_VR_LITTLE_ENDIAN
                    || uid == uids::IMPLICIT_VR_LITTLE_ENDIAN =>
            {
                Output {
                    as_stored: false,
                    transfer_syntax: uid,
                }
            }
            Target::Syntax(uid) => {
                return Err(RetrieveError::NotAcceptable(format!(
                    "bulk data is sent as stored (transfer-syntax=* or {stored_uid}) or little \
                     endian ({}), not as {uid}",
                    uids::EXPLICIT_VR_LITTLE_ENDIAN
                )))
            }
        };
        if path.is_pixel_data() {
            self.pixel_data(&row, stored, &output).await
        } else if path.steps.is_empty() && !stored.deflated {
            self.top_level(&row, path.tag, stored, &output).await
        } else {
            self.parsed_value(&row, path, stored, &output).await
        }
    }

    /// Stream `range` (within `0..data.length`) of located bulk data.
    pub async fn bulk_stream(
        &self,
        data: &BulkData,
        range: Range<u64>,
    ) -> Result<ByteStream, RetrieveError> {
        match &data.source {
            Source::Bytes(bytes) => {
                let slice = bytes.slice(range.start as usize..range.end as usize);
                Ok(stream::once(async move { Ok(slice) }).boxed())
            }
            Source::Blob { key, offset } => Ok(self
                .store
                .get_range_stream(key, offset + range.start..offset + range.end)
                .await?),
        }
    }

    async fn pixel_data(
        &self,
        row: &InstanceRow,
        stored: Stored,
        output: &Output<'_>,
    ) -> Result<BulkData, RetrieveError> {
        if stored.encapsulated && !output.as_stored {
            return self.decoded_pixel_data(row, output).await;
        }
        if stored.deflated {
            // Nothing can be located in a deflated data set: inflate and parse it.
            let bytes = self.read_blob(row).await?;
            let row_for_err = row.clone();
            let pixels = blocking(move || {
                let object = transcode::open(&bytes).map_err(|e| unreadable(&row_for_err, e))?;
                element_bytes(&object, tags::PIXEL_DATA, false)
                    .ok_or_else(|| unreadable(&row_for_err, "no binary Pixel Data"))
            })
            .await?;
            return Ok(BulkData::bytes(pixels.into(), output.transfer_syntax));
        }
        if !stored.encapsulated {
            if let Some(found) = self.native_pixel_location(row, stored).await? {
                let (offset, length, vr) = found;
                let unit = vr.map(|vr| pixel_unit(vr, row)).unwrap_or(1);
                if !output.as_stored && stored.big_endian && unit > 1 {
                    let mut bytes = self
                        .store
                        .get_range(&row.blob_key, offset..offset + length)
                        .await?
                        .to_vec();
                    swap_units(&mut bytes, unit);
                    return Ok(BulkData::bytes(bytes.into(), output.transfer_syntax));
                }
                return Ok(BulkData {
                    transfer_syntax: output.transfer_syntax.to_string(),
                    length,
                    source: Source::Blob {
                        key: row.blob_key.clone(),
                        offset,
                    },
                });
            }
        }
        self.top_level(row, tags::PIXEL_DATA, stored, output).await
    }

    async fn decoded_pixel_data(
        &self,
        row: &InstanceRow,
        output: &Output<'_>,
    ) -> Result<BulkData, RetrieveError> {
        transcode::decide(
            &row.transfer_syntax_uid,
            &Target::Syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN.into()),
            Pixels::of(row),
        )
        .map_err(RetrieveError::NotAcceptable)?;
        let bytes = self.read_blob(row).await?;
        let sop = row.sop_uid.clone();
        let pixels = blocking(move || {
            let mut object =
                transcode::open(&bytes).map_err(|e| RetrieveError::Unreadable(e.to_string()))?;
            transcode::convert(&mut object, uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .map_err(|why| RetrieveError::NotAcceptable(format!("instance {sop}: {why}")))?;
            element_bytes(&object, tags::PIXEL_DATA, false).ok_or_else(|| {
                RetrieveError::Unreadable(format!("instance {sop}: no decoded Pixel Data"))
            })
        })
        .await?;
        Ok(BulkData::bytes(pixels.into(), output.transfer_syntax))
    }

    /// Offset, length and VR of native Pixel Data, from the first frame's recorded offset
    /// and the element header just before it (one small range read).
    async fn native_pixel_location(
        &self,
        row: &InstanceRow,
        stored: Stored,
    ) -> Result<Option<(u64, u64, Option<[u8; 2]>)>, RetrieveError> {
        let Some(&(offset, _)) = row.frames.as_ref().and_then(|f| f.first()?.first()) else {
            return Ok(None);
        };
        let header_len = if stored.implicit { 8 } else { 12 };
        if offset < header_len {
            return Ok(None);
        }
        let header = self
            .store
            .get_range(&row.blob_key, offset - header_len..offset)
            .await?;
        let u16_at = |i: usize| {
            let b = [header[i], header[i + 1]];
            if stored.big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let n = header.len();
        let length_bytes = [header[n - 4], header[n - 3], header[n - 2], header[n - 1]];
        let length = if stored.big_endian {
            u32::from_be_bytes(length_bytes)
        } else {
            u32::from_le_bytes(length_bytes)
        };
        let is_pixel_data = (u16_at(0), u16_at(2)) == (0x7FE0, 0x0010);
        if !is_pixel_data || length == u32::MAX {
            // Not what the recorded offset promised: let the full walk find it.
            return Ok(None);
        }
        let vr = (!stored.implicit).then(|| [header[4], header[5]]);
        Ok(Some((offset, u64::from(length), vr)))
    }

    /// A top-level value located by walking the file's byte layout: exactly the stored
    /// bytes (swapped to little endian when asked of a big endian file).
    async fn top_level(
        &self,
        row: &InstanceRow,
        tag: Tag,
        stored: Stored,
        output: &Output<'_>,
    ) -> Result<BulkData, RetrieveError> {
        let mut found = None;
        if let Some(prefix) = self.prefix_before_pixel_data(row, tag, stored).await? {
            // A file whose elements are out of order may hold the tag after the pixels.
            if let Ok(Some(located)) = locate(&prefix, tag) {
                found = Some((prefix, located));
            }
        }
        let (bytes, Located { range, vr }) = match found {
            Some(found) => found,
            None => {
                let bytes = self.read_blob(row).await?;
                let located = locate(&bytes, tag)
                    .map_err(|e| unreadable(row, e))?
                    .ok_or_else(|| unreadable(row, format!("{tag} not found")))?;
                (bytes, located)
            }
        };
        let mut value = bytes.slice(range);
        if !output.as_stored && stored.big_endian {
            let unit = match vr {
                Some(vr) if tag == tags::PIXEL_DATA => Some(pixel_unit(vr, row)),
                other => other.map(unit_size),
            };
            if let Some(unit) = unit.filter(|u| *u > 1) {
                let mut swapped = value.to_vec();
                swap_units(&mut swapped, unit);
                value = swapped.into();
            }
        }
        Ok(BulkData::bytes(value, output.transfer_syntax))
    }

    /// The bytes before native Pixel Data, when the wanted tag precedes it: enough to walk
    /// to the value without reading the pixels.
    async fn prefix_before_pixel_data(
        &self,
        row: &InstanceRow,
        tag: Tag,
        stored: Stored,
    ) -> Result<Option<Bytes>, RetrieveError> {
        if stored.encapsulated || tag >= tags::PIXEL_DATA {
            return Ok(None);
        }
        let Some((offset, _, _)) = self.native_pixel_location(row, stored).await? else {
            return Ok(None);
        };
        let header_len = if stored.implicit { 8 } else { 12 };
        Ok(Some(
            self.store
                .get_range(&row.blob_key, 0..offset - header_len)
                .await?,
        ))
    }

    /// A nested value (or any value of a deflated data set), from the parsed data set.
    async fn parsed_value(
        &self,
        row: &InstanceRow,
        path: BulkPath,
        stored: Stored,
        output: &Output<'_>,
    ) -> Result<BulkData, RetrieveError> {
        let bytes = self.read_blob(row).await?;
        let big_endian = stored.big_endian && output.as_stored;
        let row_for_err = row.clone();
        let value = blocking(move || {
            let parsed = tessera_dicom::extract::parse_with(&bytes, &ParseLimits::STORED)
                .map_err(|e| unreadable(&row_for_err, e))?;
            let mut current: &InMemDicomObject = &parsed.object;
            for (tag, index) in &path.steps {
                current = current
                    .get(*tag)
                    .and_then(|e| e.items())
                    .and_then(|items| items.get(*index))
                    .ok_or_else(|| unreadable(&row_for_err, format!("no item {index} in {tag}")))?;
            }
            element_bytes(current, path.tag, big_endian)
                .ok_or_else(|| unreadable(&row_for_err, format!("{} is not binary", path.tag)))
        })
        .await?;
        Ok(BulkData::bytes(value.into(), output.transfer_syntax))
    }
}

/// The byte-order unit of big endian Pixel Data: OW words, except that samples of more
/// than 16 bits are stored whole-sample reversed (as pydicom and DCMTK write them).
fn pixel_unit(vr: [u8; 2], row: &InstanceRow) -> usize {
    let unit = unit_size(vr);
    match row.bits_allocated {
        Some(bits) if unit == 2 && bits > 16 && bits % 8 == 0 => (bits / 8) as usize,
        _ => unit,
    }
}

/// A top-level value's place in the bytes read, and its VR (explicit VR files).
struct Located {
    range: Range<usize>,
    vr: Option<[u8; 2]>,
}

/// Where the value of top-level `tag` lies in `bytes`, and its VR (explicit VR files).
/// Encapsulated Pixel Data: from its first item (the Basic Offset Table) to the end of its
/// last fragment, the sequence delimiter excluded.
fn locate(bytes: &[u8], tag: Tag) -> Result<Option<Located>, String> {
    let walked = layout::walk_with(bytes, &ParseLimits::STORED).map_err(|e| e.to_string())?;
    let Some(element) = layout::find_element(&walked, (tag.group(), tag.element())) else {
        return Ok(None);
    };
    let start = element.value_offset;
    let end = match (&walked.pixel_data, element.value_length) {
        (_, Some(length)) => start + length,
        (
            Some(PixelDataLayout::Encapsulated {
                basic_offset_table,
                fragments,
            }),
            None,
        ) if tag == tags::PIXEL_DATA => match fragments.last() {
            Some(last) => last.value_offset + last.length,
            None => start + 8 + 4 * basic_offset_table.len() as u64,
        },
        (_, None) => return Err(format!("{tag} has no defined length")),
    };
    if end > bytes.len() as u64 {
        return Err(format!("{tag} runs past the end"));
    }
    Ok(Some(Located {
        range: start as usize..end as usize,
        vr: element.vr,
    }))
}

/// The value of a binary element of a parsed data set, in the byte order asked for.
fn element_bytes(object: &InMemDicomObject, tag: Tag, big_endian: bool) -> Option<Vec<u8>> {
    let element = object.get(tag)?;
    primitive_bytes(element.value().primitive()?, big_endian)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = BulkPath::parse("7fe00010").unwrap();
        assert!(p.is_pixel_data());
        assert_eq!(p.canonical(), "7FE00010");
        let p = BulkPath::parse("00540016/0/00181072").unwrap();
        assert_eq!(p.canonical(), "00540016/0/00181072");
        assert!(!p.is_pixel_data());
        for bad in [
            "",
            "7FE0001",
            "7FE000100",
            "zzzzzzzz",
            "00540016/0",
            "00540016/x/00181072",
            "00540016//00181072",
            "7FE00010/",
        ] {
            assert!(BulkPath::parse(bad).is_none(), "{bad}");
        }
    }
}
