//! Path parameters that try to leave their place (issue 17): dot segments, slashes and
//! backslashes, percent-encoded, double-encoded and overlong UTF-8 forms, NUL bytes and very
//! long values, in every parameter of every kind of route. Each is refused with 400 or 404
//! before it reaches the blob store or the index, and nothing outside is ever served. Sent
//! over raw TCP: HTTP clients resolve dot segments before sending.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{read_testdata, Backend, TestApp};
use crate::wado_support::{exp, instance_path, sop_of};

const SENTINEL: &str = "TESSERA-TRAVERSAL-SENTINEL";

pub(crate) const HOSTILE: &[&str] = &[
    "..",
    "../..",
    "../../secret.txt",
    "%2e%2e",
    "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "..%2f..%2f..%2fsecret.txt",
    "..%5c..%5csecret.txt",
    "%252e%252e%252fsecret.txt",
    "%c0%ae%c0%ae%c0%afsecret.txt",
    "%e0%80%ae%e0%80%ae",
    "1.2.3%00.dcm",
    "1.2.3%2f..%2f..%2fsecret.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
];

pub(crate) async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no status line in {answer:?}"));
    (status, answer)
}

#[tokio::test]
async fn traversal_in_any_path_parameter_is_refused() {
    let viewer_dir = tempfile::tempdir().unwrap();
    let viewer = viewer_dir.path().join("viewer");
    std::fs::create_dir_all(&viewer).unwrap();
    std::fs::write(viewer.join("index.html"), "<html>viewer</html>").unwrap();
    // Things a traversal would find: beside the viewer, and in the data folder.
    std::fs::write(viewer_dir.path().join("secret.txt"), SENTINEL).unwrap();
    let viewer_for_app = viewer.clone();
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, move |s| {
        s.viewer_dir = Some(viewer_for_app)
    })
    .await;
    std::fs::write(app.dir.path().join("secret.txt"), SENTINEL).unwrap();
    assert_eq!(
        app.stow_one(&read_testdata("CT_small.dcm")).await.status,
        200
    );
    let ct = exp("CT_small.dcm");
    let study = ct["study_instance_uid"].as_str().unwrap();
    let series = ct["series_instance_uid"].as_str().unwrap();
    let sop = sop_of(&ct);
    let (ok, _) = raw_get(&app, &format!("{}/metadata", instance_path(&ct))).await;
    assert_eq!(ok, 200, "the stored instance itself is readable");

    let long = "1".repeat(5000);
    let mut hostile: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    hostile.push(long);
    let mut checked = 0;
    for bad in &hostile {
        let paths = [
            format!("/dicom-web/studies/{bad}"),
            format!("/dicom-web/studies/{bad}/metadata"),
            format!("/dicom-web/studies/{study}/series/{bad}"),
            format!("/dicom-web/studies/{study}/series/{bad}/metadata"),
            format!("/dicom-web/studies/{study}/series/{series}/instances/{bad}"),
            format!("/dicom-web/studies/{study}/series/{series}/instances/{bad}/frames/1"),
            format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/frames/{bad}"),
            format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/bulkdata/{bad}"),
            format!(
                "/dicom-web/studies/{study}/series/{series}/instances/{sop}/rendered?window={bad}"
            ),
            format!("/dicom-web/studies/{bad}/thumbnail"),
            format!("/fhir/ImagingStudy/{bad}"),
            format!("/fhir/Endpoint/{bad}"),
            format!("/fhir/AuditEvent/{bad}"),
            format!("/viewer/{bad}"),
        ];
        for path in &paths {
            let (status, answer) = raw_get(&app, path).await;
            if path.starts_with("/viewer/") && status == 200 {
                // The viewer answers unknown paths with its own page (a single-page app).
                assert!(answer.ends_with("<html>viewer</html>"), "{path}: {answer}");
                checked += 1;
                continue;
            }
            assert!(
                matches!(status, 400 | 404),
                "{path}: {status} (expected 400 or 404)\n{answer}"
            );
            assert!(
                !answer.contains(SENTINEL),
                "{path} served a file outside: {answer}"
            );
            assert!(!answer.contains("root:"), "{path} served /etc/passwd");
            checked += 1;
        }
    }
    assert_eq!(checked, hostile.len() * 14);
    // Nothing was written or removed along the way.
    assert_eq!(app.counts().await, (1, 1, 1));
    assert_eq!(app.blob_count().await, 1);
}
