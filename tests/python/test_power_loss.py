"""Power loss, not only process death (issue 17): a success answer promises that the data is on
stable storage. Tessera runs unchanged with its data folder (SQLite index, local blobs,
staging files) on tests/support/powercut_fs.py, a FUSE file system that forgets everything
not fsynced when its "power" is cut: file contents not synced, and names created, renamed or
removed in a folder that was not synced afterwards. While clients store instances
concurrently, the power is cut (every file operation fails from then on) and the server is
killed; Tessera then starts on what stable storage held. Every instance acknowledged before
the cut must be there byte for byte, every acknowledged delete must stay deleted, and
`tessera check` must find nothing wrong.

The same run with `--fsync false` must lose acknowledged instances: that shows the file
system really forgets, so the first test could fail.

Needs root and /dev/fuse, libfuse2 and fusepy (scripts/test.sh installs them): missing, the
tests fail rather than skip.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import REPO, _announced_url, _binary

FS_SCRIPT = REPO / "tests" / "support" / "powercut_fs.py"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ACKNOWLEDGED_BEFORE_CUT = 150
STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'


# --- the file system -----------------------------------------------------------------------


class PowerCutMount:
    def __init__(self, work: Path):
        self.backing = work / "backing"
        self.mount = work / "mnt"
        self.control = work / "control.sock"
        self.log = work / "fs.log"
        for folder in (self.backing, self.mount):
            folder.mkdir()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(FS_SCRIPT), str(self.backing), str(self.mount),
                 "--state", str(work / "state"), "--control", str(self.control)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while not (os.path.ismount(self.mount) and self.control.exists()):
            assert self.proc.poll() is None, "the FUSE file system exited:\n" + self.log.read_text()
            assert time.monotonic() < deadline, "the FUSE file system did not mount:\n" + self.log.read_text()
            time.sleep(0.05)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(120)
            conn.connect(str(self.control))
            conn.sendall(line.encode())
            answer = conn.recv(4096).decode().strip()
        assert answer.startswith("ok"), f"{line}: {answer}"
        return answer

    def unmount(self):
        subprocess.run(["umount", "-l", str(self.mount)], check=False)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _require_fuse():
    assert os.geteuid() == 0, "the power-loss test mounts a FUSE file system: run it as root"
    assert Path("/dev/fuse").exists(), "/dev/fuse is missing"
    try:
        import fuse  # noqa: F401
    except (ImportError, OSError) as err:
        pytest.fail(f"fusepy with libfuse2 is needed (scripts/test.sh installs them): {err}")


# --- instances -----------------------------------------------------------------------------


def _instance(study: str, series: str, number: int, side: int = 64) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = "POWER-1"
    ds.PatientName = "Power^Loss"
    ds.Modality = "CT"
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.random.default_rng(number).integers(0, 4096, (side, side), dtype=np.uint16).tobytes()
    out = pydicom.filebase.DicomBytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _stow(base: str, data: bytes) -> int:
    boundary = "powerloss-boundary"
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())
    response = requests.post(
        f"{base}/dicom-web/studies", data=body, timeout=30,
        headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                 "Accept": "application/dicom+json"},
    )
    return response.status_code


def _retrieve(base: str, uids: tuple[str, str, str]) -> tuple[int, list[bytes]]:
    study, series, sop = uids
    response = requests.get(
        f"{base}/dicom-web/studies/{study}/series/{series}/instances/{sop}",
        headers={"Accept": STORED}, timeout=30,
    )
    if response.status_code != 200:
        return response.status_code, []
    boundary = re.search(r'boundary="?([^";]+)"?', response.headers["Content-Type"]).group(1)
    parts = []
    for chunk in response.content.split(f"--{boundary}".encode())[1:-1]:
        head, _, body = chunk.partition(b"\r\n\r\n")
        parts.append(body[:-2] if body.endswith(b"\r\n") else body)
    return 200, parts


def _uids(data: bytes) -> tuple[str, str, str]:
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


# --- the server ----------------------------------------------------------------------------


def _serve(data_dir: Path, log_path: Path, *args: str):
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(_binary()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *args],
            stdout=log, stderr=subprocess.STDOUT,
        )
    text_before = len(log_path.read_bytes()) if log_path.exists() else 0
    deadline = time.monotonic() + 60
    while True:
        found = re.search(r"tessera: listening on (http://[0-9.:]+)", log_path.read_bytes()[text_before:].decode(errors="replace"))
        if found:
            return proc, found.group(1)
        assert proc.poll() is None, f"tessera exited ({proc.returncode}):\n{log_path.read_text(errors='replace')}"
        assert time.monotonic() < deadline, "tessera did not start:\n" + log_path.read_text(errors="replace")
        time.sleep(0.05)


def _check(data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(_binary()), "check", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=300)


def _sync_folder(folder: Path):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the scenario --------------------------------------------------------------------------


def _run_until_power_cut(work: Path, *server_args: str) -> dict:
    """Store a first batch and delete part of it, then store from four clients at once and
    cut the power after ACKNOWLEDGED_BEFORE_CUT more acknowledgements. Returns what was acknowledged and
    the folder holding what stable storage kept."""
    fs = PowerCutMount(work)
    log_path = work / "server.log"
    data_dir = fs.mount / "data"
    proc = None
    try:
        # The file system's own check: what was not synced is gone after the cut. In a folder
        # of its own, which Tessera never syncs.
        probes = fs.mount / "probes"
        probes.mkdir()
        for folder in (probes, fs.mount):
            _sync_folder(folder)
        with open(probes / "synced", "wb") as f:
            f.write(b"synced")
            f.flush()
            os.fsync(f.fileno())
        (probes / "unsynced").write_bytes(b"unsynced")
        _sync_folder(probes)
        with open(probes / "synced", "ab") as f:
            f.write(b" and then not")
        (probes / "unnamed").write_bytes(b"its name was never synced")

        proc, base = _serve(data_dir, log_path, "--spool-size", "8KiB", *server_args)
        study, series = generate_uid(), generate_uid()
        first = [_instance(study, series, n) for n in range(10)]
        for data in first:
            assert _stow(base, data) == 200
        deleted = [_uids(data) for data in first[:3]]
        for s, se, sop in deleted:
            answer = requests.delete(f"{base}/dicom-web/studies/{s}/series/{se}/instances/{sop}", timeout=30)
            assert answer.status_code in (200, 202, 204), answer.text
        acknowledged = {_uids(d): d for d in first[3:]}

        lock = threading.Lock()
        stop = threading.Event()
        counter = iter(range(1000, 100000))

        def client():
            while not stop.is_set():
                with lock:
                    number = next(counter)
                # Every other instance starts a study of its own, so that clients create
                # folders side by side; sizes either side of --spool-size take both write
                # paths (held in memory, or staged in a file and moved into place).
                in_study = study if number % 2 else generate_uid()
                data = _instance(in_study, generate_uid(), number, 32 if number % 3 else 96)
                try:
                    status = _stow(base, data)
                except requests.RequestException:
                    continue
                if status == 200:
                    with lock:
                        acknowledged[_uids(data)] = data

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 7 + ACKNOWLEDGED_BEFORE_CUT and time.monotonic() < deadline:
            time.sleep(0.05)
        # The power goes: the file system stops, then the process is gone. An answer that
        # arrives after this moment was made durable before it (every fsync fails now).
        fs.command("cut")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        after = work / "after"
        fs.command(f"materialize {after}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        fs.unmount()
    assert (after / "probes" / "synced").read_bytes() == b"synced"
    assert (after / "probes" / "unsynced").read_bytes() == b"", "a name synced, its content never"
    assert not (after / "probes" / "unnamed").exists()
    return {"acknowledged": dict(acknowledged), "deleted": deleted, "data_dir": after / "data",
            "log": log_path}


def test_an_acknowledged_instance_survives_a_power_cut():
    _require_fuse()
    work = Path(tempfile.mkdtemp(prefix="tessera-power-"))
    run = _run_until_power_cut(work)
    acknowledged = run["acknowledged"]
    assert len(acknowledged) >= 7 + ACKNOWLEDGED_BEFORE_CUT, f"only {len(acknowledged)} acknowledged before the cut"

    checked = _check(run["data_dir"])
    assert checked.returncode == 0, f"tessera check after the cut:\n{checked.stdout}\n{checked.stderr}"

    proc, base = _serve(run["data_dir"], run["log"])
    try:
        for uids, data in acknowledged.items():
            status, parts = _retrieve(base, uids)
            assert status == 200, f"{uids[2]} was acknowledged and is gone ({status})"
            assert parts == [data], f"{uids[2]} differs from what was acknowledged"
        for uids in run["deleted"]:
            status, _ = _retrieve(base, uids)
            assert status == 404, f"{uids[2]} was deleted and is back ({status})"
        # New work goes on where it stopped.
        study = generate_uid()
        assert _stow(base, _instance(study, generate_uid(), 1)) == 200
    finally:
        proc.kill()
        proc.wait()
    shutil.rmtree(work, ignore_errors=True)


def test_without_fsync_the_power_cut_loses_acknowledged_instances():
    """The control: the same run with Tessera told not to sync its blobs loses acknowledged
    instances, so the file system does forget and the test above could fail."""
    _require_fuse()
    work = Path(tempfile.mkdtemp(prefix="tessera-power-nofsync-"))
    run = _run_until_power_cut(work, "--fsync", "false")
    proc, base = _serve(run["data_dir"], run["log"])
    try:
        lost = [uids for uids, data in run["acknowledged"].items()
                if _retrieve(base, uids) != (200, [data])]
    finally:
        proc.kill()
        proc.wait()
    assert len(lost) > 0, "nothing was lost without fsync: the file system did not forget"
    checked = _check(run["data_dir"])
    assert checked.returncode == 1, f"check should report the lost blobs:\n{checked.stdout}\n{checked.stderr}"
    shutil.rmtree(work, ignore_errors=True)
