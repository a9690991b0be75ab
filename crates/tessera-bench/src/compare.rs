//! Side by side: the same workload's report from two servers flattened into operations
//! (one figure each, plus latency, server CPU and peak RSS), their ratios (>1 means the
//! target is better), and the targets judged from them. An operation that failed on
//! either side gets no ratio: its first error is shown instead, never a made-up figure.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which target an operation counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Stow,
    Qido,
    Metadata,
    ReplayCold,
    FramesWarm,
    Retrieve,
    Other,
}

/// One measured operation on one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub name: String,
    pub group: Group,
    /// Unit of `value`, e.g. "inst/s", "req/s", "MB/s", "s".
    pub unit: String,
    pub value: f64,
    /// `value` is a time (lower is better) rather than a rate.
    pub lower_is_better: bool,
    pub requests: usize,
    pub req_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_peak_mb: Option<f64>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// QIDO: mean number of results per request.
    #[serde(default)]
    pub mean_results: Option<f64>,
}

/// One operation on both servers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub group: Group,
    pub unit: String,
    pub target: Op,
    pub compare: Option<Op>,
    /// target/compare for rates, compare/target for times; `None` when either side failed.
    pub ratio: Option<f64>,
    /// compare p50 / target p50 (latency ratio, >1 means the target answers sooner).
    pub p50_ratio: Option<f64>,
    /// Why there is no ratio although both sides answered without error.
    #[serde(default)]
    pub note: Option<String>,
}

/// The operations of one server's report (the JSON `tessera-bench` writes).
pub fn ops(report: &Value) -> Vec<Op> {
    let mut out = Vec::new();
    for cell in array(report, "cells") {
        let name = format!(
            "STOW {}/req c{}",
            num(cell, "batch") as u64,
            num(cell, "concurrency") as u64
        );
        let mut op = op(cell, name, Group::Stow, "inst/s", "instances_per_s");
        op.req_per_s = num(cell, "requests") / num(cell, "seconds").max(1e-9);
        out.push(op);
    }
    if let Some(qido) = report.get("qido") {
        if let Some(populate) = qido.get("populate").filter(|p| !p.is_null()) {
            let name = format!("QIDO populate ({} instances)", num(populate, "instances"));
            out.push(op(
                populate,
                name,
                Group::Other,
                "inst/s",
                "instances_per_s",
            ));
        }
        for query in array(qido, "queries") {
            let name = format!(
                "QIDO {} c{}",
                text(query, "query"),
                num(query, "concurrency") as u64
            );
            out.push(op(query, name, Group::Qido, "req/s", "requests_per_s"));
        }
    }
    if let Some(wado) = report.get("wado") {
        for row in array(wado, "rows") {
            let item = text(row, "item");
            if item.contains("replay") {
                continue; // in the replays below, with the time to all frames
            }
            let group = if item.contains("metadata") {
                Group::Metadata
            } else if item.contains("frames") && item.contains("cold") {
                Group::Other // e.g. the cine's first pass: not warm frames
            } else if item.contains("frames") {
                Group::FramesWarm
            } else if item.contains("retrieve") {
                Group::Retrieve
            } else {
                Group::Other
            };
            let (unit, key) = if group == Group::Retrieve {
                ("MB/s", "mb_per_s")
            } else {
                ("req/s", "requests_per_s")
            };
            let name = format!("{item} c{}", num(row, "concurrency") as u64);
            out.push(op(row, name, group, unit, key));
        }
        for replay in array(wado, "replays") {
            let state = text(replay, "state");
            // The CT series' replays are the OHIF ones; another series by its label ("MR").
            let what = match text(replay, "series_label") {
                "" => "OHIF replay".to_string(),
                label => format!("{label} replay"),
            };
            let conc = num(replay, "concurrency") as u64;
            let frames = replay.get("frames_row").filter(|r| !r.is_null());
            let mut base = match frames {
                Some(row) => op(row, String::new(), Group::Other, "", "requests_per_s"),
                None => op(replay, String::new(), Group::Other, "", "frames_per_s"),
            };
            base.errors = num(replay, "errors") as usize;
            base.first_error = replay
                .get("first_error")
                .and_then(Value::as_str)
                .map(str::to_string);
            if state == "cold" {
                let mut time = base.clone();
                time.name = format!("{what} cold c{conc}: time to all frames");
                time.group = Group::ReplayCold;
                time.unit = "s".into();
                time.value = num(replay, "time_to_all_frames_s");
                time.lower_is_better = true;
                out.push(time);
            }
            base.name = format!("{what} {state} c{conc}: frames/s");
            base.group = if state == "warm" {
                Group::FramesWarm
            } else {
                Group::Other
            };
            base.unit = "frames/s".into();
            base.value = num(replay, "frames_per_s");
            out.push(base);
        }
    }
    out
}

