//! `tessera export` of the real binary: studies, series and a query's studies out as their
//! stored Part 10 files, byte for byte, to a folder, a zip, an S3 prefix and another archive
//! over STOW-RS; a second run
//! skips what is there; what cannot be found is an error, not a silent skip; the audit trail
//! says what left.

use std::collections::BTreeMap;
use std::io::Read;

use bytes::Bytes;
use serde_json::Value;
use tessera::storage::{BlobKey, BlobStore};

use crate::helpers::*;
use crate::operations::{command_records, tessera};

/// Three studies of the testdata: two single-instance studies and a CT.
const FILES: [&str; 4] = [
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle_2frame.dcm",
];

struct Stored {
    study: String,
    series: String,
    sop: String,
    bytes: Bytes,
}

async fn store(app: &TestApp) -> Vec<Stored> {
    let mut out = Vec::new();
    for name in FILES {
        let bytes = read_testdata(name);
        let result = app.stow_one(&bytes).await;
        assert_eq!(result.status, 200, "{name}: {}", result.body);
        let sop = result.referenced()[0]["00081155"]["Value"][0]
            .as_str()
            .unwrap()
            .to_string();
        let uid = tessera_dicom::uid::SopInstanceUid::parse(&sop).unwrap();
        let row = app.state.index.instance(&uid).await.unwrap().unwrap();
        out.push(Stored {
            study: row.study_uid,
            series: row.series_uid,
            sop,
            bytes,
        });
    }
    out
}

fn name(s: &Stored) -> String {
    format!("{}/{}/{}.dcm", s.study, s.series, s.sop)
}

/// Every file under a folder, by its path relative to the folder.
pub(crate) fn files_under(root: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn export_to_a_folder_a_zip_s3_and_stow_byte_for_byte() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let stored = store(&app).await;
    let settings = app.settings.clone();
    let out = tempfile::tempdir().unwrap();

    // One study by UID and one series by UID (of another study) to a folder.
    let folder = out.path().join("folder");
    let folder_arg = folder.to_string_lossy().into_owned();
    let report = out.path().join("report.jsonl");
    let report_arg = report.to_string_lossy().into_owned();
    let ran = tessera(
        &[
            "export",
            "--study",
            &stored[0].study,
            "--series",
            &stored[2].series,
            "--to",
            &folder_arg,
            "--report",
            &report_arg,
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("exported 2 instances"),
        "{}",
        ran.stdout
    );
    let files = files_under(&folder);
    let expected: BTreeMap<String, Vec<u8>> = [&stored[0], &stored[2]]
        .iter()
        .map(|s| (name(s), s.bytes.to_vec()))
        .collect();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(
        files == expected,
        "exported bytes differ from the stored files"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["status"] == "exported"));
    assert_eq!(
        lines[0]["bytes"].as_u64().unwrap(),
        stored[0].bytes.len() as u64
    );

    // Again: nothing rewritten.
    let modified = std::fs::metadata(folder.join(name(&stored[0])))
        .unwrap()
        .modified()
        .unwrap();
    let ran = tessera(
        &[
            "export",
            "--study",
            &stored[0].study,
            "--series",
            &stored[2].series,
            "--to",
            &folder_arg,
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("exported 0 instances"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("2 already there"), "{}", ran.stdout);
    assert_eq!(
        std::fs::metadata(folder.join(name(&stored[0])))
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );

    // A query's studies to a zip: every MR study (one here).
    let zip_path = out.path().join("mr.zip");
    let zip_arg = zip_path.to_string_lossy().into_owned();
    let ran = tessera(
        &[
            "export",
            "--query",
            "ModalitiesInStudy=MR",
            "--to",
            &zip_arg,
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(archive.len(), 1);
    let mut member = archive.by_index(0).unwrap();
    assert_eq!(member.name(), name(&stored[1]));
    let mut bytes = Vec::new();
    member.read_to_end(&mut bytes).unwrap();
    assert!(bytes == stored[1].bytes.to_vec(), "zip member differs");
    drop(member);
    // A zip is never overwritten.
    let ran = tessera(
        &[
            "export",
            "--query",
            "ModalitiesInStudy=MR",
            "--to",
            &zip_arg,
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stdout);
    assert!(ran.stderr.contains("exists already"), "{}", ran.stderr);

    // Everything to an S3 prefix.
    let s3 = fresh_s3_url();
    let ran = tessera(
        &[
            "export",
            "--study",
            &stored[0].study,
            "--study",
            &stored[1].study,
            "--study",
            &stored[2].study,
            "--study",
            &stored[3].study,
            "--to",
            &s3,
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("exported 4 instances"),
        "{}",
        ran.stdout
    );
    let bucket = BlobStore::from_url(&s3, false).unwrap();
    for s in &stored {
        let got = bucket.get(&BlobKey::from_stored(name(s))).await.unwrap();
        assert!(got == s.bytes, "{} differs in the bucket", s.sop);
    }

    // Two studies to another archive over STOW-RS, and again: already there.
    let target = TestApp::spawn(Backend::SQLITE_MEMORY).await;
    let dicomweb = format!("{}/dicom-web", target.base);
    for (run, expected) in [(1, "exported 2 instances"), (2, "exported 0 instances")] {
        let ran = tessera(
            &[
                "export",
                "--study",
                &stored[1].study,
                "--study",
                &stored[3].study,
                "--to",
                &dicomweb,
            ],
            &settings,
            &[],
        )
        .await;
        assert_eq!(ran.code, 0, "run {run}: {}\n{}", ran.stdout, ran.stderr);
        assert!(ran.stdout.contains(expected), "run {run}: {}", ran.stdout);
    }
    assert_eq!(target.counts().await, (2, 2, 2));
    for s in [&stored[1], &stored[3]] {
        assert!(
            target.stored_bytes(&s.sop).await == s.bytes,
            "{} differs",
            s.sop
        );
    }
    target.stop().await;

    // What is not stored is an error, and nothing is written.
    let nowhere = out.path().join("nowhere");
    let ran = tessera(
        &[
            "export",
            "--study",
            "1.2.3.4.5.6.7",
            "--to",
            &nowhere.to_string_lossy(),
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stdout);
    assert!(
        ran.stderr.contains("no such study is stored"),
        "{}",
        ran.stderr
    );
    assert!(!nowhere.exists());

    // The audit trail: one Export (110106, read) per run that wrote, naming the studies.
    let records = command_records(&settings, "export").await;
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(records.iter().all(|r| r.0 == "110106" && r.1 == "R"));
    assert!(records[0].2.contains(&stored[0].study), "{records:?}");
    assert!(records[0].2.contains("2 instances written"), "{records:?}");
    app.stop().await;
}
