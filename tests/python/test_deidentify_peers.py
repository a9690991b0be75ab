"""Tessera's de-identification beside an independent one: dicognito (PyPI, pinned in
scripts/test/requirements.txt). Four of pydicom's test files (a CT, an MR, an RT plan and a
JPEG 2000 secondary capture) are stored in a fresh archive and de-identified with
`tessera deidentify` (the basic profile, then with retain-longitudinal-modified-dates), and
each is anonymized by dicognito with a fixed seed. The test asserts, attribute by attribute,
the comparison documented in docs/deidentification.md ("Beside dicognito"): what both do, and
where they differ and how.
"""

import csv
import datetime
import os
import shutil
import subprocess
from pathlib import Path

import dicognito.anonymizer as dicognito_anonymizer
import pydicom
import pytest
from pydicom.data import get_testdata_file

REPO = Path(__file__).resolve().parents[2]
FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm"]

# What each does to an attribute the original has with a value, for the attributes of the
# four files: "replaced" (another value), "emptied" (present, no value), "removed", "kept".
# Tessera: the basic profile (PS3.15 Table E.1-1); dicognito 0.19.0 as it comes.
BOTH_REPLACE = [
    "PatientName",
    "PatientID",
    "InstitutionName",
    "StationName",
    "OperatorsName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "SeriesDate",
    "ContentDate",
]
DIFFER = {
    # attribute: (Tessera, dicognito)
    "StudyDate": ("emptied", "replaced"),
    "AcquisitionDate": ("emptied", "replaced"),
    "AccessionNumber": ("emptied", "replaced"),
    "StudyID": ("emptied", "replaced"),
    "PatientSex": ("emptied", "kept"),
    "PatientAge": ("removed", "kept"),
    "PatientWeight": ("removed", "kept"),
    "StudyDescription": ("removed", "kept"),
    "ImageComments": ("removed", "kept"),
    "DeviceSerialNumber": ("replaced", "kept"),
}
BOTH_KEEP = ["Manufacturer", "Modality", "SOPClassUID", "Rows", "Columns"]


def binary() -> Path:
    path = Path(os.environ.get("TESSERA_BIN", REPO / "target" / "debug" / "tessera"))
    assert path.exists(), f"{path} missing: run cargo build first (scripts/test.sh does)"
    return path


def tessera(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(binary()), *args], capture_output=True, text=True)
    assert done.returncode == 0, f"tessera {args}: {done.stdout}\n{done.stderr}"
    return done


def fate(original: pydicom.Dataset, out: pydicom.Dataset, keyword: str):
    """What happened to an attribute the original has with a value (None: it has none)."""
    if keyword not in original or original[keyword].value in (None, "", b""):
        return None
    if keyword not in out:
        return "removed"
    value = out[keyword].value
    if value in (None, "", b"") or (isinstance(value, pydicom.Sequence) and len(value) == 0):
        return "emptied"
    return "kept" if str(value) == str(original[keyword].value) else "replaced"


def day(value: str) -> datetime.date:
    return datetime.datetime.strptime(value, "%Y%m%d").date()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """(original, Tessera basic, Tessera with modified dates, dicognito) per file."""
    work = tmp_path_factory.mktemp("deid-peers")
    inputs = work / "in"
    inputs.mkdir()
    for name in FILES:
        shutil.copy(get_testdata_file(name), inputs / name)
    data = ["--data-dir", str(work / "archive")]
    tessera("import", str(inputs), *data)
    key = work / "peers.key"
    key.write_text("the peer test's project secret\n")
    project = ["--project", "peers", "--deid-project", f"peers={key}"]
    originals = {name: pydicom.dcmread(inputs / name) for name in FILES}
    studies = [arg for o in originals.values() for arg in ("--study", o.StudyInstanceUID)]
    runs = {}
    for run, options in (("basic", []), ("modified", ["--option", "retain-longitudinal-modified-dates"])):
        mapping = work / f"{run}.csv"
        # The JPEG 2000 file is a secondary capture: refused unless burned-in text is allowed.
        tessera(
            "deidentify", *studies, *project, *options, "--allow-burned-in",
            "--to", str(work / run), "--mapping", str(mapping), *data,
        )
        with open(mapping, newline="") as f:
            new_uid = {r["original"]: r["replacement"] for r in csv.DictReader(f) if r["kind"] == "uid"}
        written = {pydicom.dcmread(p).SOPInstanceUID: p for p in (work / run).rglob("*.dcm")}
        runs[run] = {
            name: pydicom.dcmread(written[new_uid[o.SOPInstanceUID]]) for name, o in originals.items()
        }
    dicognito = {}
    for name in FILES:
        ds = pydicom.dcmread(inputs / name)
        dicognito_anonymizer.Anonymizer(seed="peers").anonymize(ds)
        dicognito[name] = ds
    return {
        name: (originals[name], runs["basic"][name], runs["modified"][name], dicognito[name])
        for name in FILES
    }


