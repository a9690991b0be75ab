"""Where a C-FIND's time goes: one study query repeated on one association by a raw client or by
pynetdicom, with the CPU time of the client and of the server over the run.

  python3 scripts/bench/dimse_find_cost.py raw|pynetdicom HOST PORT SERVER_PID REPEAT [KEY=VALUE ...]

The identifier is the one scripts/bench/dimse.sh sends with findscu (QueryRetrieveLevel=STUDY,
StudyInstanceUID, PatientName, PatientID, StudyDate, ModalitiesInStudy, empty) with the KEY=VALUE
matching keys set, e.g. ModalitiesInStudy=MR; Study Root, Implicit VR Little Endian.

- raw: the association and the C-FIND-RQs written by hand on a socket; of each response only the
  PDU and PDV headers and the command's Status are looked at (the identifiers are not parsed), so
  the client costs little and the wall time is mostly the server's.
- pynetdicom: AE.associate and Association.send_c_find, reading one value of each match.

Printed: matches per query; wall time per query and per match; the client's CPU time (user+sys of
this process, os.times); the server's (utime+stime of SERVER_PID from /proc/PID/stat, 10 ms
ticks: use enough repetitions); and the CPU time other processes took on the machine meanwhile
(both cores' busy time from /proc/stat minus the two), which says whether the run was disturbed.
"""

import os
import socket
import struct
import sys
import time

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def client_cpu() -> float:
    t = os.times()
    return t.user + t.system


def machine_busy() -> float:
    """Every core's busy time (user, nice, system, irq, softirq, steal), seconds."""
    total = 0
    for line in open("/proc/stat"):
        f = line.split()
        if f[0].startswith("cpu") and f[0] != "cpu":
            total += sum(int(f[i]) for i in (1, 2, 3, 6, 7, 8))
    return total / TICK


class Meter:
    """Wall, client, server and other processes' CPU time between start() and stop()."""

    def __init__(self, pid: int):
        self.pid = pid

    def start(self):
        self.t0, self.c0, self.s0, self.b0 = time.perf_counter(), client_cpu(), server_cpu(self.pid), machine_busy()

    def stop(self):
        t1, c1, s1, b1 = time.perf_counter(), client_cpu(), server_cpu(self.pid), machine_busy()
        self.wall, self.client, self.server = t1 - self.t0, c1 - self.c0, s1 - self.s0
        self.other = (b1 - self.b0) - self.client - self.server


def identifier(keys) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in ["StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "ModalitiesInStudy"]:
        setattr(ds, keyword, "")
    for key in keys:
        keyword, _, value = key.partition("=")
        setattr(ds, keyword, value)
    return ds


def implicit_little_endian(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, ds)
    return fp.getvalue()


def uid(value: str) -> bytes:
    b = value.encode()
    return b + b"\0" if len(b) % 2 else b


def item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def element(group: int, elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, elem, len(value)) + value


def pdata(context: int, control: int, data: bytes) -> bytes:
    pdv = struct.pack(">IBB", len(data) + 2, context, control) + data
    return struct.pack(">BBI", 4, 0, len(pdv)) + pdv


def c_find_rq(message_id: int) -> bytes:
    rest = (
        element(0, 0x0002, uid(STUDY_ROOT_FIND))
        + element(0, 0x0100, struct.pack("<H", 0x0020))
        + element(0, 0x0110, struct.pack("<H", message_id))
        + element(0, 0x0700, struct.pack("<H", 0))
        + element(0, 0x0800, struct.pack("<H", 0x0000))  # a data set follows
    )
    return element(0, 0x0000, struct.pack("<I", len(rest))) + rest


def raw(host: str, port: int, meter: Meter, repeat: int, keys) -> int:
    def title(t):
        return t.encode().ljust(16)

    request = (
        struct.pack(">HH", 1, 0) + title("TESSERA") + title("RAWFIND") + bytes(32)
        + item(0x10, b"1.2.840.10008.3.1.1.1")
        + item(0x20, bytes([1, 0, 0, 0]) + item(0x30, uid(STUDY_ROOT_FIND)) + item(0x40, uid(IMPLICIT_VR_LITTLE_ENDIAN)))
        + item(0x50, item(0x51, struct.pack(">I", 1 << 20)) + item(0x52, uid("2.25.1")))
    )  # fmt: skip
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(struct.pack(">BBI", 1, 0, len(request)) + request)
    stream = sock.makefile("rb", buffering=1 << 20)
    kind, _, length = struct.unpack(">BBI", stream.read(6))
    accept = stream.read(length)
    assert kind == 2, f"A-ASSOCIATE-AC expected, PDU type {kind}"
    context = accept.find(b"\x21\x00", 68)
    assert accept[context + 6] == 0, "the presentation context was not accepted"
    data_set = implicit_little_endian(identifier(keys))
    status_element = struct.pack("<HHI", 0, 0x0900, 2)
    matches = 0
    meter.start()
    for n in range(repeat):
        sock.sendall(pdata(1, 0x03, c_find_rq(n + 1)) + pdata(1, 0x02, data_set))
        final = False
        while not final:
            kind, _, length = struct.unpack(">BBI", stream.read(6))
            pdu = stream.read(length)
            assert kind == 4, f"P-DATA-TF expected, PDU type {kind}"
            at = 0
            while at < length:
                (pdv_length,) = struct.unpack_from(">I", pdu, at)
                if pdu[at + 5] & 1:  # a command set (a response's fits one fragment)
                    found = pdu.find(status_element, at + 6, at + 4 + pdv_length)
                    (status,) = struct.unpack_from("<H", pdu, found + 8)
                    if status in (0xFF00, 0xFF01):
                        matches += 1
                    else:
                        final = True
                at += 4 + pdv_length
    meter.stop()
    sock.sendall(struct.pack(">BBI", 5, 0, 4) + bytes(4))  # A-RELEASE-RQ
    stream.read(10)  # A-RELEASE-RP
    sock.close()
    return matches


def with_pynetdicom(host: str, port: int, meter: Meter, repeat: int, keys) -> int:
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind, IMPLICIT_VR_LITTLE_ENDIAN)
    assoc = ae.associate(host, port, ae_title="TESSERA")
    assert assoc.is_established
    query = identifier(keys)
    matches = 0
    meter.start()
    for _ in range(repeat):
        for status, found in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if status.Status in (0xFF00, 0xFF01):
                matches += 1
                _ = found.StudyInstanceUID
    meter.stop()
    assoc.release()
    return matches


def main():
    mode, host, port, pid, repeat, *keys = sys.argv[1:]
    port, pid, repeat = int(port), int(pid), int(repeat)
    meter = Meter(pid)
    matches = (raw if mode == "raw" else with_pynetdicom)(host, port, meter, repeat, keys)
    assert matches, "no match"

    def per(seconds):
        return f"{seconds * 1000 / repeat:.2f} ms/query = {seconds * 1e6 / matches:.1f} us/match"

    print(
        f"{mode}: {matches // repeat} matches per query, {repeat} queries; wall {per(meter.wall)}; "
        f"client CPU {per(meter.client)}; server CPU {per(meter.server)}; "
        f"other processes {meter.other:.2f} s of CPU during the {meter.wall:.2f} s"
    )


if __name__ == "__main__":
    main()
