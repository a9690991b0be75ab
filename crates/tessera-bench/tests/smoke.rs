//! The benchmark's smoke runs (tiny data): the `tessera-bench` binary, as built, against
//! real Tessera servers started in this process, so the bench cannot rot. It measures
//! nothing here; `tessera-bench` without `--smoke` does (docs/benchmarks.md).

use std::process::Command;

use futures::StreamExt;
use tessera::app::Application;
use tessera::config::Settings;
use tessera::http::AppState;
use tokio::sync::oneshot;

/// A Tessera on SQLite and local disk (or memory) in a temporary folder, on port 0.
struct Server {
    base: String,
    state: AppState,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start(memory_blobs: bool) -> Server {
        Server::start_with(memory_blobs, |_| {}).await
    }

    async fn start_with(memory_blobs: bool, change: impl FnOnce(&mut Settings)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_data_dir(dir.path()).unwrap();
        settings.sweep_interval = 0;
        if memory_blobs {
            settings.storage_url = Some("memory://".into());
        }
        change(&mut settings);
        let app = Application::build(settings).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Server {
            base,
            state,
            _dir: dir,
            _stop: stop,
        }
    }

    fn dicomweb(&self) -> String {
        format!("{}/dicom-web", self.base)
    }

    /// (studies, series, instances) in the index.
    async fn counts(&self) -> (i64, i64, i64) {
        self.state.index.counts().await.unwrap()
    }

    async fn blob_count(&self) -> usize {
        let items: Vec<_> = self.state.store.list_instances().collect().await;
        assert!(items.iter().all(Result::is_ok), "listing blobs failed");
        items.len()
    }
}

/// Run the built `tessera-bench` with these arguments (without blocking the servers'
/// runtime); panics with its output unless it exits 0.
async fn bench(args: &[&str]) -> String {
    bench_with_token(args, None).await
}

/// [`bench`] with `TESSERA_BENCH_TOKEN` set to `token` (and removed otherwise).
async fn bench_with_token(args: &[impl AsRef<str>], token: Option<&str>) -> String {
    let output = run_bench(args, token).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tessera-bench failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The built `tessera-bench` with these arguments and `TESSERA_BENCH_TOKEN`, whatever its
/// exit status.
async fn run_bench(args: &[impl AsRef<str>], token: Option<&str>) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let token = token.map(String::from);
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera-bench"));
        command.args(&args).env_remove("TESSERA_BENCH_TOKEN");
        if let Some(token) = token {
            command.env("TESSERA_BENCH_TOKEN", token);
        }
        command.output().expect("start tessera-bench")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke_run_stores_everything() {
    let app = Server::start(false).await;
    let url = app.dicomweb();
    bench(&["--url", url.as_str(), "--smoke"]).await;
    // Smoke: batches 1 and 10 at concurrency 1 and 2, 20 instances per cell.
    let (_, _, instances) = app.counts().await;
    assert_eq!(instances, 80);
    assert_eq!(app.blob_count().await, 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qido_bench_smoke_run_populates_and_queries() {
    let app = Server::start(true).await;
    let url = app.dicomweb();
    let args = ["--url", url.as_str(), "--workload", "qido", "--smoke"];
    bench(&args).await;
    let (_, _, instances) = app.counts().await;
    assert_eq!(instances, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wado_bench_smoke_run_stores_and_retrieves() {
    let app = Server::start(true).await;
    let url = app.dicomweb();
    let args = ["--url", url.as_str(), "--workload", "wado", "--smoke"];
    bench(&args).await;
    // Smoke: a 20-slice CT series and one 20-frame instance in one study, a second 20-slice
    // CT study (cold study metadata, the cold replay at 100 in flight), and a study of a
    // 10-slice MR series and a 10-frame RGB ultrasound cine.
    let (studies, series, instances) = app.counts().await;
    assert_eq!((studies, series, instances), (3, 5, 52));
}

/// The side-by-side path (`--compare`, as against Orthanc) with a second Tessera as the
/// compare server, then `--summarize` over the report, so neither can rot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_smoke_run_measures_both_servers_and_summarizes() {
    let target = Server::start(false).await;
    let other = Server::start(true).await;
    let (t_url, c_url) = (target.dicomweb(), other.dicomweb());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let pid = std::process::id().to_string();
    let args = [
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
    bench(&args).await;
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
        "--summarize",
        json.to_str().unwrap(),
        json.to_str().unwrap(),
        "--json",
        summary.to_str().unwrap(),
    ];
    bench(&args).await;
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

/// What scripts/bench/auth.sh does: a server requiring authentication, the token from
/// TESSERA_BENCH_TOKEN on every request; the data stored once under a fixed UID root, then
/// measured again with `--stored` (nothing stored a second time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_data_is_measured_again_with_a_bearer_token() {
    let app = Server::start_with(true, |s| s.auth = tessera::auth::AuthMode::Required).await;
    let settings = Settings::for_data_dir(app._dir.path()).unwrap();
    let roles = ["read".to_string(), "write".to_string()];
    let (key, _) = tessera::keys::create(&settings, "bench", &roles)
        .await
        .unwrap();
    let url = app.dicomweb();
    let qido = ["--url", url.as_str(), "--workload", "qido", "--smoke"];
    let frames = ["--url", url.as_str(), "--workload", "frames", "--smoke"];
    let qido_root = ["--uid-root", "2.25.4711"];
    let frames_root = ["--uid-root", "2.25.4712"];
    let args = |base: &[&str], root: &[&str], more: &[&str]| -> Vec<String> {
        [base, root, more]
            .concat()
            .into_iter()
            .map(String::from)
            .collect()
    };

    // Without the token every request is refused: the run fails.
    let refused = run_bench(&args(&frames, &frames_root, &[]), None).await;
    assert!(!refused.status.success(), "ran without a token");
    assert_eq!(app.counts().await, (0, 0, 0));

    let header = ["--header", "X-Bench-Run: smoke"];
    bench_with_token(&args(&qido, &qido_root, &header), Some(&key)).await;
    let out = bench_with_token(&args(&frames, &frames_root, &header), Some(&key)).await;
    assert!(out.contains("random multi-frame frames"), "{out}");
    let stored = app.counts().await;
    // The QIDO corpus (300 instances) and the multi-frame instance in its own study.
    assert_eq!(stored.2, 301);

    let again = ["--stored", "--populate", "300"];
    let out = bench_with_token(&args(&qido, &qido_root, &again), Some(&key)).await;
    assert!(out.contains("--stored"), "{out}");
    let out = bench_with_token(&args(&frames, &frames_root, &["--stored"]), Some(&key)).await;
    assert!(out.contains("stored earlier"), "{out}");
    assert_eq!(app.counts().await, stored);

    // --stored under another root finds nothing: the checks fail.
    let other = ["--uid-root", "2.25.4713", "--stored"];
    let missing = run_bench(&args(&frames, &other, &[]), Some(&key)).await;
    assert!(!missing.status.success(), "found frames never stored");
}
