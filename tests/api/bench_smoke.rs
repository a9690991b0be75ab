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
    // Smoke: a 20-slice CT series and one 20-frame instance in one study.
    let (studies, series, instances) = app.counts().await;
    assert_eq!((studies, series, instances), (1, 2, 21));
}
