#!/usr/bin/env python3
"""De-identification speed against Tessera's own instance copy (issue 19).

    scripts/bench/deidentify.py [REPS]        (default 5)

A 300-slice CT (512x512 16-bit, Explicit VR Little Endian, made by ct_series.py; SLICES
changes the count) is imported into a fresh archive (SQLite index, local blobs). Then, per
repetition, the same study goes out four ways:

  copy  -> folder   tessera export --study UID --to DIR
  deid  -> folder   tessera deidentify --study UID --to DIR --project bench
  copy  -> STOW     tessera export --study UID --to http://.../dicom-web
  deid  -> STOW     tessera deidentify --study UID --to http://.../dicom-web --project bench
  copy  -> partition  tessera export --study UID --to http://.../dicom-web/partitions/P
                      (a Tessera serving the benchmark's own archive: the one way to copy
                      stored instances into a partition)
  deid  -> partition  tessera deidentify --study UID --to-partition P --project bench

"Instance copy" is Tessera's export of the stored Part 10 files, byte for byte: each blob read
and written again (to a folder: temporary name, fsync, rename; over STOW-RS: into another
Tessera's ingest path, which is what storing into another partition of the archive does).
The de-identification does the same reads and writes, de-identifying each instance on the way
and recording the mapping table in the index before each batch is written. Every run writes
into a fresh folder or a freshly started receiving Tessera (SQLite + local disk), so no run
finds anything already there; the order of copy and de-identification alternates from one
repetition to the next. Rates are instances per second of wall-clock time of the command
(process start to exit); CPU is the command's user + system time (the receiving Tessera's is
not counted). Prints each run, then per destination the median rates, the median CPU and the
ratio deid/copy, and writes them to $OUT/summary.txt.

TESSERA_BIN: the binary to measure (default: target/release/tessera, built if missing).
"""

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
SLICES = int(os.environ.get("SLICES", "300"))
OUT = Path(os.environ.get("OUT", REPO / "bench-out" / "deidentify"))
ANNOUNCE = re.compile(r"tessera: listening on (http://[0-9.:]+)")


def binary() -> Path:
    given = os.environ.get("TESSERA_BIN")
    if given:
        source = Path(given)
    else:
        source = REPO / "target" / "release" / "tessera"
        if not source.exists():
            subprocess.run(["cargo", "build", "--release", "-p", "tessera"], cwd=REPO, check=True)
    # A private copy: another checkout's build may replace the shared one during the run.
    OUT.mkdir(parents=True, exist_ok=True)
    copy = OUT / "tessera"
    shutil.copy2(source, copy)
    return copy


