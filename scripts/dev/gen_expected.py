#!/usr/bin/env python3
"""Generate testdata/expected.json from testdata/*.dcm (not testdata/bad/).

Uses pydicom only (tested with pydicom 3.0.2). For every file it records the
identifying attributes, image geometry, whole-file size/SHA-256 and per-frame
SHA-256 of the Pixel Data *as stored in the file*.

Cross-checks performed (the script fails loudly if any of them does not hold):
  * every file has a 128-byte preamble + "DICM" + a group 0002 file meta header;
  * an independent, minimal Part 10 walker (below; not using pydicom's reader)
    locates (7FE0,0010) at the top level of the dataset; for native data the
    bytes at the value offset equal pydicom's ds.PixelData (so for big endian
    files the bytes are the stored, non-swapped bytes -- pydicom 3 does not
    swap ds.PixelData), and its offset equals pydicom's RawDataElement
    value_tell;
  * for encapsulated data the fragments found by the walker are compared with
    pydicom's, and the frames are computed both by the walker (Basic Offset
    Table / one-fragment-per-frame / single frame) and by
    pydicom.encaps.generate_frames, and must agree;
  * native Pixel Data length must be >= frames * frame_len (a note is
    printed when it exceeds that by more than one pad byte).

Output conventions:
  * string attributes: null if the element is absent, "" if present but empty;
    multi-valued strings are joined with "\\" (DICOM value separator);
  * specific_character_set: the stored value split on "\\", each value with
    leading/trailing spaces removed (so ["", "ISO 2022 IR 87"] keeps the
    empty first value); [] if absent;
  * native frame_len = rows*columns*samples*bits_allocated/8, except for
    YBR_FULL_422 / YBR_PARTIAL_422 native data, where only 2 samples are
    stored per pixel (PS3.3 C.7.6.3.1.2), so frame_len = rows*columns*2*ba/8;
  * pixel_data_value_offset: absolute file offset of the first value byte of a
    native (7FE0,0010); null for encapsulated data, deflated transfer syntax,
    or no pixel data.
"""

import hashlib
import json
import os
import struct
import sys
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.encaps import generate_frames, generate_fragments
from pydicom.multival import MultiValue

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
OUT = TESTDATA / "expected.json"

DEFLATED = "1.2.840.10008.1.2.1.99"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
NATIVE_TS = {IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED}
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
            b"UN", b"UR", b"UT", b"UV"}
UNDEF = 0xFFFFFFFF
ITEM, ITEM_DELIM, SEQ_DELIM = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010


class WalkError(Exception):
    pass


class Walker:
    """Minimal independent DICOM Part 10 walker (no pydicom)."""

    def __init__(self, data: bytes):
        self.b = data

    def _tag(self, pos, le):
        fmt = "<HH" if le else ">HH"
        g, e = struct.unpack_from(fmt, self.b, pos)
        return (g << 16) | e

    def _u32(self, pos, le):
        return struct.unpack_from("<I" if le else ">I", self.b, pos)[0]

    def _u16(self, pos, le):
        return struct.unpack_from("<H" if le else ">H", self.b, pos)[0]

    def header(self, pos, explicit, le):
        """Return (tag, vr, length, value_offset)."""
        if pos + 8 > len(self.b):
            raise WalkError(f"truncated element header at {pos}")
        tag = self._tag(pos, le)
        if tag in (ITEM, ITEM_DELIM, SEQ_DELIM) or not explicit:
            return tag, None, self._u32(pos + 4, le), pos + 8
        vr = self.b[pos + 4:pos + 6]
        if vr in LONG_VRS:
            return tag, vr, self._u32(pos + 8, le), pos + 12
        return tag, vr, self._u16(pos + 6, le), pos + 8

    def meta(self):
        if len(self.b) < 132 or self.b[128:132] != b"DICM":
            raise WalkError("no 128-byte preamble + DICM")
        pos, ts = 132, None
        while pos + 8 <= len(self.b):
            tag, vr, length, voff = self.header(pos, True, True)
            if tag >> 16 != 0x0002:
                break
            if length == UNDEF:
                raise WalkError("undefined length in file meta")
            if tag == 0x00020010:
                ts = self.b[voff:voff + length].rstrip(b"\0 ").decode("ascii")
            pos = voff + length
        if ts is None:
            raise WalkError("no (0002,0010) Transfer Syntax UID")
        return ts, pos

    def skip_undefined_sq(self, pos, explicit, le):
        """pos = first byte after an undefined-length SQ header; return end."""
        while True:
            tag, _, length, voff = self.header(pos, False, le)
            if tag == SEQ_DELIM:
                return voff
            if tag != ITEM:
                raise WalkError(f"expected item at {pos}, got {tag:08X}")
            if length == UNDEF:
                pos = self.dataset(voff, explicit, le, until_item_delim=True)[1]
            else:
                pos = voff + length

    def dataset(self, pos, explicit, le, until_item_delim=False):
        """Walk a dataset. Returns ({tag: info}, end_pos) for top-level tags."""
        elems = {}
        while pos < len(self.b):
            tag, vr, length, voff = self.header(pos, explicit, le)
            if tag == ITEM_DELIM:
                if not until_item_delim:
                    raise WalkError("unexpected item delimiter")
                return elems, voff
            if length == UNDEF:
                if tag == PIXEL_DATA:
                    frags, end = self.fragments(voff, le)
                    elems[tag] = dict(vr=vr, length=None, offset=voff,
                                      fragments=frags)
                    pos = end
                    continue
                # SQ, or UN/implicit sequence: UN content is implicit VR LE
                nested_explicit = explicit and vr != b"UN"
                nested_le = le if vr != b"UN" else True
                pos = self.skip_undefined_sq(voff, nested_explicit, nested_le)
                elems[tag] = dict(vr=vr, length=None, offset=voff)
                continue
            if voff + length > len(self.b):
                raise WalkError(f"element {tag:08X} value overruns file")
            elems[tag] = dict(vr=vr, length=length, offset=voff)
            pos = voff + length
        if until_item_delim:
            raise WalkError("missing item delimiter")
        return elems, pos

    def fragments(self, pos, le):
        """Encapsulated pixel data items: [(offset, length)], end_pos."""
        items = []
        while True:
            tag, _, length, voff = self.header(pos, False, le)
            if tag == SEQ_DELIM:
                return items, voff
            if tag != ITEM or length == UNDEF:
                raise WalkError(f"bad encapsulated item at {pos}")
            if voff + length > len(self.b):
                raise WalkError("fragment overruns file")
            items.append((voff, length))
            pos = voff + length


