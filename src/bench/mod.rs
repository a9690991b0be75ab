//! `tessera bench`: STOW-RS and QIDO-RS load against any DICOMweb base URL.
//!
//! One job per file. STOW: `synth` makes CT instances, `multipart` bodies, `stow` runs the
//! batch x concurrency grid, `big` sends one streamed request, `stats` computes and prints
//! the figures, `rss` reads a server's memory and CPU from /proc. QIDO: `qido` runs the
//! workload; `qido_names` and `qido_synth` make the corpus, `qido_part10` its files,
//! `qido_populate` stores it, `qido_discover` reads an existing archive instead, `qido_keys`
//! holds what the queries draw from, `qido_queries` draws them, `qido_run` sends and checks.
//! WADO: `wado` runs the workload; `wado_synth` makes the multi-frame instance, `wado_mr` the
//! MR series, `wado_us` the ultrasound cine, `wado_store` stores them, `wado_get` sends timed
//! and checked GETs (`wado_parts` reads multipart answers as they stream), `wado_replay`
//! plays a viewer opening a series, `wado_mr_us` stores and measures the MR + ultrasound
//! study, `wado_study` retrieves whole studies and watches the server's memory meanwhile.

mod big;
mod callgrind;
mod ceiling;
mod compare;
mod compare_summary;
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
pub mod synth;
mod wado;
mod wado_get;
mod wado_mr;
mod wado_mr_us;
mod wado_parts;
mod wado_replay;
mod wado_store;
mod wado_study;
pub mod wado_synth;
mod wado_us;

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
    /// instance, whole-study retrieve, a viewer opening an MR series, an ultrasound cine.
    Wado,
    /// STOW, then QIDO, then WADO.
    All,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// DICOMweb root to measure, e.g. http://127.0.0.1:8080/dicom-web (also `--target`).
    #[arg(long, visible_alias = "target", required_unless_present_any = ["summarize", "ceiling_serve", "callgrind_op"])]
    pub url: Option<String>,
    /// A second DICOMweb root to run the same workload against (e.g. Orthanc's
    /// http://127.0.0.1:8042/dicom-web); the report then gives target/compare ratios.
    #[arg(long)]
    pub compare: Option<String>,
    /// The compare server's process id: its CPU seconds and peak RSS per operation.
    #[arg(long)]
    pub compare_pid: Option<u32>,
    /// Run the compare server's workload first (so repetitions can alternate the order).
    #[arg(long)]
    pub compare_first: bool,
    /// Names for the two servers in tables and JSON [default: target, compare].
    #[arg(long, default_value = "target")]
    pub target_name: String,
    #[arg(long, default_value = "compare")]
    pub compare_name: String,
    /// A trivial HTTP server for the loopback ceiling (`--ceiling-serve 127.0.0.1:8199`):
    /// `GET /ok` answers 2 bytes, `GET /mib` 1 MiB. Runs until killed; no workload.
    #[arg(long)]
    pub ceiling_serve: Option<std::net::SocketAddr>,
    /// Measure the loopback HTTP ceiling against a `--ceiling-serve` server at this URL
    /// (e.g. http://127.0.0.1:8199) and print figures as fractions of it.
    #[arg(long)]
    pub ceiling_url: Option<String>,
    /// Run one operation in-process, `--callgrind-repeat` times after its setup, and exit:
    /// what scripts/callgrind.sh counts instructions of.
    #[arg(long, value_enum)]
    pub callgrind_op: Option<callgrind::Op>,
    #[arg(long, default_value_t = 1)]
    pub callgrind_repeat: u32,
    /// Print medians and ranges of the comparisons in these JSON reports (written by
    /// `--compare --json`), no workload; with `--json`, write the summary there.
    #[arg(long, num_args = 1..)]
    pub summarize: Vec<PathBuf>,
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
    /// WADO: requests per metadata cell [default: 200; smoke: 20].
    #[arg(long)]
    pub wado_requests: Option<usize>,
    /// WADO: random frames fetched from the multi-frame instance [default: 2000; smoke: 200].
    #[arg(long)]
    pub wado_random_frames: Option<usize>,
    /// WADO: slices of the MR series (256x256, 16-bit) [default: 100; smoke: 10].
    #[arg(long)]
    pub wado_mr_slices: Option<u32>,
    /// WADO: frames of the RGB ultrasound cine (640x480; smoke: 64x48) [default: 100;
    /// smoke: 10].
    #[arg(long)]
    pub wado_us_frames: Option<u32>,
    /// WADO: also store a study of about this many MiB (batches of 100 instances) and
    /// retrieve it once, sampling the server's RSS every 50 ms; 0 = off.
    #[arg(long, default_value_t = 0)]
    pub wado_big_study_mb: u64,
    /// Then send one streamed STOW request of about this many MiB; 0 = off.
    #[arg(long, default_value_t = 0)]
    pub big_request_mb: u64,
    /// The server's process id: report its CPU, RSS and peak RSS (from /proc); also
    /// `--target-pid`.
    #[arg(long, visible_alias = "target-pid")]
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
#[derive(Clone)]
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
    pub wado_requests: usize,
    pub wado_random_frames: usize,
    pub wado_mr_slices: u32,
    pub wado_us_frames: u32,
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
            url: args
                .url
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
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
            wado_requests: args.wado_requests.unwrap_or(pick(200, 20)).max(1),
            wado_random_frames: args.wado_random_frames.unwrap_or(pick(2000, 200)).max(1),
            wado_mr_slices: args.wado_mr_slices.unwrap_or(pick(100, 10) as u32),
            wado_us_frames: args.wado_us_frames.unwrap_or(pick(100, 10) as u32),
            wado_big_study_mb: args.wado_big_study_mb,
            server_pid: args.server_pid,
            json: args.json,
            seed: args.seed,
            smoke,
            disk_ceiling_dir: args.disk_ceiling_dir,
        };
        plan.check()?;
        Ok(plan)
    }

    /// Whether the plan can run: URL, sizes, the server's /proc entry.
    fn check(&self) -> Result<(), AppError> {
        let plan = self;
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
        if plan.wado_mr_slices == 0 || plan.wado_us_frames == 0 {
            return bad("--wado-mr-slices and --wado-us-frames must be positive");
        }
        if let Some(pid) = plan.server_pid {
            if rss::read(Some(pid)).is_none() {
                return Err(AppError::Bench(format!("cannot read /proc/{pid}")));
            }
        }
        Ok(())
    }
}

