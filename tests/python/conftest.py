"""Start a real Tessera server (the debug binary cargo built) for real-client checks."""

import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


ANNOUNCE = re.compile(r"tessera: listening on (http://[0-9A-Za-z.:\[\]]+)")


def _announced_url(proc: subprocess.Popen, log_path: Path, deadline_s: float = 30.0) -> str:
    """The URL `tessera serve --listen 127.0.0.1:0` prints once its socket is bound (its
    stdout goes to `log_path`, which never fills up the way a pipe would). Fails with the
    server's output when the line does not come within the deadline or the server exits."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = ANNOUNCE.search(log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise RuntimeError(
                f"tessera exited ({proc.returncode}) before listening:\n"
                + log_path.read_text(errors="replace")
            )
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(
                f"tessera did not say where it listens within {deadline_s} s:\n"
                + log_path.read_text(errors="replace")
            )
        time.sleep(0.05)


def _binary() -> Path:
    binary = Path(os.environ.get("TESSERA_BIN", REPO / "target" / "debug" / "tessera"))
    assert binary.exists(), f"{binary} missing: run cargo build first (scripts/test.sh does)"
    return binary


def _start(prefix: str, *args: str):
    """`tessera serve` on 127.0.0.1 port 0 with a fresh data folder and `args`; returns the
    process, its base URL and its data folder once /healthz answers 200."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    log_path = data_dir / "server.log"
    # Port 0: the server takes a free port and says which (no port reserved here and
    # released, which another process could take in between).
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(_binary()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = _announced_url(proc, log_path)
    try:
        status = requests.get(f"{base}/healthz", timeout=10).status_code
    except requests.RequestException as e:
        status = repr(e)
    if status != 200:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"tessera at {base} is not healthy ({status}):\n" + log_path.read_text())
    return proc, base, data_dir


def _stop(proc: subprocess.Popen):
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def tessera():
    proc, base, data_dir = _start("tessera-py-")
    yield {"base": base, "dicomweb": f"{base}/dicom-web", "data_dir": data_dir}
    _stop(proc)


OIDC_SCRIPT = REPO / "scripts" / "test" / "oidc.sh"
OIDC_VARS = (
    "TESSERA_TEST_OIDC_ISSUER",
    "TESSERA_TEST_OIDC_AUDIENCE",
    "TESSERA_TEST_OIDC_SCRIPT_CLIENT",
    "TESSERA_TEST_OIDC_SCRIPT_SECRET",
    "TESSERA_TEST_OIDC_READER_CLIENT",
    "TESSERA_TEST_OIDC_READER_SECRET",
)


@pytest.fixture(scope="session")
def oidc():
    """The OpenID provider of scripts/test/oidc.sh: the one the environment names (scripts/test.sh
    starts it), else started here and stopped at the end."""
    if os.environ.get("TESSERA_TEST_OIDC_ISSUER"):
        env, started = dict(os.environ), False
    else:
        running = subprocess.run([str(OIDC_SCRIPT), "status"], capture_output=True).returncode == 0
        env_file = subprocess.run(
            [str(OIDC_SCRIPT), "start"], check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1]
        env = dict(re.findall(r"^export (\w+)=(.*)$", Path(env_file).read_text(), re.M))
        started = not running
    missing = [v for v in OIDC_VARS if not env.get(v)]
    assert not missing, f"the OpenID provider's settings are missing: {missing}"
    yield {v: env[v] for v in OIDC_VARS}
    if started:
        subprocess.run([str(OIDC_SCRIPT), "stop"], check=True)


@pytest.fixture(scope="session")
def tessera_auth(oidc):
    """A second Tessera that requires signing in: bearer tokens of the test OpenID provider
    (or API keys), made only for the tests that ask for it."""
    proc, base, data_dir = _start(
        "tessera-py-auth-",
        "--auth",
        "required",
        "--oidc-issuer",
        oidc["TESSERA_TEST_OIDC_ISSUER"],
        "--oidc-audience",
        oidc["TESSERA_TEST_OIDC_AUDIENCE"],
    )
    yield {
        "base": base,
        "dicomweb": f"{base}/dicom-web",
        "data_dir": data_dir,
        "oidc": oidc,
        "binary": _binary(),
    }
    _stop(proc)


# ---------------------------------------------------------------------------
# DIMSE (classic DICOM networking): tests/python/test_dimse_*.py

DIMSE_ANNOUNCE = re.compile(r"tessera: DICOM port on ([0-9A-Za-z.\[\]]+):(\d+)")


