"""QIDO-RS through a real client: dicomweb-client searches, checked against pydicom's reading of
the same files. The server is shared with the other modules of the session, so every search
either names something only these files have or is compared within one test."""

from pathlib import Path

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"

# None of these is stored by another module (test_stow_client stores CT_small, MR_small,
# chrH31, chrX1, examples_ybr_color and JPEG2000).
NAMES = [
    "chrFren.dcm",
    "chrGerm.dcm",
    "chrGreek.dcm",
    "chrI2.dcm",
    "chrKoreanMulti.dcm",
    "liver_1frame.dcm",
    "rtplan.dcm",
    "examples_palette.dcm",
]

STUDY_UID = "0020000D"
SERIES_UID = "0020000E"
SOP_UID = "00080018"


@pytest.fixture(scope="module")
def stored(tessera):
    client = DICOMwebClient(url=tessera["dicomweb"])
    files = {name.removesuffix(".dcm"): pydicom.dcmread(TESTDATA / name) for name in NAMES}
    response = client.store_instances(datasets=list(files.values()))
    assert 0x00081198 not in response, "the QIDO corpus was not stored"
    return client, files


def _uids(results, tag=STUDY_UID):
    return [item[tag]["Value"][0] for item in results]


def _values(ds: Dataset, keyword: str) -> list:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue) else [value]


def _one(results) -> Dataset:
    assert len(results) == 1, results
    return Dataset.from_json(results[0])


def test_patient_name_wildcard_finds_the_study_with_its_values(stored):
    client, files = stored
    fren = files["chrFren"]
    found = _one(client.search_for_studies(search_filters={"PatientName": "Buc*"}))
    assert found.StudyInstanceUID == fren.StudyInstanceUID
    assert str(found.PatientName) == str(fren.PatientName) == "Buc^Jérôme"
    assert found.PatientID == fren.PatientID
    assert _values(found, "ModalitiesInStudy") == ["OT"]
    assert found.NumberOfStudyRelatedSeries == 1
    assert found.NumberOfStudyRelatedInstances == 1
    assert found.RetrieveURL.endswith(f"/studies/{fren.StudyInstanceUID}")


def test_fuzzy_matching_ignores_case_and_accents(stored):
    client, files = stored
    for query, name in [("jerome", "chrFren"), ("RUDIGER", "chrGerm"), ("aneas", "chrGerm")]:
        results = client.search_for_studies(fuzzymatching=True, search_filters={"PatientName": query})
        assert _uids(results) == [files[name].StudyInstanceUID], query
    # Without fuzzy matching the accents count.
    assert client.search_for_studies(fuzzymatching=False, search_filters={"PatientName": "Buc^Jerome"}) == []


def test_names_in_other_character_sets(stored):
    client, files = stored
    for query, name in [
        ("Διον*", "chrGreek"),
        ("洪^吉洞", "chrI2"),
        ("Hong^Gildong", "chrI2"),
        ("김희중", "chrKoreanMulti"),
        ("äneas^rüdiger", "chrGerm"),
    ]:
        found = _one(client.search_for_studies(search_filters={"PatientName": query}))
        assert found.StudyInstanceUID == files[name].StudyInstanceUID, query
        assert str(found.PatientName) == str(files[name].PatientName), query


def test_patient_id_and_returned_study_attributes(stored):
    client, files = stored
    liver = files["liver_1frame"]
    found = _one(client.search_for_studies(search_filters={"PatientID": liver.PatientID}))
    assert found.StudyInstanceUID == liver.StudyInstanceUID
    assert found.StudyDate == liver.StudyDate
    assert found.StudyTime == liver.StudyTime
    assert found.AccessionNumber == liver.AccessionNumber
    assert str(found.PatientName) == str(liver.PatientName)
    assert _values(found, "ModalitiesInStudy") == ["SEG"]
    assert client.search_for_studies(search_filters={"PatientID": "no-such-patient"}) == []


