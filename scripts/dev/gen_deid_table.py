#!/usr/bin/env python3
"""Regenerate the de-identification tables of crates/tessera-dicom/src/deid/ from the standard.

Input: NEMA's DocBook source of PS3.15, `part15.xml`, as published at
  https://dicom.nema.org/medical/dicom/current/source/docbook/part15/part15.xml
(or the same path under .../medical/dicom/<edition>/source/...). The file is not kept in this
repository; download it and pass its path:

  python3 scripts/dev/gen_deid_table.py /path/to/part15.xml

Output (overwritten):
  crates/tessera-dicom/src/deid/table_e1_1.tsv        Table E.1-1, one row per attribute
  crates/tessera-dicom/src/deid/safe_private_e3_10_1.tsv  Table E.3.10-1 (Safe Private Attributes)

The edition is read from the document's own <subtitle> ("DICOM PS3.15 2026c - ..."), never
asserted here, and written with the input's SHA-256 into each file's header comment lines.
The script fails, writing nothing, if a table's header row is not the expected one (a column
reordered or added), a body row has another number of cells, a tag cell is not a tag or tag
pattern, or an action cell holds a code that Table E.1-1a does not define.

Standard library only.
"""

import hashlib
import os
import re
import sys
import xml.etree.ElementTree as ET

DOCBOOK = "{http://docbook.org/ns/docbook}"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO, "crates", "tessera-dicom", "src", "deid")

# Table E.1-1's header cells as the standard prints them (the olinks to PS3.6 and PS3.3 in the
# third and fourth header cells carry no text), and the column name each becomes in our TSV.
E11_COLUMNS = [
    ("Attribute Name", "name"),
    ("Tag", "tag"),
    ("Retd. (from )", "retired"),
    ("In Std. Comp. IOD (from )", "in_std_iod"),
    ("Basic Prof.", "basic"),
    ("Rtn. Safe Priv. Opt.", "retain_safe_private"),
    ("Rtn. UIDs Opt.", "retain_uids"),
    ("Rtn. Dev. Id. Opt.", "retain_device_identity"),
    ("Rtn. Inst. Id. Opt.", "retain_institution_identity"),
    ("Rtn. Pat. Chars. Opt.", "retain_patient_characteristics"),
    ("Rtn. Long. Full Dates Opt.", "retain_long_full_dates"),
    ("Rtn. Long. Modif. Dates Opt.", "retain_long_modified_dates"),
    ("Clean Desc. Opt.", "clean_descriptors"),
    ("Clean Struct. Cont. Opt.", "clean_structured_content"),
    ("Clean Graph. Opt.", "clean_graphics"),
]
E3101_COLUMNS = [
    ("Data Element", "tag"),
    ("Private Creator", "private_creator"),
    ("VR", "vr"),
    ("VM", "vm"),
    ("Meaning", "meaning"),
]
# Table E.1-1a: the action codes.
ACTIONS = {"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
TAG = re.compile(r"^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)$")
PRIVATE_ROW = "(gggg,eeee) where gggg is odd"


def fail(message):
    sys.exit(f"gen_deid_table.py: {message}; nothing written")


def text(element):
    """The text of a cell, whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


def find_table(root, label):
    for table in root.iter(DOCBOOK + "table"):
        if table.get("label") == label:
            return table
    fail(f"no table labelled {label}")


def rows_of(table, expected):
    header = [text(th) for th in table.find(DOCBOOK + "thead").iter(DOCBOOK + "th")]
    if header != [label for label, _ in expected]:
        fail(f"table {table.get('label')}: header {header!r} is not the expected one")
    rows = []
    for tr in table.find(DOCBOOK + "tbody").findall(DOCBOOK + "tr"):
        cells = [text(td) for td in tr.findall(DOCBOOK + "td")]
        if len(cells) != len(expected):
            fail(f"table {table.get('label')}: a row has {len(cells)} cells: {cells!r}")
        if any("\t" in cell or "\n" in cell for cell in cells):
            fail(f"table {table.get('label')}: a cell holds a tab or newline: {cells!r}")
        rows.append(cells)
    return rows


def check_tag(cell, table):
    if cell == PRIVATE_ROW and table == "E.1-1":
        return
    match = TAG.match(cell)
    if not match:
        fail(f"table {table}: {cell!r} is not a tag")


def write(path, header_lines, columns, rows):
    lines = [f"# {line}" for line in header_lines]
    lines.append("\t".join(columns))
    lines.extend("\t".join(row) for row in rows)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source = sys.argv[1]
    with open(source, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    root = ET.fromstring(raw)
    subtitle = root.find(DOCBOOK + "subtitle")
    match = re.match(r"DICOM PS3\.15 (\d{4}[a-z]?) - ", text(subtitle) if subtitle is not None else "")
    if not match:
        fail("the document's <subtitle> does not name a PS3.15 edition")
    edition = match.group(1)

    e11 = rows_of(find_table(root, "E.1-1"), E11_COLUMNS)
    for row in e11:
        check_tag(row[1], "E.1-1")
        if row[4] not in ACTIONS:
            fail(f"{row[1]}: basic profile action {row[4]!r} is not in Table E.1-1a")
        for cell in row[5:]:
            if cell and cell not in ACTIONS:
                fail(f"{row[1]}: option action {cell!r} is not in Table E.1-1a")
        if row[2] not in ("Y", "N") or row[3] not in ("Y", "N"):
            fail(f"{row[1]}: retired / in-IOD flags {row[2]!r} {row[3]!r} are not Y or N")
    if len(e11) < 600:
        fail(f"Table E.1-1 has only {len(e11)} rows")
    # Our column order puts the tag first.
    e11_out = [[row[1], row[0]] + row[2:] for row in e11]
    e11_columns = ["tag", "name"] + [name for _, name in E11_COLUMNS[2:]]
    provenance = [
        f"Generated by scripts/dev/gen_deid_table.py from NEMA's DocBook part15.xml (SHA-256 {digest}).",
        "Do not edit by hand: regenerate from the standard.",
    ]
    write(
        os.path.join(OUT_DIR, "table_e1_1.tsv"),
        [
            f"DICOM PS3.15 {edition} Table E.1-1 Application Level Confidentiality Profile Attributes",
            *provenance,
            f"{len(e11_out)} rows. Actions (Table E.1-1a): D Z X K C U Z/D X/Z X/D X/Z/D X/Z/U*; empty = no requirement of that option.",
            "retired: Retd. (from PS3.6); in_std_iod: In Std. Comp. IOD (from PS3.3).",
        ],
        e11_columns,
        e11_out,
    )

    e3101 = rows_of(find_table(root, "E.3.10-1"), E3101_COLUMNS)
    for row in e3101:
        check_tag(row[0], "E.3.10-1")
    write(
        os.path.join(OUT_DIR, "safe_private_e3_10_1.tsv"),
        [
            f"DICOM PS3.15 {edition} Table E.3.10-1 Safe Private Attributes",
            *provenance,
            f"{len(e3101)} rows. The standard's note: a sample list of Private Attributes thought to be safe;",
            "vendors do not guarantee them to be safe.",
        ],
        [name for _, name in E3101_COLUMNS],
        e3101,
    )
    print(f"PS3.15 {edition}: Table E.1-1 {len(e11)} rows, Table E.3.10-1 {len(e3101)} rows")


if __name__ == "__main__":
    main()