def _announced_dimse_port(proc: subprocess.Popen, log_path: Path, deadline_s: float = 30.0) -> int:
    """The DICOM port `--dimse-listen 127.0.0.1:0` bound, from the line the server prints."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = DIMSE_ANNOUNCE.search(log_path.read_text(errors="replace"))
        if found:
            return int(found.group(2))
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                "tessera did not say where its DICOM port is:\n" + log_path.read_text(errors="replace")
            )
        time.sleep(0.05)


def free_port() -> int:
    """A port that was free a moment ago (bound to 0 and closed): for a peer the server must
    know before it starts, e.g. a C-MOVE destination listed with --dimse-peer."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, deadline_s: float = 15.0):
    """Until something accepts TCP connections on 127.0.0.1:`port` (a peer started here)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process meant to listen on {port} exited ({proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {deadline_s} s")
        time.sleep(0.05)


def start_dimse(prefix: str, *args: str) -> dict:
    """`tessera serve` with its DICOM port on 127.0.0.1 (port 0) and `args`; a fresh data folder."""
    proc, base, data_dir = _start(prefix, "--dimse-listen", "127.0.0.1:0", *args)
    log = data_dir / "server.log"
    try:
        port = _announced_dimse_port(proc, log)
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise
    return {
        "proc": proc,
        "base": base,
        "dicomweb": f"{base}/dicom-web",
        "data_dir": data_dir,
        "log": log,
        "host": "127.0.0.1",
        "port": port,
    }


def server_log(server: dict, tail: int = 60) -> str:
    """The last lines of a server's log, for assertion messages."""
    return "\n".join(server["log"].read_text(errors="replace").splitlines()[-tail:])


def fresh_copy(name: str, out_dir: Path, dcmtk_encoding: bool = False, **changes) -> Path:
    """pydicom's test file `name` with new Study/Series/SOP Instance UIDs (and `changes`, keyword=value),
    written to `out_dir` in its own transfer syntax (pixel data untouched).

    `dcmtk_encoding`: write it the way dcmtk's storescu puts it on the wire (sequences and items
    of defined length, no trailing data set padding, encapsulated pixel data as OB), so that the
    bytes storescu sends are the file's own data set bytes and can be compared bit for bit."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    source = get_testdata_file(name)
    assert source, f"pydicom's test file {name} is missing"
    ds = dcmread(source)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if dcmtk_encoding:
        _defined_lengths(ds)
        if "PixelData" in ds and ds.file_meta.TransferSyntaxUID.is_encapsulated:
            ds["PixelData"].VR = "OB"
    path = Path(out_dir) / f"{Path(name).stem}-{ds.SOPInstanceUID[-8:]}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _defined_lengths(ds):
    if 0xFFFCFFFC in ds:
        del ds[0xFFFCFFFC]
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = False
            for item in elem.value:
                item.is_undefined_length_sequence_item = False
                _defined_lengths(item)


def split_part10(data: bytes):
    """(file meta data set, the data set's bytes: everything after the file meta group)."""
    import io

    from pydicom.filereader import _read_file_meta_info, read_preamble

    f = io.BytesIO(data)
    read_preamble(f, False)
    meta = _read_file_meta_info(f)
    return meta, data[f.tell():]


def multipart_parts(content_type: str, body: bytes) -> list[bytes]:
    """The bodies of a multipart/related answer, byte for byte."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    assert found, content_type
    delimiter = b"--" + found.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, rest = chunk.partition(b"\r\n\r\n")
        assert rest.endswith(b"\r\n"), head
        parts.append(rest[:-2])
    return parts


def wado_part10(server: dict, study: str, series: str, sop: str) -> bytes:
    """The stored Part 10 file of an instance, as stored (transfer-syntax=*)."""
    answer = requests.get(
        f"{server['dicomweb']}/studies/{study}/series/{series}/instances/{sop}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:500]
    parts = multipart_parts(answer.headers["Content-Type"], answer.content)
    assert len(parts) == 1
    return parts[0]


def stow(server: dict, paths) -> dict:
    """STOW-RS of Part 10 files as they are; the JSON answer."""
    boundary = "tessera-dimse-test-boundary"
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + Path(p).read_bytes() + b"\r\n"
        for p in paths
    ) + f"--{boundary}--\r\n".encode()
    answer = requests.post(
        f"{server['dicomweb']}/studies",
        data=body,
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        },
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:1000]
    return answer.json()


def qido(server: dict, path: str, **params) -> list:
    answer = requests.get(
        f"{server['dicomweb']}{path}", params=params, headers={"Accept": "application/dicom+json"}, timeout=30
    )
    assert answer.status_code in (200, 204), answer.text[:500]
    return answer.json() if answer.status_code == 200 and answer.content else []
