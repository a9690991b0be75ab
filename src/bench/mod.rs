//! `tessera bench`: STOW-RS and QIDO-RS load against any DICOMweb base URL.
//!
//! One job per file. STOW: `synth` makes CT instances, `multipart` bodies, `stow` runs the
//! batch x concurrency grid, `big` sends one streamed request, `stats` computes and prints
//! the figures, `rss` reads a server's memory and CPU from /proc. QIDO: `qido` runs the
//! workload; `qido_names` and `qido_synth` make the corpus, `qido_part10` its files,
//! `qido_populate` stores it, `qido_discover` reads an existing archive instead, `qido_keys`
//! holds what the queries draw from, `qido_queries` draws them, `qido_run` sends and checks.
//! WADO: `wado` runs the workload; `wado_synth` makes the multi-frame instance, `wado_store`
//! stores the study, `wado_get` sends timed and checked GETs (`wado_parts` reads multipart
//! answers as they stream), `wado_replay` plays a viewer opening a series, `wado_study`
//! retrieves whole studies and watches the server's memory meanwhile.

mod big;
mod ceiling;
mod multipart;
mod qido;
mod qido_discover;
mod qido_keys;
mod qido_names;
mod qido_part10;
mod qido_populate;
mod qido_queries;
mod qido_run;
mod qido_synth;
mod rss;
mod stats;
mod stow;
mod synth;
mod wado;
mod wado_get;
mod wado_parts;
mod wado_replay;
mod wado_store;
mod wado_study;
mod wado_synth;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::error::AppError;

/// What `tessera bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// STOW-RS: synthetic CT stored over a batch x concurrency grid.
    Stow,
    /// QIDO-RS: a populated archive of small studies searched by a query mix.
    Qido,
    /// WADO-RS: series metadata, a viewer opening a series, random frames of a multi-frame
    /// instance, whole-study retrieve.
    Wado,
    /// STOW, then QIDO, then WADO.
    All,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// DICOMweb root to measure, e.g. http://127.0.0.1:8080/dicom-web
    #[arg(long)]
    pub url: String,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Workload::Stow)]
    pub workload: Workload,
    /// Instances per STOW request, comma-separated [default: 1,10,100; smoke: 1,10].
    #[arg(long, value_delimiter = ',')]
    pub batch: Option<Vec<usize>>,
    /// Requests in flight, comma-separated [default: STOW 1,4,16, QIDO 8; smoke: STOW 1,2,
    /// QIDO 2].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Option<Vec<usize>>,
    /// Instances sent in each (batch, concurrency) cell [default: 400; smoke: 20].
    #[arg(long)]
    pub instances: Option<usize>,
    /// Slices per synthetic CT study [default: 200].
    #[arg(long)]
    pub slices: Option<u32>,
    /// Rows and columns of every image [default: 512; smoke: 64].
    #[arg(long)]
    pub image_size: Option<u16>,
    /// QIDO: metadata-only instances to store first (10 per series, 1-3 series per study)
    /// [default: 100000; smoke: 300]; 0 = query the archive as it is.
    #[arg(long)]
    pub populate: Option<u64>,
    /// QIDO: requests per query type [default: 2000; smoke: 50]; 0 = only populate.
    #[arg(long)]
    pub queries: Option<usize>,
    /// WADO: slices of the CT series [default: 300; smoke: 20].
    #[arg(long)]
    pub wado_slices: Option<u32>,
    /// WADO: frames of the multi-frame instance (256x256, 16-bit) [default: 500; smoke: 20].
    #[arg(long)]
    pub wado_frames: Option<u32>,
    /// WADO: also store a study of about this many MiB (batches of 100 instances) and
    /// retrieve it once, sampling the server's RSS every 50 ms; 0 = off.
    #[arg(long, default_value_t = 0)]
    pub wado_big_study_mb: u64,
    /// Then send one streamed STOW request of about this many MiB; 0 = off.
    #[arg(long, default_value_t = 0)]
    pub big_request_mb: u64,
    /// The server's process id: report its CPU, RSS and peak RSS (from /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seed of the synthetic content (pixels, names); UIDs are fresh every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Tiny sizes that finish in seconds; exits non-zero if any request failed.
    #[arg(long)]
    pub smoke: bool,
    /// Measure sequential durable write bandwidth (1 GiB, fdatasync) in this folder, which
    /// should be on the server's data disk, and print each STOW figure as a fraction of it.
    #[arg(long)]
    pub disk_ceiling_dir: Option<PathBuf>,
}