def run(bin_: Path, *args: str) -> tuple[float, float, str]:
    """Wall-clock seconds, CPU seconds (user + system) and standard output of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run([str(bin_), *args], capture_output=True, text=True)
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"tessera {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu, done.stdout


class Receiver:
    """A Tessera on 127.0.0.1, port 0: a fresh one for one STOW-RS run, or one serving the
    benchmark's own archive (`data`) for the partition runs."""

    def __init__(self, bin_: Path, root: Path, data: Path | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="recv-", dir=root))
        self.log = self.dir / "serve.log"
        self.own = data is None
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(bin_), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data or self.dir / "data"),
                 "--sweep-interval", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            found = ANNOUNCE.search(self.log.read_text(errors="replace"))
            if found:
                self.base = found.group(1)
                self.url = self.base + "/dicom-web"
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the receiving tessera did not start:\n" + self.log.read_text())
            time.sleep(0.05)

    def stop_only(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def stop(self):
        self.stop_only()
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    bin_ = binary()
    work = Path(tempfile.mkdtemp(prefix="deid-bench-"))
    try:
        series = work / "ct"
        subprocess.run(
            [sys.executable, str(REPO / "scripts/bench/ct_series.py"), str(series), "1", str(SLICES)],
            check=True,
        )
        data = work / "archive"
        run(bin_, "import", str(series), "--data-dir", str(data))
        first = next((series / "s0").iterdir())
        study = subprocess.run(
            [sys.executable, "-c", f"import pydicom; print(pydicom.dcmread({str(first)!r}).StudyInstanceUID)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        key = work / "bench.key"
        key.write_text(os.urandom(32).hex() + "\n")
        archive = ["--data-dir", str(data)]
        deid = ["--project", "bench", "--deid-project", f"bench={key}"]

        def folder_run(kind: str, n: int) -> tuple[float, float]:
            to = work / f"{kind}-{n}"
            args = ["export"] if kind == "copy" else ["deidentify", *deid]
            elapsed, cpu, out = run(bin_, *args, "--study", study, "--to", str(to), *archive)
            assert f"{SLICES} instances" in out, out
            shutil.rmtree(to)
            return elapsed, cpu

        def stow_run(kind: str, n: int) -> tuple[float, float]:
            receiver = Receiver(bin_, work)
            try:
                args = ["export"] if kind == "copy" else ["deidentify", *deid]
                elapsed, cpu, out = run(bin_, *args, "--study", study, "--to", receiver.url, *archive)
                assert f"{SLICES} instances" in out and " 0 failed" in out, out
            finally:
                receiver.stop()
            return elapsed, cpu

        # Into a partition of the same archive: the copy is an export over STOW-RS to the
        # partition's root on a Tessera serving the archive (the one way to copy stored
        # instances into a partition), the de-identification `--to-partition` (the
        # partition's ingest path in the command itself). A fresh partition per run.
        server = Receiver(bin_, work, data)

        def partition_run(kind: str, n: int) -> tuple[float, float]:
            name = f"{kind}-{n + 1}".replace("-", "x")
            created = subprocess.run(
                ["curl", "-sf", "-X", "POST", "-H", "content-type: application/json",
                 "-d", f'{{"name": "{name}"}}', f"{server.url}/partitions"],
                capture_output=True, text=True,
            )
            assert created.returncode == 0, created.stderr
            if kind == "copy":
                to = ["--to", f"{server.url}/partitions/{name}"]
                elapsed, cpu, out = run(bin_, "export", "--study", study, *to, *archive)
            else:
                to = ["--to-partition", name]
                elapsed, cpu, out = run(bin_, "deidentify", *deid, "--study", study, *to, *archive)
            assert f"{SLICES} instances" in out and " 0 failed" in out, out
            return elapsed, cpu

        # One untimed run of each to warm the page cache and the binary.
        folder_run("copy", -1)
        folder_run("deid", -1)
        dests = ("folder", "stow", "partition")
        times = {(d, k): [] for d in dests for k in ("copy", "deid")}
        cpus = {(d, k): [] for d in dests for k in ("copy", "deid")}
        for n in range(REPS):
            order = ("copy", "deid") if n % 2 == 0 else ("deid", "copy")
            for dest, measure in (("folder", folder_run), ("stow", stow_run), ("partition", partition_run)):
                for kind in order:
                    elapsed, cpu = measure(kind, n)
                    times[(dest, kind)].append(elapsed)
                    cpus[(dest, kind)].append(cpu)
                    print(
                        f"rep {n + 1} {dest:9} {kind}: {elapsed:6.2f} s  {SLICES / elapsed:7.1f} instances/s"
                        f"  CPU {cpu:5.2f} s",
                        flush=True,
                    )
        lines = [
            f"{SLICES}-slice CT, {REPS} repetitions, medians of wall-clock time per command;"
            " CPU: the command's user + system seconds (median)"
        ]
        server.stop_only()
        for dest in dests:
            copy = SLICES / statistics.median(times[(dest, "copy")])
            de = SLICES / statistics.median(times[(dest, "deid")])
            spread = lambda k: ", ".join(f"{SLICES / t:.0f}" for t in times[(dest, k)])
            cpu = lambda k: statistics.median(cpus[(dest, k)])
            lines.append(
                f"{dest:9}: copy {copy:6.1f} instances/s ({spread('copy')}; CPU {cpu('copy'):.2f} s), "
                f"deidentify {de:6.1f} instances/s ({spread('deid')}; CPU {cpu('deid'):.2f} s), "
                f"ratio {de / copy:.2f}"
            )
        summary = "\n".join(lines)
        print(summary)
        (OUT / "summary.txt").write_text(summary + "\n")
    finally:
        if "server" in locals():
            server.stop_only()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
