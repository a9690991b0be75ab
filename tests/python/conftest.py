"""Start a real Tessera server (the debug binary cargo built) for real-client checks."""

import os
import re
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


@pytest.fixture(scope="session")
def tessera():
    binary = Path(os.environ.get("TESSERA_BIN", REPO / "target" / "debug" / "tessera"))
    assert binary.exists(), f"{binary} missing: run cargo build first (scripts/test.sh does)"
    data_dir = Path(tempfile.mkdtemp(prefix="tessera-py-"))
    log_path = data_dir / "server.log"
    # Port 0: the server takes a free port and says which (no port reserved here and
    # released, which another process could take in between).
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
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
    yield {"base": base, "dicomweb": f"{base}/dicom-web", "data_dir": data_dir}
    proc.terminate()
    proc.wait(timeout=10)
