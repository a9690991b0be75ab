//! The operators' commands of the real binary, on the index and store a server used:
//! `tessera reindex` after the database is lost gives the same QIDO and WADO answers back,
//! `tessera check` finds each kind of damage and `--repair` fixes what is safe, and
//! `tessera migrate` runs alone for nodes started with `--migrate false`. On local files, S3
//! (Garage) and Azure Blob Storage (Azurite).

use std::process::Stdio;

use bytes::Bytes;
use serde_json::Value;
use sqlx::{AnyConnection, Connection};
use tessera::config::Settings;
use tessera::storage::BlobKey;

use crate::helpers::*;
use crate::wado_support::{get, parse_multipart, DICOM_ANY};

backend_tests! {
    [sqlite_local, postgres_s3, sqlite_azure] => [
        reindex_gives_the_same_answers_back,
        check_finds_each_damage_and_repairs_what_is_safe,
    ];
}

/// What a command printed and how it ended.
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Run `tessera ARGS` on the index and store of these settings, as an operator would.
pub(crate) async fn tessera(args: &[&str], settings: &Settings, env: &[(&str, &str)]) -> Ran {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(&settings.data_dir)
        .env("TESSERA_DATABASE_URL", settings.database_url())
        .env("TESSERA_STORAGE_URL", settings.storage_url())
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("run tessera");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every testdata instance the archive accepts (some files share a SOP Instance UID and are
/// refused as duplicates); the number stored.
async fn store_corpus(app: &TestApp) -> usize {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("testdata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dcm"))
        .collect();
    names.sort();
    let mut stored = 0;
    for name in names {
        let result = app.stow_one(&read_testdata(&name)).await;
        if result.status == 200 {
            stored += 1;
        }
    }
    assert!(stored >= 20, "only {stored} testdata instances stored");
    stored
}

async fn json(app: &TestApp, path: &str) -> Value {
    let response = get(app, path, &[("accept", "application/dicom+json")]).await;
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// A JSON answer as text with this server's address taken out (RetrieveURLs name it) and
/// its array items sorted (the order of equal sort keys is the database's).
fn normal(value: &Value, base: &str) -> String {
    let mut items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(Value::to_string).collect(),
        other => vec![other.to_string()],
    };
    items.sort();
    items.join("\n").replace(base, "BASE")
}

fn uid(item: &Value, tag: &str) -> String {
    item[tag]["Value"][0].as_str().unwrap().to_string()
}

/// Everything a client sees of the archive: the studies, and per study its series,
/// instances and metadata, every instance as retrieved, and the first frame of each that
/// has pixels.
async fn answers(app: &TestApp) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    let studies = json(app, "/dicom-web/studies?includefield=all").await;
    out.push(("studies".into(), Bytes::from(normal(&studies, &app.base))));
    let mut study_uids: Vec<String> = studies
        .as_array()
        .unwrap()
        .iter()
        .map(|s| uid(s, "0020000D"))
        .collect();
    study_uids.sort();
    for study in study_uids {
        for what in [
            "series?includefield=all",
            "instances?includefield=all",
            "metadata",
        ] {
            let answer = json(app, &format!("/dicom-web/studies/{study}/{what}")).await;
            out.push((
                format!("{study}/{what}"),
                Bytes::from(normal(&answer, &app.base)),
            ));
        }
        let instances = json(app, &format!("/dicom-web/studies/{study}/instances")).await;
        for instance in instances.as_array().unwrap() {
            let series = uid(instance, "0020000E");
            let sop = uid(instance, "00080018");
            let path = format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}");
            let response = get(app, &path, &[("accept", DICOM_ANY)]).await;
            assert_eq!(response.status(), 200, "{path}");
            let content_type = crate::wado_support::content_type(&response);
            let body = response.bytes().await.unwrap();
            for part in parse_multipart(&content_type, &body, &path) {
                out.push((path.clone(), part.body));
            }
            if instance.get("00280010").is_some() {
                let frames = format!("{path}/frames/1");
                let accept =
                    "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
                let response = get(app, &frames, &[("accept", accept)]).await;
                let status = response.status().as_u16();
                let content_type = crate::wado_support::content_type(&response);
                let body = response.bytes().await.unwrap();
                out.push((format!("{frames} status"), Bytes::from(status.to_string())));
                if status == 200 {
                    for part in parse_multipart(&content_type, &body, &frames) {
                        out.push((frames.clone(), part.body));
                    }
                }
            }
        }
    }
    out
}

