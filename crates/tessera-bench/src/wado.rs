//! The WADO-RS workload: what web viewers and pipelines ask of an archive. Stores one study
//! (a CT series of N slices and a multi-frame instance of M frames, both native explicit VR
//! little endian) and a second CT study, then measures series and study metadata (cold,
//! warm, gzip), an OHIF-like replay (cold at 25 and 100 in flight, one study each, then warm),
//! random frames of the multi-frame instance, whole-study retrieve; then stores a third
//! study, an MR series and an RGB ultrasound cine (`wado_mr_us`, its own study so the items
//! before it are unchanged), and measures the MR series' cold replay and the cine's frames
//! cold and warm; optionally, last, the server's memory while a big study streams out.

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::stats::{opt, usage_columns, MIB};
use super::synth::Synth;
use super::wado_get::{self, Check, Job, Row, FRAMES, JSON};
use super::wado_replay::{self, Replay, Target};
use super::wado_store::{self, Stored};
use super::wado_study::{self, BigStudy};
use super::{wado_mr_us, wado_synth};
use crate::error::BenchError;
use crate::plan::Plan;

const CELL: u32 = 1;
/// The second CT study: cold study metadata and the cold replay at the higher concurrency.
const CELL2: u32 = 2;
const TIMEOUT: Duration = Duration::from_secs(60);
const STORE_BATCH: u64 = 10;
const STORE_CONCURRENCY: usize = 4;
const REPLAY_CONCURRENCY: [usize; 2] = [25, 100];
const RANDOM_CONCURRENCY: usize = 25;
/// Passes over the series' frames in the sustained cell.
const SUSTAINED_PASSES: u64 = 10;
const STUDY_REPETITIONS: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct WadoReport {
    pub image_size: u16,
    pub slices: u32,
    pub multiframe_size: u16,
    pub multiframe_frames: u32,
    pub study_uid: String,
    pub series_uid: String,
    pub multiframe_sop_uid: String,
    /// The MR + ultrasound study (`wado_mr_us`).
    pub mr_us_study_uid: String,
    pub mr_slices: u32,
    pub mr_size: u16,
    pub us_frames: u32,
    /// Columns x rows of the ultrasound cine.
    pub us_size: (u16, u16),
    pub stored: Vec<Stored>,
    /// Every measured item, in the order run (metadata, replay frame phases, random frames,
    /// study retrieves, the MR replay's frame phase, the cine's frames cold and warm).
    pub rows: Vec<Row>,
    pub replays: Vec<Replay>,
    pub big_study: Option<BigStudy>,
    /// The disk's random frame-sized reads beside the cold frames item (`--cold-frames-dir`).
    pub cold_disk_mb_per_s: Option<f64>,
}

impl WadoReport {
    pub fn errors(&self) -> usize {
        let replay_steps = self
            .replays
            .iter()
            .filter(|r| r.frames_row.is_none())
            .map(|r| r.errors)
            .sum::<usize>();
        self.stored.iter().map(|s| s.errors).sum::<usize>()
            + self.rows.iter().map(|r| r.errors).sum::<usize>()
            + replay_steps
            + self.big_study.as_ref().map_or(0, BigStudy::errors)
    }
}

