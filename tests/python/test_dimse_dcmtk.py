"""Tessera's DICOM port (DIMSE) against dcmtk, the reference implementation, from Debian's package.

pynetdicom installs apps of the same names (storescu, findscu, ...) in /usr/local/bin, so every
dcmtk tool is called by its absolute path in /usr/bin. One Tessera serves the whole module, with
two dcmtk storescp as its C-MOVE destinations: STORESCP (bit-preserving, every transfer syntax)
and IMPLICITONLY (bit-preserving, Implicit VR Little Endian only, for the conversion fallback);
a second Tessera, started by the test that needs it, refuses unknown calling AE titles.
"""

import copy
import io
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy
import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from conftest import (
    _stop,
    free_port,
    fresh_copy,
    qido,
    server_log,
    split_part10,
    start_dimse,
    stow,
    wado_part10,
    wait_for_port,
)

TOOLS = ["echoscu", "storescu", "findscu", "movescu", "getscu", "storescp", "dcmdump"]

# The storescu flag that proposes each transfer syntax (with -R: only the contexts needed).
PROPOSE = {
    ExplicitVRLittleEndian: "-xe",
    ImplicitVRLittleEndian: "-xi",
    ExplicitVRBigEndian: "-xb",
    DeflatedExplicitVRLittleEndian: "-xd",
    RLELossless: "-xr",
    JPEGBaseline8Bit: "-xy",
    JPEGExtended12Bit: "-xx",
    JPEGLosslessSV1: "-xs",
    JPEGLSLossless: "-xt",
    JPEGLSNearLossless: "-xu",
    JPEG2000Lossless: "-xv",
    JPEG2000: "-xw",
}

# 14 files in 12 transfer syntaxes (every one in PROPOSE); the five MR_small copies share a patient.
CORPUS = [
    "CT_small.dcm",
    "test-SR.dcm",
    "MR_small_implicit.dcm",
    "rtplan.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEGLSNearLossless_08.dcm",
    "JPEG-lossy.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "image_dfl.dcm",
    "JPEG2000.dcm",
]

STOWED_PATIENT = "DIMSE-STOW-1"


def tool(name: str) -> str:
    path = Path("/usr/bin") / name
    assert path.exists(), f"dcmtk's {name} is missing at {path} (apt-get install dcmtk)"
    return str(path)


