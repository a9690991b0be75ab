#!/usr/bin/env python3
"""What pydicom decodes from DICOM files: the reference for Tessera's decoded frames.

Usage: python3 tests/support/pydicom_frames.py OUT_DIR FILE...

For every FILE with Pixel Data, writes OUT_DIR/<name>.<frame>.raw (frame numbers from 1):
the frame's samples as pydicom 3.0.2 returns them from `pixel_array` (with pylibjpeg,
pylibjpeg-libjpeg, pylibjpeg-openjpeg and pylibjpeg-rle as decoders; colour converted to
RGB, samples interleaved), little endian. For PALETTE COLOR files it also writes
OUT_DIR/<name>.<frame>.rgb.raw: the palette applied (pydicom's apply_color_lut), reduced to
8 bits per sample. OUT_DIR/index.json describes each file: dtype, shape of one frame,
number of frames, or the error pydicom raised. Pinned versions: scripts/test/requirements.txt.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    index = {}
    for path in map(Path, sys.argv[2:]):
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            continue
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        try:
            array = ds.pixel_array
        except Exception as err:  # noqa: BLE001 - the reason is the information
            index[path.name] = {"error": str(err).splitlines()[0]}
            continue
        if frames == 1:
            array = array[np.newaxis, ...]
        little = array.astype(array.dtype.newbyteorder("<"))
        for n in range(frames):
            (out / f"{path.name}.{n + 1}.raw").write_bytes(little[n].tobytes())
        entry = {"dtype": str(array.dtype.newbyteorder("=").name), "shape": list(array.shape[1:]),
                 "frames": frames, "error": None}
        if ds.PhotometricInterpretation == "PALETTE COLOR":
            rgb = apply_color_lut(array, ds)
            if rgb.dtype != np.uint8:
                rgb = (rgb >> 8).astype(np.uint8)
            for n in range(frames):
                (out / f"{path.name}.{n + 1}.rgb.raw").write_bytes(rgb[n].tobytes())
            entry["palette_rgb"] = True
        index[path.name] = entry
    (out / "index.json").write_text(json.dumps(index, indent=1))


if __name__ == "__main__":
    main()