@pytest.mark.parametrize("name", FILES)
def test_both_replace_identities_and_keep_pixels(outputs, name):
    original, ours, _, theirs = outputs[name]
    for keyword in BOTH_REPLACE:
        assert fate(original, ours, keyword) in (None, "replaced"), (name, keyword, "Tessera")
        assert fate(original, theirs, keyword) in (None, "replaced"), (name, keyword, "dicognito")
    for keyword in BOTH_KEEP:
        assert fate(original, ours, keyword) in (None, "kept"), (name, keyword, "Tessera")
        assert fate(original, theirs, keyword) in (None, "kept"), (name, keyword, "dicognito")
    # Neither leaves the patient's name or ID in any top-level value.
    for ds, who in ((ours, "Tessera"), (theirs, "dicognito")):
        for element in ds:
            if element.VR in ("SQ", "OB", "OW", "UN") or element.tag.is_private:
                continue
            text = str(element.value)
            assert str(original.PatientName) not in text, (name, who, element)
            if element.keyword != "OtherPatientIDs":
                assert original.PatientID not in text.split("\\"), (name, who, element)
    if "PixelData" in original:
        assert ours.PixelData == original.PixelData
        assert theirs.PixelData == original.PixelData
    # Both say so: Tessera per PS3.15 (Patient Identity Removed, the method and its codes),
    # dicognito with a method of its own name only.
    assert ours.PatientIdentityRemoved == "YES"
    assert "PS3.15 2026c" in str(ours.DeidentificationMethod)
    assert "DeidentificationMethodCodeSequence" in ours
    assert "PatientIdentityRemoved" not in theirs
    assert theirs.DeidentificationMethod == "DICOGNITO"


@pytest.mark.parametrize("name", FILES)
def test_where_they_differ(outputs, name):
    original, ours, _, theirs = outputs[name]
    for keyword, (tessera_fate, dicognito_fate) in DIFFER.items():
        if fate(original, ours, keyword) is None:
            continue
        assert fate(original, ours, keyword) == tessera_fate, (name, keyword, "Tessera")
        assert fate(original, theirs, keyword) == dicognito_fate, (name, keyword, "dicognito")
    # Dummies where the basic profile asks for D: dates 19000101, text ANONYMOUS.
    for keyword in ("SeriesDate", "ContentDate"):
        if fate(original, ours, keyword):
            assert ours[keyword].value == "19000101", (name, keyword)
    assert ours.InstitutionName == "ANONYMOUS"
    # dicognito makes up realistic values; Tessera's pseudonyms say what they are.
    assert str(ours.PatientName).startswith("ANON^") and ours.PatientID.startswith("ANON-")
    assert not str(theirs.PatientName).startswith("ANON")
    # UIDs: Tessera's are 2.25 + a keyed UUID; dicognito's another root.
    assert ours.SOPInstanceUID.startswith("2.25.")
    assert not theirs.SOPInstanceUID.startswith("2.25.")
    # Private elements: removed by Tessera (no Retain Safe Private), kept by dicognito.
    private = [e.tag for e in original if e.tag.is_private]
    assert not any(tag in ours for tag in private), name
    assert all(tag in theirs for tag in private), name


def test_dates_moved_back_by_one_offset_per_patient(outputs):
    """With retain-longitudinal-modified-dates Tessera moves every date of a patient back by
    one whole number of days (366 to 3652) and keeps the times; dicognito moves each date and
    its time together back by one offset in hours (62 to 730 days), so a time changes when the
    offset is not a whole number of days. The basic profile empties StudyTime (Z)."""
    for name, (original, basic, modified, theirs) in outputs.items():
        pairs = [
            (d, d.replace("Date", "Time"))
            for d in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
            if original.get(d)
        ]
        days = {(day(original[d].value) - day(modified[d].value)).days for d, _ in pairs}
        assert len(days) == 1 and 366 <= days.pop() <= 3652, (name, days)
        for _, t in pairs:
            if original.get(t):
                assert modified[t].value == original[t].value, (name, t)
        assert fate(original, basic, "StudyTime") in (None, "emptied"), name
        hours = set()
        for d, t in pairs:
            when = lambda ds: datetime.datetime.strptime(
                ds[d].value + (str(ds[t].value)[:6] if ds.get(t) else "000000"), "%Y%m%d%H%M%S"
            )
            hours.add((when(original) - when(theirs)) / datetime.timedelta(hours=1))
        assert len(hours) == 1, (name, hours)
        assert 62 * 24 <= hours.pop() <= 730 * 24, name


def test_same_key_same_uids_other_key_other_uids():
    """Both are keyed: Tessera by the project's secret, dicognito by its seed."""
    path = get_testdata_file("CT_small.dcm")
    a, b, c = (pydicom.dcmread(path) for _ in range(3))
    dicognito_anonymizer.Anonymizer(seed="one").anonymize(a)
    dicognito_anonymizer.Anonymizer(seed="one").anonymize(b)
    dicognito_anonymizer.Anonymizer(seed="two").anonymize(c)
    assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