fn op(v: &Value, name: String, group: Group, unit: &str, key: &str) -> Op {
    let server = v.get("server").filter(|s| !s.is_null());
    let requests = num(v, "requests") as usize;
    let seconds = num(v, "seconds").max(1e-9);
    Op {
        name,
        group,
        unit: unit.to_string(),
        value: num(v, key),
        lower_is_better: false,
        requests,
        req_per_s: v
            .get("requests_per_s")
            .and_then(Value::as_f64)
            .unwrap_or(requests as f64 / seconds),
        mb_per_s: num(v, "mb_per_s"),
        p50_ms: v.get("p50_ms").and_then(Value::as_f64),
        p99_ms: v.get("p99_ms").and_then(Value::as_f64),
        server_cpu_s: server.and_then(|s| s.get("cpu_s")?.as_f64()),
        server_peak_mb: server.and_then(|s| s.get("rss_peak_mb")?.as_f64()),
        errors: num(v, "errors") as usize,
        first_error: v
            .get("first_error")
            .and_then(Value::as_str)
            .map(str::to_string),
        mean_results: v.get("mean_results").and_then(Value::as_f64),
    }
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Pair the target's operations with the compare server's by name.
pub fn rows(target: Vec<Op>, compare: Vec<Op>) -> Vec<Row> {
    target
        .into_iter()
        .map(|t| {
            let c = compare.iter().find(|c| c.name == t.name).cloned();
            let ok = |o: &Op| o.errors == 0 && o.value > 0.0;
            // A search that finds nothing where the target finds matches did not answer the
            // query (e.g. an unsupported matching mode), however fast it was.
            let empty = c.as_ref().is_some_and(|c| {
                c.mean_results == Some(0.0) && t.mean_results.is_some_and(|n| n > 0.0)
            });
            let note = empty.then(|| {
                format!(
                    "compare returned no results (target: {:.1} per query)",
                    t.mean_results.unwrap_or_default()
                )
            });
            let ratio = c.as_ref().filter(|c| ok(c) && ok(&t) && !empty).map(|c| {
                if t.lower_is_better {
                    c.value / t.value
                } else {
                    t.value / c.value
                }
            });
            let p50_ratio = match (&c, t.p50_ms) {
                (Some(c), Some(tp)) if ratio.is_some() && tp > 0.0 => c.p50_ms.map(|cp| cp / tp),
                _ => None,
            };
            Row {
                name: t.name.clone(),
                group: t.group,
                unit: t.unit.clone(),
                target: t,
                compare: c,
                ratio,
                p50_ratio,
                note,
            }
        })
        .collect()
}

/// One of the targets, judged from the rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub target: String,
    /// The weakest ratio among the operations it covers (the figure itself for RSS).
    pub achieved: Option<f64>,
    pub met: bool,
    pub note: String,
}

/// What each target needs: (label, group, threshold, judge on the p50 ratio).
const TARGETS: [(&str, Group, f64, bool); 7] = [
    ("STOW instances/s >= 4x", Group::Stow, 4.0, false),
    ("QIDO throughput >= 10x", Group::Qido, 10.0, false),
    ("QIDO p50 latency >= 10x", Group::Qido, 10.0, true),
    (
        "series and study metadata >= 10x",
        Group::Metadata,
        10.0,
        false,
    ),
    (
        "OHIF cold replay time to all frames >= 20x",
        Group::ReplayCold,
        20.0,
        false,
    ),
    ("warm frames/s >= 2x", Group::FramesWarm, 2.0, false),
    (
        "whole-study retrieve MB/s >= 2x",
        Group::Retrieve,
        2.0,
        false,
    ),
];

