//! `kill -9` of a real `tessera serve` in the middle of deletes, overwrites, new stores with
//! the FHIR push and its change-feed outbox busy, and in the middle of a streamed STOW larger
//! than 1 GiB. After a restart `tessera check` finds nothing wrong, and every acknowledged
//! change is in the index, in the change feed and, once the push has caught up, on the FHIR
//! server; what was not acknowledged is there whole or not at all.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use futures::SinkExt;
use serde_json::Value;
use tessera::config::Settings;

use crate::fhir_push::{eventually, remote_studies, root, summary, Corpus};
use crate::fhir_server::{self, fhir_url};
use crate::operations::tessera;
use crate::processes::Node;

/// Everything the clients were told had succeeded before the kill.
#[derive(Default, Debug)]
struct Acks {
    /// Versions of instance 1 of study 1 stored over the previous one.
    overwritten: Vec<u32>,
    /// Instances of study 2 deleted one by one.
    deleted: Vec<u32>,
    /// Study 3 deleted whole.
    study_deleted: bool,
    /// New instances of study 4.
    stored: Vec<u32>,
}

async fn stow_one(client: &reqwest::Client, base: &str, part: Bytes) -> Option<u16> {
    let body = crate::helpers::multipart_body("b", &[part]);
    client
        .post(format!("{base}/dicom-web/studies"))
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom\"; boundary=b",
        )
        .body(body)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn delete(client: &reqwest::Client, url: String) -> Option<u16> {
    client
        .delete(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn get_json(base: &str, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        204 => Value::Array(Vec::new()),
        200 => serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        other => panic!("{path}: {other}"),
    }
}

/// The SOP Instance UIDs of a study, through QIDO.
async fn instances_of(base: &str, study: &str) -> BTreeSet<String> {
    let found = get_json(
        base,
        &format!("/dicom-web/instances?StudyInstanceUID={study}&limit=1000"),
    )
    .await;
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["00080018"]["Value"][0].as_str().unwrap().to_string())
        .collect()
}

