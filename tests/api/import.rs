//! `tessera import` run as an operator runs it (the built binary, flags and environment): a
//! folder tree with nested folders, hidden files and things that are not DICOM, a zip file,
//! a DICOMDIR made by DCMTK's dcmmkdir, a raw data set, broken files. Directly into the
//! embedded default (SQLite and local files) and into PostgreSQL, and with `--to` into a
//! running Tessera (bit-exact through WADO-RS), with and without the right API key. Every
//! run is checked through its report file, its summary, its exit status and what the
//! archive then holds; a second run must find everything already there and write nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tessera::config::Settings;
use tessera::ops::Archive;
use tessera_dicom::uid::SopInstanceUid;

use crate::helpers::*;
use crate::processes::Node;
use crate::suite::{ct_variant, ct_variant_uid};

/// One file the fixture holds and what must become of it.
#[derive(Debug, Clone)]
struct Expected {
    path: PathBuf,
    member: Option<String>,
    status: &'static str,
    reason: Option<&'static str>,
    /// The SOP Instance UID, for what is stored.
    sop: Option<String>,
    /// The bytes the archive must hold for it (the file's own, or with file meta added).
    stored: Option<Bytes>,
    /// The file's size, as the report gives it.
    bytes: u64,
}

/// The folder tree, zip file and DICOMDIR of these tests, and what each file must become.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// What to give `tessera import`.
    sources: Vec<PathBuf>,
    expected: Vec<Expected>,
}

