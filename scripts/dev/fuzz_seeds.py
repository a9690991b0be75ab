#!/usr/bin/env python3
"""Seed inputs for the libFuzzer targets of fuzz/, written from scratch (no third-party file):
python3 scripts/dev/fuzz_seeds.py DIR writes DIR/TARGET/NAME. The kept corpus (fuzz/corpus/) was
minimized from runs seeded with these; see docs/testing.md#fuzzing-fuzz-libfuzzer."""
import os, struct, sys, zlib
out = sys.argv[1]
def put(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), 'wb').write(data)

# multipart: [piece size][content type]\n[body]
def mp(boundary, parts, ctypes=None):
    b = b''
    for i, p in enumerate(parts):
        ct = (ctypes[i] if ctypes else b'application/dicom')
        b += b'--' + boundary + b'\r\n' + (b'Content-Type: ' + ct + b'\r\n' if ct else b'') + b'\r\n' + p + b'\r\n'
    return b + b'--' + boundary + b'--\r\n'
ct = b'multipart/related; type="application/dicom"; boundary='
put('multipart', 'two', bytes([7]) + ct + b'b0\n' + mp(b'b0', [b'DICM' * 4, b'part two']))
put('multipart', 'quoted', bytes([1]) + ct + b'"a\\"b c"\n' + mp(b'a"b c', [b'x']))
put('multipart', 'types', bytes([200]) + ct + b'zz\n' + mp(b'zz', [b'1', b'2', b'3'], [b'text/plain', None, b'application/dicom; x=1']))
put('multipart', 'preamble', bytes([3]) + ct + b'q\n' + b'preamble\r\n' + mp(b'q', [b'\r\n--q-not\r\n']) + b'epilogue')
put('multipart', 'many', bytes([16]) + ct + b'm\n' + mp(b'm', [bytes([i]) * i for i in range(12)]))

for i, a in enumerate([
    b'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    b'application/dicom+json;q=0.5, application/dicom+xml, */*;q=0',
    b'image/jpeg;q=0.9, image/png, image/*;q=0.1',
    b'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.90',
    b'application/dicom; transfer-syntax="1.2.840.10008.1.2.1", text/html;q=0.0001',
    b'*/*',
    b'multipart/related; type="application/dicom+xml"; boundary="x\\\\y"',
]):
    put('accept', f'a{i}', a)

for i, (length, h) in enumerate([(10, b'bytes=0-3'), (10, b'Bytes=-3'), (1 << 40, b'bytes=5-'),
        (0, b'bytes=0-0'), (100, b'bytes=1-2,4-5'), (7, b'items=0-1'), (2**64 - 1, b'bytes=18446744073709551614-')]):
    put('range', f'r{i}', struct.pack('<Q', length) + h)

for i, q in enumerate([
    b'PatientName=Doe*&StudyDate=20200101-20201231&limit=10&offset=5',
    b'includefield=all&fuzzymatching=true&PatientName=d%C3%B6e^j*',
    b'00100020=ID1\\ID2&ModalitiesInStudy=CT,MR&StudyTime=101010.5-',
    b'StationName=ST*&AcquisitionDateTime=20200101120000.1%2B0100-&SeriesNumber=7',
    b'includefield=00081030,StudyDescription&limit=0&OtherPatientIDs=A?B',
    b'ReferencedStudySequence=1&StudyInstanceUID=1.2.3,1.2.4&SOPClassUID=1.2.840.10008.5.1.4.1.1.2',
]):
    put('qido_query', f'q{i}', q)

