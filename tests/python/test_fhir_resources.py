"""FHIR R4 resources Tessera serves, validated with a real validator: the R4-shaped models of
fhir.resources (`fhir.resources.R4B`; R4B's ImagingStudy, Endpoint, Bundle, OperationOutcome
and CapabilityStatement have R4's shape), plus value checks. The server is shared with the
other modules of the session, so searches name what only this module stores."""

import copy
from pathlib import Path

import pydicom
import pytest
import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
FHIR_JSON = "application/fhir+json"
# Real files no other module stores (modality OT, no dates): Japanese (ISO 2022, three name
# groups) and Cyrillic names.
REAL = ["chrH32.dcm", "chrRuss.dcm"]
PATIENT = "FHIR-PY-P1"
CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.11"


def _instance(study, series, sop_class, *, series_number, instance_number, **attrs) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _item(**attrs) -> Dataset:
    item = Dataset()
    for keyword, value in attrs.items():
        setattr(item, keyword, value)
    return item


def _studies():
    """Three synthetic studies of one patient: full (two series, accession with issuer, time
    zone offset, body part, laterality, SR title), minimal, and one with another issuer."""
    full, minimal, other = generate_uid(), generate_uid(), generate_uid()
    common = dict(
        PatientName="Doe^Jane",
        PatientID=PATIENT,
        IssuerOfPatientID="HOSP-PY",
        AccessionNumber="PYACC1",
        IssuerOfAccessionNumberSequence=Sequence([_item(LocalNamespaceEntityID="RIS-PY")]),
        StudyDate="20220607",
        StudyTime="083000",
        TimezoneOffsetFromUTC="-0500",
        StudyDescription="CT and report",
        ReferringPhysicianName="Who^Doctor",
    )
    s1, s2 = generate_uid(), generate_uid()
    datasets = [
        _instance(full, s1, CT, series_number=1, instance_number=1, Modality="CT",
                  BodyPartExamined="HEAD", Laterality="R", SeriesDescription="Axial", **common),
        _instance(full, s1, CT, series_number=1, instance_number=2, Modality="CT",
                  BodyPartExamined="HEAD", Laterality="R", SeriesDescription="Axial", **common),
        _instance(full, s2, SR, series_number=2, instance_number=1, Modality="SR",
                  ConceptNameCodeSequence=Sequence([_item(CodeValue="18748-4", CodingSchemeDesignator="LN",
                                                          CodeMeaning="Diagnostic imaging report")]),
                  **common),
        _instance(minimal, generate_uid(), CT, series_number=1, instance_number=1, PatientID=PATIENT),
        _instance(other, generate_uid(), CT, series_number=1, instance_number=1, Modality="CT",
                  PatientID=PATIENT, IssuerOfPatientID="HOSP-OTHER", StudyDate="20220608"),
    ]
    return {"full": full, "minimal": minimal, "other": other}, datasets


def _part10(ds: Dataset) -> bytes:
    from io import BytesIO

    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def stored(tessera):
    uids, datasets = _studies()
    parts = [_part10(ds) for ds in datasets] + [(TESTDATA / name).read_bytes() for name in REAL]
    boundary = "tessera-fhir-py"
    body = b"".join(
        b"--%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (boundary.encode(), part) for part in parts
    ) + b"--%s--\r\n" % boundary.encode()
    r = requests.post(
        f"{tessera['dicomweb']}/studies",
        data=body,
        headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
    )
    assert r.status_code == 200, r.text
    for name in REAL:
        uids[name] = str(pydicom.dcmread(TESTDATA / name).StudyInstanceUID)
    return tessera["base"], uids


def _get(base, path, status=200, **kwargs):
    r = requests.get(f"{base}/fhir/{path}", **kwargs)
    assert r.status_code == status, (path, r.status_code, r.text)
    assert r.headers["Content-Type"].startswith(FHIR_JSON), r.headers["Content-Type"]
    return r.json()


def _no_empties(value, at="$"):
    """FHIR forbids empty strings, arrays and objects; the models let empty arrays through."""
    if isinstance(value, str):
        assert value, f"empty string at {at}"
    elif isinstance(value, list):
        assert value, f"empty array at {at}"
        for i, v in enumerate(value):
            _no_empties(v, f"{at}[{i}]")
    elif isinstance(value, dict):
        assert value, f"empty object at {at}"
        for k, v in value.items():
            _no_empties(v, f"{at}.{k}")
    else:
        assert value is not None, f"null at {at}"


def _study(base, uid) -> tuple[dict, ImagingStudy]:
    raw = _get(base, f"ImagingStudy/{uid}")
    _no_empties(raw)
    return raw, ImagingStudy.model_validate(raw)


def test_full_study_validates_with_its_values(stored):
    base, uids = stored
    raw, study = _study(base, uids["full"])
    assert study.id == uids["full"]
    assert study.status == "available"
    assert study.numberOfSeries == 2 and study.numberOfInstances == 3
    assert [m.code for m in study.modality] == ["CT", "SR"]
    assert raw["started"] == "2022-06-07T08:30:00-05:00"
    assert study.subject.identifier.system == "HOSP-PY"
    assert study.subject.identifier.value == PATIENT
    assert study.subject.display == "Jane Doe"
    acsn = [i for i in study.identifier if i.type and i.type.coding[0].code == "ACSN"]
    assert len(acsn) == 1 and acsn[0].system == "RIS-PY" and acsn[0].value == "PYACC1"
    assert study.basedOn[0].type == "ServiceRequest"
    assert study.basedOn[0].identifier.value == "PYACC1"
    ct, sr = study.series
    assert ct.bodySite.system == "http://snomed.info/sct" and ct.bodySite.code == "69536005"
    assert ct.laterality.code == "24028007"
    assert [i.number for i in ct.instance] == [1, 2]
    assert sr.instance[0].title == "Diagnostic imaging report"
    assert sr.instance[0].sopClass.code == f"urn:oid:{SR}"
    assert study.endpoint[0].reference == "Endpoint/tessera-dicomweb"