const MR_SOP: &str = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457";

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut expected = Vec::new();
        let src = root.join("src");
        let mut file = |relative: &str,
                        data: &[u8],
                        status: &'static str,
                        reason: Option<&'static str>,
                        sop: Option<String>| {
            let path = src.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
            if status != "hidden" {
                let stored = (status == "stored").then(|| Bytes::copy_from_slice(data));
                expected.push(Expected {
                    path,
                    member: None,
                    status,
                    reason,
                    sop,
                    stored,
                    bytes: data.len() as u64,
                });
            }
        };
        // Nested folders; names with and without an extension.
        file(
            "a/ct1.dcm",
            &ct_variant(1),
            "stored",
            None,
            Some(ct_variant_uid(1)),
        );
        file(
            "a/b/c/ct2",
            &ct_variant(2),
            "stored",
            None,
            Some(ct_variant_uid(2)),
        );
        let mr = read_testdata("MR_small.dcm");
        file("a/b/mr.dcm", &mr, "stored", None, Some(MR_SOP.into()));
        // Not DICOM.
        file(
            "notes/README.txt",
            b"scanned 2024-01-02\n",
            "not_dicom",
            None,
            None,
        );
        file(
            "notes/photo.jpg",
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
            "not_dicom",
            None,
            None,
        );
        file(
            "Thumbs.db",
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1],
            "not_dicom",
            None,
            None,
        );
        file(
            "bad/zipMR.gz",
            &read_testdata("bad/zipMR.gz"),
            "not_dicom",
            None,
            None,
        );
        // A DICOMDIR met in a walk: not an instance.
        file(
            "bad/DICOMDIR",
            &read_testdata("bad/DICOMDIR"),
            "not_dicom",
            None,
            None,
        );
        // Hidden: skipped, not reported.
        file(".hidden/ct9.dcm", &ct_variant(9), "hidden", None, None);
        file("a/.DS_Store", b"\0\0\0\x01Bud1", "hidden", None, None);
        // Broken: pixel data cut short (C000), no SOP Instance UID in the data set (A900).
        let truncated = read_testdata("bad/MR_truncated.dcm");
        file(
            "bad/truncated.dcm",
            &truncated,
            "failed",
            Some("C000"),
            None,
        );
        file(
            "bad/no_sop.dcm",
            &without_sop_uid(&ct_variant(3)),
            "failed",
            Some("A900"),
            None,
        );
        // A raw data set (no preamble, no meta group): stored with file meta added.
        let with_meta = ct_variant(10);
        let start = tessera_dicom::part10::data_set_offset(&with_meta)
            .unwrap()
            .unwrap();
        let raw = with_meta[start..].to_vec();
        file("raw/ct_raw", &raw, "stored", None, Some(ct_variant_uid(10)));
        let raw_entry = expected.last_mut().unwrap();
        // What is stored is the data set behind new file meta information.
        raw_entry.stored = Some(Bytes::from(raw.clone()));

        // A zip file: deflated and stored members, a text member, a macOS resource fork.
        let zip_path = root.join("media.zip");
        let members: Vec<(&str, Vec<u8>, &'static str, Option<String>)> = vec![
            (
                "study/ct4.dcm",
                ct_variant(4).to_vec(),
                "stored",
                Some(ct_variant_uid(4)),
            ),
            (
                "study/sub/ct5.dcm",
                ct_variant(5).to_vec(),
                "stored",
                Some(ct_variant_uid(5)),
            ),
            (
                "study/readme.txt",
                b"exported by a viewer\n".to_vec(),
                "not_dicom",
                None,
            ),
            (
                "__MACOSX/study/._ct4.dcm",
                b"\0\x05\x16\x07".to_vec(),
                "hidden",
                None,
            ),
            (
                "study/ct11.dcm",
                ct_variant(11).to_vec(),
                "stored",
                Some(ct_variant_uid(11)),
            ),
        ];
        write_zip(&zip_path, &members);
        for (name, data, status, sop) in members {
            if status == "hidden" {
                continue;
            }
            expected.push(Expected {
                path: zip_path.clone(),
                member: Some(name.to_string()),
                status,
                reason: None,
                stored: (status == "stored").then(|| Bytes::from(data.clone())),
                sop,
                bytes: data.len() as u64,
            });
        }

        // A DICOMDIR made by dcmmkdir over two files; a third file beside them that it does
        // not reference is not imported when the DICOMDIR is named.
        let cd = root.join("cd");
        std::fs::create_dir_all(cd.join("DICOM/ST1")).unwrap();
        for (name, n) in [("IM1", 6), ("IM2", 7)] {
            let path = cd.join("DICOM/ST1").join(name);
            let data = ct_variant(n);
            std::fs::write(&path, &data).unwrap();
            expected.push(Expected {
                path,
                member: None,
                status: "stored",
                reason: None,
                sop: Some(ct_variant_uid(n)),
                bytes: data.len() as u64,
                stored: Some(data),
            });
        }
        std::fs::write(cd.join("EXTRA"), ct_variant(8)).unwrap();
        let made = Command::new("dcmmkdir")
            .args(["--recurse", "DICOM"])
            .current_dir(&cd)
            .output()
            .expect("dcmmkdir (DCMTK) must be installed");
        assert!(made.status.success(), "dcmmkdir: {made:?}");
        let dicomdir = cd.join("DICOMDIR");
        expected.push(Expected {
            path: dicomdir.clone(),
            member: None,
            status: "not_dicom",
            reason: None,
            sop: None,
            stored: None,
            bytes: std::fs::metadata(&dicomdir).unwrap().len(),
        });
        Fixture {
            _dir: dir,
            sources: vec![src, zip_path, dicomdir],
            root,
            expected,
        }
    }

    fn count(&self, status: &str) -> usize {
        self.expected.iter().filter(|e| e.status == status).count()
    }

    fn stored(&self) -> impl Iterator<Item = &Expected> {
        self.expected.iter().filter(|e| e.status == "stored")
    }
}

/// The instance with its SOP Instance UID tag (0008,0018) renamed to (0008,0019).
fn without_sop_uid(file: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    let at = out[332..]
        .windows(6)
        .position(|w| w == b"\x08\x00\x18\x00UI")
        .unwrap()
        + 332;
    out[at + 2] = 0x19;
    out
}