/// `tessera check` on the embedded default of a data folder: nothing wrong.
async fn check_is_clean(dir: &std::path::Path) {
    let settings = Settings::for_data_dir(dir).unwrap();
    let ran = tessera(&["check"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("no problems found"), "{}", ran.stdout);
}

#[tokio::test]
async fn kill_9_amid_deletes_overwrites_and_new_stores() {
    let _server = fhir_server::lock_shared().await;
    let dir = tempfile::tempdir().unwrap();
    let corpus = Arc::new(Corpus { root: root() });
    let env = [
        ("TESSERA_DUPLICATE_POLICY", "overwrite".to_string()),
        ("TESSERA_FHIR_URL", fhir_url()),
    ];
    let mut node = Node::start(dir.path(), &env).await;
    let mut parts = Vec::new();
    for study in 1..=3 {
        for n in 1..=10 {
            parts.push(corpus.instance(study, 1, n, "CT", "v0"));
        }
    }
    parts.push(corpus.instance(4, 1, 1, "CT", "v0"));
    let stored = node.stow(&parts).await;
    assert_eq!(stored.status, 200, "{}", stored.body);

    let acks = Arc::new(Mutex::new(Acks::default()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let base = node.base.clone();
    let mut tasks = Vec::new();
    {
        let (client, base, corpus, acks) =
            (client.clone(), base.clone(), corpus.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            for k in 1.. {
                let part = corpus.instance(1, 1, 1, "CT", &format!("v{k}"));
                if stow_one(&client, &base, part).await != Some(200) {
                    break;
                }
                acks.lock().unwrap().overwritten.push(k);
            }
        }));
    }
    {
        let (client, base, corpus, acks) =
            (client.clone(), base.clone(), corpus.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            for n in 1..=10 {
                let url = format!(
                    "{base}/dicom-web/studies/{}/series/{}/instances/{}",
                    corpus.study(2),
                    corpus.series(2, 1),
                    corpus.sop(2, 1, n)
                );
                if delete(&client, url).await != Some(204) {
                    break;
                }
                acks.lock().unwrap().deleted.push(n);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }
    {
        let (client, base, corpus, acks) =
            (client.clone(), base.clone(), corpus.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let url = format!("{base}/dicom-web/studies/{}", corpus.study(3));
            if delete(&client, url).await == Some(204) {
                acks.lock().unwrap().study_deleted = true;
            }
        }));
    }
    {
        let (client, base, corpus, acks) =
            (client.clone(), base.clone(), corpus.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            for n in 2.. {
                let part = corpus.instance(4, 1, n, "CT", "v0");
                if stow_one(&client, &base, part).await != Some(200) {
                    break;
                }
                acks.lock().unwrap().stored.push(n);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    node.child.kill().expect("kill -9");
    let _ = node.child.wait();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    assert!(
        !acks.overwritten.is_empty() && !acks.deleted.is_empty() && !acks.stored.is_empty(),
        "the kill came before work was acknowledged: {acks:?}"
    );
    drop(node);

    check_is_clean(dir.path()).await;
    let node = Node::start(dir.path(), &env).await;
    let base = node.base.clone();

    // Study 1: all ten instances; the overwritten one holds the last acknowledged version
    // or the one in flight at the kill.
    let study1 = instances_of(&base, &corpus.study(1)).await;
    assert_eq!(study1.len(), 10);
    let metadata = get_json(
        &base,
        &format!(
            "/dicom-web/studies/{}/series/{}/instances/{}/metadata",
            corpus.study(1),
            corpus.series(1, 1),
            corpus.sop(1, 1, 1)
        ),
    )
    .await;
    let version = metadata[0]["0008103E"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    let last = *acks.overwritten.last().unwrap();
    assert!(
        version == format!("v{last}") || version == format!("v{}", last + 1),
        "instance holds {version}, last acknowledged v{last}"
    );
    // Study 2: every acknowledged delete stayed deleted; what was never tried is there.
    let study2 = instances_of(&base, &corpus.study(2)).await;
    for n in &acks.deleted {
        assert!(
            !study2.contains(&corpus.sop(2, 1, *n)),
            "deleted {n} is back"
        );
    }
    let tried = acks.deleted.len() as u32 + 1;
    for n in tried + 1..=10 {
        assert!(
            study2.contains(&corpus.sop(2, 1, n)),
            "{n} was never deleted"
        );
    }
    // Study 3: gone when its delete was acknowledged; whole or gone otherwise.
    let study3 = instances_of(&base, &corpus.study(3)).await;
    if acks.study_deleted {
        assert!(study3.is_empty(), "{study3:?}");
    } else {
        assert!(study3.is_empty() || study3.len() == 10, "{study3:?}");
    }
    // Study 4: every acknowledged store is there.
    let study4 = instances_of(&base, &corpus.study(4)).await;
    for n in &acks.stored {
        assert!(
            study4.contains(&corpus.sop(4, 1, *n)),
            "stored {n} is missing"
        );
    }

    // The change feed has every acknowledged change.
    let feed = get_json(&base, "/dicom-web/changefeed?startAfter=0&limit=10000").await;
    let entries: Vec<(String, String)> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["Action"].as_str().unwrap().to_string(),
                e["SopInstanceUid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |action: &str, sop: String| entries.contains(&(action.to_string(), sop));
    for n in &acks.deleted {
        assert!(
            has("delete", corpus.sop(2, 1, *n)),
            "no delete entry for {n}"
        );
    }
    if acks.study_deleted {
        for n in 1..=10 {
            assert!(has("delete", corpus.sop(3, 1, n)));
        }
    }
    for n in &acks.stored {
        assert!(
            has("create", corpus.sop(4, 1, *n)),
            "no create entry for {n}"
        );
    }
    let updates = entries
        .iter()
        .filter(|(a, s)| a == "update" && *s == corpus.sop(1, 1, 1))
        .count();
    assert!(updates >= acks.overwritten.len(), "{updates} updates");

    // And the FHIR server hears of all of it once the restarted node's push catches up.
    let expect = [
        (1, study1.len()),
        (2, study2.len()),
        (3, study3.len()),
        (4, study4.len()),
    ];
    eventually(
        Duration::from_secs(60),
        "the FHIR server catches up",
        async || {
            for (study, count) in expect {
                let found = remote_studies(&corpus.study(study)).await;
                let ok = match (count, found.as_slice()) {
                    (0, []) => true,
                    (count, [one]) => summary(one).1 == count as u64,
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "study {study}: {} resources, want {count} instances",
                        found.len()
                    ));
                }
            }
            Ok(())
        },
    )
    .await;
    node.stop();
}

/// A native 16-bit 512 x 512 multi-frame instance of `frames` frames, sent as its header
/// and then its pixels in 8 MiB chunks made on the fly (16 frames each: the chunk's number
/// in its first 8 bytes, a fixed pattern after).
struct Huge {
    header: Bytes,
    chunk: Bytes,
    chunks: usize,
    study: String,
    series: String,
    sop: String,
}

const FRAME: usize = 512 * 512 * 2;
const CHUNK: usize = 16 * FRAME;

impl Huge {
    fn new(frames: usize) -> Huge {
        assert_eq!(frames % 16, 0);
        let n = rand::random::<u32>();
        let (study, series, sop) = (
            format!("2.25.8080.1.{n}"),
            format!("2.25.8080.2.{n}"),
            format!("2.25.8080.3.{n}"),
        );
        let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let text = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let class = uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE;
        let object = InMemDicomObject::from_element_iter([
            text(tags::SOP_CLASS_UID, VR::UI, class),
            text(tags::SOP_INSTANCE_UID, VR::UI, &sop),
            text(tags::PATIENT_ID, VR::LO, "HUGE"),
            text(tags::STUDY_INSTANCE_UID, VR::UI, &study),
            text(tags::MODALITY, VR::CS, "OT"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &series),
            text(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
            us(tags::SAMPLES_PER_PIXEL, 1),
            text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            us(tags::ROWS, 512),
            us(tags::COLUMNS, 512),
            us(tags::BITS_ALLOCATED, 16),
            us(tags::BITS_STORED, 16),
            us(tags::HIGH_BIT, 15),
            us(tags::PIXEL_REPRESENTATION, 0),
        ]);
        let file = object
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(class)
                    .media_storage_sop_instance_uid(sop.as_str()),
            )
            .unwrap();
        let mut header = Vec::new();
        file.write_all(&mut header).unwrap();
        // Pixel Data last: OW, then its 32-bit length.
        header.extend_from_slice(&[0xe0, 0x7f, 0x10, 0x00, b'O', b'W', 0, 0]);
        header.extend_from_slice(&((frames * FRAME) as u32).to_le_bytes());
        let chunk: Vec<u8> = (0..CHUNK).map(|i| ((i / 7) ^ (i % 251)) as u8).collect();
        Huge {
            header: Bytes::from(header),
            chunk: Bytes::from(chunk),
            chunks: frames / 16,
            study,
            series,
            sop,
        }
    }

    fn chunk(&self, i: usize) -> Bytes {
        let mut chunk = BytesMut::from(&self.chunk[..]);
        chunk[..8].copy_from_slice(&(i as u64).to_le_bytes());
        chunk.freeze()
    }

    /// Frame `number` (1-based), as sent.
    fn frame(&self, number: usize) -> Bytes {
        let (chunk, at) = ((number - 1) / 16, (number - 1) % 16 * FRAME);
        self.chunk(chunk).slice(at..at + FRAME)
    }

    fn size(&self) -> usize {
        self.header.len() + self.chunks * CHUNK
    }
}

/// Send the instance as a streamed STOW; `until` chunks of pixels, then (unless all were
/// sent) stop sending. Returns the request's task and when the last byte was handed over.
async fn stream_stow(
    base: &str,
    huge: &Huge,
    until: usize,
) -> tokio::task::JoinHandle<Option<u16>> {
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let url = format!("{base}/dicom-web/studies");
    let task = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header(
                "content-type",
                "multipart/related; type=\"application/dicom\"; boundary=b",
            )
            .body(reqwest::Body::wrap_stream(rx))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    });
    let mut head = BytesMut::new();
    head.put_slice(b"--b\r\nContent-Type: application/dicom\r\n\r\n");
    head.put_slice(&huge.header);
    tx.send(Ok(head.freeze())).await.unwrap();
    for i in 0..until {
        if tx.send(Ok(huge.chunk(i))).await.is_err() {
            break;
        }
    }
    if until == huge.chunks {
        let _ = tx.send(Ok(Bytes::from_static(b"\r\n--b--\r\n"))).await;
        tx.close_channel();
    } else {
        // Hold the body open: the server waits for more until it is killed.
        std::mem::forget(tx);
    }
    task
}

#[tokio::test]
async fn kill_9_during_a_streamed_stow_larger_than_1_gib() {
    let dir = tempfile::tempdir().unwrap();
    let huge = Huge::new(2208);
    assert!(huge.size() > 1 << 30, "{}", huge.size());
    // Above the default largest instance (512 MiB).
    let env = [("TESSERA_MAX_INSTANCE_SIZE", "2GiB".to_string())];

    // Killed with 600 MB of the body received.
    let mut node = Node::start(dir.path(), &env).await;
    let request = stream_stow(&node.base, &huge, 70).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.child.kill().unwrap();
    let _ = node.child.wait();
    assert_eq!(request.await.unwrap(), None, "no answer came");
    drop(node);
    check_is_clean(dir.path()).await;
    let node = Node::start(dir.path(), &env).await;
    assert!(instances_of(&node.base, &huge.study).await.is_empty());
    node.stop();

    // Killed as the last byte goes out, while the server parses, moves and records it:
    // afterwards it is there whole or not at all.
    let mut node = Node::start(dir.path(), &env).await;
    let started = Instant::now();
    let request = stream_stow(&node.base, &huge, huge.chunks).await;
    let sent = started.elapsed();
    node.child.kill().unwrap();
    let _ = node.child.wait();
    let answered = request.await.unwrap();
    drop(node);
    check_is_clean(dir.path()).await;
    let node = Node::start(dir.path(), &env).await;
    let found = instances_of(&node.base, &huge.study).await;
    assert!(
        found.is_empty() || found.len() == 1,
        "{found:?} (answer before the kill: {answered:?})"
    );
    if answered == Some(200) {
        assert_eq!(found.len(), 1, "acknowledged, so stored");
    }

    // And stored whole now: the last frame comes back as sent.
    if found.is_empty() {
        let request = stream_stow(&node.base, &huge, huge.chunks).await;
        assert_eq!(request.await.unwrap(), Some(200));
    }
    let frame = reqwest::Client::new()
        .get(format!(
            "{}/dicom-web/studies/{}/series/{}/instances/{}/frames/2208",
            node.base, huge.study, huge.series, huge.sop
        ))
        .header(
            "accept",
            "multipart/related; type=\"application/octet-stream\"",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(frame.status(), 200);
    let content_type = frame.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let body = frame.bytes().await.unwrap();
    let parts = crate::wado_support::parse_multipart(&content_type, &body, "frame 2208");
    assert_eq!(parts.len(), 1);
    assert!(parts[0].body == huge.frame(2208), "frame 2208 differs");
    node.stop();
    check_is_clean(dir.path()).await;
    eprintln!("1.16 GB sent in {sent:?}");
}
