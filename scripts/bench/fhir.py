#!/usr/bin/env python3
"""Rough FHIR latency figures: start a Tessera binary on a fresh data dir (SQLite + local
disk), store one study of N instances (no pixel data) and M small studies, then time
GET /fhir/ImagingStudy/{big} and search pages of 100.

    python3 scripts/bench/fhir.py target/release/tessera [N] [M]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from io import BytesIO

import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT = "1.2.840.10008.5.1.4.1.1.2"


def part10(study, series, number, patient):
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName, ds.Modality = patient, "Bench^Patient", "CT"
    ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC = "20240101", "101010", "+0100"
    ds.AccessionNumber, ds.SeriesNumber, ds.InstanceNumber = "BENCH", 1, number
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def stow(base, parts):
    b = "bench-fhir"
    body = b"".join(b"--%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (b.encode(), p) for p in parts)
    body += b"--%s--\r\n" % b.encode()
    r = requests.post(f"{base}/dicom-web/studies", data=body,
                      headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={b}'})
    assert r.status_code == 200, r.text


def timed(url, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = requests.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
    return statistics.median(times), max(times), len(r.content)


def main():
    binary = sys.argv[1]
    big, small = int(sys.argv[2]) if len(sys.argv) > 2 else 1000, int(sys.argv[3]) if len(sys.argv) > 3 else 300
    data = tempfile.mkdtemp(prefix="bench-fhir-")
    # Port 0: the server binds any free port and announces it on its first stdout line.
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
                             "--fsync", "false"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    base = None
    for line in proc.stdout:
        if "tessera: listening on " in line:
            base = line.split("tessera: listening on ", 1)[1].strip()
            break
    if base is None:
        sys.exit("tessera exited before announcing its address")
    # Keep draining its output so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    try:
        study, series = generate_uid(), generate_uid()
        parts = [part10(study, series, i + 1, "BIG") for i in range(big)]
        for i in range(0, len(parts), 200):
            stow(base, parts[i:i + 200])
        parts = []
        for i in range(small):
            s = generate_uid()
            parts += [part10(s, generate_uid(), 1, f"P{i % 50}"), part10(s, generate_uid(), 1, f"P{i % 50}")]
        for i in range(0, len(parts), 200):
            stow(base, parts[i:i + 200])
        med, worst, size = timed(f"{base}/fhir/ImagingStudy/{study}", 20)
        print(f"read ImagingStudy of {big} instances: median {med:.1f} ms, max {worst:.1f} ms, {size} bytes")
        med, worst, size = timed(f"{base}/fhir/ImagingStudy?modality=CT&_count=100&_offset=100", 10)
        print(f"search page of 100 (of {small + 1} studies): median {med:.1f} ms, max {worst:.1f} ms, {size} bytes")
        med, worst, _ = timed(f"{base}/fhir/ImagingStudy?patient=P7", 20)
        print(f"search patient=P7: median {med:.1f} ms, max {worst:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