/// Judge every target from `(name, group, ratio, p50 ratio)`; `target_peak_mb` is the
/// target server's highest RSS over the whole run.
pub fn verdicts(
    rows: &[(String, Group, Option<f64>, Option<f64>)],
    target_peak_mb: Option<f64>,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (label, group, threshold, p50) in TARGETS {
        let covered: Vec<_> = rows.iter().filter(|r| r.1 == group).collect();
        let ratios: Vec<f64> = covered
            .iter()
            .filter_map(|r| if p50 { r.3 } else { r.2 })
            .collect();
        let unanswered: Vec<&str> = covered
            .iter()
            .filter(|r| (if p50 { r.3 } else { r.2 }).is_none())
            .map(|r| r.0.as_str())
            .collect();
        let weakest = ratios.iter().copied().reduce(f64::min);
        let below = ratios.iter().filter(|&&r| r < threshold).count();
        let mut note = format!(
            "{} of {} operations measured, {below} below {threshold}x",
            ratios.len(),
            covered.len()
        );
        if !unanswered.is_empty() {
            note.push_str(&format!(
                "; no ratio (failed, or found nothing, on a side): {}",
                unanswered.join(", ")
            ));
        }
        out.push(Verdict {
            target: label.to_string(),
            achieved: weakest,
            met: weakest.is_some_and(|w| w >= threshold),
            note,
        });
    }
    out.push(Verdict {
        target: "target peak RSS < 300 MB".into(),
        achieved: target_peak_mb,
        met: target_peak_mb.is_some_and(|mb| mb < 300.0),
        note: "highest RSS sampled every 10 ms in any operation, or VmHWM at the end".into(),
    });
    out
}

/// The target server's highest RSS in the run: the sampled peaks and the final VmHWM.
pub fn peak_mb(rows: &[Row], server_end_hwm_mb: Option<f64>) -> Option<f64> {
    rows.iter()
        .filter_map(|r| r.target.server_peak_mb)
        .chain(server_end_hwm_mb)
        .reduce(f64::max)
}

pub fn print(rows: &[Row], verdicts: &[Verdict], names: (&str, &str)) {
    println!();
    println!(
        "{:<48} {:>9} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "operation",
        "unit",
        names.0,
        names.1,
        "ratio",
        "p50 t",
        "p50 c",
        "p50 x",
        "p99 t",
        "cpu t",
        "cpu c",
        "rss t",
        "rss c",
    );
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for r in rows {
        let c = r.compare.as_ref();
        let show = |o: &Op| {
            if o.errors > 0 {
                format!("{}err", o.errors)
            } else if o.lower_is_better {
                format!("{:.3}", o.value)
            } else {
                format!("{:.1}", o.value)
            }
        };
        let cval = c.map_or("-".into(), show);
        let tval = show(&r.target);
        println!(
            "{:<48} {:>9} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7}",
            r.name,
            r.unit,
            tval,
            cval,
            r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            f(r.target.p50_ms),
            f(c.and_then(|c| c.p50_ms)),
            r.p50_ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            f(r.target.p99_ms),
            f(r.target.server_cpu_s),
            f(c.and_then(|c| c.server_cpu_s)),
            f(r.target.server_peak_mb),
            f(c.and_then(|c| c.server_peak_mb)),
        );
    }
    for r in rows {
        if let Some(note) = &r.note {
            println!("  {}: {}", r.name, note.replace("compare", names.1));
        }
        for (who, op) in [(names.0, Some(&r.target)), (names.1, r.compare.as_ref())] {
            if let Some(err) = op.and_then(|o| o.first_error.as_deref()) {
                let err: String = err.chars().take(200).collect();
                println!("  {who} failed {}: {err}", r.name);
            }
        }
    }
    print_verdicts(verdicts);
}