def sha(b):
    return hashlib.sha256(b).hexdigest()


def s(ds, keyword):
    if keyword not in ds:
        return None
    v = ds[keyword].value
    if v is None:
        return ""
    if isinstance(v, MultiValue):
        return "\\".join(str(x) for x in v)
    return str(v)


def i(ds, keyword):
    if keyword not in ds or ds[keyword].value in (None, ""):
        return None
    return int(ds[keyword].value)


def raw_charset(ds):
    """Specific Character Set exactly as stored (before pydicom converts it)."""
    elem = ds.get_item(0x00080005)
    if elem is None:
        return []
    if isinstance(elem, RawDataElement):
        raw = elem.value or b""
        return [v.strip(" \0") for v in raw.decode("ascii").split("\\")]
    v = elem.value
    if v is None:
        return [""]
    if isinstance(v, MultiValue):
        return [str(x).strip() for x in v]
    return [str(v).strip()]


def walker_frames(data, frags, nframes):
    """Frames from the walker's fragments, independently of pydicom."""
    bot_off, bot_len = frags[0]
    payloads = [data[o:o + n] for o, n in frags[1:]]
    if nframes == 1:
        return [b"".join(payloads)]
    if bot_len:
        offs = [struct.unpack_from("<I", data, bot_off + 4 * k)[0]
                for k in range(bot_len // 4)]
        if len(offs) != nframes:
            raise WalkError("BOT entry count != NumberOfFrames")
        # map item offsets (relative to first fragment item tag) to frames
        starts, rel = [], 0
        for o, n in frags[1:]:
            starts.append(rel)
            rel += 8 + n
        frames = []
        for k in range(nframes):
            lo = offs[k]
            hi = offs[k + 1] if k + 1 < nframes else rel
            frames.append(b"".join(p for st, p in zip(starts, payloads)
                                   if lo <= st < hi))
        return frames
    if len(payloads) == nframes:
        return payloads
    raise WalkError("cannot split frames: no BOT and fragments != frames")


def process(path: Path):
    data = path.read_bytes()
    w = Walker(data)
    ts, ds_start = w.meta()

    ds = pydicom.dcmread(path)
    # read the raw charset before anything triggers conversion
    charset = raw_charset(ds)
    meta_ts = str(ds.file_meta.TransferSyntaxUID)
    assert meta_ts == ts, (meta_ts, ts)

    rec = {
        "sop_class_uid": s(ds, "SOPClassUID"),
        "sop_instance_uid": s(ds, "SOPInstanceUID"),
        "study_instance_uid": s(ds, "StudyInstanceUID"),
        "series_instance_uid": s(ds, "SeriesInstanceUID"),
        "transfer_syntax_uid": meta_ts,
        "specific_character_set": charset,
        "patient_name": s(ds, "PatientName"),
        "patient_id": s(ds, "PatientID"),
        "study_description": s(ds, "StudyDescription"),
        "series_description": s(ds, "SeriesDescription"),
        "modality": s(ds, "Modality"),
        "study_date": s(ds, "StudyDate"),
        "accession_number": s(ds, "AccessionNumber"),
        "rows": i(ds, "Rows"),
        "columns": i(ds, "Columns"),
        "bits_allocated": i(ds, "BitsAllocated"),
        "samples_per_pixel": i(ds, "SamplesPerPixel"),
        "photometric_interpretation": s(ds, "PhotometricInterpretation"),
        "number_of_frames": None,
        "size": len(data),
        "sha256": sha(data),
        "pixel_data": None,
        "pixel_data_value_offset": None,
    }

    # independent walk (not possible for deflated: dataset is zlib-compressed)
    welems = None
    if ts != DEFLATED:
        explicit = ts != IMPLICIT_LE
        le = ts != EXPLICIT_BE
        welems, end = w.dataset(ds_start, explicit, le)
        assert end == len(data), f"walker stopped at {end} of {len(data)}"

    if "PixelData" not in ds:
        if welems is not None:
            assert PIXEL_DATA not in welems
        return rec

    nframes = i(ds, "NumberOfFrames") or 1
    rec["number_of_frames"] = nframes
    raw_elem = ds.get_item(PIXEL_DATA)
    value = ds.PixelData
    encapsulated = ts not in NATIVE_TS
    assert encapsulated == ds["PixelData"].is_undefined_length

    frames = []
    if not encapsulated:
        rows, cols = rec["rows"], rec["columns"]
        spp, ba = rec["samples_per_pixel"], rec["bits_allocated"]
        pi = rec["photometric_interpretation"]
        if pi in ("YBR_FULL_422", "YBR_PARTIAL_422"):
            frame_bits = rows * cols * 2 * ba
        else:
            frame_bits = rows * cols * spp * ba
        if frame_bits % 8 and nframes > 1:
            raise SystemExit(f"{path.name}: bit-packed frames not byte aligned")
        frame_len = (frame_bits + 7) // 8
        assert nframes * frame_len <= len(value), \
            (path.name, len(value), nframes, frame_len)
        if len(value) > nframes * frame_len + 1:
            print(f"note: {path.name}: native Pixel Data has "
                  f"{len(value) - nframes * frame_len} bytes beyond "
                  f"{nframes} frame(s) of {frame_len} bytes", file=sys.stderr)
        if welems is not None:
            pe = welems[PIXEL_DATA]
            off = pe["offset"]
            assert pe["length"] == len(value)
            stored = data[off:off + pe["length"]]
            assert stored == value, f"{path.name}: stored bytes != ds.PixelData"
            assert isinstance(raw_elem, RawDataElement)
            assert raw_elem.value_tell == off, (raw_elem.value_tell, off)
            rec["pixel_data_value_offset"] = off
        else:
            stored = value  # deflated: bytes as in the inflated dataset
        frames = [stored[k * frame_len:(k + 1) * frame_len]
                  for k in range(nframes)]
    else:
        ext = None
        if "ExtendedOffsetTable" in ds:
            ext = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
        frames = list(generate_frames(value, number_of_frames=nframes,
                                      extended_offsets=ext))
        assert len(frames) == nframes
        pe = welems[PIXEL_DATA]
        # pydicom's generate_fragments() yields every item, incl. the BOT
        witems = [data[o:o + n] for o, n in pe["fragments"]]
        assert witems == list(generate_fragments(value)), path.name
        if ext is None:
            assert walker_frames(data, pe["fragments"], nframes) == frames, \
                path.name

    rec["pixel_data"] = {
        "encapsulated": encapsulated,
        "frames": [{"length": len(f), "sha256": sha(f)} for f in frames],
    }
    return rec


def main():
    out = {}
    files = sorted(TESTDATA.glob("*.dcm"))
    if not files:
        sys.exit("no testdata/*.dcm files")
    for p in files:
        out[p.name] = process(p)
    keys = set(next(iter(out.values())).keys())
    for name, rec in out.items():
        assert set(rec) == keys, name
        for k in ("sop_class_uid", "sop_instance_uid", "study_instance_uid",
                  "series_instance_uid", "transfer_syntax_uid", "size",
                  "sha256"):
            assert rec[k], (name, k)
        if rec["transfer_syntax_uid"] == DEFLATED:
            assert rec["pixel_data_value_offset"] is None
    OUT.write_text(json.dumps(out, indent=2, ensure_ascii=False,
                              sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(out)} files)")


if __name__ == "__main__":
    main()
