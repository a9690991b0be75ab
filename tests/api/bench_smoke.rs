//! The benchmark's smoke run (tiny data) against a real server, so the bench cannot rot.
//! It measures nothing here; `tessera bench` without `--smoke` does (see README).

use clap::Parser;
use tessera::bench::BenchArgs;

use crate::helpers::*;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: BenchArgs,
}

#[tokio::test]
async fn bench_smoke_run_stores_everything() {
    let app = TestApp::spawn(IndexKind::Sqlite, StorageKind::Local).await;
    let url = app.url("/dicom-web");
    let wrapper = Wrapper::try_parse_from(["bench", "--url", url.as_str(), "--smoke"]).unwrap();
    tessera::bench::run(wrapper.args)
        .await
        .expect("smoke run failed");
    // Smoke: batches 1 and 10 at concurrency 1 and 2, 20 instances per cell.
    let (_, _, instances) = app.counts().await;
    assert_eq!(instances, 80);
    assert_eq!(app.blob_count().await, 80);
}

#[tokio::test]
async fn qido_bench_smoke_run_populates_and_queries() {
    let app = TestApp::spawn(IndexKind::Sqlite, StorageKind::Memory).await;
    let url = app.url("/dicom-web");
    let args = [
        "bench",
        "--url",
        url.as_str(),
        "--workload",
        "qido",
        "--smoke",
    ];
    let wrapper = Wrapper::try_parse_from(args).unwrap();
    tessera::bench::run(wrapper.args)
        .await
        .expect("QIDO smoke run failed");
    let (_, _, instances) = app.counts().await;
    assert_eq!(instances, 300);
}

#[tokio::test]
async fn wado_bench_smoke_run_stores_and_retrieves() {
    let app = TestApp::spawn(IndexKind::Sqlite, StorageKind::Memory).await;
    let url = app.url("/dicom-web");
    let args = [
        "bench",
        "--url",
        url.as_str(),
        "--workload",
        "wado",
        "--smoke",
    ];
    let wrapper = Wrapper::try_parse_from(args).unwrap();
    tessera::bench::run(wrapper.args)
        .await
        .expect("WADO smoke run failed");
    // Smoke: a 20-slice CT series and one 20-frame instance in one study, a second 20-slice
    // CT study (cold study metadata, the cold replay at 100 in flight), and a study of a
    // 10-slice MR series and a 10-frame RGB ultrasound cine.
    let (studies, series, instances) = app.counts().await;
    assert_eq!((studies, series, instances), (3, 5, 52));
}

/// The side-by-side path (`--compare`, as against Orthanc) with a second Tessera as the
/// compare server, then `--summarize` over the report, so neither can rot.
#[tokio::test]
async fn compare_smoke_run_measures_both_servers_and_summarizes() {
    let target = TestApp::spawn(IndexKind::Sqlite, StorageKind::Local).await;
    let other = TestApp::spawn(IndexKind::Sqlite, StorageKind::Memory).await;
    let (t_url, c_url) = (target.url("/dicom-web"), other.url("/dicom-web"));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let pid = std::process::id().to_string();
    let args = [
        "bench",
        "--target",
        t_url.as_str(),
        "--target-pid",
        pid.as_str(),
        "--compare",
        c_url.as_str(),
        "--compare-pid",
        pid.as_str(),
        "--compare-first",
        "--workload",
        "all",
        "--smoke",
        "--json",
        json.to_str().unwrap(),
    ];
    let wrapper = Wrapper::try_parse_from(args).unwrap();
    tessera::bench::run(wrapper.args)
        .await
        .expect("compare smoke run failed");
    // Each server got the whole workload: STOW 80, QIDO corpus 300, WADO 52 instances.
    for app in [&target, &other] {
        let (_, _, instances) = app.counts().await;
        assert_eq!(instances, 80 + 300 + 52);
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = report["comparison"]["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for expected in [
        "STOW 10/req c2",
        "QIDO PatientID c2",
        "study metadata warm c8",
        "OHIF replay cold c100: time to all frames",
        "OHIF replay warm c25: frames/s",
        "study retrieve #1 c1",
        "MR replay cold c25: time to all frames",
        "US cine frames cold c25",
        "US cine frames warm c25",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for row in rows {
        let ratio = row["ratio"].as_f64();
        assert!(
            ratio.is_some_and(|r| r > 0.0),
            "no ratio for {}: {row}",
            row["name"]
        );
        assert!(row["target"]["server_cpu_s"].as_f64().is_some());
    }
    assert_eq!(
        report["comparison"]["verdicts"].as_array().unwrap().len(),
        8
    );
    assert!(
        report["target"]["wado"]["replays"]
            .as_array()
            .unwrap()
            .len()
            == 5
    );

    let summary = dir.path().join("summary.json");
    let args = [
        "bench",
        "--summarize",
        json.to_str().unwrap(),
        json.to_str().unwrap(),
        "--json",
        summary.to_str().unwrap(),
    ];
    let wrapper = Wrapper::try_parse_from(args).unwrap();
    tessera::bench::run(wrapper.args)
        .await
        .expect("summarize failed");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let first = &summary["rows"][0];
    assert_eq!(first["name"], rows[0]["name"]);
    assert_eq!(first["ratio"]["n"], 2);
    // Recomputed from the figures as read back from JSON, whose parsing may differ from the
    // written value in the last bit: equal to within rounding, not bit for bit.
    let (median, ratio) = (first["ratio"]["median"].as_f64(), rows[0]["ratio"].as_f64());
    let (median, ratio) = (median.unwrap(), ratio.unwrap());
    assert!(
        (median - ratio).abs() <= 1e-12 * ratio.abs(),
        "{median} vs {ratio}"
    );
}