pub fn print_verdicts(verdicts: &[Verdict]) {
    println!();
    for v in verdicts {
        println!(
            "{:<4} {:<46} achieved {:>8}  ({})",
            if v.met { "MET" } else { "NOT" },
            v.target,
            v.achieved.map_or("-".into(), |a| format!("{a:.2}")),
            v.note
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(stow: f64, qido_errors: usize) -> Value {
        json!({
            "cells": [{"batch": 10, "concurrency": 4, "requests": 40, "seconds": 2.0,
                       "instances_per_s": stow, "mb_per_s": 1.0, "p50_ms": 5.0, "p99_ms": 9.0,
                       "errors": 0, "server": {"cpu_s": 1.5, "rss_peak_mb": 80.0}}],
            "qido": {"queries": [{"query": "PatientID", "concurrency": 8, "requests": 10,
                                  "seconds": 1.0, "requests_per_s": 10.0, "p50_ms": 2.0,
                                  "errors": qido_errors, "first_error": null},
                                 {"query": "fuzzy", "concurrency": 8, "requests": 10,
                                  "seconds": 1.0, "requests_per_s": 10.0, "p50_ms": 2.0,
                                  "errors": 0, "mean_results": stow / 400.0}]},
            "wado": {"rows": [
                {"item": "US cine frames cold", "concurrency": 25, "requests": 10,
                 "seconds": 1.0, "requests_per_s": 10.0, "errors": 0},
                {"item": "US cine frames warm", "concurrency": 25, "requests": 10,
                 "seconds": 1.0, "requests_per_s": 10.0, "errors": 0},
                {"item": "MR replay cold", "concurrency": 25, "requests": 10,
                 "seconds": 1.0, "requests_per_s": 10.0, "errors": 0}],
              "replays": [{"state": "cold", "concurrency": 25,
                      "time_to_all_frames_s": stow / 100.0, "frames_per_s": 5.0,
                      "errors": 0, "frames_row": null},
                     {"series_label": "MR", "state": "cold", "concurrency": 25,
                      "time_to_all_frames_s": stow / 200.0, "frames_per_s": 5.0,
                      "errors": 0, "frames_row": null}]}
        })
    }

    #[test]
    fn ratios_favour_the_target_and_skip_failures() {
        let rows = rows(ops(&report(400.0, 0)), ops(&report(100.0, 10)));
        let stow = rows.iter().find(|r| r.name == "STOW 10/req c4").unwrap();
        assert_eq!(stow.ratio, Some(4.0));
        assert_eq!(stow.target.server_cpu_s, Some(1.5));
        let qido = rows.iter().find(|r| r.name == "QIDO PatientID c8").unwrap();
        assert_eq!(qido.ratio, None, "the compare side failed");
        let fuzzy = rows.iter().find(|r| r.name == "QIDO fuzzy c8").unwrap();
        assert_eq!(fuzzy.ratio, Some(1.0), "both found matches");
        let none = super::rows(ops(&report(400.0, 0)), ops(&report(0.0, 0)));
        let fuzzy = none.iter().find(|r| r.name == "QIDO fuzzy c8").unwrap();
        assert_eq!(fuzzy.ratio, None, "the compare side found nothing");
        assert!(fuzzy.note.is_some());
        // A time: compare/target, so a slower target gives < 1.
        let cold = rows.iter().find(|r| r.group == Group::ReplayCold).unwrap();
        assert_eq!(cold.name, "OHIF replay cold c25: time to all frames");
        assert_eq!(cold.ratio, Some(0.25));
        let group = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.group);
        let mr = "MR replay cold c25: time to all frames";
        assert_eq!(group(mr), Some(Group::ReplayCold));
        assert_eq!(group("MR replay cold c25: frames/s"), Some(Group::Other));
        assert_eq!(
            group("MR replay cold c25"),
            None,
            "the replay's row is in the replay"
        );
        assert_eq!(group("US cine frames cold c25"), Some(Group::Other));
        assert_eq!(group("US cine frames warm c25"), Some(Group::FramesWarm));
        let flat: Vec<_> = rows
            .iter()
            .map(|r| (r.name.clone(), r.group, r.ratio, r.p50_ratio))
            .collect();
        let v = verdicts(&flat, Some(310.0));
        assert!(v[0].met, "STOW 4x met: {v:?}");
        assert!(!v[1].met && v[1].achieved == Some(1.0), "fuzzy 1x: {v:?}");
        assert!(!v.last().unwrap().met);
    }
}