/// The resolved workload.
pub(crate) struct Plan {
    pub url: String,
    pub workload: Workload,
    pub batches: Vec<usize>,
    pub concurrencies: Vec<usize>,
    pub qido_concurrencies: Vec<usize>,
    pub populate: u64,
    pub queries: usize,
    pub instances: usize,
    pub slices: u32,
    pub image_size: u16,
    pub big_request_mb: u64,
    pub wado_slices: u32,
    pub wado_frames: u32,
    pub wado_big_study_mb: u64,
    pub server_pid: Option<u32>,
    pub json: Option<PathBuf>,
    pub seed: u64,
    pub smoke: bool,
    pub disk_ceiling_dir: Option<PathBuf>,
}

impl Plan {
    fn resolve(args: BenchArgs) -> Result<Plan, AppError> {
        let smoke = args.smoke;
        let pick = |full: usize, tiny: usize| if smoke { tiny } else { full };
        let plan = Plan {
            url: args.url.trim_end_matches('/').to_string(),
            workload: args.workload,
            batches: args
                .batch
                .unwrap_or_else(|| if smoke { vec![1, 10] } else { vec![1, 10, 100] }),
            concurrencies: args.concurrency.clone().unwrap_or_else(|| {
                if smoke {
                    vec![1, 2]
                } else {
                    vec![1, 4, 16]
                }
            }),
            qido_concurrencies: args.concurrency.unwrap_or_else(|| vec![pick(8, 2)]),
            populate: args.populate.unwrap_or(pick(100_000, 300) as u64),
            queries: args.queries.unwrap_or(pick(2000, 50)),
            instances: args.instances.unwrap_or(pick(400, 20)),
            slices: args.slices.unwrap_or(200),
            image_size: args.image_size.unwrap_or(pick(512, 64) as u16),
            big_request_mb: args.big_request_mb,
            wado_slices: args.wado_slices.unwrap_or(pick(300, 20) as u32),
            wado_frames: args.wado_frames.unwrap_or(pick(500, 20) as u32),
            wado_big_study_mb: args.wado_big_study_mb,
            server_pid: args.server_pid,
            json: args.json,
            seed: args.seed,
            smoke,
            disk_ceiling_dir: args.disk_ceiling_dir,
        };
        let bad = |what: &str| Err(AppError::Bench(what.to_string()));
        if !plan.url.starts_with("http://") && !plan.url.starts_with("https://") {
            return bad("--url must be an http:// URL");
        }
        if plan.url.starts_with("https://") {
            return bad("--url: https is not supported by this build (no TLS); use http://");
        }
        if plan.batches.is_empty() || plan.batches.contains(&0) {
            return bad("--batch needs positive numbers");
        }
        if plan.concurrencies.is_empty() || plan.concurrencies.contains(&0) {
            return bad("--concurrency needs positive numbers");
        }
        if plan.qido_concurrencies.is_empty() || plan.qido_concurrencies.contains(&0) {
            return bad("--concurrency needs positive numbers");
        }
        if plan.instances == 0 || plan.slices == 0 || plan.image_size == 0 {
            return bad("--instances, --slices and --image-size must be positive");
        }
        if plan.wado_slices == 0 || plan.wado_frames == 0 {
            return bad("--wado-slices and --wado-frames must be positive");
        }
        if let Some(pid) = plan.server_pid {
            if rss::read(Some(pid)).is_none() {
                return Err(AppError::Bench(format!("cannot read /proc/{pid}")));
            }
        }
        Ok(plan)
    }
}

