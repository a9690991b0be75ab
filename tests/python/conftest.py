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
