#!/usr/bin/env python3
"""Frame latency against a running Tessera, the way a web viewer loads frames.

Usage: python3 scripts/bench/frames.py BASE_URL [CONCURRENCY] [REQUESTS]
  e.g. python3 scripts/bench/frames.py http://127.0.0.1:8080 25 3000

Stores a few testdata files (409 if already there is fine), then per scenario sends REQUESTS
single-frame GETs from CONCURRENCY threads, each on its own keep-alive connection, and prints
requests/s and latency percentiles. Run the server twice, with the default cache and with
`--frame-cache-size 0`, to see the range-read path alone. Standard library only; the client
shares the machine with the server, so numbers are a floor, not a ceiling.
"""

import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AS_STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
NATIVE = "multipart/related; type=\"application/octet-stream\""


def instance_path(expected, name):
    e = expected[name]
    return (f"/dicom-web/studies/{e['study_instance_uid']}/series/{e['series_instance_uid']}"
            f"/instances/{e['sop_instance_uid']}")


def run(base, paths, accept, concurrency, total):
    url = urllib.parse.urlparse(base)
    latencies = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port)
        mine = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            path = paths[i % len(paths)]
            start = time.perf_counter()
            conn.request("GET", path, headers={"Accept": accept})
            response = conn.getresponse()
            body = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200 or not body:
                raise SystemExit(f"{path}: {response.status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    return len(ms) / elapsed, q[49], q[98], statistics.mean(ms)


def main():
    base = sys.argv[1].rstrip("/")
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    expected = json.loads((ROOT / "testdata/expected.json").read_text())
    url = urllib.parse.urlparse(base)
    for name in ["CT_small.dcm", "examples_ybr_color.dcm", "examples_jpeg2k.dcm", "MR_small_RLE.dcm"]:
        conn = http.client.HTTPConnection(url.hostname, url.port)
        conn.request("POST", "/dicom-web/studies", body=(ROOT / "testdata" / name).read_bytes(),
                     headers={"Content-Type": "application/dicom"})
        status = conn.getresponse().status
        assert status in (200, 409), (name, status)
    ybr = instance_path(expected, "examples_ybr_color.dcm")
    scenarios = [
        ("CT 128x128 16-bit native, as stored", [instance_path(expected, "CT_small.dcm") + "/frames/1"], AS_STORED),
        ("US 30-frame JPEG, each frame as stored", [f"{ybr}/frames/{n}" for n in range(1, 31)], AS_STORED),
        ("US 30-frame JPEG, decoded to native", [f"{ybr}/frames/{n}" for n in range(1, 31)], NATIVE),
        ("640x480 RGB JPEG 2000, decoded", [instance_path(expected, "examples_jpeg2k.dcm") + "/frames/1"], NATIVE),
        ("MR RLE, decoded", [instance_path(expected, "MR_small_RLE.dcm") + "/frames/1"], NATIVE),
        ("CT thumbnail (JPEG)", [instance_path(expected, "CT_small.dcm") + "/thumbnail"], "image/jpeg"),
    ]
    print(f"concurrency {concurrency}, {total} requests per scenario")
    print(f"{'scenario':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for label, paths, accept in scenarios:
        rate, p50, p99, mean = run(base, paths, accept, concurrency, total)
        print(f"{label:44} {rate:8.0f} {p50:8.2f} {p99:8.2f} {mean:8.2f}")


if __name__ == "__main__":
    main()
