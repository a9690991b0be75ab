#!/usr/bin/env python3
"""Write the browser test's synthetic study (one patient, one study, 42 instances) as Part 10
files into a folder, and its expected values as expected.json:

- series 1: a 40-slice axial CT, 256x256, 16-bit signed, RescaleIntercept -1024, proper geometry
  (ImagePositionPatient z = 2.5 mm steps, ImageOrientationPatient axial, PixelSpacing 0.7,
  SliceThickness 2.5) and WindowCenter 40 / WindowWidth 400. Each slice is a checkerboard of
  32-pixel squares with two Hounsfield values: A = -100 + 4*k on slice k (k = 0..39) and B = 180,
  so any large region shows the mean and spread of those two grey levels whatever the zoom,
  and every slice differs from its neighbours.
- series 2: one multi-frame instance (Multi-frame Grayscale Byte Secondary Capture, 8 frames,
  128x128, WindowCenter 128 / WindowWidth 256): a checkerboard of 16-pixel squares, values
  40 + 24*f and 220 on frame f.
- series 3: one RGB Secondary Capture image (128x128): red, green and blue bands.
"""
import json
import sys
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = "1.2.826.0.1.3680043.8.498.7"
STUDY = ROOT + ".1"
CT_SERIES = ROOT + ".1.1"
MF_SERIES = ROOT + ".1.2"
RGB_SERIES = ROOT + ".1.3"
FOR = ROOT + ".9"
PATIENT_NAME = "Browser^Tessera"
PATIENT_ID = "TESSERA-OHIF-1"
SLICES = 40
CT_SIZE = 256
WINDOW = (40.0, 400.0)
B_HU = 180
MF_FRAMES = 8
MF_WINDOW = (128.0, 256.0)
MF_HIGH = 220


def a_hu(k):
    return -100 + 4 * k


def mf_low(f):
    return 40 + 24 * f


def checker(size, square, low, high):
    y, x = np.indices((size, size))
    return np.where(((y // square) + (x // square)) % 2 == 0, low, high)


def base(sop_class, sop_uid, series_uid, modality, number, series_number, description):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = "20261127"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "ACC-OHIF-1"
    ds.StudyDescription = "Tessera browser test"
    ds.Modality = modality
    ds.SeriesNumber = series_number
    ds.InstanceNumber = number
    ds.SeriesDescription = description
    return ds


def ct_slice(k):
    ds = base("1.2.840.10008.5.1.4.1.1.2", f"{CT_SERIES}.{k + 1}", CT_SERIES, "CT", k + 1, 1, "checkerboard CT")
    ds.FrameOfReferenceUID = FOR
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [-89.6, -89.6, 2.5 * k]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 2.5
    ds.SliceLocation = 2.5 * k
    ds.KVP = 120
    ds.Rows = CT_SIZE
    ds.Columns = CT_SIZE
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = WINDOW[0]
    ds.WindowWidth = WINDOW[1]
    hu = checker(CT_SIZE, 32, a_hu(k), B_HU)
    ds.PixelData = (hu + 1024).astype("<i2").tobytes()
    return ds


def multiframe():
    ds = base("1.2.840.10008.5.1.4.1.1.7.2", f"{MF_SERIES}.1", MF_SERIES, "OT", 1, 2, "multi-frame")
    ds.ConversionType = "WSD"
    ds.NumberOfFrames = MF_FRAMES
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 100.0
    ds.Rows = 128
    ds.Columns = 128
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    # A fixed window, so that viewers do not stretch each frame to its own range.
    ds.WindowCenter = MF_WINDOW[0]
    ds.WindowWidth = MF_WINDOW[1]
    frames = [checker(128, 16, mf_low(f), MF_HIGH).astype(np.uint8) for f in range(MF_FRAMES)]
    ds.PixelData = np.stack(frames).tobytes()
    return ds


def rgb():
    ds = base("1.2.840.10008.5.1.4.1.1.7", f"{RGB_SERIES}.1", RGB_SERIES, "OT", 1, 3, "colour")
    ds.ConversionType = "WSD"
    ds.Rows = 128
    ds.Columns = 128
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    img = np.zeros((128, 128, 3), np.uint8)
    img[:43, :, 0] = 255
    img[43:86, :, 1] = 255
    img[86:, :, 2] = 255
    ds.PixelData = img.tobytes()
    return ds


def grey(hu, window=WINDOW):
    """DICOM linear VOI (PS3.3 C.11.2.1.2.1) of WindowCenter/Width to 0..255."""
    c, w = window
    return float(np.clip(((hu - (c - 0.5)) / (w - 1) + 0.5), 0, 1) * 255)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = [ct_slice(k) for k in range(SLICES)] + [multiframe(), rgb()]
    for i, ds in enumerate(datasets):
        ds.save_as(out / f"{i:03d}.dcm", enforce_file_format=True)
    expected = {
        "study": STUDY,
        "ct_series": CT_SERIES,
        "mf_series": MF_SERIES,
        "rgb_series": RGB_SERIES,
        "patient_name": PATIENT_NAME,
        "patient_id": PATIENT_ID,
        "instances": len(datasets),
        "slices": SLICES,
        "mf_frames": MF_FRAMES,
        # Per CT slice k (0-based, in InstanceNumber order): the two grey levels, their mean
        # and spread (population standard deviation of an equal mix).
        "ct_grey": [
            {"a": grey(a_hu(k)), "b": grey(B_HU), "mean": (grey(a_hu(k)) + grey(B_HU)) / 2,
             "std": abs(grey(B_HU) - grey(a_hu(k))) / 2}
            for k in range(SLICES)
        ],
        # Per frame f (0-based) of the multi-frame instance, the same with its window.
        "mf_grey": [
            {"mean": (grey(mf_low(f), MF_WINDOW) + grey(MF_HIGH, MF_WINDOW)) / 2,
             "std": abs(grey(MF_HIGH, MF_WINDOW) - grey(mf_low(f), MF_WINDOW)) / 2}
            for f in range(MF_FRAMES)
        ],
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1))
    print(f"wrote {len(datasets)} instances to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/browser-study")