def run(name: str, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    """A dcmtk tool; its stdout and stderr together in .out."""
    done = subprocess.run(
        [tool(name), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True
    )
    done.out = done.stdout
    return done


def dimse_statuses(output: str) -> list[int]:
    """Every `DIMSE Status : 0x....` a dcmtk tool printed in debug mode (-d), in order."""
    return [int(s, 16) for s in re.findall(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})", output)]


def last_count(output: str, what: str) -> int:
    """The last `<what> Suboperations : n` of a movescu/getscu debug output."""
    found = re.findall(rf"{what} Suboperations\s*:\s*(\d+)", output)
    assert found, output[-3000:]
    return int(found[-1])


def _storescp(tmp_path_factory, ae_title: str, syntaxes: str):
    """dcmtk's storescp as a C-MOVE destination: writes what it receives bit for bit (+B), in
    files named after the SOP Instance UID; `syntaxes` is its transfer syntax option."""
    out = tmp_path_factory.mktemp(ae_title.lower())
    port = free_port()
    log_path = out.parent / f"{ae_title.lower()}-{port}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [tool("storescp"), "-v", "-aet", ae_title, "-od", str(out), "+B", syntaxes, str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        yield {"ae": ae_title, "port": port, "dir": out, "log": log_path}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def storescp(tmp_path_factory):
    """STORESCP: accepts every transfer syntax dcmtk knows (+xa)."""
    yield from _storescp(tmp_path_factory, "STORESCP", "+xa")


@pytest.fixture(scope="module")
def implicit_only(tmp_path_factory):
    """IMPLICITONLY: accepts Implicit VR Little Endian only (+xi), so every instance stored in
    another syntax reaches it through Tessera's conversion fallback."""
    yield from _storescp(tmp_path_factory, "IMPLICITONLY", "+xi")


@pytest.fixture(scope="module")
def server(storescp, implicit_only):
    for name in TOOLS:
        tool(name)
    server = start_dimse(
        "tessera-dimse-dcmtk-",
        "--dimse-peer",
        f"STORESCP=127.0.0.1:{storescp['port']}",
        "--dimse-peer",
        f"IMPLICITONLY=127.0.0.1:{implicit_only['port']}",
    )
    yield server
    _stop(server["proc"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Fresh-UID copies of CORPUS, encoded the way storescu sends them, one folder per transfer
    syntax: path -> data set."""
    folder = tmp_path_factory.mktemp("corpus")
    out = {}
    for name in CORPUS:
        path = fresh_copy(name, folder, dcmtk_encoding=True)
        ds = pydicom.dcmread(path)
        group = folder / PROPOSE[ds.file_meta.TransferSyntaxUID].lstrip("-")
        group.mkdir(exist_ok=True)
        out[path.rename(group / path.name)] = ds
    return out


@pytest.fixture(scope="module")
def stored_corpus(server, corpus):
    """storescu of each transfer syntax's folder (+sd), proposing only that syntax's contexts (-R
    and its flag): syntax -> files, syntax -> storescu run."""
    groups = defaultdict(list)
    for path, ds in corpus.items():
        groups[ds.file_meta.TransferSyntaxUID].append(path)
    runs = {}
    for syntax, paths in groups.items():
        folder = paths[0].parent
        assert sorted(folder.iterdir()) == sorted(paths)
        runs[syntax] = run(
            "storescu", "-v", "-aec", "TESSERA", "-R", PROPOSE[syntax], "+sd", "127.0.0.1", server["port"], folder
        )
    return corpus, groups, runs


@pytest.fixture(scope="module")
def stowed(server, tmp_path_factory):
    """CT_small (new UIDs, its own encoding: trailing padding kept) stored over HTTP (STOW-RS)."""
    folder = tmp_path_factory.mktemp("stowed")
    path = fresh_copy("CT_small.dcm", folder, PatientID=STOWED_PATIENT, PatientName="Stowed^Dimse")
    answer = stow(server, [path])
    assert "00081198" not in answer, answer
    return path, pydicom.dcmread(path)


def findscu(server, tmp_path: Path, model: str, *keys: str) -> list:
    """findscu with `keys` (-k each) under the information model flag `model` (-S, -P);
    the responses' identifiers (-X writes them as rsp0001.dcm, ...), in order."""
    out = Path(tmp_path) / f"find-{len(list(Path(tmp_path).glob('find-*')))}"
    out.mkdir()
    args = ["-aec", "TESSERA", model, "-X", "-od", out]
    for key in keys:
        args += ["-k", key]
    done = run("findscu", *args, "127.0.0.1", server["port"])
    assert done.returncode == 0, done.out + server_log(server)
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def assert_same_instance(received: bytes, source: Path, what: str):
    """A received/stored Part 10 file carries the source's data set bytes, its transfer syntax."""
    source_meta, source_set = split_part10(source.read_bytes())
    meta, data_set = split_part10(received)
    assert meta.TransferSyntaxUID == source_meta.TransferSyntaxUID, what
    assert meta.MediaStorageSOPInstanceUID == source_meta.MediaStorageSOPInstanceUID, what
    assert meta.MediaStorageSOPClassUID == source_meta.MediaStorageSOPClassUID, what
    assert len(data_set) == len(source_set), what
    assert data_set == source_set, what


# ---------------------------------------------------------------------------
# Association


def test_echo_and_called_ae_title(server):
    done = run("echoscu", "-v", "-aec", "TESSERA", "127.0.0.1", server["port"])
    assert done.returncode == 0, done.out
    assert "Received Echo Response (Success)" in done.out

    wrong = run("echoscu", "-aec", "NOT-TESSERA", "127.0.0.1", server["port"])
    assert wrong.returncode != 0
    assert "Association Rejected" in wrong.out
    assert "Called AE Title Not Recognized" in wrong.out


def test_unknown_calling_ae_is_rejected_when_unknown_are_refused():
    refusing = start_dimse(
        "tessera-dimse-known-", "--dimse-accept-unknown", "false", "--dimse-peer", "KNOWN=127.0.0.1:1"
    )
    try:
        stranger = run("echoscu", "-aet", "STRANGER", "-aec", "TESSERA", "127.0.0.1", refusing["port"])
        assert stranger.returncode != 0, stranger.out
        assert "Association Rejected" in stranger.out
        assert "Calling AE Title Not Recognized" in stranger.out

        known = run("echoscu", "-v", "-aet", "KNOWN", "-aec", "TESSERA", "127.0.0.1", refusing["port"])
        assert known.returncode == 0, known.out + server_log(refusing)
        assert "Received Echo Response (Success)" in known.out
    finally:
        _stop(refusing["proc"])


# ---------------------------------------------------------------------------
# C-STORE


def test_storescu_stores_every_transfer_syntax_bit_exact(server, stored_corpus):
    corpus, groups, runs = stored_corpus
    assert len(corpus) >= 8 and len(groups) >= 8
    for syntax, done in runs.items():
        assert done.returncode == 0, done.out + server_log(server)
        successes = done.out.count("Received Store Response (Success)")
        assert successes == len(groups[syntax]), f"{syntax.name}:\n{done.out}\n{server_log(server)}"

    for path, ds in corpus.items():
        what = f"{path.name} ({ds.file_meta.TransferSyntaxUID.name})"
        found = qido(server, "/instances", SOPInstanceUID=ds.SOPInstanceUID)
        assert len(found) == 1, what
        assert found[0]["0020000D"]["Value"] == [ds.StudyInstanceUID], what
        assert found[0]["0020000E"]["Value"] == [ds.SeriesInstanceUID], what
        assert found[0]["00080016"]["Value"] == [ds.SOPClassUID], what

        stored = wado_part10(server, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert_same_instance(stored, path, what)
        back = pydicom.dcmread(io.BytesIO(stored))
        assert back.SOPInstanceUID == ds.SOPInstanceUID, what
        assert back.SOPClassUID == ds.SOPClassUID, what
        assert back.get("PatientName") == ds.get("PatientName"), what
        assert back.get("PatientID") == ds.get("PatientID"), what
        if "PixelData" in ds:
            assert back.PixelData == ds.PixelData, what


def test_storing_again_is_refused_with_0111(server, stored_corpus):
    corpus, _, _ = stored_corpus
    for path, ds in list(corpus.items())[:3]:
        syntax = ds.file_meta.TransferSyntaxUID
        done = run("storescu", "-d", "-aec", "TESSERA", "-R", PROPOSE[syntax], "127.0.0.1", server["port"], path)
        statuses = dimse_statuses(done.out)
        assert statuses == [0x0111], f"{path.name}: {statuses}\n{done.out[-2000:]}"
        assert "Received Store Response (Success)" not in done.out


# ---------------------------------------------------------------------------
# C-FIND


def test_stowed_instance_found_at_every_level(server, stowed, tmp_path):
    path, ds = stowed
    studies = findscu(
        server, tmp_path, "-S",
        "QueryRetrieveLevel=STUDY", f"PatientID={STOWED_PATIENT}", "StudyInstanceUID", "PatientName",
        "StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedInstances", "NumberOfStudyRelatedSeries",
    )  # fmt: skip
    assert len(studies) == 1
    study = studies[0]
    assert study.SpecificCharacterSet == "ISO_IR 192"
    assert study.QueryRetrieveLevel == "STUDY"
    assert study.StudyInstanceUID == ds.StudyInstanceUID
    assert study.PatientID == STOWED_PATIENT
    assert str(study.PatientName) == "Stowed^Dimse"
    assert study.StudyDate == ds.StudyDate
    assert study.ModalitiesInStudy == "CT"
    assert int(study.NumberOfStudyRelatedInstances) == 1
    assert int(study.NumberOfStudyRelatedSeries) == 1

    series = findscu(
        server, tmp_path, "-S",
        "QueryRetrieveLevel=SERIES", f"StudyInstanceUID={ds.StudyInstanceUID}", "SeriesInstanceUID",
        "Modality", "SeriesNumber", "NumberOfSeriesRelatedInstances",
    )  # fmt: skip
    assert len(series) == 1
    assert series[0].SpecificCharacterSet == "ISO_IR 192"
    assert series[0].StudyInstanceUID == ds.StudyInstanceUID  # a unique key of the level above
    assert series[0].SeriesInstanceUID == ds.SeriesInstanceUID
    assert series[0].Modality == "CT"
    assert series[0].SeriesNumber == ds.SeriesNumber
    assert int(series[0].NumberOfSeriesRelatedInstances) == 1

    images = findscu(
        server, tmp_path, "-S",
        "QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={ds.StudyInstanceUID}",
        f"SeriesInstanceUID={ds.SeriesInstanceUID}", "SOPInstanceUID", "SOPClassUID", "InstanceNumber",
    )  # fmt: skip
    assert len(images) == 1
    assert images[0].SOPInstanceUID == ds.SOPInstanceUID
    assert images[0].SOPClassUID == ds.SOPClassUID
    assert images[0].InstanceNumber == ds.InstanceNumber
    assert images[0].SeriesInstanceUID == ds.SeriesInstanceUID

    # Patient Root, PATIENT level.
    patients = findscu(
        server, tmp_path, "-P",
        "QueryRetrieveLevel=PATIENT", f"PatientID={STOWED_PATIENT}", "PatientName", "PatientBirthDate",
        "NumberOfPatientRelatedStudies",
    )  # fmt: skip
    assert len(patients) == 1
    assert patients[0].PatientID == STOWED_PATIENT
    assert str(patients[0].PatientName) == "Stowed^Dimse"
    assert int(patients[0].NumberOfPatientRelatedStudies) == 1
    # Patient Root, STUDY level under that patient.
    studies = findscu(
        server, tmp_path, "-P", "QueryRetrieveLevel=STUDY", f"PatientID={STOWED_PATIENT}", "StudyInstanceUID"
    )
    assert [s.StudyInstanceUID for s in studies] == [ds.StudyInstanceUID]


def test_findscu_matching(server, stored_corpus, stowed, tmp_path):
    corpus, _, _ = stored_corpus
    everything = list(corpus.values()) + [stowed[1]]
    mr_studies = {ds.StudyInstanceUID for ds in corpus.values() if ds.get("Modality") == "MR"}
    assert len(mr_studies) == 5

    def study_uids(*keys):
        found = findscu(server, tmp_path, "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID", *keys)
        uids = [f.StudyInstanceUID for f in found]
        assert len(uids) == len(set(uids)), uids
        return found, set(uids)

    # Wildcard, lower case pattern against the stored CompressedSamples^MR1.
    found, uids = study_uids("PatientName=compressedsamples^mr*")
    assert uids == mr_studies and len(found) == 5
    assert {str(f.PatientName) for f in found} == {"CompressedSamples^MR1"}
    found, uids = study_uids("PatientName=?OMPRESSEDSAMPLES^NM?")
    assert uids == {ds.StudyInstanceUID for ds in everything if str(ds.get("PatientName", "")).endswith("^NM1")}
    assert len(found) == 2

    # Date ranges.
    found, uids = study_uids("StudyDate=20040101-20041231")
    expected = {ds.StudyInstanceUID for ds in everything if "20040101" <= ds.get("StudyDate", "") <= "20041231"}
    assert len(expected) == 9  # 5 MR, 2 NM, the CT of the corpus and the STOWed one
    assert uids == expected and len(found) == 9
    found, uids = study_uids("StudyDate=-20031231", "PatientID")
    assert uids == {ds.StudyInstanceUID for ds in corpus.values() if ds.get("Modality") == "RTPLAN"}
    assert found[0].PatientID == "id00001"

    # A list of UIDs.
    picked = [ds.StudyInstanceUID for ds in list(corpus.values())[:3]]
    found, uids = study_uids("StudyInstanceUID=" + "\\".join(picked))
    assert uids == set(picked) and len(found) == 3

    # ModalitiesInStudy.
    found, uids = study_uids("ModalitiesInStudy=MR")
    assert uids == mr_studies and len(found) == 5
    assert {f.ModalitiesInStudy for f in found} == {"MR"}

    # Nothing matches: no pending response at all.
    found, uids = study_uids("PatientID=no-such-patient")
    assert found == []

    # PATIENT level: one match per patient, counting its studies.
    patients = findscu(
        server, tmp_path, "-P", "QueryRetrieveLevel=PATIENT", "PatientID=4MR1", "NumberOfPatientRelatedStudies"
    )
    assert len(patients) == 1
    assert int(patients[0].NumberOfPatientRelatedStudies) == 5


# ---------------------------------------------------------------------------
# C-MOVE and C-GET


def received_by(folder: Path, sop_instance_uid: str) -> bytes:
    """The file storescp/getscu wrote for an instance (named after its SOP Instance UID)."""
    found = [p for p in folder.iterdir() if p.name.endswith(sop_instance_uid)]
    assert len(found) == 1, (sop_instance_uid, sorted(p.name for p in folder.iterdir()))
    return found[0].read_bytes()


def test_movescu_of_the_stowed_instance_is_bit_exact(server, stowed, storescp):
    path, ds = stowed
    done = run(
        "movescu", "-d", "-aec", "TESSERA", "-aem", "STORESCP", "-S",
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ds.StudyInstanceUID}",
        "127.0.0.1", server["port"],
    )  # fmt: skip
    assert done.returncode == 0, done.out[-3000:] + server_log(server)
    assert dimse_statuses(done.out)[-1] == 0x0000
    assert last_count(done.out, "Completed") == 1
    assert last_count(done.out, "Failed") == 0
    assert last_count(done.out, "Warning") == 0
    assert_same_instance(received_by(storescp["dir"], ds.SOPInstanceUID), path, "C-MOVE to storescp")


def test_movescu_of_every_syntax_keeps_the_stored_syntax(server, stored_corpus, storescp):
    corpus, _, _ = stored_corpus
    uids = "\\".join(ds.StudyInstanceUID for ds in corpus.values())
    done = run(
        "movescu", "-d", "-aec", "TESSERA", "-aem", "STORESCP", "-S",
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uids}", "127.0.0.1", server["port"],
    )  # fmt: skip
    assert done.returncode == 0, done.out[-3000:] + server_log(server)
    statuses = dimse_statuses(done.out)
    assert statuses[-1] == 0x0000
    assert set(statuses[:-1]) <= {0xFF00}
    assert last_count(done.out, "Completed") == len(corpus)
    assert last_count(done.out, "Failed") == 0
    for path, ds in corpus.items():
        what = f"{path.name} ({ds.file_meta.TransferSyntaxUID.name})"
        assert_same_instance(received_by(storescp["dir"], ds.SOPInstanceUID), path, what)


def test_movescu_to_an_unknown_destination_is_a801(server, stowed):
    _, ds = stowed
    done = run(
        "movescu", "-d", "-aec", "TESSERA", "-aem", "NOWHERE", "-S",
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ds.StudyInstanceUID}",
        "127.0.0.1", server["port"],
    )  # fmt: skip
    assert dimse_statuses(done.out) == [0xA801], done.out[-3000:]
    assert "MoveDestinationUnknown" in done.out


def test_getscu_of_the_stowed_instance_is_bit_exact(server, stowed, tmp_path):
    path, ds = stowed
    done = run(
        "getscu", "-d", "-aec", "TESSERA", "-S", "+B", "-od", tmp_path,
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ds.StudyInstanceUID}",
        "127.0.0.1", server["port"],
    )  # fmt: skip
    assert done.returncode == 0, done.out[-3000:] + server_log(server)
    assert dimse_statuses(done.out)[-1] == 0x0000
    assert last_count(done.out, "Completed") == 1
    assert last_count(done.out, "Failed") == 0
    assert_same_instance(received_by(tmp_path, ds.SOPInstanceUID), path, "C-GET by getscu")


def test_getscu_at_image_level_of_a_compressed_instance(server, stored_corpus, tmp_path):
    """getscu proposes (for JPEG 2000 lossless, with +xv) the stored syntax first: received as stored."""
    corpus, _, _ = stored_corpus
    path, ds = next((p, d) for p, d in corpus.items() if d.file_meta.TransferSyntaxUID == JPEG2000Lossless)
    done = run(
        "getscu", "-d", "-aec", "TESSERA", "-S", "+xv", "+B", "-od", tmp_path,
        "-k", "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={ds.StudyInstanceUID}",
        "-k", f"SeriesInstanceUID={ds.SeriesInstanceUID}", "-k", f"SOPInstanceUID={ds.SOPInstanceUID}",
        "127.0.0.1", server["port"],
    )  # fmt: skip
    assert done.returncode == 0, done.out[-3000:] + server_log(server)
    assert dimse_statuses(done.out)[-1] == 0x0000
    assert last_count(done.out, "Completed") == 1
    assert_same_instance(received_by(tmp_path, ds.SOPInstanceUID), path, "C-GET of JPEG 2000 lossless")


# ---------------------------------------------------------------------------
# C-MOVE's conversion fallback: a destination that accepts Implicit VR Little Endian only

# The stored syntaxes of the corpus that Tessera converts (crates/tessera/src/retrieve/
# transcode.rs: native syntaxes re-encoded, encapsulated ones decoded by dicom-rs's codecs), and
# how the decoded pixels compare with pydicom's decoding of the original: "exact", or the
# largest difference allowed per sample for a lossy codec whose decoders may round differently.
# Left out: the two JPEG-LS files (decoded only when Tessera is built with the jpeg-ls feature)
# and the 12-bit JPEG (JPEG-lossy.dcm), which Tessera cannot decode (see the next tests).
CONVERTED = {
    ExplicitVRLittleEndian: "exact",
    ExplicitVRBigEndian: "exact",
    DeflatedExplicitVRLittleEndian: "exact",
    RLELossless: "exact",
    JPEGLosslessSV1: "exact",
    JPEG2000Lossless: "exact",
    JPEG2000: "exact",  # JPEG2000.dcm: both decoders are OpenJPEG's and agree exactly
    JPEGBaseline8Bit: 1,  # SC_rgb_jpeg_dcmtk.dcm: 300 of 30,000 samples differ by 1
}

# Attributes whose value depends on how the pixel data is encoded: Pixel Data (compared as
# decoded pixels), Photometric Interpretation (a YBR_FULL JPEG is RGB once decoded), the
# encapsulated pixel data's offset tables and total length, and group lengths (element 0000).
ENCODING_DEPENDENT = {0x7FE00010, 0x00280004, 0x7FE00001, 0x7FE00002, 0x7FE00003}


def _without_encoding_dependent(ds: pydicom.Dataset) -> pydicom.Dataset:
    """A copy of `ds` written by pydicom in Implicit VR Little Endian and read back, without the
    ENCODING_DEPENDENT attributes: two data sets read from different transfer syntaxes then
    compare value by value (VRs from the dictionary, the same lengths and padding)."""
    ds = copy.deepcopy(ds)
    for elem in list(ds):
        if elem.tag in ENCODING_DEPENDENT or elem.tag.element == 0x0000:
            del ds[elem.tag]
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, ds)
    return read_dataset(io.BytesIO(fp.getvalue()), is_implicit_VR=True, is_little_endian=True)


