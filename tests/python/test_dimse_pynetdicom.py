"""Tessera's DICOM port (DIMSE) against pynetdicom, a second, independent DICOM implementation.

One Tessera serves the module. Its known peers: PYSTORE, a pynetdicom Storage SCP started here
(the C-MOVE destination; it records what it receives byte for byte and refuses the instances it
is told to refuse), and READONLY (role read: may query and retrieve, may not store).
Files are sent by path with pynetdicom's chunked sending, so the bytes on the wire are the
file's own data set bytes (not a re-encoding by pydicom).
"""

import threading
import time

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import AllTransferSyntaxes, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    SecondaryCaptureImageStorage,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from conftest import _stop, free_port, fresh_copy, qido, server_log, split_part10, start_dimse, wado_part10

PATIENT = "PYNET-1"
UTF8_PATIENT = "PYNET-2"
# Two studies of PATIENT: A (4 instances, 4 transfer syntaxes) and B (3 instances, 3 more).
STUDY_A = ["CT_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "JPEG-lossy.dcm"]
STUDY_B = ["image_dfl.dcm", "MR_small_bigendian.dcm", "rtplan.dcm"]
MANY = 40  # instances of the C-CANCEL study
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
PENDING = (0xFF00, 0xFF01)


@pytest.fixture(scope="module", autouse=True)
def chunked_sending():
    """Send files by path as they are (their data set bytes), not decoded and re-encoded."""
    before = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    yield
    _config.STORE_SEND_CHUNKED_DATASET = before


class StorageScp:
    """pynetdicom Storage SCP (every storage class, every transfer syntax) recording, per SOP
    Instance UID, the transfer syntax, the raw data set bytes and the calling AE title."""

    def __init__(self, ae_title: str):
        self.received = {}
        self.refuse = set()
        self.lock = threading.Lock()
        self.port = free_port()
        ae = AE(ae_title=ae_title)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, AllTransferSyntaxes)
        self.ae = ae
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
        )

    def _on_store(self, event):
        request = event.request
        uid = request.AffectedSOPInstanceUID
        with self.lock:
            self.received[uid] = {
                "syntax": event.context.transfer_syntax,
                "bytes": request.DataSet.getvalue(),
                "calling": event.assoc.requestor.ae_title,
                "sop_class": request.AffectedSOPClassUID,
            }
        return 0xA700 if uid in self.refuse else 0x0000

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def pystore():
    scp = StorageScp("PYSTORE")
    yield scp
    scp.stop()


class CommitmentScu:
    """The listening side of a Storage Commitment requester (AE COMMITTER): where Tessera delivers
    a report on a new association when the requester left before answering it on its own."""

    def __init__(self, ae_title: str):
        self.reports = []
        self.arrived = threading.Event()
        self.port = free_port()
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._on_report)]
        )

    def _on_report(self, event):
        self.reports.append((event.request, event.event_information, event.assoc.requestor.ae_title))
        self.arrived.set()
        return 0x0000, None

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def committer():
    scu = CommitmentScu("COMMITTER")
    yield scu
    scu.stop()


@pytest.fixture(scope="module")
def server(pystore, committer):
    server = start_dimse(
        "tessera-dimse-pynetdicom-",
        "--dimse-peer",
        f"PYSTORE=127.0.0.1:{pystore.port}",
        "--dimse-peer",
        "READONLY=127.0.0.1:1/read",
        "--dimse-peer",
        f"COMMITTER=127.0.0.1:{committer.port}",
    )
    yield server
    _stop(server["proc"])


def associate(server, contexts, ae_title="PYSCU", **kwargs):
    """An association to Tessera proposing `contexts`: (abstract syntax, [transfer syntaxes]) or
    an abstract syntax alone (default transfer syntaxes); one presentation context each."""
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for context in contexts:
        if isinstance(context, tuple):
            ae.add_requested_context(*context)
        else:
            ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", server["port"], ae_title="TESSERA", **kwargs)
    assert assoc.is_established, server_log(server)
    return assoc


