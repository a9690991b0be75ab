"""Signing in from a script: dicomweb-client with a bearer token from a real OpenID provider
(scripts/test/oidc.sh, client_credentials), against a Tessera started with --auth required."""

import subprocess
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


def _token(oidc, who: str) -> str:
    """An access token of the client `who` ("SCRIPT": every role, "READER": read only)."""
    answer = requests.post(
        oidc["TESSERA_TEST_OIDC_ISSUER"] + "/token",
        data={"grant_type": "client_credentials"},
        auth=(oidc[f"TESSERA_TEST_OIDC_{who}_CLIENT"], oidc[f"TESSERA_TEST_OIDC_{who}_SECRET"]),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _client(server, token=None) -> DICOMwebClient:
    headers = {"Authorization": "Bearer " + token} if token else None
    return DICOMwebClient(url=server["dicomweb"], headers=headers)


def _refused(call) -> requests.Response:
    with pytest.raises(requests.HTTPError) as failure:
        call()
    return failure.value.response


def test_script_token_stores_searches_and_retrieves(tessera_auth):
    client = _client(tessera_auth, _token(tessera_auth["oidc"], "SCRIPT"))
    ds = pydicom.dcmread(TESTDATA / "CT_small.dcm")
    stored = client.store_instances(datasets=[ds])
    assert stored.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID

    found = client.search_for_studies(search_filters={"PatientID": ds.PatientID})
    assert [s["0020000D"]["Value"][0] for s in found] == [ds.StudyInstanceUID]
    series = client.search_for_series(ds.StudyInstanceUID)
    assert [s["0020000E"]["Value"][0] for s in series] == [ds.SeriesInstanceUID]

    back = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert back.PixelData == ds.PixelData
    metadata = client.retrieve_study_metadata(ds.StudyInstanceUID)
    assert metadata[0]["00080018"]["Value"] == [ds.SOPInstanceUID]
    frames = client.retrieve_instance_frames(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, frame_numbers=[1]
    )
    assert len(frames) == 1 and len(frames[0]) == ds.Rows * ds.Columns * 2


def test_without_a_token_401_with_a_bearer_challenge(tessera_auth):
    answer = requests.get(tessera_auth["dicomweb"] + "/studies", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    refused = _refused(lambda: _client(tessera_auth).search_for_studies())
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    # /healthz stays open.
    assert requests.get(tessera_auth["base"] + "/healthz", timeout=10).status_code == 200


def test_a_forged_token_is_401(tessera_auth):
    token = _token(tessera_auth["oidc"], "SCRIPT")
    head, payload, signature = token.split(".")
    forged = ".".join([head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])
    refused = _refused(lambda: _client(tessera_auth, forged).search_for_studies())
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_reader_token_searches_but_may_not_store(tessera_auth):
    client = _client(tessera_auth, _token(tessera_auth["oidc"], "READER"))
    assert isinstance(client.search_for_studies(), list)
    refused = _refused(
        lambda: client.store_instances(datasets=[pydicom.dcmread(TESTDATA / "MR_small.dcm")])
    )
    assert refused.status_code == 403
    assert "write" in refused.text, refused.text


def test_api_key_works_as_a_bearer_token(tessera_auth):
    """`tessera api-key create` prints the secret on its last line; dicomweb-client sends it."""
    created = subprocess.run(
        [
            str(tessera_auth["binary"]),
            "api-key",
            "create",
            "--name",
            "pytest-reader",
            "--roles",
            "read",
            "--data-dir",
            str(tessera_auth["data_dir"]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    secret = created.stdout.strip().splitlines()[-1]
    client = _client(tessera_auth, secret)
    assert isinstance(client.search_for_studies(), list)
    refused = _refused(
        lambda: client.store_instances(datasets=[pydicom.dcmread(TESTDATA / "MR_small.dcm")])
    )
    assert refused.status_code == 403
    assert "write" in refused.text, refused.text
