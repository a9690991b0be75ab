//! The WADO workload's MR + ultrasound study, its own study (so the CT study's metadata,
//! replays and retrieves measure what they always did): an MR series of 256x256 16-bit
//! slices and an 8-bit RGB ultrasound cine, stored over STOW, then
//! - "MR replay cold" (c25): the OHIF-like replay of the MR series right after storing;
//! - "US cine frames cold" / "US cine frames warm" (c25): every frame of the cine in order,
//!   as stored, as a cine player fetches them, twice.
//!
//! Every frame is compared byte for byte with what was stored.

use std::sync::Arc;
use std::time::Duration;

use super::synth::Synth;
use super::wado_get::{self, Check, Job, Row, FRAMES};
use super::wado_replay::{self, Replay, Target};
use super::wado_store::{self, Stored};
use super::{wado_mr, wado_us};
use crate::error::BenchError;
use crate::plan::Plan;

/// The study's workload cell (the CT studies are 1 and 2).
pub const CELL: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);
const STORE_BATCH: usize = 10;
const STORE_CONCURRENCY: usize = 4;
const CONCURRENCY: usize = 25;
/// The MR slices' size at most (smaller when `--image-size` is).
const MR_SIZE: u16 = 256;
/// The cine's columns x rows (smoke: a tenth).
const US_SIZE: (u16, u16) = (640, 480);
const US_SMOKE_SIZE: (u16, u16) = (64, 48);

/// What the MR + ultrasound study came to.
pub struct MrUs {
    pub study_uid: String,
    pub mr_size: u16,
    pub us_size: (u16, u16),
    pub stored: Vec<Stored>,
    pub rows: Vec<Row>,
    pub replay: Option<Replay>,
}

pub async fn run(
    client: &reqwest::Client,
    plan: &Plan,
    synth: &Arc<Synth>,
) -> Result<MrUs, BenchError> {
    let (slices, frames) = (plan.wado_mr_slices, plan.wado_us_frames);
    let mr_size = plan.image_size.min(MR_SIZE);
    let (columns, rows) = if plan.smoke { US_SMOKE_SIZE } else { US_SIZE };
    let maker = synth.clone();
    let (mr, us) = tokio::task::spawn_blocking(move || {
        let mr = wado_mr::series(&maker, CELL, 0, mr_size, slices)?;
        let us = wado_us::cine(&maker, CELL, 0, columns, rows, frames)?;
        Ok::<_, String>((mr, us))
    })
    .await
    .map_err(|err| BenchError::Failed(err.to_string()))?
    .map_err(BenchError::Failed)?;
    let url = plan.url.as_str();
    let study = synth.study_uid(CELL, 0);
    println!(
        "MR + US study {study}: {slices} MR slices {mr_size}x{mr_size} 16-bit ({:.1} MB), \
         one {frames}-frame {columns}x{rows} RGB ultrasound cine ({:.1} MB)",
        mr.file_bytes() as f64 / super::stats::MIB,
        us.file.len() as f64 / super::stats::MIB,
    );

    eprintln!("bench: storing the MR + US study ...");
    let what = format!("MR series ({STORE_BATCH} per request)");
    let stored_mr = wado_store::files(
        client,
        url,
        &what,
        &mr.files,
        STORE_BATCH,
        STORE_CONCURRENCY,
    )
    .await;
    stored_mr.print();
    let mut stored_us = wado_store::multiframe(client, url, &us).await;
    stored_us.what = format!("ultrasound cine ({frames} frames)");
    stored_us.print();
    let mut out = MrUs {
        study_uid: study.clone(),
        mr_size,
        us_size: (columns, rows),
        stored: vec![stored_mr, stored_us],
        rows: Vec::new(),
        replay: None,
    };
    if out.stored.iter().any(|s| s.errors > 0) {
        // Counted as errors through `stored`; nothing to measure on a study half stored.
        eprintln!("bench: storing the MR + US study failed; its items are skipped");
        return Ok(out);
    }
    let pid = plan.server_pid;

    eprintln!("bench: MR viewer replay (cold, {CONCURRENCY} in flight) ...");
    let target = Target {
        url,
        study: &study,
        series: &mr.series_uid,
        instances: slices as usize,
        series_in_study: 2,
        frames: mr.frames.clone(),
        label: "MR",
    };
    let replay = wado_replay::run(client, &target, "cold", CONCURRENCY, pid).await;
    out.rows.extend(replay.frames_row.clone());
    out.replay = Some(replay);

    let base = format!(
        "{url}/studies/{study}/series/{}/instances/{}/frames",
        us.series_uid, us.sop_uid
    );
    let jobs: Arc<Vec<Job>> = Arc::new(
        (1..=frames)
            .map(|frame| Job {
                url: format!("{base}/{frame}"),
                accept: FRAMES,
                check: Check::Parts(vec![us.frame(frame)]),
            })
            .collect(),
    );
    for state in ["cold", "warm"] {
        eprintln!("bench: ultrasound cine frames ({state}, {CONCURRENCY} in flight) ...");
        let item = format!("US cine frames {state}");
        let (row, _) = wado_get::load(client, &item, jobs.clone(), CONCURRENCY, pid, TIMEOUT).await;
        out.rows.push(row);
    }
    Ok(out)
}