/// A connection to the index the settings name.
pub(crate) async fn index_connection(settings: &Settings) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&settings.database_url())
        .await
        .expect("connect to the index")
}

/// The audit records a command wrote: (event code, action, method, detail).
pub(crate) async fn command_records(
    settings: &Settings,
    method: &str,
) -> Vec<(String, String, String)> {
    let mut conn = index_connection(settings).await;
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT event_type, action, detail FROM audit_events WHERE method = $1 ORDER BY id",
    )
    .bind(method)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(event, action, detail)| (event, action, detail.unwrap_or_default()))
        .collect()
}

/// A database that is not there any more: a new, empty one in its place (PostgreSQL), or
/// the SQLite file and its journal removed.
async fn lose_the_database(settings: &mut Settings) {
    if settings.database_url().starts_with("postgres") {
        settings.database_url = Some(fresh_postgres_database().await);
    } else {
        for name in ["index.db", "index.db-wal", "index.db-shm"] {
            let path = settings.data_dir.join(name);
            if path.exists() {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
}

async fn reindex_gives_the_same_answers_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = store_corpus(&app).await;
    let before = answers(&app).await;
    let (studies, series, instances) = app.counts().await;
    assert_eq!(instances as usize, stored);
    let mut settings = app.settings.clone();
    let dir = app.dir.clone();
    app.stop().await;

    lose_the_database(&mut settings).await;
    let ran = tessera(&["reindex"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains(&format!("{stored} blobs: {stored} instances indexed")),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains(", 0 failed;"), "{}", ran.stdout);

    let app = TestApp::start(settings.clone(), dir.clone()).await;
    assert_eq!(app.counts().await, (studies, series, instances));
    let after = answers(&app).await;
    assert_eq!(before.len(), after.len());
    for ((what, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{what} differs after reindex");
    }
    // The change feed of the new index lists every instance once, as created.
    let changes = app.state.index.changes(0, 10_000, false).await.unwrap();
    assert_eq!(changes.len(), stored);
    app.stop().await;

    // Run again: nothing to do, nothing doubled.
    let ran = tessera(&["reindex"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains(&format!(
            "{stored} blobs: 0 instances indexed (0.0 MB), {stored} already indexed"
        )),
        "{}",
        ran.stdout
    );
    // Every blob read back whole matches the hash the rebuild recorded.
    let ran = tessera(&["check", "--verify"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("no problems found"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains(&format!("{stored} read and verified")),
        "{}",
        ran.stdout
    );
    let records = command_records(&settings, "reindex").await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].0.as_str(), records[0].1.as_str()),
        ("110107", "C")
    );
    assert!(records[0]
        .2
        .contains(&format!("{stored} instances indexed")));
}

async fn check_finds_each_damage_and_repairs_what_is_safe(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let files = [
        "CT_small.dcm",
        "MR_small.dcm",
        "JPEG2000.dcm",
        "SC_rgb_rle_2frame.dcm",
        "JPGExtended.dcm",
    ];
    let mut rows = Vec::new();
    for name in files {
        let result = app.stow_one(&read_testdata(name)).await;
        assert_eq!(result.status, 200, "{name}: {}", result.body);
        let item = &result.referenced()[0];
        let sop = item["00081155"]["Value"][0].as_str().unwrap().to_string();
        let sop_uid = tessera_dicom::uid::SopInstanceUid::parse(&sop).unwrap();
        let row = app.state.index.instance(&sop_uid).await.unwrap().unwrap();
        rows.push(row);
    }
    let store = app.state.store.clone();
    let settings = app.settings.clone();
    // Kept to the end: the data folder goes when the last holder of it does.
    let dir = app.dir.clone();
    let clean = tessera(&["check", "--verify"], &settings, &[]).await;
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert!(
        clean.stdout.contains("checked 5 instance rows and 5 blobs"),
        "{}",
        clean.stdout
    );

    // The damage: a blob gone, one cut short, one with a byte changed, a blob no row
    // references, and a study whose count is wrong.
    store.delete(&rows[0].blob_key).await.unwrap();
    let whole = store.get(&rows[1].blob_key).await.unwrap();
    store
        .put(&rows[1].blob_key, whole.slice(..whole.len() - 10))
        .await
        .unwrap();
    let mut flipped = store.get(&rows[2].blob_key).await.unwrap().to_vec();
    let at = flipped.len() - 100;
    flipped[at] ^= 0xff;
    store
        .put(&rows[2].blob_key, Bytes::from(flipped))
        .await
        .unwrap();
    let orphan = BlobKey::from_stored("instances/1.2.3/1.2.3.4/1.2.3.4.5.00000000000000aa.dcm");
    store
        .put(&orphan, read_testdata("CT_small.dcm"))
        .await
        .unwrap();
    let mut conn = index_connection(&settings).await;
    sqlx::query("UPDATE studies SET num_instances = num_instances + 5 WHERE study_uid = $1")
        .bind(&rows[3].study_uid)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    // Every blob without a row counts (no grace), as the sweeper would see them later.
    let no_grace = [("TESSERA_SWEEP_GRACE", "0")];
    let report = settings.data_dir.join("check.jsonl");
    let report_arg = report.to_string_lossy().into_owned();
    let ran = tessera(
        &["check", "--verify", "--report", &report_arg],
        &settings,
        &no_grace,
    )
    .await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    let findings: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["sop"]
                    .as_str()
                    .or(f["key"].as_str())
                    .or(f["study"].as_str())
                    .unwrap(),
            )
        })
        .collect();
    let mut expected = vec![
        ("missing_blob", rows[0].sop_uid.as_str()),
        ("size_mismatch", rows[1].sop_uid.as_str()),
        ("hash_mismatch", rows[2].sop_uid.as_str()),
        ("orphan_blob", orphan.as_str()),
        ("count_mismatch", rows[3].study_uid.as_str()),
    ];
    let mut found = kinds.clone();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "{}", ran.stdout);
    let size = findings
        .iter()
        .find(|f| f["kind"] == "size_mismatch")
        .unwrap();
    assert_eq!(size["recorded"], rows[1].blob_size);
    assert_eq!(size["actual"], rows[1].blob_size - 10);
    let counts = findings
        .iter()
        .find(|f| f["kind"] == "count_mismatch")
        .unwrap();
    assert_eq!(
        counts["recorded_instances"].as_i64().unwrap(),
        counts["actual_instances"].as_i64().unwrap() + 5
    );
    assert!(findings.iter().all(|f| f["repaired"] == false));
    for line in [
        "missing_blob: 1 (0 repaired)",
        "size_mismatch: 1 (0 repaired)",
        "hash_mismatch: 1 (0 repaired)",
        "orphan_blob: 1 (0 repaired)",
        "count_mismatch: 1 (0 repaired)",
    ] {
        assert!(ran.stdout.contains(line), "{line} not in:\n{}", ran.stdout);
    }
    assert!(
        store.get(&orphan).await.is_ok(),
        "a check alone changes nothing"
    );

    // --repair: the orphan deleted and the count fixed; damaged and missing blobs only
    // reported, so the exit status still says something is wrong.
    let ran = tessera(&["check", "--repair"], &settings, &no_grace).await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("orphan_blob: 1 (1 repaired)"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("count_mismatch: 1 (1 repaired)"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("missing_blob: 1 (0 repaired)"),
        "{}",
        ran.stdout
    );
    assert!(matches!(
        store.get(&orphan).await,
        Err(tessera::storage::StorageError::NotFound { .. })
    ));
    let app2 = TestApp::start(settings.clone(), dir.clone()).await;
    let study = app2.study(&rows[3].study_uid).await.unwrap();
    assert_eq!(
        study.num_instances,
        counts["actual_instances"].as_i64().unwrap()
    );
    let before = app2.state.index.latest_change(None).await.unwrap().unwrap();

    // --forget-missing: the row of the missing blob goes, as a DELETE would take it.
    let ran = tessera(
        &["check", "--repair", "--forget-missing"],
        &settings,
        &no_grace,
    )
    .await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("missing_blob: 1 (1 repaired)"),
        "{}",
        ran.stdout
    );
    let sop = tessera_dicom::uid::SopInstanceUid::parse(&rows[0].sop_uid).unwrap();
    assert!(app2.state.index.instance(&sop).await.unwrap().is_none());
    let changes = app2
        .state
        .index
        .changes(before.seq, 10, false)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].sop_uid, rows[0].sop_uid);
    app2.stop().await;
    app.stop().await;

    // What is left: the two damaged blobs.
    let ran = tessera(&["check"], &settings, &no_grace).await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("checked 4 instance rows and 4 blobs"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("size_mismatch: 1 (0 repaired)"),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("missing_blob"), "{}", ran.stdout);

    let records = command_records(&settings, "check --repair").await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].0.as_str(), records[0].1.as_str()),
        ("110103", "U")
    );
    assert!(records[0].2.contains("2 repaired"), "{records:?}");
    assert_eq!(command_records(&settings, "check").await.len(), 3);
}

