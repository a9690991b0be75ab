//! Run the chosen workload against one server, or two for a comparison, and report.

use std::sync::Arc;

use clap::ValueEnum;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::args::{BenchArgs, Workload};
use crate::error::BenchError;
use crate::plan::Plan;
use crate::{
    big, callgrind, ceiling, compare, compare_summary, qido, qido_synth, qido_write, rss, stats,
    stow, synth, wado, wado_frames,
};

pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    if let Some(addr) = args.ceiling_serve {
        return ceiling::serve(addr).await.map_err(BenchError::Failed);
    }
    if let Some(op) = args.callgrind_op {
        return callgrind::run(op, args.callgrind_repeat).await;
    }
    if let Some(dir) = args.write_corpus.clone() {
        let mut corpus = qido_synth::Corpus::new(args.populate.unwrap_or(100_000), args.seed);
        corpus.uid_root = args.uid_root.clone().unwrap_or_default();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        return qido_write::write(std::sync::Arc::new(corpus), &dir, threads);
    }
    if !args.summarize.is_empty() {
        return compare_summary::run(&args.summarize, args.json.as_deref());
    }
    let compare_url = args.compare.clone();
    let (compare_pid, compare_first) = (args.compare_pid, args.compare_first);
    let names = (args.target_name.clone(), args.compare_name.clone());
    let ceiling_url = args.ceiling_url.clone();
    let headers = headers(args.bearer.as_deref(), &args.headers)?;
    let plan = Plan::resolve(args)?;
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(|err| BenchError::Failed(format!("HTTP client: {}", stow::chain(&err))))?;
    let Some(compare_url) = compare_url else {
        let (mut report, failed) = run_one(&client, &plan).await?;
        if let Some(url) = &ceiling_url {
            let ceiling = http_ceiling(&client, &plan, url).await;
            frame_fractions(&report, &ceiling);
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

/// The headers every request carries: `Authorization: Bearer` with `bearer` (marked
/// sensitive, so never logged), then each `Name: value` of `extra`.
fn headers(bearer: Option<&str>, extra: &[String]) -> Result<HeaderMap, BenchError> {
    let mut map = HeaderMap::new();
    if let Some(token) = bearer.map(str::trim).filter(|t| !t.is_empty()) {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            BenchError::Failed("--bearer (TESSERA_BENCH_TOKEN): not a valid header value".into())
        })?;
        value.set_sensitive(true);
        map.insert(AUTHORIZATION, value);
    }
    for header in extra {
        let bad = || BenchError::Failed(format!("--header {header:?}: expected `Name: value`"));
        let (name, value) = header.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        map.append(name, value);
    }
    Ok(map)
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
         ({} in flight: 300 frames in {:.3} s), {:.0} frames/s as checked one-part \
         multipart answers{}",
        c.small_req_per_s,
        c.small_p50_ms,
        c.mib_mb_per_s,
        c.frame_per_s,
        ceiling::FRAME_CONCURRENCY,
        300.0 / c.frame_per_s.max(1e-9),
        c.frame_part_per_s,
        if c.errors > 0 {
            format!(", {} error(s)", c.errors)
        } else {
            String::new()
        }
    );
    serde_json::to_value(&c).unwrap_or_default()
}

/// Without a compared server: each frames item of a WADO run as a fraction of the trivial
/// handler's one-part frame answers of 512 KiB (frames/s scaled by the item's answer size).
fn frame_fractions(
    report: &serde_json::Map<String, serde_json::Value>,
    ceiling: &serde_json::Value,
) {
    let Some(per_s) = ceiling
        .get("frame_part_per_s")
        .and_then(|v| v.as_f64())
        .filter(|f| *f > 0.0)
    else {
        return;
    };
    let rows = report
        .get("wado")
        .and_then(|w| w.get("rows"))
        .and_then(|r| r.as_array());
    let ceiling_mb_per_s = per_s * ceiling::FRAME_BYTES as f64 / stats::MIB;
    let mut printed = false;
    for row in rows.into_iter().flatten() {
        let item = row.get("item").and_then(|v| v.as_str()).unwrap_or("");
        let mb_per_s = row.get("mb_per_s").and_then(|v| v.as_f64()).unwrap_or(0.0);
        let errors = row.get("errors").and_then(|v| v.as_u64()).unwrap_or(1);
        if !item.contains("frames") || errors > 0 || mb_per_s <= 0.0 {
            continue;
        }
        if !printed {
            println!(
                "\nframes as a fraction of the trivial handler's checked 512 KiB frame answers \
                 ({per_s:.0}/s = {ceiling_mb_per_s:.0} MB/s):"
            );
            printed = true;
        }
        println!(
            "  {item:<32} {mb_per_s:>8.1} MB/s = {:.1}%",
            100.0 * mb_per_s / ceiling_mb_per_s
        );
    }
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
    let frame_parts = get("frame_part_per_s").filter(|f| *f > 0.0);
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
        // Frames against the trivial handler's one-part answers, read the same way.
        if let (Some(per_s), true) = (frame_parts, r.name.contains("frames") && t.mb_per_s > 0.0) {
            let ceiling_mb_per_s = per_s * ceiling::FRAME_BYTES as f64 / stats::MIB;
            parts.push(format!(
                "{:.1}% of the trivial handler's checked frame answers",
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
fn finish(plan: &Plan, report: serde_json::Value, failed: usize) -> Result<(), BenchError> {
    if let Some(path) = &plan.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|err| BenchError::Failed(format!("JSON report: {err}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|err| BenchError::Failed(format!("writing {}: {err}", path.display())))?;
    }
    if plan.smoke && failed > 0 {
        return Err(BenchError::Failed(format!("{failed} request(s) failed")));
    }
    Ok(())
}

/// The whole workload against `plan.url`: its report and the number of failed requests.
async fn run_one(
    client: &reqwest::Client,
    plan: &Plan,
) -> Result<(serde_json::Map<String, serde_json::Value>, usize), BenchError> {
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
            .map_err(|err| BenchError::Failed(format!("JSON report: {err}")))?;
        report.insert("qido".into(), value);
    }
    if all || plan.workload == Workload::Wado {
        let wado = wado::run(client, plan).await?;
        failed += wado.errors();
        let value = serde_json::to_value(&wado)
            .map_err(|err| BenchError::Failed(format!("JSON report: {err}")))?;
        report.insert("wado".into(), value);
    }
    if plan.workload == Workload::Frames {
        let frames = wado_frames::run(client, plan).await?;
        failed += frames.errors();
        let value = serde_json::to_value(&frames)
            .map_err(|err| BenchError::Failed(format!("JSON report: {err}")))?;
        report.insert("frames".into(), value);
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
) -> Result<usize, BenchError> {
    let synth = Arc::new(synth::Synth::new(plan.image_size, plan.slices, plan.seed));
    let instance_bytes = synth.instance(0, 0).map_err(BenchError::Failed)?.len();
    println!(
        "tessera-bench: {} | {}x{} CT, {} KiB/instance, {} instances per cell, {} client cores, UID root {}",
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
                    .map_err(|err| BenchError::Failed(err.to_string()))?
                    .map_err(BenchError::Failed)?;
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