pub async fn run(args: BenchArgs) -> Result<(), AppError> {
    if let Some(addr) = args.ceiling_serve {
        return ceiling::serve(addr).await.map_err(AppError::Bench);
    }
    if let Some(op) = args.callgrind_op {
        return callgrind::run(op, args.callgrind_repeat).await;
    }
    if !args.summarize.is_empty() {
        return compare_summary::run(&args.summarize, args.json.as_deref());
    }
    let compare_url = args.compare.clone();
    let (compare_pid, compare_first) = (args.compare_pid, args.compare_first);
    let names = (args.target_name.clone(), args.compare_name.clone());
    let ceiling_url = args.ceiling_url.clone();
    let plan = Plan::resolve(args)?;
    let client = reqwest::Client::builder()
        .build()
        .map_err(|err| AppError::Bench(format!("HTTP client: {}", stow::chain(&err))))?;
    let Some(compare_url) = compare_url else {
        let (mut report, failed) = run_one(&client, &plan).await?;
        if let Some(url) = &ceiling_url {
            let ceiling = http_ceiling(&client, &plan, url).await;
            report.insert("ceilings".into(), ceiling);
        }
        return finish(&plan, serde_json::Value::Object(report), failed);
    };
    let mut other = plan.clone();
    other.url = compare_url.trim_end_matches('/').to_string();
    other.server_pid = compare_pid;
    other.disk_ceiling_dir = None;
    other.json = None;
    other.check()?;
    let (target, compared, failed) = if compare_first {
        let (c, fc) = run_one(&client, &other).await?;
        let (t, ft) = run_one(&client, &plan).await?;
        (t, c, ft + fc)
    } else {
        let (t, ft) = run_one(&client, &plan).await?;
        let (c, fc) = run_one(&client, &other).await?;
        (t, c, ft + fc)
    };
    let (target, compared) = (
        serde_json::Value::Object(target),
        serde_json::Value::Object(compared),
    );
    let rows = compare::rows(compare::ops(&target), compare::ops(&compared));
    let hwm = target
        .pointer("/server_end/hwm_mb")
        .and_then(|v| v.as_f64());
    let target_peak_mb = compare::peak_mb(&rows, hwm);
    let flat: Vec<_> = rows
        .iter()
        .map(|r| (r.name.clone(), r.group, r.ratio, r.p50_ratio))
        .collect();
    let verdicts = compare::verdicts(&flat, target_peak_mb);
    compare::print(&rows, &verdicts, (&names.0, &names.1));
    let mut report = serde_json::Map::new();
    if let Some(url) = &ceiling_url {
        let ceiling = http_ceiling(&client, &plan, url).await;
        report.insert("ceilings".into(), ceiling);
    }
    let disk = target.get("disk_ceiling_mb_per_s").and_then(|v| v.as_f64());
    let ceilings = report.get("ceilings").cloned();
    ceiling_fractions(&rows, ceilings.as_ref(), disk, &names.0);
    report.insert(
        "comparison".into(),
        serde_json::json!({
            "names": [names.0, names.1],
            "compare_first": compare_first,
            "rows": rows,
            "target_peak_mb": target_peak_mb,
            "verdicts": verdicts,
        }),
    );
    report.insert("target".into(), target);
    report.insert("compare".into(), compared);
    finish(&plan, serde_json::Value::Object(report), failed)
}

