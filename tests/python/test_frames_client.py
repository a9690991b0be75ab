"""WADO-RS frames and rendered images through a real client, dicomweb-client, compared with
what pydicom reads from the same data sets."""

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"

# Native 16-bit signed CT with rescale, JPEG 2000 lossless colour, JPEG baseline YBR, RLE
# 32-bit multi-frame, native 8-bit grey. Stored under fresh UIDs, patient and no study date,
# so that they neither collide with nor match the other modules' instances and queries.
NAMES = [
    "CT_small.dcm",
    "examples_jpeg2k.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "rtdose_rle.dcm",
    "chrArab.dcm",
]
LOSSY = {"SC_rgb_jpeg_dcmtk.dcm"}


@pytest.fixture(scope="module")
def stored(tessera):
    client = DICOMwebClient(url=tessera["dicomweb"])
    datasets = {}
    for name in NAMES:
        ds = pydicom.dcmread(TESTDATA / name)
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = "Frames^Client"
        ds.PatientID = "tessera-frames-client"
        if "StudyDate" in ds:
            del ds.StudyDate
        datasets[name] = ds
    response = client.store_instances(datasets=list(datasets.values()))
    assert 0x00081198 not in response, "the frames corpus was not stored"
    return client, datasets


def _uids(ds):
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def _frame_count(ds) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)


def _stored_frames(ds) -> list:
    """The frames as stored: fragments of each frame, or slices of native Pixel Data."""
    count = _frame_count(ds)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(generate_frames(ds.PixelData, number_of_frames=count))
    size = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8
    return [ds.PixelData[i * size:(i + 1) * size] for i in range(count)]


@pytest.mark.parametrize("name", NAMES)
def test_frames_as_stored(stored, name):
    client, datasets = stored
    ds = datasets[name]
    numbers = list(range(1, _frame_count(ds) + 1))
    frames = client.retrieve_instance_frames(
        *_uids(ds), frame_numbers=numbers, media_types=(("application/octet-stream", "*"),)
    )
    assert frames == _stored_frames(ds)


@pytest.mark.parametrize("name", NAMES)
def test_frames_decoded_to_native(stored, name):
    client, datasets = stored
    ds = datasets[name]
    expected = ds.pixel_array
    if _frame_count(ds) == 1:
        expected = expected[np.newaxis, ...]
    numbers = [1, _frame_count(ds)] if _frame_count(ds) > 1 else [1]
    frames = client.retrieve_instance_frames(
        *_uids(ds), frame_numbers=numbers, media_types=("application/octet-stream",)
    )
    assert len(frames) == len(numbers)
    for number, frame in zip(numbers, frames):
        theirs = expected[number - 1]
        ours = np.frombuffer(frame, dtype=theirs.dtype.newbyteorder("<")).reshape(theirs.shape)
        diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
        if name in LOSSY:
            assert diff.max() <= 3 and diff.mean() <= 0.5, (name, number, diff.max(), diff.mean())
        else:
            assert diff.max() == 0, (name, number)


def _stretched(values: np.ndarray) -> np.ndarray:
    """Modality values stretched from their minimum to their maximum over 0..255."""
    lo, hi = values.min(), values.max()
    center, width = (lo + hi) / 2, max(hi - lo, 1)
    return np.clip(((values - center) / width + 0.5) * 255, 0, 255).round()


def test_rendered_png_is_the_windowed_ct(stored):
    client, datasets = stored
    ds = datasets["CT_small.dcm"]
    png = client.retrieve_instance_rendered(*_uids(ds), media_types=("image/png",))
    image = Image.open(io.BytesIO(png))
    assert image.size == (ds.Columns, ds.Rows)
    values = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    assert np.abs(grey - _stretched(values)).max() <= 1


def test_rendered_window_and_viewport(stored):
    client, datasets = stored
    ds = datasets["CT_small.dcm"]
    jpeg = client.retrieve_instance_rendered(
        *_uids(ds), media_types=("image/jpeg",), params={"window": "40,400", "viewport": "64,64"}
    )
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    assert image.size == (64, 64)


def test_rendered_frames_of_a_colour_image(stored):
    client, datasets = stored
    ds = datasets["examples_jpeg2k.dcm"]
    png = client.retrieve_instance_frames_rendered(
        *_uids(ds), frame_numbers=[1], media_types=("image/png",)
    )
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGB"
    assert image.size == (ds.Columns, ds.Rows)
    assert np.array_equal(np.asarray(image), ds.pixel_array)


def test_series_rendered_is_an_image(stored):
    client, datasets = stored
    ds = datasets["chrArab.dcm"]
    png = client.retrieve_series_rendered(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, media_types=("image/png",)
    )
    image = Image.open(io.BytesIO(png))
    assert image.size == (ds.Columns, ds.Rows)
