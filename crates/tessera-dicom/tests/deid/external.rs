//! The de-identified corpus read by two other toolkits: dcmtk's dcmdump must read every
//! output without error, and pydicom must read every output and find the original's Pixel
//! Data bytes and the original value of every top-level attribute Table E.1-1 does not name
//! (so text kept is re-encoded faithfully, whatever the character set). Both tools are
//! installed by scripts/test.sh; a missing tool is a failure.

use std::path::PathBuf;
use std::process::Command;

use super::corpus::{corpus_deidentifier, pydicom_data_dir, run_corpus};
use super::support::secret;

const CHECK: &str = r#"
import sys
import pydicom
from pydicom.tag import Tag

table, manifest = sys.argv[1], sys.argv[2]
listed = set()
for line in open(table, encoding="utf-8"):
    cell = line.split("\t")[0]
    if cell.startswith("(") and "x" not in cell.lower()[1:-1].replace("0x", ""):
        try:
            listed.add(Tag(int(cell[1:5], 16), int(cell[6:10], 16)))
        except ValueError:
            pass
written = {Tag(0x0012, 0x0062), Tag(0x0012, 0x0063), Tag(0x0012, 0x0064), Tag(0x0028, 0x0303), Tag(0x7FE0, 0x0010)}
failures = []
count = 0
for line in open(manifest, encoding="utf-8"):
    source, output = line.rstrip("\n").split("\t")
    try:
        before = pydicom.dcmread(source)
        after = pydicom.dcmread(output)
        str(after)  # every element decoded
        if after.PatientIdentityRemoved != "YES":
            failures.append(f"{output}: PatientIdentityRemoved {after.PatientIdentityRemoved!r}")
        if "PixelData" in before and before.PixelData != after.PixelData:
            failures.append(f"{source}: pixel data differs")
        for element in before:
            tag = element.tag
            if (tag in listed or tag in written or tag.is_private or tag.element == 0
                    or tag.group in (0x0002,) or (tag.group & 0xFF00) in (0x5000, 0x6000)
                    or element.VR == "SQ"):
                continue
            if tag not in after:
                failures.append(f"{source}: {tag} {element.keyword} is missing")
            elif after[tag].value != element.value:
                failures.append(f"{source}: {tag} {element.keyword} {element.value!r} became {after[tag].value!r}")
        count += 1
    except Exception as err:
        failures.append(f"{output} ({source}): {type(err).__name__}: {err}")
for failure in failures:
    print(failure)
print(f"pydicom read {count} outputs, {len(failures)} failures")
sys.exit(1 if failures else 0)
"#;

/// A fresh folder for this test's outputs under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-deid-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn dcmdump_and_pydicom_read_every_output() {
    let _ = pydicom_data_dir(); // fails clearly when pydicom is missing
    let (done, _) = run_corpus(&corpus_deidentifier(secret(3)));
    let dir = scratch("external");
    let mut manifest = String::new();
    for (i, file) in done.iter().enumerate() {
        let out = dir.join(format!("{i:03}.dcm"));
        std::fs::write(&out, &file.output).unwrap();
        manifest.push_str(&format!("{}\t{}\n", file.input.display(), out.display()));
        let dump = Command::new("dcmdump")
            .arg("-q")
            .arg(&out)
            .output()
            .unwrap_or_else(|e| {
                panic!("dcmdump cannot be run ({e}): scripts/test.sh installs dcmtk")
            });
        let stderr = String::from_utf8_lossy(&dump.stderr);
        assert!(
            dump.status.success() && !stderr.contains("E: "),
            "dcmdump on the output of {}: {stderr}",
            file.input.display()
        );
    }
    let manifest_path = dir.join("manifest.tsv");
    std::fs::write(&manifest_path, manifest).unwrap();
    let table = concat!(env!("CARGO_MANIFEST_DIR"), "/src/deid/table_e1_1.tsv");
    let check = Command::new("python3")
        .args(["-c", CHECK, table])
        .arg(&manifest_path)
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    eprintln!("{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