pub async fn run(client: &reqwest::Client, plan: &Plan) -> Result<WadoReport, BenchError> {
    let (size, slices, frames) = (plan.image_size, plan.wado_slices, plan.wado_frames);
    let mf_size = size.min(256);
    let mut synth = Synth::new(size, slices, plan.seed);
    if let Some(root) = &plan.uid_root {
        synth.uid_root = root.clone();
    }
    let synth = Arc::new(synth);
    let maker = synth.clone();
    let mf = tokio::task::spawn_blocking(move || {
        wado_synth::multiframe(&maker, CELL, 0, mf_size, frames)
    })
    .await
    .map_err(|err| BenchError::Failed(err.to_string()))?
    .map_err(BenchError::Failed)?;
    let mf = Arc::new(mf);
    let url = plan.url.as_str();
    let study = synth.study_uid(CELL, 0);
    let series = synth.series_uid(CELL, 0);
    println!(
        "tessera-bench wado: {url} | study {study}: {slices} CT slices {size}x{size} \
         ({} KiB each), one {frames}-frame {mf_size}x{mf_size} 16-bit instance ({:.1} MB)",
        synth.instance(CELL, 0).map_err(BenchError::Failed)?.len() / 1024,
        mf.file.len() as f64 / MIB,
    );

    eprintln!("bench: storing the WADO study ...");
    let mut stored_series = wado_store::series(
        client,
        url,
        &synth,
        CELL,
        u64::from(slices),
        STORE_BATCH,
        STORE_CONCURRENCY,
    )
    .await;
    stored_series.what = format!("CT series ({STORE_BATCH} per request)");
    stored_series.print();
    let stored_mf = wado_store::multiframe(client, url, &mf).await;
    stored_mf.print();
    let mut stored_second = wado_store::series(
        client,
        url,
        &synth,
        CELL2,
        u64::from(slices),
        STORE_BATCH,
        STORE_CONCURRENCY,
    )
    .await;
    stored_second.what = format!("second CT study ({STORE_BATCH} per request)");
    stored_second.print();
    let mut stored = vec![stored_series, stored_mf, stored_second];
    if let Some(err) = stored.iter().find_map(|s| s.first_error.as_ref()) {
        return Err(BenchError::Failed(format!(
            "storing the WADO study failed: {err}"
        )));
    }
    let study_files = (
        slices as usize + 1,
        stored[..2].iter().map(|s| s.file_bytes).sum::<u64>(),
    );
    let study2 = synth.study_uid(CELL2, 0);
    let series2 = synth.series_uid(CELL2, 0);

    let pid = plan.server_pid;
    let mut rows = Vec::new();

    // a. Series metadata: the first request alone (cold), then warm, then gzip.
    eprintln!("bench: series metadata ...");
    let metadata = format!("{url}/studies/{study}/series/{series}/metadata");
    let requests = plan.wado_requests;
    let json = Check::Json {
        items: Some(slices as usize),
        keep: false,
    };
    let study_json = Check::Json {
        items: Some(slices as usize + 1),
        keep: false,
    };
    let study_metadata = format!("{url}/studies/{study}/metadata");
    let cells = [
        ("metadata cold (first)", 1, 1, json.clone()),
        (
            "study metadata cold (first)",
            1,
            1,
            Check::Json {
                items: Some(slices as usize),
                keep: false,
            },
        ),
        ("study metadata warm", requests, 1, study_json.clone()),
        ("study metadata warm", requests, 8, study_json),
        ("metadata warm", requests, 1, json.clone()),
        ("metadata warm", requests, 8, json),
        (
            "metadata warm gzip",
            requests,
            1,
            Check::Gzip(slices as usize),
        ),
        (
            "metadata warm gzip",
            requests,
            8,
            Check::Gzip(slices as usize),
        ),
    ];
    for (item, count, concurrency, check) in cells {
        let url = if item.starts_with("study metadata cold") {
            // The second study, which nothing has asked for yet.
            format!("{url}/studies/{study2}/metadata")
        } else if item.starts_with("study") {
            study_metadata.clone()
        } else {
            metadata.clone()
        };
        let job = Job {
            url,
            accept: JSON,
            check,
        };
        let jobs = Arc::new(vec![job; count]);
        let (row, _) = wado_get::load(client, item, jobs, concurrency, pid, TIMEOUT).await;
        rows.push(row);
    }

    // b. OHIF-like replay: cold right after storing, then warm.
    let target = Target {
        url,
        study: &study,
        series: &series,
        instances: slices as usize,
        series_in_study: 2,
        frames: vec![synth.pixel_values()],
        label: "",
    };
    // The second study: no frame of it asked for yet, one series.
    let target2 = Target {
        url,
        study: &study2,
        series: &series2,
        instances: slices as usize,
        series_in_study: 1,
        frames: vec![synth.pixel_values()],
        label: "",
    };
    let mut replays = Vec::new();
    let replay_cells = [
        ("cold", REPLAY_CONCURRENCY[0], &target),
        ("cold", REPLAY_CONCURRENCY[1], &target2),
        ("warm", REPLAY_CONCURRENCY[0], &target),
        ("warm", REPLAY_CONCURRENCY[1], &target),
    ];
    for (state, concurrency, target) in replay_cells {
        eprintln!("bench: viewer replay ({state}, {concurrency} in flight) ...");
        let replay = wado_replay::run(client, target, state, concurrency, pid).await;
        rows.extend(replay.frames_row.clone());
        replays.push(replay);
    }

    // The replay's frame phase lasts a fraction of a second; the same frames asked for
    // over and over give the sustained rate the frames/s target is about.
    eprintln!("bench: series frames, sustained ...");
    let passes = if plan.smoke { 2 } else { SUSTAINED_PASSES };
    let jobs: Vec<Job> = (0..passes)
        .flat_map(|_| 0..u64::from(slices))
        .map(|index| Job {
            url: format!(
                "{url}/studies/{study}/series/{series}/instances/{}/frames/1",
                synth.sop_uid(CELL, index)
            ),
            accept: FRAMES,
            check: Check::Parts(vec![synth.pixel_values()]),
        })
        .collect();
    let cold_jobs: Vec<Job> = jobs.iter().take(slices as usize).cloned().collect();
    let item = "series frames sustained";
    let (row, _) = wado_get::load(
        client,
        item,
        Arc::new(jobs),
        REPLAY_CONCURRENCY[0],
        pid,
        TIMEOUT,
    )
    .await;
    rows.push(row);

    // b2. The same frames cold, beside the disk's random reads (root only).
    let mut cold_disk_mb_per_s = None;
    if let Some(dir) = &plan.cold_frames_dir {
        eprintln!("bench: series frames cold (page cache dropped) ...");
        let block = (u64::from(size) * u64::from(size) * 2) as usize;
        let concurrency = REPLAY_CONCURRENCY[0];
        let cold = super::wado_cold::run(client, dir, cold_jobs, block, concurrency, pid, TIMEOUT)
            .await
            .map_err(BenchError::Failed)?;
        println!(
            "frames cold: {:.1} MB/s = {:.1}% of the disk's random {} KiB reads with the page \
             cache dropped ({:.1} MB/s, {} in flight)",
            cold.row.mb_per_s,
            100.0 * cold.row.mb_per_s / cold.disk_mb_per_s.max(1e-9),
            block / 1024,
            cold.disk_mb_per_s,
            concurrency
        );
        cold_disk_mb_per_s = Some(cold.disk_mb_per_s);
        rows.push(cold.row);
    }

    // c. Random frames of the multi-frame instance (seeded).
    eprintln!("bench: random frames of the multi-frame instance ...");
    rows.push(random_frames(client, plan, &study, &mf).await);

    // d. Whole-study retrieve, as stored.
    for rep in 1..=STUDY_REPETITIONS {
        eprintln!("bench: whole-study retrieve {rep}/{STUDY_REPETITIONS} ...");
        let item = format!("study retrieve #{rep}");
        let row = wado_study::retrieve(client, url, &study, study_files, &item, pid).await;
        rows.push(row);
    }

    // e. The MR + ultrasound study: stored now, its MR series replayed cold, its cine played.
    let mr_us = wado_mr_us::run(client, plan, &synth).await?;
    stored.extend(mr_us.stored);
    rows.extend(mr_us.rows);
    replays.extend(mr_us.replay);

    let big_study = if plan.wado_big_study_mb > 0 {
        let big = wado_study::big(client, url, plan.wado_big_study_mb, size, plan.seed, pid)
            .await
            .map_err(BenchError::Failed)?;
        rows.push(big.retrieve.clone());
        Some(big)
    } else {
        None
    };

    println!();
    print_rows(&rows);
    wado_replay::print(&replays);
    if let Some(big) = &big_study {
        wado_study::print_big(big);
    }
    Ok(WadoReport {
        image_size: size,
        slices,
        multiframe_size: mf_size,
        multiframe_frames: frames,
        study_uid: study.clone(),
        series_uid: series.clone(),
        multiframe_sop_uid: mf.sop_uid.clone(),
        mr_us_study_uid: mr_us.study_uid,
        mr_slices: plan.wado_mr_slices,
        mr_size: mr_us.mr_size,
        us_frames: plan.wado_us_frames,
        us_size: mr_us.us_size,
        stored,
        rows,
        replays,
        big_study,
        cold_disk_mb_per_s,
    })
}