def file_contexts(files):
    """One presentation context per (SOP class, transfer syntax) of `files`: chunked sending needs the
    file's own syntax accepted."""
    pairs = sorted({(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in files})
    return [(sop_class, [syntax]) for sop_class, syntax in pairs]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """name -> (path, data set): STUDY_A and STUDY_B of PATIENT, test-SR of UTF8_PATIENT
    (PatientName with umlauts in ISO_IR 100)."""
    folder = tmp_path_factory.mktemp("pynetdicom-files")
    out = {}
    for names in (STUDY_A, STUDY_B):
        study = generate_uid()
        for name in names:
            path = fresh_copy(
                name, folder, StudyInstanceUID=study, PatientID=PATIENT, PatientName="Pynet^Peer", StudyDate="20240102"
            )
            out[name] = (path, pydicom.dcmread(path))
    path = fresh_copy(
        "test-SR.dcm", folder, PatientID=UTF8_PATIENT, SpecificCharacterSet="ISO_IR 100", PatientName="Größe^Jürgen"
    )
    out["test-SR.dcm"] = (path, pydicom.dcmread(path))
    return out


@pytest.fixture(scope="module")
def stored(server, files):
    """Every file C-STOREd on one association; name -> status."""
    datasets = [ds for _, ds in files.values()]
    assoc = associate(server, file_contexts(datasets))
    try:
        statuses = {name: assoc.send_c_store(path).Status for name, (path, _) in files.items()}
    finally:
        assoc.release()
    return statuses


def test_echo(server):
    assoc = associate(server, [Verification])
    try:
        status = assoc.send_c_echo()
        assert status.Status == 0x0000
    finally:
        assoc.release()
    assert assoc.is_released


# ---------------------------------------------------------------------------
# C-STORE


def test_store_bit_exact(server, files, stored):
    assert stored == {name: 0x0000 for name in files}, server_log(server)
    for name, (path, ds) in files.items():
        part10 = wado_part10(server, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        meta, data_set = split_part10(part10)
        source_meta, source_set = split_part10(path.read_bytes())
        assert meta.TransferSyntaxUID == source_meta.TransferSyntaxUID, name
        assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, name
        assert data_set == source_set, name


def test_store_refusals(server, files, stored, tmp_path):
    # Already stored: 0x0111 (duplicate policy reject).
    path, ds = files["CT_small.dcm"]
    assoc = associate(server, file_contexts([ds]))
    try:
        assert assoc.send_c_store(path).Status == 0x0111
        # The data set's SOP Instance UID differs from the command's Affected SOP Instance UID
        # (taken by pynetdicom from the file meta when sending a file by path): 0xA900.
        other = fresh_copy("CT_small.dcm", tmp_path)
        mismatched = pydicom.dcmread(other)
        command_uid = generate_uid()
        mismatched.file_meta.MediaStorageSOPInstanceUID = command_uid
        mismatched.save_as(other, enforce_file_format=False)  # True would reset the meta UID
        assert pydicom.dcmread(other).file_meta.MediaStorageSOPInstanceUID == command_uid
        status = assoc.send_c_store(other)
        assert status.Status == 0xA900, status
    finally:
        assoc.release()
    assert qido(server, "/instances", SOPInstanceUID=mismatched.SOPInstanceUID) == []
    assert qido(server, "/instances", SOPInstanceUID=command_uid) == []

    # A peer whose role is read only: 0x0124, nothing stored; it may still query.
    fresh = fresh_copy("CT_small.dcm", tmp_path)
    fresh_ds = pydicom.dcmread(fresh)
    reader = associate(server, file_contexts([fresh_ds]) + [StudyRootQueryRetrieveInformationModelFind], "READONLY")
    try:
        assert reader.send_c_store(fresh).Status == 0x0124
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.PatientID = PATIENT
        query.StudyInstanceUID = ""
        statuses = [s.Status for s, _ in reader.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)]
        assert len(statuses) == 3 and set(statuses[:2]) <= set(PENDING) and statuses[2] == 0x0000, statuses
    finally:
        reader.release()
    assert qido(server, "/instances", SOPInstanceUID=fresh_ds.SOPInstanceUID) == []


# ---------------------------------------------------------------------------
# C-FIND


def find(assoc, model, **keys):
    """(identifiers of the pending responses, final status)."""
    query = Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    found, final = [], None
    for status, identifier in assoc.send_c_find(query, model):
        if status.Status in PENDING:
            found.append(identifier)
        else:
            final = status.Status
    return found, final


def test_find_at_every_level(server, files, stored):
    a = [files[n][1] for n in STUDY_A]
    b = [files[n][1] for n in STUDY_B]
    assoc = associate(
        server, [StudyRootQueryRetrieveInformationModelFind, PatientRootQueryRetrieveInformationModelFind]
    )
    try:
        studies, final = find(
            assoc,
            StudyRootQueryRetrieveInformationModelFind,
            QueryRetrieveLevel="STUDY",
            PatientID=PATIENT,
            StudyInstanceUID="",
            PatientName="",
            StudyDate="",
            ModalitiesInStudy="",
            NumberOfStudyRelatedInstances="",
            NumberOfStudyRelatedSeries="",
        )
        assert final == 0x0000
        assert len(studies) == 2
        by_uid = {s.StudyInstanceUID: s for s in studies}
        assert set(by_uid) == {a[0].StudyInstanceUID, b[0].StudyInstanceUID}
        for study, members in ((by_uid[a[0].StudyInstanceUID], a), (by_uid[b[0].StudyInstanceUID], b)):
            assert study.SpecificCharacterSet == "ISO_IR 192"
            assert study.QueryRetrieveLevel == "STUDY"
            assert study.PatientID == PATIENT
            assert str(study.PatientName) == "Pynet^Peer"
            assert study.StudyDate == "20240102"
            assert int(study.NumberOfStudyRelatedInstances) == len(members)
            assert int(study.NumberOfStudyRelatedSeries) == len(members)
            modalities = study.ModalitiesInStudy
            modalities = [modalities] if isinstance(modalities, str) else list(modalities)
            assert sorted(modalities) == sorted({m.Modality for m in members})

        series, final = find(
            assoc,
            StudyRootQueryRetrieveInformationModelFind,
            QueryRetrieveLevel="SERIES",
            StudyInstanceUID=a[0].StudyInstanceUID,
            SeriesInstanceUID="",
            Modality="MR",
            NumberOfSeriesRelatedInstances="",
        )
        assert final == 0x0000
        mr = {ds.SeriesInstanceUID for ds in a if ds.Modality == "MR"}
        assert {s.SeriesInstanceUID for s in series} == mr and len(series) == len(mr) == 2
        assert all(int(s.NumberOfSeriesRelatedInstances) == 1 for s in series)

        # IMAGE level, a list of SOP Instance UIDs.
        wanted = [a[1].SOPInstanceUID, a[3].SOPInstanceUID]
        images, final = find(
            assoc,
            StudyRootQueryRetrieveInformationModelFind,
            QueryRetrieveLevel="IMAGE",
            StudyInstanceUID=a[0].StudyInstanceUID,
            SOPInstanceUID=wanted,
            SOPClassUID="",
        )
        assert final == 0x0000
        assert sorted(i.SOPInstanceUID for i in images) == sorted(wanted)
        for image in images:
            assert image.SOPClassUID == next(ds.SOPClassUID for ds in a if ds.SOPInstanceUID == image.SOPInstanceUID)
            assert image.StudyInstanceUID == a[0].StudyInstanceUID
            assert "SeriesInstanceUID" in image  # a unique key of the level above

        # Patient Root, PATIENT level: one match per patient, counting its studies.
        patients, final = find(
            assoc,
            PatientRootQueryRetrieveInformationModelFind,
            QueryRetrieveLevel="PATIENT",
            PatientID="PYNET-*",
            PatientName="",
            NumberOfPatientRelatedStudies="",
        )
        assert final == 0x0000
        assert sorted(p.PatientID for p in patients) == [PATIENT, UTF8_PATIENT]
        counts = {p.PatientID: int(p.NumberOfPatientRelatedStudies) for p in patients}
        assert counts == {PATIENT: 2, UTF8_PATIENT: 1}

        # A name stored in ISO_IR 100, asked for and answered in UTF-8.
        names, final = find(
            assoc,
            StudyRootQueryRetrieveInformationModelFind,
            SpecificCharacterSet="ISO_IR 192",
            QueryRetrieveLevel="STUDY",
            PatientName="Größe*",
            StudyInstanceUID="",
        )
        assert final == 0x0000
        assert [n.StudyInstanceUID for n in names] == [files["test-SR.dcm"][1].StudyInstanceUID]
        assert names[0].SpecificCharacterSet == "ISO_IR 192"
        assert str(names[0].PatientName) == "Größe^Jürgen"
    finally:
        assoc.release()


# ---------------------------------------------------------------------------
# C-GET and C-MOVE


def retrieve_counts(statuses):
    return [
        (
            s.Status,
            s.get("NumberOfRemainingSuboperations"),
            s.get("NumberOfCompletedSuboperations"),
            s.get("NumberOfFailedSuboperations"),
            s.get("NumberOfWarningSuboperations"),
        )
        for s in statuses
    ]


def test_get_with_a_storage_handler(server, files, stored):
    a = [files[n] for n in STUDY_A]
    received = {}

    def on_store(event):
        request = event.request
        received[request.AffectedSOPInstanceUID] = (event.context.transfer_syntax, request.DataSet.getvalue())
        return 0x0000

    contexts = file_contexts([ds for _, ds in a]) + [StudyRootQueryRetrieveInformationModelGet]
    roles = [build_role(uid, scp_role=True) for uid in sorted({ds.SOPClassUID for _, ds in a})]
    assoc = associate(server, contexts, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = a[0][1].StudyInstanceUID
        answers = list(assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    counts = retrieve_counts([s for s, _ in answers])
    assert counts[-1] == (0x0000, None, 4, 0, 0) or counts[-1] == (0x0000, 0, 4, 0, 0), counts
    pending = counts[:-1]
    assert all(c[0] == 0xFF00 for c in pending), counts
    assert [c[1] for c in pending] == sorted([c[1] for c in pending], reverse=True), counts
    assert all(c[1] + c[2] + c[3] + c[4] == 4 for c in pending), counts

    assert set(received) == {ds.SOPInstanceUID for _, ds in a}
    for path, ds in a:
        source_meta, source_set = split_part10(path.read_bytes())
        syntax, data_set = received[ds.SOPInstanceUID]
        assert syntax == source_meta.TransferSyntaxUID, path.name
        assert data_set == source_set, path.name


def move(server, study_uid, destination="PYSTORE"):
    assoc = associate(server, [StudyRootQueryRetrieveInformationModelMove])
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study_uid
        return list(assoc.send_c_move(query, destination, StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()


def test_move_to_a_pynetdicom_storage_scp(server, files, stored, pystore):
    b = [files[n] for n in STUDY_B]
    answers = move(server, b[0][1].StudyInstanceUID)
    counts = retrieve_counts([s for s, _ in answers])
    assert counts[-1][0] == 0x0000 and counts[-1][2:] == (3, 0, 0), counts
    assert all(c[0] == 0xFF00 and c[1] + c[2] + c[3] + c[4] == 3 for c in counts[:-1]), counts
    for path, ds in b:
        got = pystore.received[ds.SOPInstanceUID]
        source_meta, source_set = split_part10(path.read_bytes())
        assert got["syntax"] == source_meta.TransferSyntaxUID, path.name
        assert got["bytes"] == source_set, path.name
        assert got["calling"] == "TESSERA"
        assert got["sop_class"] == ds.SOPClassUID

    # Unknown destination.
    answers = move(server, b[0][1].StudyInstanceUID, destination="NOWHERE")
    assert [s.Status for s, _ in answers] == [0xA801]


def test_move_with_refused_sub_operations(server, files, stored, pystore):
    a = [files[n][1] for n in STUDY_A]
    refused = a[2].SOPInstanceUID
    pystore.refuse = {refused}
    try:
        answers = move(server, a[0].StudyInstanceUID)
        status, identifier = answers[-1]
        assert retrieve_counts([status])[0][0] == 0xB000, retrieve_counts([s for s, _ in answers])
        assert (status.NumberOfCompletedSuboperations, status.NumberOfFailedSuboperations) == (3, 1)
        assert status.get("NumberOfWarningSuboperations", 0) == 0
        failed = identifier.FailedSOPInstanceUIDList
        assert ([failed] if isinstance(failed, str) else list(failed)) == [refused]

        # Every sub-operation failed: 0xA702.
        sr = files["test-SR.dcm"][1]
        pystore.refuse = {sr.SOPInstanceUID}
        answers = move(server, sr.StudyInstanceUID)
        status, identifier = answers[-1]
        assert status.Status == 0xA702, retrieve_counts([s for s, _ in answers])
        assert (status.NumberOfCompletedSuboperations, status.NumberOfFailedSuboperations) == (0, 1)
        failed = identifier.FailedSOPInstanceUIDList
        assert ([failed] if isinstance(failed, str) else list(failed)) == [sr.SOPInstanceUID]
    finally:
        pystore.refuse = set()


# ---------------------------------------------------------------------------
# C-CANCEL


@pytest.fixture(scope="module")
def many(server):
    """MANY small instances in one series: their study UID, series UID and SOP Instance UIDs."""
    study, series, uids = generate_uid(), generate_uid(), []
    assoc = associate(server, [(SecondaryCaptureImageStorage, [ExplicitVRLittleEndian])])
    try:
        for number in range(1, MANY + 1):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID = SecondaryCaptureImageStorage
            ds.SOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.PatientID, ds.PatientName, ds.Modality = "PYNET-MANY", "Many^Matches", "OT"
            ds.InstanceNumber = number
            assert assoc.send_c_store(ds).Status == 0x0000
            uids.append(ds.SOPInstanceUID)
    finally:
        assoc.release()
    return study, series, uids


def test_cancel_find_on_many_matches(server, many):
    study, series, _ = many
    assoc = associate(server, [StudyRootQueryRetrieveInformationModelFind])
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study
        query.SeriesInstanceUID = series
        query.SOPInstanceUID = ""
        all_found, final = [], None
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind, msg_id=11):
            if status.Status in PENDING:
                all_found.append(identifier.SOPInstanceUID)
            else:
                final = status.Status
        assert final == 0x0000 and len(set(all_found)) == MANY

        pending, final = 0, None
        for status, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind, msg_id=12):
            if status.Status in PENDING:
                pending += 1
                if pending == 1:
                    assoc.send_c_cancel(12, query_model=StudyRootQueryRetrieveInformationModelFind)
            else:
                final = status.Status
        # The matches are small and the server fast: all of them may already be on their way
        # when the cancel arrives (then the C-FIND ends 0x0000 with every match). A cancel
        # that arrives with the request is answered deterministically in tests/api/dimse.rs.
        assert (final == 0xFE00 and 1 <= pending < MANY) or (
            final == 0x0000 and pending == MANY
        ), (final, pending, server_log(server))

        # The association is still usable afterwards.
        again, final = find(
            assoc,
            StudyRootQueryRetrieveInformationModelFind,
            QueryRetrieveLevel="SERIES",
            StudyInstanceUID=study,
            SeriesInstanceUID="",
            NumberOfSeriesRelatedInstances="",
        )
        assert final == 0x0000 and int(again[0].NumberOfSeriesRelatedInstances) == MANY
    finally:
        assoc.release()


def test_cancel_get_between_sub_operations(server, many):
    """C-CANCEL after the first pending C-GET response: the final response is Cancel (0xFE00) and
    counts every sub-operation whose C-STORE this SCU answered; the association stays up (a C-STORE
    sub-operation already under way when the cancel came is answered and must be accounted for)."""
    study, _, _ = many
    received = []

    def on_store(event):
        received.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    assoc = associate(
        server,
        [
            (SecondaryCaptureImageStorage, [ExplicitVRLittleEndian]),
            StudyRootQueryRetrieveInformationModelGet,
            Verification,
        ],
        ext_neg=[build_role(SecondaryCaptureImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study
        answers = []
        for status, identifier in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet, msg_id=21):
            answers.append(status)
            if len(answers) == 1:
                assoc.send_c_cancel(21, query_model=StudyRootQueryRetrieveInformationModelGet)
        # Anything still to come on the association (it should stay established).
        time.sleep(0.3)
        aborted = assoc.is_aborted
        echo = None if aborted else assoc.send_c_echo().Status
    finally:
        if assoc.is_established:
            assoc.release()
    counts = retrieve_counts(answers)
    final = answers[-1]
    assert final.Status == 0xFE00, counts
    completed = final.NumberOfCompletedSuboperations
    assert 1 <= completed < MANY, counts
    assert not aborted, ("Tessera aborted the association after the C-CANCEL", counts, server_log(server, 8))
    assert echo == 0x0000
    assert completed == len(received), (counts, len(received), server_log(server, 8))
    assert final.NumberOfFailedSuboperations == 0
    assert final.NumberOfRemainingSuboperations == MANY - completed, counts


def test_cancel_move_between_sub_operations(server, many, pystore):
    study, _, uids = many
    assoc = associate(server, [StudyRootQueryRetrieveInformationModelMove])
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study
        answers = []
        for status, _ in assoc.send_c_move(query, "PYSTORE", StudyRootQueryRetrieveInformationModelMove, msg_id=31):
            answers.append(status)
            if len(answers) == 1:
                assoc.send_c_cancel(31, query_model=StudyRootQueryRetrieveInformationModelMove)
    finally:
        assoc.release()
    counts = retrieve_counts(answers)
    final = answers[-1]
    assert final.Status == 0xFE00, counts
    completed = final.NumberOfCompletedSuboperations
    assert 1 <= completed < MANY, counts
    assert final.NumberOfFailedSuboperations == 0
    assert final.NumberOfRemainingSuboperations == MANY - completed, counts
    assert completed == sum(uid in pystore.received for uid in uids), counts


# ---------------------------------------------------------------------------
# Storage Commitment (push model)


def commit(server, references, timeout=20.0):
    """N-ACTION (action type 1) for `references` [(SOP class, SOP instance)]; the N-ACTION status
    and the N-EVENT-REPORT received on the same association (event type, information, association)."""
    reports = []
    arrived = threading.Event()

    def on_report(event):
        reports.append((event.request.EventTypeID, event.event_information, event.assoc, event.request))
        arrived.set()
        return 0x0000, None

    assoc = associate(server, [StorageCommitmentPushModel], evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    try:
        request = Dataset()
        request.TransactionUID = generate_uid()
        request.ReferencedSOPSequence = []
        for sop_class, sop_instance in references:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_instance
            request.ReferencedSOPSequence.append(item)
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE)
        assert status.Status == 0x0000, server_log(server)
        assert arrived.wait(timeout), "no N-EVENT-REPORT on the association\n" + server_log(server)
        time.sleep(0.1)  # a second report would be a bug too
    finally:
        assoc.release()
    assert len(reports) == 1
    event_type, information, on_assoc, report = reports[0]
    assert on_assoc is assoc
    assert report.AffectedSOPClassUID == StorageCommitmentPushModel
    assert report.AffectedSOPInstanceUID == STORAGE_COMMITMENT_INSTANCE
    assert information.TransactionUID == request.TransactionUID
    return event_type, information


def references_of(sequence):
    return sorted((i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in sequence)


def test_storage_commitment(server, files, stored):
    a = [files[n][1] for n in STUDY_A]
    good = [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in a[1:]]
    never_stored = (CTImageStorage, generate_uid())
    ct = a[0]
    assert ct.SOPClassUID == CTImageStorage
    wrong_class = (MRImageStorage, ct.SOPInstanceUID)

    event_type, information = commit(server, good + [never_stored, wrong_class])
    assert event_type == 2
    assert references_of(information.ReferencedSOPSequence) == sorted(good)
    failures = {
        i.ReferencedSOPInstanceUID: (i.ReferencedSOPClassUID, i.FailureReason) for i in information.FailedSOPSequence
    }
    assert failures == {
        never_stored[1]: (CTImageStorage, 0x0112),
        wrong_class[1]: (MRImageStorage, 0x0119),
    }

    everything = [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in a]
    event_type, information = commit(server, everything)
    assert event_type == 1
    assert references_of(information.ReferencedSOPSequence) == sorted(everything)
    assert "FailedSOPSequence" not in information


def test_storage_commitment_report_redelivered_when_the_requester_left(server, files, stored, committer):
    """The requester (a known peer) drops its association when the report comes instead of
    answering it: Tessera delivers the report on a new association to the peer's address."""
    b = [files[n][1] for n in STUDY_B]
    references = [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in b] + [(CTImageStorage, generate_uid())]
    on_first = []

    def leave(event):
        on_first.append(event.request.EventTypeID)
        event.assoc.abort(block=False)
        return 0x0000, None

    assoc = associate(
        server, [StorageCommitmentPushModel], "COMMITTER", evt_handlers=[(evt.EVT_N_EVENT_REPORT, leave)]
    )
    request = Dataset()
    request.TransactionUID = generate_uid()
    request.ReferencedSOPSequence = []
    for sop_class, sop_instance in references:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        request.ReferencedSOPSequence.append(item)
    try:
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE)
        assert status.Status == 0x0000
        assert committer.arrived.wait(20), "no report on a new association\n" + server_log(server)
    finally:
        if assoc.is_established:
            assoc.abort()
    assert on_first == [2]
    assert len(committer.reports) == 1
    report, information, calling = committer.reports[0]
    assert calling == "TESSERA"
    assert report.EventTypeID == 2
    assert report.AffectedSOPClassUID == StorageCommitmentPushModel
    assert report.AffectedSOPInstanceUID == STORAGE_COMMITMENT_INSTANCE
    assert information.TransactionUID == request.TransactionUID
    assert references_of(information.ReferencedSOPSequence) == sorted(references[:-1])
    assert [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in information.FailedSOPSequence] == [
        (references[-1][1], 0x0112)
    ]