def test_minimal_and_non_latin_studies_validate(stored):
    base, uids = stored
    raw, study = _study(base, uids["minimal"])
    assert "started" not in raw and "description" not in raw and "modality" not in raw
    assert study.subject.identifier.value == PATIENT
    # No Modality in the data set: series.modality (required) carries data-absent-reason.
    assert raw["series"][0]["modality"]["extension"][0]["valueCode"] == "unknown"
    for name in REAL:
        raw, study = _study(base, uids[name])
        display = study.subject.display
        expected = pydicom.dcmread(TESTDATA / name).PatientName
        assert display and all(ord(c) < 128 for c in display) is False, display
        # Every name group pydicom decodes shows up in the display.
        for group in filter(None, [expected.alphabetic, expected.ideographic, expected.phonetic]):
            for word in filter(None, group.split("^")):
                assert word in display, (word, display)


def test_endpoint_and_capability_statement_validate(stored):
    base, _ = stored
    endpoint = Endpoint.model_validate(_get(base, "Endpoint/tessera-dicomweb"))
    assert endpoint.address == f"{base}/dicom-web"
    assert endpoint.connectionType.code == "dicom-wado-rs"
    assert endpoint.status == "active"
    cs = CapabilityStatement.model_validate(_get(base, "metadata"))
    assert cs.fhirVersion == "4.0.1"
    types = {r.type: r for r in cs.rest[0].resource}
    assert {i.code for i in types["ImagingStudy"].interaction} == {"read", "search-type"}


def test_searchset_bundles_validate_and_page(stored):
    base, uids = stored
    ours = {uids["full"], uids["minimal"], uids["other"]}
    seen, url, pages = [], f"{base}/fhir/ImagingStudy?patient={PATIENT}&_count=2", 0
    while url:
        r = requests.get(url)
        assert r.status_code == 200, r.text
        raw = r.json()
        _no_empties(raw)
        bundle = Bundle.model_validate(raw)
        assert bundle.type == "searchset" and bundle.total == 3
        for entry in bundle.entry:
            assert entry.resource.__resource_type__ == "ImagingStudy"
            ImagingStudy.model_validate(raw["entry"][bundle.entry.index(entry)]["resource"])
            seen.append(entry.resource.id)
        nxt = [link.url for link in bundle.link if link.relation == "next"]
        url = nxt[0] if nxt else None
        pages += 1
    assert pages == 2 and sorted(seen) == sorted(ours)

    raw = _get(base, "ImagingStudy", params={"subject:identifier": f"HOSP-OTHER|{PATIENT}"})
    assert Bundle.model_validate(raw).total == 1
    assert raw["entry"][0]["resource"]["id"] == uids["other"]
    raw = _get(base, "ImagingStudy", params={"identifier": "RIS-PY|PYACC1", "started": "ge2022-06-07",
                                              "modality": "SR", "_elements": "series"})
    bundle = Bundle.model_validate(raw)
    assert bundle.total == 1
    subset = raw["entry"][0]["resource"]
    ImagingStudy.model_validate(subset)
    assert subset["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert "identifier" not in subset and len(subset["series"]) == 2
    empty = Bundle.model_validate(_get(base, "ImagingStudy", params={"identifier": "nothing-like-this"}))
    assert empty.total == 0 and not empty.entry


@pytest.mark.parametrize(
    "path,params,headers,status,code",
    [
        ("ImagingStudy/2.25.4040404", {}, {}, 404, "not-found"),
        ("Endpoint/unknown", {}, {}, 404, "not-found"),
        ("ImagingStudy", {"bogus": "1"}, {}, 400, "not-supported"),
        ("ImagingStudy", {"started": "2022-02-30"}, {}, 400, "invalid"),
        ("metadata", {}, {"Accept": "application/fhir+xml"}, 406, "not-supported"),
    ],
)
def test_operation_outcomes_validate(stored, path, params, headers, status, code):
    base, _ = stored
    raw = _get(base, path, status=status, params=params, headers=headers)
    outcome = OperationOutcome.model_validate(raw)
    assert outcome.issue[0].severity == "error" and outcome.issue[0].code == code
    assert outcome.issue[0].diagnostics


def test_the_validator_rejects_broken_resources(stored):
    """The validation above means something: a served resource with one thing broken fails."""
    base, uids = stored
    raw = _get(base, f"ImagingStudy/{uids['full']}")
    ImagingStudy.model_validate(raw)
    broken = []
    no_zone = copy.deepcopy(raw)
    no_zone["started"] = "2022-06-07T08:30:00"  # a time without zone is not a FHIR dateTime
    broken.append(no_zone)
    empty = copy.deepcopy(raw)
    empty["description"] = ""
    broken.append(empty)
    r5_modality = copy.deepcopy(raw)
    r5_modality["series"][0]["modality"] = {"coding": [raw["series"][0]["modality"]]}  # R5 shape
    broken.append(r5_modality)
    for resource in broken:
        with pytest.raises(ValidationError):
            ImagingStudy.model_validate(resource)