/// `plan.wado_random_frames` random frames (seeded) of the multi-frame instance `mf` of
/// `study`, `RANDOM_CONCURRENCY` in flight, each compared with the frame as stored.
pub async fn random_frames(
    client: &reqwest::Client,
    plan: &Plan,
    study: &str,
    mf: &wado_synth::MultiFrame,
) -> Row {
    let url = plan.url.as_str();
    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed);
    let base = format!(
        "{url}/studies/{study}/series/{}/instances/{}/frames",
        mf.series_uid, mf.sop_uid
    );
    let jobs: Vec<Job> = (0..plan.wado_random_frames)
        .map(|_| {
            let frame = rng.random_range(1..=mf.frames);
            Job {
                url: format!("{base}/{frame}"),
                accept: FRAMES,
                check: Check::Parts(vec![mf.frame(frame)]),
            }
        })
        .collect();
    let item = "random multi-frame frames";
    let (row, _) = wado_get::load(
        client,
        item,
        Arc::new(jobs),
        RANDOM_CONCURRENCY,
        plan.server_pid,
        TIMEOUT,
    )
    .await;
    row
}

pub(crate) fn print_rows(rows: &[Row]) {
    let server = rows.iter().any(|r| r.server.is_some());
    let mut head = format!(
        "{:<26} {:>4} {:>5} {:>4} {:>7} {:>8} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>6}",
        "item",
        "conc",
        "reqs",
        "errs",
        "secs",
        "req/s",
        "MB/s",
        "KB/req",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ttfb50",
        "cli s"
    );
    if server {
        head.push_str(&format!(
            " | {:>6} {:>5} {:>8} {:>8} {:>8} {:>8}",
            "srv s", "cpu%", "rss0 MB", "rss1 MB", "peak MB", "hwm MB"
        ));
    }
    println!("{head}");
    for r in rows {
        let mut line = format!(
            "{:<26} {:>4} {:>5} {:>4} {:>7.2} {:>8.1} {:>7.1} {:>9.1} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>6}",
            r.item,
            r.concurrency,
            r.requests,
            r.errors,
            r.seconds,
            r.requests_per_s,
            r.mb_per_s,
            r.bytes_per_request / 1024.0,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.first_byte_p50_ms,
            opt(r.client_cpu_s),
        );
        if let Some(s) = &r.server {
            line.push_str(&usage_columns(s, r.seconds));
        }
        if r.gzipped > 0 {
            line.push_str(&format!(" [gzip {}/{}]", r.gzipped, r.requests));
        }
        println!("{line}");
    }
    for r in rows.iter().filter(|r| r.first_error.is_some()) {
        let err = r.first_error.as_deref().unwrap_or_default();
        println!("first error ({}, c{}): {err}", r.item, r.concurrency);
    }
}