fn write_zip(path: &Path, members: &[(&str, Vec<u8>, &'static str, Option<String>)]) {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (i, (name, data, _, _)) in members.iter().enumerate() {
        // Every other member deflated, the rest stored as they are.
        let method = if i % 2 == 0 {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default().compression_method(method);
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

/// One run of `tessera import`.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    /// The report's lines by (path, member).
    lines: BTreeMap<(String, Option<String>), Value>,
    line_count: usize,
}

impl Run {
    fn line(&self, e: &Expected) -> &Value {
        let key = (e.path.display().to_string(), e.member.clone());
        self.lines
            .get(&key)
            .unwrap_or_else(|| panic!("no report line for {key:?}; {}", self.context()))
    }

    fn context(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}\nreport:\n{}",
            self.code,
            self.stdout,
            self.stderr,
            self.lines
                .values()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    /// The summary's count of one kind ("stored", "already there", "failed", "not DICOM").
    fn summary_count(&self, label: &str) -> u64 {
        let line = self
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label) && l.contains(" files "))
            .unwrap_or_else(|| panic!("no summary line {label:?}; {}", self.context()));
        line.trim_start()[label.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// Run `tessera import ARGS... SOURCES...` with a report; `env` on top of a clean
/// environment for its settings.
fn import(args: &[&str], sources: &[PathBuf], env: &[(&str, String)], report: &Path) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.arg("import").args(args).arg("--report").arg(report);
    command.args(sources);
    for name in [
        "TESSERA_CONFIG",
        "TESSERA_DATABASE_URL",
        "TESSERA_STORAGE_URL",
        "TESSERA_IMPORT_TOKEN",
        "TESSERA_SPOOL_SIZE",
    ] {
        command.env_remove(name);
    }
    command.env("TESSERA_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run tessera import");
    let text = std::fs::read_to_string(report).unwrap_or_default();
    let mut lines = BTreeMap::new();
    let mut line_count = 0;
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let key = (
            value["path"].as_str().unwrap().to_string(),
            value["member"].as_str().map(str::to_string),
        );
        line_count += 1;
        lines.insert(key, value);
    }
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        lines,
        line_count,
    }
}

/// The report says what the fixture expects of every file, and nothing more; the summary
/// counts the same.
fn check_first_run(fixture: &Fixture, run: &Run) {
    assert_eq!(
        run.code,
        1,
        "a file failed: exit status 1; {}",
        run.context()
    );
    assert_eq!(
        run.line_count,
        fixture.expected.len(),
        "one line per file, none for hidden ones or files the DICOMDIR does not name; {}",
        run.context()
    );
    for e in &fixture.expected {
        let line = run.line(e);
        assert_eq!(line["status"], e.status, "{e:?}: {line}");
        assert_eq!(line["reason"].as_str(), e.reason, "{e:?}: {line}");
        assert_eq!(line["bytes"], e.bytes, "{e:?}: {line}");
        if let Some(sop) = &e.sop {
            assert_eq!(line["sop_instance_uid"], sop.as_str(), "{line}");
        }
        if e.status == "stored" {
            assert!(line["study_instance_uid"].as_str().is_some(), "{line}");
        }
        if e.status == "failed" || e.status == "not_dicom" {
            assert!(
                line["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{line}"
            );
        }
    }
    assert_eq!(run.summary_count("stored"), fixture.count("stored") as u64);
    assert_eq!(run.summary_count("already there"), 0);
    assert_eq!(run.summary_count("failed"), 2);
    assert_eq!(
        run.summary_count("not DICOM"),
        fixture.count("not_dicom") as u64
    );
    assert!(
        run.stdout.contains("1  C000 cannot understand"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("1  A900 data set does not match SOP class"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 hidden files or folders skipped"),
        "{}",
        run.stdout
    );
}

/// A second run: everything stored is already there, the broken files fail again.
fn check_second_run(fixture: &Fixture, run: &Run) {
    assert_eq!(run.code, 1, "{}", run.context());
    assert_eq!(run.line_count, fixture.expected.len(), "{}", run.context());
    for e in &fixture.expected {
        let line = run.line(e);
        let status = if e.status == "stored" {
            "already_stored"
        } else {
            e.status
        };
        assert_eq!(line["status"], status, "{e:?}: {line}");
        if let Some(sop) = &e.sop {
            assert_eq!(line["sop_instance_uid"], sop.as_str(), "{line}");
        }
    }
    assert_eq!(run.summary_count("stored"), 0);
    assert_eq!(
        run.summary_count("already there"),
        fixture.count("stored") as u64
    );
    assert_eq!(run.summary_count("failed"), 2);
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (
                e.path().to_path_buf(),
                (meta.len(), meta.modified().unwrap()),
            )
        })
        .collect()
}

/// What the archive holds for each stored file is the file, bit-exact (a raw data set:
/// behind the file meta information written for it).
async fn check_archive(settings: &Settings, fixture: &Fixture) {
    let archive = Archive::open(settings).await.unwrap();
    let (_, _, instances) = archive.index.counts().await.unwrap();
    assert_eq!(instances as usize, fixture.count("stored"));
    for e in fixture.stored() {
        let sop = SopInstanceUid::parse(e.sop.as_deref().unwrap()).unwrap();
        let row = archive.index.instance(&sop).await.unwrap().expect("stored");
        let bytes = archive.store.get(&row.blob_key).await.unwrap();
        let want = e.stored.as_ref().unwrap();
        if e.path.ends_with("raw/ct_raw") {
            assert_eq!(&bytes[128..132], b"DICM");
            assert!(bytes.ends_with(want), "the raw data set is stored whole");
            assert!(bytes.len() > want.len() + 132);
        } else {
            assert!(bytes == *want, "{:?} is not stored bit-exact", e.path);
        }
    }
    let records = Arc::clone(&archive.index)
        .audit_log()
        .search_audit(&tessera::audit::AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let imports: Vec<_> = records.iter().filter(|r| r.method == "import").collect();
    assert!(!imports.is_empty(), "an audit record of the import");
    let detail = imports[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("failed 2"), "{detail}");
}

#[tokio::test]
async fn import_folders_zips_and_dicomdirs_into_the_embedded_default_then_resume() {
    let fixture = Fixture::new();
    let data = fixture.root.join("data");
    let settings = Settings::for_data_dir(&data).unwrap();
    let data_arg = data.display().to_string();
    // A small spool: the CT files (39 kB) go through staging files, MR_small (10 kB) not.
    let env = [("TESSERA_SPOOL_SIZE", "16KiB".to_string())];
    let args = [
        "--data-dir",
        data_arg.as_str(),
        "--jobs",
        "3",
        "--batch-files",
        "4",
    ];
    let first = import(
        &args,
        &fixture.sources,
        &env,
        &fixture.root.join("first.jsonl"),
    );
    check_first_run(&fixture, &first);
    check_archive(&settings, &fixture).await;
    let blobs = listing(&data.join("blobs"));
    assert_eq!(
        blobs
            .keys()
            .filter(|p| !p.to_string_lossy().contains(".staging"))
            .count(),
        fixture.count("stored"),
        "one blob per stored instance, no staging file left: {blobs:?}"
    );

    let second = import(
        &args,
        &fixture.sources,
        &env,
        &fixture.root.join("second.jsonl"),
    );
    check_second_run(&fixture, &second);
    for e in fixture.stored() {
        assert_eq!(
            second.line(e)["message"],
            "already stored (not read again)",
            "found by the index before anything was written"
        );
    }
    assert_eq!(listing(&data.join("blobs")), blobs, "nothing written again");
    check_archive(&settings, &fixture).await;
}

#[tokio::test]
async fn import_directly_into_postgresql() {
    let fixture = Fixture::new();
    let database = fresh_postgres_database().await;
    let data = fixture.root.join("data");
    let data_arg = data.display().to_string();
    let env = [("TESSERA_DATABASE_URL", database.clone())];
    let args = ["--data-dir", data_arg.as_str()];
    let first = import(
        &args,
        &fixture.sources,
        &env,
        &fixture.root.join("first.jsonl"),
    );
    check_first_run(&fixture, &first);
    let mut settings = Settings::for_data_dir(&data).unwrap();
    settings.database_url = Some(database);
    check_archive(&settings, &fixture).await;
    let second = import(
        &args,
        &fixture.sources,
        &env,
        &fixture.root.join("second.jsonl"),
    );
    check_second_run(&fixture, &second);
}

/// WADO-RS retrieve of one instance, as stored.
async fn retrieve(node: &Node, study: &str, sop: &str) -> Bytes {
    let client = reqwest::Client::new();
    let found = client
        .get(format!(
            "{}/dicom-web/studies/{study}/instances?SOPInstanceUID={sop}",
            node.base
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let found: Value = serde_json::from_slice(&found).unwrap();
    let series = found[0]["0020000E"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    let response = client
        .get(format!(
            "{}/dicom-web/studies/{study}/series/{series}/instances/{sop}",
            node.base
        ))
        .header("accept", "application/dicom; transfer-syntax=*")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "retrieve {sop}");
    response.bytes().await.unwrap()
}

#[tokio::test]
async fn import_to_a_running_tessera_is_bit_exact() {
    let fixture = Fixture::new();
    let server_dir = fixture.root.join("server");
    let node = Node::start(&server_dir, &[]).await;
    let to = format!("{}/dicom-web", node.base);
    // Files above 16 KiB are streamed from disk, zip members above it from staging files.
    let env = [("TESSERA_SPOOL_SIZE", "16KiB".to_string())];
    let args = ["--to", to.as_str(), "--jobs", "2", "--batch-files", "3"];
    let first = import(
        &args,
        &fixture.sources,
        &env,
        &fixture.root.join("first.jsonl"),
    );
    check_first_run(&fixture, &first);
    for e in fixture.stored() {
        let line = first.line(e);
        let study = line["study_instance_uid"].as_str().unwrap();
        let bytes = retrieve(&node, study, e.sop.as_deref().unwrap()).await;
        let want = e.stored.as_ref().unwrap();
        if e.path.ends_with("raw/ct_raw") {
            assert!(bytes.ends_with(want) && &bytes[128..132] == b"DICM");
        } else {
            assert!(
                bytes == *want,
                "{:?}: not bit-exact through STOW-RS and WADO-RS",
                e.path
            );
        }
    }
    // Again: the server answers 0111 for each, which is "already there".
    let second = import(
        &args,
        &fixture.sources,
        &env,
        &fixture.root.join("second.jsonl"),
    );
    check_second_run(&fixture, &second);
    for e in fixture.stored() {
        assert_eq!(second.line(e)["reason"], "0111");
    }
    node.stop();
}

#[tokio::test]
async fn import_to_needs_the_right_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    let mut settings = Settings::for_data_dir(&server_dir).unwrap();
    settings.auth = tessera::auth::AuthMode::Required;
    let key = tessera::keys::create(&settings, "importer", &["write".to_string()])
        .await
        .unwrap()
        .0;
    let node = Node::start(&server_dir, &[("TESSERA_AUTH", "required".into())]).await;
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for n in 1..=5 {
        std::fs::write(src.join(format!("ct{n}.dcm")), ct_variant(n)).unwrap();
    }
    std::fs::write(src.join("notes.txt"), "not DICOM").unwrap();
    let to = format!("{}/dicom-web", node.base);
    let args = ["--to", to.as_str(), "--batch-files", "2", "--jobs", "1"];
    let sources = [src.clone()];

    // A wrong key: the first request is refused (401) and nothing more is sent; every file
    // is reported failed with the status.
    let env = [("TESSERA_IMPORT_TOKEN", "tsk_wrong".to_string())];
    let refused = import(&args, &sources, &env, &dir.path().join("refused.jsonl"));
    assert_eq!(refused.code, 1, "{}", refused.context());
    assert_eq!(refused.line_count, 6, "{}", refused.context());
    let failed: Vec<&Value> = refused
        .lines
        .values()
        .filter(|l| l["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 5, "{}", refused.context());
    for line in &failed {
        assert_eq!(line["http_status"], 401, "{line}");
        assert!(line["reason"].is_null(), "{line}");
        assert!(line["message"].as_str().unwrap().contains("401"), "{line}");
    }
    assert!(
        failed
            .iter()
            .filter(|l| l["message"].as_str().unwrap().starts_with("not sent"))
            .count()
            >= 3,
        "after the refusal nothing more is sent: {}",
        refused.context()
    );
    assert_eq!(refused.summary_count("failed"), 5);
    assert!(refused.stdout.contains("5  HTTP 401"), "{}", refused.stdout);
    // The right key, by flag: all stored.
    let args_with_key = [args.as_slice(), &["--token", key.as_str()]].concat();
    let stored = import(
        &args_with_key,
        &sources,
        &[],
        &dir.path().join("stored.jsonl"),
    );
    assert_eq!(stored.code, 0, "{}", stored.context());
    assert_eq!(stored.summary_count("stored"), 5);
    assert_eq!(stored.summary_count("not DICOM"), 1);
    for n in 1..=5 {
        let line = &stored.lines[&(src.join(format!("ct{n}.dcm")).display().to_string(), None)];
        assert_eq!(line["status"], "stored", "{line}");
        assert_eq!(line["sop_instance_uid"], ct_variant_uid(n), "{line}");
    }
    node.stop();
}

#[tokio::test]
async fn import_from_dicomweb_pulls_another_archive() {
    let fixture = Fixture::new();
    let source = Node::start(&fixture.root.join("source"), &[]).await;
    let to_source = format!("{}/dicom-web", source.base);
    let filled = import(
        &["--to", to_source.as_str()],
        &fixture.sources,
        &[],
        &fixture.root.join("fill.jsonl"),
    );
    check_first_run(&fixture, &filled);

    // Pulled directly into the embedded default, one study per QIDO-RS page (the fixture's
    // instances are in two studies: the CT variants, the raw data set's among them, and MR).
    let data = fixture.root.join("data");
    let data_arg = data.display().to_string();
    let args = [
        "--data-dir",
        data_arg.as_str(),
        "--from-dicomweb",
        to_source.as_str(),
        "--from-page-size",
        "1",
    ];
    let pulled = import(&args, &[], &[], &fixture.root.join("pulled.jsonl"));
    assert_eq!(pulled.code, 0, "{}", pulled.context());
    let stored = fixture.count("stored");
    assert_eq!(pulled.line_count, stored, "{}", pulled.context());
    assert_eq!(pulled.summary_count("stored"), stored as u64);
    for line in pulled.lines.values() {
        assert_eq!(line["status"], "stored", "{line}");
        assert!(line["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{to_source}/studies/")));
    }
    let settings = Settings::for_data_dir(&data).unwrap();
    let archive = Archive::open(&settings).await.unwrap();
    for e in fixture.stored() {
        let sop = SopInstanceUid::parse(e.sop.as_deref().unwrap()).unwrap();
        let row = archive.index.instance(&sop).await.unwrap().expect("pulled");
        let bytes = archive.store.get(&row.blob_key).await.unwrap();
        let want = e.stored.as_ref().unwrap();
        assert!(bytes.ends_with(want), "{:?}: pulled bit-exact", e.path);
    }
    drop(archive);

    // Again: every study is already here whole, so none is retrieved.
    let again = import(&args, &[], &[], &fixture.root.join("again.jsonl"));
    assert_eq!(again.code, 0, "{}", again.context());
    assert_eq!(again.summary_count("stored"), 0);
    for line in again.lines.values() {
        assert_eq!(line["status"], "already_stored", "{line}");
        assert!(line["message"]
            .as_str()
            .unwrap()
            .contains("not retrieved again"));
    }

    // And pulled into a third archive over STOW-RS.
    let target = Node::start(&fixture.root.join("target"), &[]).await;
    let to_target = format!("{}/dicom-web", target.base);
    let args = [
        "--from-dicomweb",
        to_source.as_str(),
        "--to",
        to_target.as_str(),
    ];
    let relayed = import(&args, &[], &[], &fixture.root.join("relayed.jsonl"));
    assert_eq!(relayed.code, 0, "{}", relayed.context());
    assert_eq!(relayed.summary_count("stored"), stored as u64);
    for e in fixture.stored() {
        let line = filled.line(e);
        let study = line["study_instance_uid"].as_str().unwrap();
        let bytes = retrieve(&target, study, e.sop.as_deref().unwrap()).await;
        assert!(bytes.ends_with(e.stored.as_ref().unwrap()), "{:?}", e.path);
    }
    target.stop();
    source.stop();
}