def test_series_by_modality(stored):
    client, files = stored
    for modality, name in [("SEG", "liver_1frame"), ("CR", "chrKoreanMulti"), ("RTPLAN", "rtplan")]:
        ds = files[name]
        found = _one(client.search_for_series(search_filters={"Modality": modality}))
        assert found.SeriesInstanceUID == ds.SeriesInstanceUID, modality
        assert found.StudyInstanceUID == ds.StudyInstanceUID, modality
        assert found.Modality == modality
        assert found.SeriesNumber == ds.SeriesNumber, modality
        assert _values(found, "SeriesDescription") == _values(ds, "SeriesDescription"), modality
        assert found.NumberOfSeriesRelatedInstances == 1
        assert found.RetrieveURL.endswith(f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}")


def test_study_date_ranges(stored):
    client, files = stored
    results = client.search_for_studies(search_filters={"StudyDate": "20030101-20031231"})
    assert sorted(_uids(results)) == sorted(files[n].StudyInstanceUID for n in ["liver_1frame", "rtplan"])
    results = client.search_for_studies(search_filters={"StudyDate": "20110101-20111231"})
    assert _uids(results) == [files["examples_palette"].StudyInstanceUID]
    results = client.search_for_series(search_filters={"StudyDate": "-20030501", "Modality": "SEG"})
    assert _uids(results, SERIES_UID) == [files["liver_1frame"].SeriesInstanceUID]


def test_fields_add_attributes(stored):
    client, files = stored
    korean = files["chrKoreanMulti"]
    found = _one(
        client.search_for_studies(search_filters={"PatientID": korean.PatientID}, fields=["StudyDescription"])
    )
    assert found.StudyDescription == korean.StudyDescription == "Chest"
    found = _one(
        client.search_for_series(
            search_filters={"SeriesInstanceUID": korean.SeriesInstanceUID},
            fields=["BodyPartExamined", "00081030"],
        )
    )
    assert found.BodyPartExamined == korean.BodyPartExamined
    assert found.StudyDescription == korean.StudyDescription


def test_instances_in_a_series_and_by_patient(stored):
    client, files = stored
    liver = files["liver_1frame"]
    found = _one(
        client.search_for_instances(
            study_instance_uid=liver.StudyInstanceUID, series_instance_uid=liver.SeriesInstanceUID
        )
    )
    assert found.SOPInstanceUID == liver.SOPInstanceUID
    assert found.SOPClassUID == liver.SOPClassUID
    assert found.Rows == liver.Rows
    assert found.Columns == liver.Columns
    assert found.InstanceNumber == liver.InstanceNumber
    assert found.RetrieveURL.endswith(
        f"/studies/{liver.StudyInstanceUID}/series/{liver.SeriesInstanceUID}/instances/{liver.SOPInstanceUID}"
    )
    plan = files["rtplan"]
    found = _one(client.search_for_instances(search_filters={"PatientName": str(plan.PatientName)}))
    assert found.SOPInstanceUID == plan.SOPInstanceUID
    assert found.StudyInstanceUID == plan.StudyInstanceUID
    assert found.SeriesInstanceUID == plan.SeriesInstanceUID
    # Relational: patient-level key at instance level, with a series-level key.
    results = client.search_for_instances(search_filters={"PatientID": plan.PatientID, "Modality": "CT"})
    assert results == []


def test_limit_and_offset_page_through_everything(stored):
    client, files = stored
    everything = _uids(client.search_for_studies())
    assert len(everything) == len(set(everything))
    assert {ds.StudyInstanceUID for ds in files.values()} <= set(everything)
    paged = []
    offset = 0
    while True:
        page = _uids(client.search_for_studies(limit=3, offset=offset))
        assert len(page) <= 3
        if not page:
            break
        paged.extend(page)
        offset += len(page)
    assert paged == everything
    assert _uids(client.search_for_studies(limit=2, get_remaining=True)) == everything
    assert client.search_for_studies(offset=len(everything)) == []
