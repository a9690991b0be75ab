"""Start a real Tessera server (the debug binary cargo built) for real-client checks."""

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tessera():
    binary = Path(os.environ.get("TESSERA_BIN", REPO / "target" / "debug" / "tessera"))
    assert binary.exists(), f"{binary} missing: run cargo build first (scripts/test.sh does)"
    data_dir = Path(tempfile.mkdtemp(prefix="tessera-py-"))
    port = _free_port()
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("tessera did not become healthy: " + (data_dir / "server.log").read_text())
    yield {"base": base, "dicomweb": f"{base}/dicom-web", "data_dir": data_dir}
    proc.terminate()
    proc.wait(timeout=10)