def _differences(a: pydicom.Dataset, b: pydicom.Dataset) -> list[str]:
    tags = sorted(set(a.keys()) | set(b.keys()))
    return [
        f"{pydicom.tag.Tag(t)} {a[t].keyword if t in a else b[t].keyword}: "
        f"{a[t].value if t in a else 'absent'!r} != {b[t].value if t in b else 'absent'!r}"
        for t in tags
        if t not in a or t not in b or a[t] != b[t]
    ]


def movescu(server, destination: str, level: str, *keys: str) -> subprocess.CompletedProcess:
    args = ["-d", "-aec", "TESSERA", "-aem", destination, "-S", "-k", f"QueryRetrieveLevel={level}"]
    for key in keys:
        args += ["-k", key]
    return run("movescu", *args, "127.0.0.1", server["port"])


def failed_sop_instance_uids(output: str) -> list[str]:
    """The FailedSOPInstanceUIDList of the final C-MOVE response, as movescu -d dumps it."""
    found = re.findall(r"\(0008,0058\) UI \[([^\]]*)\]", output)
    assert found, output[-3000:]
    return found[-1].split("\\")


def test_movescu_to_an_implicit_only_destination_converts(server, stored_corpus, implicit_only):
    """Every instance stored in another syntax than Implicit VR Little Endian reaches a
    destination that accepts only that syntax converted to it; the one stored in it goes as
    stored. Pixels equal pydicom's decoding of the original (exactly, but for JPEG baseline),
    every other attribute its stored value."""
    corpus, _, _ = stored_corpus
    moved = {p: ds for p, ds in corpus.items() if ds.file_meta.TransferSyntaxUID in CONVERTED}
    moved.update({p: ds for p, ds in corpus.items() if ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian})
    assert {ds.file_meta.TransferSyntaxUID for ds in moved.values()} == set(CONVERTED) | {ImplicitVRLittleEndian}
    uids = "\\".join(ds.StudyInstanceUID for ds in moved.values())
    done = movescu(server, "IMPLICITONLY", "STUDY", f"StudyInstanceUID={uids}")
    assert done.returncode == 0, done.out[-3000:] + server_log(server)
    statuses = dimse_statuses(done.out)
    assert statuses[-1] == 0x0000, done.out[-3000:] + server_log(server)
    assert set(statuses[:-1]) <= {0xFF00}
    assert last_count(done.out, "Completed") == len(moved)
    assert last_count(done.out, "Failed") == 0
    assert last_count(done.out, "Warning") == 0

    for path, original in moved.items():
        stored_syntax = original.file_meta.TransferSyntaxUID
        what = f"{path.name} ({stored_syntax.name})"
        received = received_by(implicit_only["dir"], original.SOPInstanceUID)
        meta, _ = split_part10(received)
        assert meta.TransferSyntaxUID == ImplicitVRLittleEndian, what
        assert meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID, what
        assert meta.MediaStorageSOPClassUID == original.SOPClassUID, what
        if stored_syntax == ImplicitVRLittleEndian:
            assert_same_instance(received, path, what)
            continue
        back = pydicom.dcmread(io.BytesIO(received))
        differences = _differences(_without_encoding_dependent(original), _without_encoding_dependent(back))
        assert differences == [], f"{what}: {differences}"
        if original.get("PhotometricInterpretation") in ("YBR_FULL", "YBR_FULL_422"):
            assert back.PhotometricInterpretation == "RGB", what  # pydicom decodes these to RGB too
        else:
            assert back.get("PhotometricInterpretation") == original.get("PhotometricInterpretation"), what
        if "PixelData" not in original:
            assert "PixelData" not in back, what
            continue
        expected, got = original.pixel_array, back.pixel_array
        expected = expected.astype(expected.dtype.newbyteorder("="))  # big endian: native order
        assert got.shape == expected.shape and got.dtype == expected.dtype, what
        tolerance = CONVERTED[stored_syntax]
        if tolerance == "exact":
            assert numpy.array_equal(got, expected), what
        else:
            # Lossy JPEG: Tessera's decoder (dicom-rs, jpeg-decoder) and pydicom's (libjpeg) may
            # round the inverse DCT and the colour conversion differently.
            difference = numpy.abs(got.astype(numpy.int32) - expected.astype(numpy.int32))
            assert difference.max() <= tolerance, f"{what}: max difference {difference.max()}"


