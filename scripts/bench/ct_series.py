#!/usr/bin/env python3
"""Write synthetic CT series for the DIMSE benchmark (scripts/bench/dimse.sh): SERIES series of
SLICES slices each, 512x512 16-bit, Explicit VR Little Endian, every series its own study and
UIDs, so each can be stored once into a fresh archive.

    ct_series.py OUT_DIR SERIES SLICES
writes OUT_DIR/s<k>/<n>.dcm. Deterministic pixel content (a ramp with noise from a fixed seed)."""

import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def write_series(folder: Path, index: int, slices: int, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    base = (np.add.outer(np.arange(512), np.arange(512)) % 2048).astype(np.uint16)
    for n in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = f"BENCH^CT{index}", f"BENCHCT{index}"
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20261203", "120000", f"ACC{index}"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, n + 1
        ds.ImagePositionPatient = [0, 0, float(n)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        noise = rng.integers(0, 64, size=(512, 512), dtype=np.uint16)
        ds.PixelData = (base + noise).tobytes()
        ds.save_as(folder / f"{n:04d}.dcm", enforce_file_format=True)


def main() -> None:
    out, series, slices = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(16)
    for k in range(series):
        write_series(out / f"s{k}", k, slices, rng)


if __name__ == "__main__":
    main()