#[tokio::test]
async fn migrate_runs_alone_and_nodes_can_refuse_to_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path()).unwrap();
    settings.database_url = Some(fresh_postgres_database().await);

    // A node told not to migrate refuses an empty database, saying what to do.
    let no_migrate = [("TESSERA_MIGRATE", "false")];
    let ran = tessera(&["check"], &settings, &no_migrate).await;
    assert_eq!(ran.code, 2, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("not up to date"), "{}", ran.stderr);
    assert!(ran.stderr.contains("0001 core"), "{}", ran.stderr);
    assert!(ran.stderr.contains("tessera migrate"), "{}", ran.stderr);
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    let served = serve
        .args(["serve", "--listen", "127.0.0.1:0", "--migrate", "false"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("TESSERA_DATABASE_URL", settings.database_url())
        .output()
        .await
        .unwrap();
    assert!(!served.status.success());
    assert!(String::from_utf8_lossy(&served.stderr).contains("not up to date"));

    let ran = tessera(&["migrate"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "applied 0001 core",
            "applied 0002 changes",
            "applied 0003 access",
            "applied 0004 blob hash",
            "applied 0005 jobs",
            "applied 0006 partitions",
            "applied 0007 deid mapping",
            "index schema now at version 7"
        ]
    );
    let ran = tessera(&["migrate"], &settings, &[]).await;
    assert_eq!(ran.stdout.trim(), "index schema up to date (version 7)");

    // Now the node starts without migrating, and stores.
    let node = crate::processes::Node::start(
        dir.path(),
        &[
            ("TESSERA_DATABASE_URL", settings.database_url()),
            ("TESSERA_MIGRATE", "false".into()),
        ],
    )
    .await;
    let stored = node.stow(&[read_testdata("CT_small.dcm")]).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    node.stop();

    // Each migration is in the audit trail: a Security Alert of Software Configuration.
    let records = command_records(&settings, "migrate").await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].0.as_str(), records[0].1.as_str()),
        ("110113", "U")
    );
    assert!(
        records[0].2.contains("migrated to version 7"),
        "{records:?}"
    );
    assert!(records[1].2.contains("already at version 7"), "{records:?}");
}
