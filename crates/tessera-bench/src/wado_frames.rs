//! The frames workload (`--workload frames`): the `random multi-frame frames` item of the
//! WADO workload alone. Stores the same multi-frame instance (unless `--stored`: stored by
//! an earlier run with the same `--uid-root`, `--seed` and sizes), in a study of its own,
//! then fetches random frames of it, each compared with the frame as stored.

use serde::Serialize;

use super::stats::MIB;
use super::synth::Synth;
use super::wado;
use super::wado_get::Row;
use super::wado_store::{self, Stored};
use super::wado_synth;
use crate::error::BenchError;
use crate::plan::Plan;

/// The workload cell of the instance's study (the WADO workload's first study is cell 1).
const CELL: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct FramesReport {
    pub multiframe_size: u16,
    pub multiframe_frames: u32,
    pub study_uid: String,
    pub multiframe_sop_uid: String,
    /// Storing the instance; none with `--stored`.
    pub stored: Option<Stored>,
    pub rows: Vec<Row>,
}

impl FramesReport {
    pub fn errors(&self) -> usize {
        self.stored.as_ref().map_or(0, |s| s.errors)
            + self.rows.iter().map(|r| r.errors).sum::<usize>()
    }
}

pub async fn run(client: &reqwest::Client, plan: &Plan) -> Result<FramesReport, BenchError> {
    let size = plan.image_size.min(256);
    let frames = plan.wado_frames;
    let mut synth = Synth::new(plan.image_size, 1, plan.seed);
    if let Some(root) = &plan.uid_root {
        synth.uid_root = root.clone();
    }
    let seed = plan.seed;
    let mf = tokio::task::spawn_blocking(move || {
        wado_synth::multiframe(&synth, CELL, 0, size, frames).map(|mf| (synth, mf))
    })
    .await
    .map_err(|err| BenchError::Failed(err.to_string()))?
    .map_err(BenchError::Failed)?;
    let (synth, mf) = mf;
    let study = synth.study_uid(CELL, 0);
    println!(
        "tessera-bench frames: {} | study {study}: one {frames}-frame {size}x{size} 16-bit \
         instance ({:.1} MB), seed {seed}{}",
        plan.url,
        mf.file.len() as f64 / MIB,
        if plan.stored { ", stored earlier" } else { "" },
    );
    let stored = if plan.stored {
        None
    } else {
        let stored = wado_store::multiframe(client, &plan.url, &mf).await;
        stored.print();
        if let Some(err) = &stored.first_error {
            return Err(BenchError::Failed(format!(
                "storing the multi-frame instance failed: {err}"
            )));
        }
        Some(stored)
    };
    eprintln!("bench: random frames of the multi-frame instance ...");
    let rows = vec![wado::random_frames(client, plan, &study, &mf).await];
    println!();
    wado::print_rows(&rows);
    Ok(FramesReport {
        multiframe_size: size,
        multiframe_frames: frames,
        study_uid: study,
        multiframe_sop_uid: mf.sop_uid.clone(),
        stored,
        rows,
    })
}
