"""STOW-RS through a real client: the Python package dicomweb-client, with pydicom data sets."""

from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"

REFERENCED_SOP_SEQUENCE = 0x00081199
FAILED_SOP_SEQUENCE = 0x00081198


def _client(server) -> DICOMwebClient:
    return DICOMwebClient(url=server["dicomweb"])


def _blob_files(server):
    return sorted((server["data_dir"] / "blobs" / "instances").rglob("*.dcm"))


def test_store_instances_with_dicomweb_client(tessera):
    names = ["CT_small.dcm", "MR_small.dcm", "chrH31.dcm", "chrX1.dcm", "examples_ybr_color.dcm"]
    datasets = [pydicom.dcmread(TESTDATA / n) for n in names]
    response = _client(tessera).store_instances(datasets=datasets)
    assert FAILED_SOP_SEQUENCE not in response
    referenced = response[REFERENCED_SOP_SEQUENCE].value
    assert [item.ReferencedSOPInstanceUID for item in referenced] == [ds.SOPInstanceUID for ds in datasets]
    assert [item.ReferencedSOPClassUID for item in referenced] == [ds.SOPClassUID for ds in datasets]
    for item, ds in zip(referenced, datasets):
        assert item.RetrieveURL.endswith(
            f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        )
        assert "WarningReason" not in item

    # What landed in the blob store reads back as the same data set.
    blobs = {pydicom.dcmread(p).SOPInstanceUID: p for p in _blob_files(tessera)}
    for ds in datasets:
        stored = pydicom.dcmread(blobs[ds.SOPInstanceUID])
        assert stored.PatientName == ds.PatientName
        assert stored.StudyInstanceUID == ds.StudyInstanceUID
        if "PixelData" in ds:
            assert stored.PixelData == ds.PixelData


def test_duplicate_is_refused_with_0111(tessera):
    ds = pydicom.dcmread(TESTDATA / "JPEG2000.dcm")
    _client(tessera).store_instances(datasets=[ds])
    with pytest.raises(requests.HTTPError) as failure:
        _client(tessera).store_instances(datasets=[ds])
    assert failure.value.response.status_code == 409
    body = failure.value.response.json()
    assert body["00081198"]["Value"][0]["00081197"]["Value"] == [0x0111]
    assert "00081199" not in body


def test_study_mismatch_is_409_a900(tessera):
    ds = pydicom.dcmread(TESTDATA / "MR_small_RLE.dcm")
    with pytest.raises(requests.HTTPError) as failure:
        _client(tessera).store_instances(datasets=[ds], study_instance_uid="1.2.3.4.5")
    assert failure.value.response.status_code == 409
    body = failure.value.response.json()
    assert body["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
