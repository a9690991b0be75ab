"""WADO-RS through a real client: dicomweb-client retrieves instances, series, studies,
metadata and bulk data, checked against pydicom's reading of the original files. The server
is shared with the other modules of the session, so these files are stored by no other
module (test_stow_client and test_qido_client name theirs)."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"

NAMES = [
    "rtdose.dcm",  # implicit VR, 15 frames of 32-bit samples
    "examples_rgb_color.dcm",  # explicit VR little endian, RGB
    "ExplVR_BigEnd.dcm",  # explicit VR big endian
    "SC_rgb_rle_2frame.dcm",  # RLE lossless, 2 frames
    "waveform_ecg.dcm",  # nested bulk data (WaveformSequence)
    "test-SR.dcm",  # no pixel data
]
ELE = "1.2.840.10008.1.2.1"


@pytest.fixture(scope="module")
def stored(tessera):
    client = DICOMwebClient(url=tessera["dicomweb"])
    files = {name: pydicom.dcmread(TESTDATA / name) for name in NAMES}
    response = client.store_instances(datasets=list(files.values()))
    assert 0x00081198 not in response, "the WADO corpus was not stored"
    return client, files


def _without_group_lengths(ds: Dataset) -> list:
    return [(e.tag, e.VR, e.value) for e in ds if e.tag.element != 0]


def _uids(ds: Dataset):
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def test_retrieve_instance_in_explicit_little_endian(stored):
    client, files = stored
    for name, original in files.items():
        ds = client.retrieve_instance(*_uids(original), media_types=(("application/dicom", ELE),))
        assert ds.file_meta.TransferSyntaxUID == ELE, name
        assert ds.SOPInstanceUID == original.SOPInstanceUID, name
        assert str(ds.PatientName) == str(original.PatientName), name
        assert ds.get("PatientID") == original.get("PatientID"), name
        if "PixelData" in original:
            assert np.array_equal(ds.pixel_array, original.pixel_array), name
        else:
            assert "PixelData" not in ds, name


def test_retrieve_instance_as_stored_is_bit_exact(stored):
    client, files = stored
    for name, original in files.items():
        # dicomweb-client asks for transfer-syntax=* by default.
        ds = client.retrieve_instance(*_uids(original))
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID, name
        if "PixelData" in original:
            assert ds.PixelData == original.PixelData, name
        # store_instances wrote the files with pydicom, which drops group lengths.
        assert _without_group_lengths(ds) == _without_group_lengths(original), name


def test_retrieve_series_and_study(stored):
    client, files = stored
    rtdose = files["rtdose.dcm"]
    series = client.retrieve_series(
        rtdose.StudyInstanceUID, rtdose.SeriesInstanceUID, media_types=(("application/dicom", ELE),)
    )
    assert [ds.SOPInstanceUID for ds in series] == [rtdose.SOPInstanceUID]
    assert np.array_equal(series[0].pixel_array, rtdose.pixel_array)
    rgb = files["examples_rgb_color.dcm"]
    study = client.retrieve_study(rgb.StudyInstanceUID, media_types=(("application/dicom", "*"),))
    by_sop = {ds.SOPInstanceUID: ds for ds in study}
    assert rgb.SOPInstanceUID in by_sop
    assert by_sop[rgb.SOPInstanceUID].PixelData == rgb.PixelData


def test_metadata_matches_the_files(stored, tessera):
    client, files = stored
    for name, original in files.items():
        metadata = client.retrieve_instance_metadata(*_uids(original))
        ds = Dataset.from_json(metadata)
        assert ds.SOPInstanceUID == original.SOPInstanceUID, name
        assert str(ds.PatientName) == str(original.PatientName), name
        assert ds.get("Rows") == original.get("Rows"), name
        if "PixelData" in original:
            uri = metadata["7FE00010"]["BulkDataURI"]
            path = "/studies/{}/series/{}/instances/{}/bulkdata/7FE00010".format(*_uids(original))
            assert uri.startswith("http://127.0.0.1") and uri.endswith(path), uri
    rtdose = files["rtdose.dcm"]
    series = client.retrieve_series_metadata(rtdose.StudyInstanceUID, rtdose.SeriesInstanceUID)
    assert [item["00080018"]["Value"][0] for item in series] == [rtdose.SOPInstanceUID]


def _bulk_uri(client, original, path):
    """The BulkDataURI at `path` of the instance's metadata, on the client's base URL:
    dicomweb-client sends `Host: 127.0.0.1` without the port, and the server builds absolute
    URIs from the Host header (a deployment sets --base-url instead)."""
    metadata = client.retrieve_instance_metadata(*_uids(original))
    element = metadata
    for step in path:
        element = element[step] if isinstance(step, str) else element["Value"][step]
    uri = element["BulkDataURI"]
    return client.base_url + uri[uri.index("/dicom-web") + len("/dicom-web") :]


def test_bulk_data_is_the_value_in_the_file(stored):
    client, files = stored
    # Native pixel data: the stored value.
    for name in ["rtdose.dcm", "examples_rgb_color.dcm"]:
        original = files[name]
        parts = client.retrieve_bulkdata(_bulk_uri(client, original, ["7FE00010"]))
        assert parts == [original.PixelData], name
    # Nested bulk data.
    ecg = files["waveform_ecg.dcm"]
    uri = _bulk_uri(client, ecg, ["54000100", 0, "54001010"])
    assert "/bulkdata/54000100/0/54001010" in uri
    assert client.retrieve_bulkdata(uri) == [ecg.WaveformSequence[0].WaveformData]
    # Big endian: little endian by default, as stored on request.
    be = files["ExplVR_BigEnd.dcm"]
    uri = _bulk_uri(client, be, ["7FE00010"])
    stored_parts = client.retrieve_bulkdata(uri, media_types=(("application/octet-stream", "*"),))
    assert stored_parts == [be.PixelData]
    # Encapsulated pixel data as stored: the item-encoded value, as pydicom holds it.
    rle = files["SC_rgb_rle_2frame.dcm"]
    uri = _bulk_uri(client, rle, ["7FE00010"])
    parts = client.retrieve_bulkdata(uri, media_types=(("application/octet-stream", "*"),))
    assert parts == [rle.PixelData]
    # ...and decoded by default.
    decoded = client.retrieve_bulkdata(uri)
    assert len(decoded) == 1
    assert decoded[0] == rle.pixel_array.tobytes()