pub async fn run(args: BenchArgs) -> Result<(), AppError> {
    let plan = Plan::resolve(args)?;
    let client = reqwest::Client::builder()
        .build()
        .map_err(|err| AppError::Bench(format!("HTTP client: {}", stow::chain(&err))))?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = serde_json::Map::new();
    report.insert("url".into(), plan.url.clone().into());
    report.insert("client_cores".into(), cores.into());
    let workload = plan
        .workload
        .to_possible_value()
        .map(|v| v.get_name().to_string());
    report.insert("workload".into(), workload.into());
    let mut failed = 0;
    let all = plan.workload == Workload::All;
    if all || plan.workload == Workload::Stow {
        failed += run_stow(&client, &plan, cores, &mut report).await?;
    }
    if all || plan.workload == Workload::Qido {
        let qido = qido::run(&client, &plan).await?;
        failed += qido.errors();
        let value = serde_json::to_value(&qido)
            .map_err(|err| AppError::Bench(format!("JSON report: {err}")))?;
        report.insert("qido".into(), value);
    }
    if all || plan.workload == Workload::Wado {
        let wado = wado::run(&client, &plan).await?;
        failed += wado.errors();
        let value = serde_json::to_value(&wado)
            .map_err(|err| AppError::Bench(format!("JSON report: {err}")))?;
        report.insert("wado".into(), value);
    }
    let end = plan.server_pid.and_then(|pid| rss::read(Some(pid)));
    if let Some(end) = end {
        println!(
            "server at the end: RSS {:.1} MB, VmHWM {:.1} MB, CPU {:.2} s total",
            rss::kb_to_mib(end.rss_kb),
            rss::kb_to_mib(end.hwm_kb),
            end.cpu_ticks as f64 / 100.0
        );
    }
    report.insert(
        "server_end".into(),
        serde_json::json!(end.map(|e| serde_json::json!({
            "rss_mb": rss::kb_to_mib(e.rss_kb),
            "hwm_mb": rss::kb_to_mib(e.hwm_kb),
            "cpu_s": e.cpu_ticks as f64 / 100.0,
        }))),
    );

    if let Some(path) = &plan.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|err| AppError::Bench(format!("JSON report: {err}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|err| AppError::Bench(format!("writing {}: {err}", path.display())))?;
    }
    if plan.smoke && failed > 0 {
        return Err(AppError::Bench(format!("{failed} request(s) failed")));
    }
    Ok(())
}

/// The STOW workload; its figures go into `report`. Returns the number of failed requests.
async fn run_stow(
    client: &reqwest::Client,
    plan: &Plan,
    cores: usize,
    report: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<usize, AppError> {
    let synth = Arc::new(synth::Synth::new(plan.image_size, plan.slices, plan.seed));
    let instance_bytes = synth.instance(0, 0).map_err(AppError::Bench)?.len();
    println!(
        "tessera bench: {} | {}x{} CT, {} KiB/instance, {} instances per cell, {} client cores, UID root {}",
        plan.url,
        plan.image_size,
        plan.image_size,
        instance_bytes / 1024,
        plan.instances,
        cores,
        synth.uid_root
    );

    let cells = stow::run_grid(client, plan, &synth).await;
    stats::print_cells(&cells);
    let big = if plan.big_request_mb > 0 {
        let cell = u32::try_from(cells.len() + 1).unwrap_or(u32::MAX);
        let report = big::run(client, plan, &synth, cell).await;
        stats::print_big(&report);
        Some(report)
    } else {
        None
    };
    let disk_ceiling = match &plan.disk_ceiling_dir {
        Some(dir) => {
            let dir = dir.clone();
            let measured =
                tokio::task::spawn_blocking(move || ceiling::disk_write_mib_s(&dir, 1024))
                    .await
                    .map_err(|err| AppError::Bench(err.to_string()))?
                    .map_err(AppError::Bench)?;
            println!(
                "ceiling: sequential durable disk write {measured:.1} MB/s (1 GiB, fdatasync)"
            );
            for cell in &cells {
                println!(
                    "  batch {:>3} x concurrency {:>2}: {:.1} MB/s = {:.0}% of the disk ceiling",
                    cell.batch,
                    cell.concurrency,
                    cell.mb_per_s,
                    100.0 * cell.mb_per_s / measured
                );
            }
            Some(measured)
        }
        None => None,
    };
    let fields = serde_json::json!({
        "image_size": plan.image_size,
        "instance_bytes": instance_bytes,
        "instances_per_cell": plan.instances,
        "slices_per_study": plan.slices,
        "uid_root": synth.uid_root,
        "cells": cells,
        "big_request": big,
        "disk_ceiling_mb_per_s": disk_ceiling,
    });
    if let serde_json::Value::Object(fields) = fields {
        report.extend(fields);
    }
    Ok(cells.iter().map(|c| c.errors).sum::<usize>()
        + big.as_ref().map_or(0, |b| usize::from(b.error.is_some())))
}
