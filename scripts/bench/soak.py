#!/usr/bin/env python3
"""A soak run: one `tessera serve` under steady mixed load for a long time, sampled as it goes,
to show whether memory, open files, threads and latency stay flat (issue 17). Not part of the
test command.

    python3 scripts/bench/soak.py [--bin target/release/tessera] [--minutes 30]
        [--readers 3] [--writers 1] [--every 30] [--out soak.tsv]

It writes 50 synthetic 512x512 CT files (scripts/bench/ct_series.py), starts Tessera on a
fresh data folder (SQLite, local disk, fsync on, duplicate policy overwrite so the archive
stays the same size while it is written to), stores them, then runs until the time is up:
- writers: each STOWs the files one per request, over and over (every store an overwrite:
  blob written and synced, index row replaced, old blob deleted, change feed appended);
- readers: each picks at random a QIDO search (studies by name, instances of a study), a
  series' metadata, a frame, or a whole instance, over a kept-alive connection.
Every --every seconds it prints and records one line: the server's RSS (VmRSS), open file
descriptors, threads, and per kind of request the count, errors and p50/p99 latency of that
window. At the end: the first and last windows side by side. Exit status 1 if any request
failed (not 2xx) or the server died."""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def proc_status(pid: int) -> tuple[int, int, int]:
    """(VmRSS KiB, open fds, threads) of a process."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


class Window:
    """Latencies and errors per kind of request since the last sample."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.total_errors = 0

    def add(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1
                self.total_errors += 1
                if self.total_errors <= 10:
                    print(f"error: {kind}: {detail}", file=sys.stderr, flush=True)

    def take(self) -> tuple[dict[str, list[float]], dict[str, int]]:
        with self.lock:
            latencies, errors = self.latencies, self.errors
            self.latencies, self.errors = defaultdict(list), defaultdict(int)
            return latencies, errors


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(REPO / "target/release/tessera"))
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--out", default="soak.tsv")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tessera-soak-"))
    files_dir = work / "files"
    subprocess.run([sys.executable, str(REPO / "scripts/bench/ct_series.py"), str(files_dir), "5", "10"], check=True)
    files = sorted(files_dir.rglob("*.dcm"))
    log = open(work / "server.log", "w")
    server = subprocess.Popen(
        [args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(work / "data"),
         "--duplicate-policy", "overwrite"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    # Log lines share standard output with the listening line: read up to it, then keep
    # draining into the log so that the server never blocks on a full pipe.
    match = None
    for line in server.stdout:
        log.write(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            break
    if not match:
        print(f"tessera did not start; see {work / 'server.log'}", file=sys.stderr)
        return 1
    threading.Thread(target=lambda: [log.write(l) for l in server.stdout], daemon=True).start()
    base = match.group(1) + "/dicom-web"
    print(f"soak: {args.bin} at {base}, {len(files)} files, {args.writers} writers, "
          f"{args.readers} readers, {args.minutes} minutes; data in {work}", flush=True)

    seed = requests.Session()
    instances = []
    for path in files:
        r = seed.post(f"{base}/studies", data=path.read_bytes(), headers={"Content-Type": "application/dicom"})
        r.raise_for_status()
        ref = r.json()["00081199"]["Value"][0]
        url = ref["00081190"]["Value"][0]
        parts = url.split("/studies/")[1].split("/")
        instances.append((parts[0], parts[2], parts[4]))

    window = Window()
    stop = threading.Event()

    def writer(n: int) -> None:
        session = requests.Session()
        order = files[n::max(1, args.writers)] or files
        i = 0
        while not stop.is_set():
            path = order[i % len(order)]
            i += 1
            t = time.monotonic()
            try:
                r = session.post(f"{base}/studies", data=path.read_bytes(), headers={"Content-Type": "application/dicom"})
                window.add("stow", time.monotonic() - t, r.status_code == 200, f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as err:
                window.add("stow", time.monotonic() - t, False, str(err))

    def reader(n: int) -> None:
        session = requests.Session()
        rng = random.Random(n)
        while not stop.is_set():
            study, series, sop = rng.choice(instances)
            kind = rng.choice(["qido_studies", "qido_instances", "metadata", "frame", "instance"])
            url, accept = {
                "qido_studies": (f"{base}/studies?PatientName=*&limit=20", "application/dicom+json"),
                "qido_instances": (f"{base}/studies/{study}/instances", "application/dicom+json"),
                "metadata": (f"{base}/studies/{study}/series/{series}/metadata", "application/dicom+json"),
                "frame": (f"{base}/studies/{study}/series/{series}/instances/{sop}/frames/1",
                          'multipart/related; type="application/octet-stream"'),
                "instance": (f"{base}/studies/{study}/series/{series}/instances/{sop}",
                             'multipart/related; type="application/dicom"'),
            }[kind]
            t = time.monotonic()
            try:
                r = session.get(url, headers={"Accept": accept})
                ok = r.status_code == 200 and len(r.content) > 0
                window.add(kind, time.monotonic() - t, ok, f"{r.status_code} {url}")
            except requests.RequestException as err:
                window.add(kind, time.monotonic() - t, False, str(err))

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(args.writers)]
    threads += [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(args.readers)]
    for thread in threads:
        thread.start()

    kinds = ["stow", "qido_studies", "qido_instances", "metadata", "frame", "instance"]
    rows = []
    with open(args.out, "w") as out:
        out.write("elapsed_s\trss_mib\tfds\tthreads\t" + "\t".join(f"{k}_n\t{k}_err\t{k}_p50_ms\t{k}_p99_ms" for k in kinds) + "\n")
        started = time.monotonic()
        end = started + args.minutes * 60
        died = False
        while time.monotonic() < end:
            time.sleep(min(args.every, max(0.0, end - time.monotonic())))
            if server.poll() is not None:
                died = True
                print(f"tessera exited with {server.returncode}", file=sys.stderr)
                break
            rss, fds, nthreads = proc_status(server.pid)
            latencies, errors = window.take()
            row = {"elapsed": time.monotonic() - started, "rss": rss / 1024, "fds": fds, "threads": nthreads,
                   "kinds": {k: (len(latencies[k]), errors[k], percentile(latencies[k], 0.5) * 1000,
                                 percentile(latencies[k], 0.99) * 1000) for k in kinds}}
            rows.append(row)
            out.write(f"{row['elapsed']:.0f}\t{row['rss']:.1f}\t{fds}\t{nthreads}\t" + "\t".join(
                f"{n}\t{e}\t{p50:.1f}\t{p99:.1f}" for n, e, p50, p99 in row["kinds"].values()) + "\n")
            out.flush()
            print(f"{row['elapsed']:6.0f} s  RSS {row['rss']:6.1f} MiB  fds {fds:3d}  threads {nthreads:3d}  " + "  ".join(
                f"{k} {n}/{e}err {p50:.1f}/{p99:.1f}ms" for k, (n, e, p50, p99) in row["kinds"].items()), flush=True)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server.terminate()
    server.wait(timeout=60)
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        print("\nfirst and last window:")
        print(f"  RSS {first['rss']:.1f} -> {last['rss']:.1f} MiB (max {max(r['rss'] for r in rows):.1f}); "
              f"fds {first['fds']} -> {last['fds']} (max {max(r['fds'] for r in rows)}); "
              f"threads {first['threads']} -> {last['threads']}")
        for k in kinds:
            a, b = first["kinds"][k], last["kinds"][k]
            print(f"  {k}: p50 {a[2]:.1f} -> {b[2]:.1f} ms, p99 {a[3]:.1f} -> {b[3]:.1f} ms, "
                  f"{a[0]} -> {b[0]} requests per window")
        all_requests = sum(sum(r["kinds"][k][0] for k in kinds) for r in rows)
        print(f"  {all_requests} requests in all, {window.total_errors} failed")
    return 1 if window.total_errors or died else 0


if __name__ == "__main__":
    sys.exit(main())