# DICOM: explicit VR little endian pieces
LONG = {b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN', b'UR', b'UT', b'UV'}
def el(g, e, vr, v, big=False):
    p = '>' if big else '<'
    if vr in LONG:
        return struct.pack(p + 'HH', g, e) + vr + b'\0\0' + struct.pack(p + 'I', len(v)) + v
    return struct.pack(p + 'HH', g, e) + vr + struct.pack(p + 'H', len(v)) + v
def imp(g, e, v):
    return struct.pack('<HHI', g, e, len(v)) + v
def und(g, e, vr):
    return struct.pack('<HH', g, e) + vr + b'\0\0' + struct.pack('<I', 0xFFFFFFFF)
def item(l=0xFFFFFFFF): return struct.pack('<HHI', 0xFFFE, 0xE000, l)
ITEM_END = struct.pack('<HHI', 0xFFFE, 0xE00D, 0)
SEQ_END = struct.pack('<HHI', 0xFFFE, 0xE0DD, 0)
def ids(f=el):
    if f is imp:
        return imp(8, 0x16, b'1.2.840.10008.5.1.4.1.1.7\0') + imp(8, 0x18, b'1.2.3.4.5\0') + imp(0x20, 0xD, b'1.2.3.4\0') + imp(0x20, 0xE, b'1.2.3.4.1\0')
    return (el(8, 0x16, b'UI', b'1.2.840.10008.5.1.4.1.1.7\0') + el(8, 0x18, b'UI', b'1.2.3.4.5\0')
            + el(0x20, 0xD, b'UI', b'1.2.3.4\0') + el(0x20, 0xE, b'UI', b'1.2.3.4.1\0'))
def image(rows, cols, frames=1, bits=8):
    d = el(0x28, 2, b'US', struct.pack('<H', 1)) + el(0x28, 4, b'CS', b'MONOCHROME2 ')
    if frames > 1: d += el(0x28, 8, b'IS', str(frames).encode() + (b' ' if len(str(frames)) % 2 else b''))
    return d + el(0x28, 0x10, b'US', struct.pack('<H', rows)) + el(0x28, 0x11, b'US', struct.pack('<H', cols)) + el(0x28, 0x100, b'US', struct.pack('<H', bits))
# mode 1: [1][ts index][data set]; ts 0 implicit, 1 explicit, 2 big, 3 deflated, 4 jpeg, 5 rle
ds = {}
ds['native'] = (1, el(8, 5, b'CS', b'ISO_IR 192') + ids() + el(0x10, 0x10, b'PN', b'Doe^J\xc3\xb6rg=\xe5\xb1\xb1\xe7\x94\xb0') + image(4, 4, 2) + el(0x7FE0, 0x10, b'OB', bytes(range(32))))
ds['seq'] = (1, ids() + und(0x40, 0xA730, b'SQ') + item() + el(8, 0x100, b'SH', b'CODE') + und(0x40, 0xA730, b'SQ') + item(14) + el(8, 0x104, b'LO', b'MEANIN') + SEQ_END + ITEM_END + SEQ_END)
ds['implicit'] = (0, imp(8, 5, b'\\ISO 2022 IR 87') + ids(imp) + imp(0x10, 0x10, b'Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B') + imp(0x28, 0x10, struct.pack('<H', 2)) + imp(0x28, 0x11, struct.pack('<H', 2)) + imp(0x28, 0x100, struct.pack('<H', 8)) + imp(0x28, 2, struct.pack('<H', 1)) + imp(0x7FE0, 0x10, b'\1\2\3\4'))
frag = lambda b: item(len(b)) + b
ds['jpeg'] = (4, ids() + image(8, 8, 2) + und(0x7FE0, 0x10, b'OB') + item(8) + struct.pack('<II', 0, 12) + frag(b'\xff\xd8\xff\xe0ab\xff\xd9') + frag(b'\xff\xd8\x00\x01\xff\xd9ab') + SEQ_END)
ds['rle_eot'] = (5, ids() + image(2, 2, 2) + el(0x7FE0, 1, b'OV', struct.pack('<QQ', 0, 12)) + el(0x7FE0, 2, b'OV', struct.pack('<QQ', 4, 4)) + und(0x7FE0, 0x10, b'OB') + item(0) + frag(b'abcd') + frag(b'efgh') + SEQ_END)
ds['big'] = (2, b''.join(el(g, e, vr, v, big=True) for g, e, vr, v in [(8, 0x16, b'UI', b'1.2.840.10008.5.1.4.1.1.7\0'), (8, 0x18, b'UI', b'1.2.3.4.5\0'), (0x20, 0xD, b'UI', b'1.2.3.4\0'), (0x20, 0xE, b'UI', b'1.2.3.4.1\0'), (0x28, 0x10, b'US', b'\0\2'), (0x28, 0x11, b'US', b'\0\2'), (0x28, 0x100, b'US', b'\0\x10'), (0x7FE0, 0x10, b'OW', bytes(8))]))
c = zlib.compressobj(9, zlib.DEFLATED, -15)
deflated = c.compress(ids() + el(0x10, 0x20, b'LO', b'PID1')) + c.flush()
ds['deflated'] = (3, deflated)
ds['defined_seq'] = (1, ids() + el(0x40, 0xA730, b'SQ', item(12) + el(8, 0x100, b'SH', b'CODE')) + el(0x9, 0x1010, b'UN', b'1.2.3\0'))
for name, (ts, body) in ds.items():
    put('part10', name, bytes([1, ts]) + body)
    put('dicom_json', name, bytes([1, ts]) + body)

# charset: [len][spec][vr][text]
for i, (spec, vr, text) in enumerate([
    (b'ISO_IR 192', 0, 'Doe^Jörg=山田^太郎'.encode()),
    (b'\\ISO 2022 IR 87', 0, b'Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B'),
    (b'ISO 2022 IR 100\\ISO 2022 IR 149', 1, b'\x1b$)C\xc8\xab\x1b(B abc \xe9'),
    (b'GB18030', 0, '王^小东'.encode('gb18030')),
    (b'ISO_IR 144', 3, 'Люкceмбypг'.encode('iso8859_5')),
    (b'ISO_IR 13', 2, b'\xd4\xcf\xc0\xde'),
    (b'ISO 2022 IR 6\\ISO 2022 IR 58', 6, b'\x1b$)A\xb5\xda\x1b(B'),
    (b'', 5, b'\xff\xfe plain\\text'),
]):
    put('charset', f'c{i}', bytes([len(spec)]) + spec + bytes([vr]) + text)