@pytest.fixture(scope="module")
def undecodable(server, tmp_path_factory):
    """In one new study, a 12-bit JPEG (JPEG-lossy.dcm, JPEG Extended, 16 bits allocated), which
    Tessera cannot decode, and an RLE MR, which it can; stored over STOW-RS."""
    from pydicom.uid import generate_uid

    folder = tmp_path_factory.mktemp("undecodable")
    study = generate_uid()
    jpeg12 = fresh_copy("JPEG-lossy.dcm", folder, StudyInstanceUID=study)
    rle = fresh_copy("MR_small_RLE.dcm", folder, StudyInstanceUID=study)
    answer = stow(server, [jpeg12, rle])
    assert "00081198" not in answer, answer
    jpeg12, rle = pydicom.dcmread(jpeg12), pydicom.dcmread(rle)
    assert jpeg12.file_meta.TransferSyntaxUID == JPEGExtended12Bit and jpeg12.BitsAllocated == 16
    return study, jpeg12, rle


def test_movescu_of_an_instance_tessera_cannot_convert_fails_with_a702(server, undecodable, implicit_only):
    """PS3.4 C.4.2.3.1: a sub-operation without an appropriate presentation context fails; when
    every sub-operation failed, the final status is a failure (A702), with the counts and the
    FailedSOPInstanceUIDList."""
    study, jpeg12, _ = undecodable
    done = movescu(
        server, "IMPLICITONLY", "IMAGE", f"StudyInstanceUID={study}", f"SeriesInstanceUID={jpeg12.SeriesInstanceUID}",
        f"SOPInstanceUID={jpeg12.SOPInstanceUID}",
    )  # fmt: skip
    assert dimse_statuses(done.out) == [0xA702], done.out[-3000:] + server_log(server)
    assert last_count(done.out, "Completed") == 0
    assert last_count(done.out, "Failed") == 1
    assert last_count(done.out, "Warning") == 0
    assert last_count(done.out, "Remaining") == 0
    assert failed_sop_instance_uids(done.out) == [jpeg12.SOPInstanceUID]
    # The Error Comment (LO, 64 characters at most) starts with the counts; the server's log
    # has the whole reason.
    assert re.findall(r"\(0000,0902\) LO \[([^\]]*)\]", done.out)[-1].startswith("0 sent, 0 warnings, 1 failed")
    log = re.sub(r"\x1b\[[0-9;]*m", "", server_log(server, tail=400))
    assert (
        f"a retrieve sub-operation failed sop={jpeg12.SOPInstanceUID} why=the peer accepted SOP class "
        f"{jpeg12.SOPClassUID} only in transfer syntaxes Tessera cannot convert to"
    ) in log, log[-3000:]
    assert "the JPEG decoder reads 8 bit lossy JPEG only, not 12 bit" in log
    assert not [p for p in implicit_only["dir"].iterdir() if p.name.endswith(jpeg12.SOPInstanceUID)]


def test_movescu_with_one_instance_tessera_cannot_convert_is_b000(server, undecodable, implicit_only):
    """One sub-operation converted and sent, one failed: B000 (warning: sub-operations complete,
    one or more failures) with the counts and the failed instance listed."""
    study, jpeg12, rle = undecodable
    done = movescu(server, "IMPLICITONLY", "STUDY", f"StudyInstanceUID={study}")
    statuses = dimse_statuses(done.out)
    assert statuses[-1] == 0xB000, done.out[-3000:] + server_log(server)
    assert set(statuses[:-1]) <= {0xFF00}
    assert last_count(done.out, "Completed") == 1
    assert last_count(done.out, "Failed") == 1
    assert last_count(done.out, "Warning") == 0
    assert failed_sop_instance_uids(done.out) == [jpeg12.SOPInstanceUID]
    received = pydicom.dcmread(io.BytesIO(received_by(implicit_only["dir"], rle.SOPInstanceUID)))
    assert received.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert numpy.array_equal(received.pixel_array, rle.pixel_array)
    assert not [p for p in implicit_only["dir"].iterdir() if p.name.endswith(jpeg12.SOPInstanceUID)]