/// Measure the loopback HTTP ceiling (smaller in a smoke run) and print it.
async fn http_ceiling(client: &reqwest::Client, plan: &Plan, url: &str) -> serde_json::Value {
    let (small, mib) = if plan.smoke {
        (200, 20)
    } else {
        (20_000, 2_000)
    };
    let url = url.trim_end_matches('/');
    let c = ceiling::http(client, url, small, mib).await;
    println!(
        "ceiling: loopback HTTP, trivial handler: {:.0} req/s (8 in flight, p50 {:.2} ms), \
         {:.0} MB/s of 1 MiB answers (4 in flight), {:.0} frames/s of 512 KiB answers \
         ({} in flight: 300 frames in {:.3} s){}",
        c.small_req_per_s,
        c.small_p50_ms,
        c.mib_mb_per_s,
        c.frame_per_s,
        ceiling::FRAME_CONCURRENCY,
        300.0 / c.frame_per_s.max(1e-9),
        if c.errors > 0 {
            format!(", {} error(s)", c.errors)
        } else {
            String::new()
        }
    );
    serde_json::to_value(&c).unwrap_or_default()
}

/// Each target figure as a fraction of the ceiling that bounds it: request rates of the
/// trivial handler's, byte rates of the loopback 1 MiB rate, STOW of the disk's.
fn ceiling_fractions(
    rows: &[compare::Row],
    http: Option<&serde_json::Value>,
    disk_mb_per_s: Option<f64>,
    name: &str,
) {
    let get = |key: &str| http.and_then(|h| h.get(key)).and_then(|v| v.as_f64());
    let (small, mib) = (get("small_req_per_s"), get("mib_mb_per_s"));
    let frames = get("frame_per_s").filter(|f| *f > 0.0);
    if small.is_none() && disk_mb_per_s.is_none() {
        return;
    }
    println!("\n{name} as a fraction of this machine's ceilings:");
    for r in rows.iter().filter(|r| r.target.errors == 0) {
        let t = &r.target;
        let mut parts = Vec::new();
        if let Some(small) = small {
            parts.push(format!(
                "{:.1} req/s = {:.1}% of trivial-handler req/s",
                t.req_per_s,
                100.0 * t.req_per_s / small
            ));
        }
        if let (Some(mib), true) = (mib, t.mb_per_s > 0.0) {
            parts.push(format!(
                "{:.1} MB/s = {:.1}% of loopback MB/s",
                t.mb_per_s,
                100.0 * t.mb_per_s / mib
            ));
        }
        // Frame items against the byte rate of 512 KiB answers at 25 in flight.
        if let (Some(frames), true) = (frames, r.name.contains("frames") && t.mb_per_s > 0.0) {
            let ceiling_mb_per_s = frames * ceiling::FRAME_BYTES as f64 / stats::MIB;
            parts.push(format!(
                "{:.1}% of loopback frame-sized MB/s",
                100.0 * t.mb_per_s / ceiling_mb_per_s
            ));
        }
        if let (Some(disk), compare::Group::Stow) = (disk_mb_per_s, r.group) {
            parts.push(format!(
                "{:.1}% of disk write MB/s",
                100.0 * t.mb_per_s / disk
            ));
        }
        println!("  {:<48} {}", r.name, parts.join(", "));
    }
}

/// Write the JSON report; a smoke run fails on any failed request.
fn finish(plan: &Plan, report: serde_json::Value, failed: usize) -> Result<(), AppError> {
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

/// The whole workload against `plan.url`: its report and the number of failed requests.
async fn run_one(
    client: &reqwest::Client,
    plan: &Plan,
) -> Result<(serde_json::Map<String, serde_json::Value>, usize), AppError> {
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
        failed += run_stow(client, plan, cores, &mut report).await?;
    }
    if all || plan.workload == Workload::Qido {
        let qido = qido::run(client, plan).await?;
        failed += qido.errors();
        let value = serde_json::to_value(&qido)
            .map_err(|err| AppError::Bench(format!("JSON report: {err}")))?;
        report.insert("qido".into(), value);
    }
    if all || plan.workload == Workload::Wado {
        let wado = wado::run(client, plan).await?;
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
    Ok((report, failed))
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
