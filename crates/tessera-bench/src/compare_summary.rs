//! Medians and ranges over repetitions: reads the JSON reports `tessera-bench --compare`
//! wrote, and per operation gives the median (min..max) of each server's figure and of the
//! ratio, then judges the targets on the median ratios.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::compare::{self, Group, Row, Verdict};
use super::stats::percentile;
use crate::error::BenchError;

#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(Spread {
            median: median(&values),
            min: values[0],
            max: values[values.len() - 1],
            n: values.len(),
        })
    }

    fn show(s: &Option<Spread>) -> String {
        s.as_ref().map_or("-".into(), |s| {
            if s.max < 10.0 {
                format!("{:.3} ({:.3}..{:.3})", s.median, s.min, s.max)
            } else {
                format!("{:.1} ({:.1}..{:.1})", s.median, s.min, s.max)
            }
        })
    }
}

fn median(sorted: &[f64]) -> f64 {
    if sorted.len() % 2 == 0 {
        let mid = sorted.len() / 2;
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        percentile(sorted, 50.0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub name: String,
    pub group: Group,
    pub unit: String,
    pub target: Option<Spread>,
    pub compare: Option<Spread>,
    pub ratio: Option<Spread>,
    pub p50_ratio: Option<Spread>,
    pub target_p50_ms: Option<Spread>,
    pub target_cpu_s: Option<Spread>,
    pub compare_cpu_s: Option<Spread>,
    pub target_peak_mb: Option<Spread>,
    pub compare_peak_mb: Option<Spread>,
    /// Runs in which a side failed this operation, with the first error seen.
    pub target_failed_runs: usize,
    pub compare_failed_runs: usize,
    /// Runs in which the compare server answered without error but found nothing.
    pub unanswered_runs: usize,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub runs: Vec<PathBuf>,
    pub names: (String, String),
    pub rows: Vec<SummaryRow>,
    pub target_peak_mb: Option<f64>,
    pub ceilings: Vec<Value>,
    pub verdicts: Vec<Verdict>,
}

pub fn run(paths: &[PathBuf], json: Option<&Path>) -> Result<(), BenchError> {
    let mut runs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|err| BenchError::Failed(format!("{}: {err}", path.display())))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|err| BenchError::Failed(format!("{}: {err}", path.display())))?;
        runs.push(value);
    }
    let summary = summarize(paths, &runs)?;
    print(&summary);
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&summary)
            .map_err(|err| BenchError::Failed(format!("JSON summary: {err}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|err| BenchError::Failed(format!("writing {}: {err}", path.display())))?;
    }
    Ok(())
}

fn summarize(paths: &[PathBuf], runs: &[Value]) -> Result<Summary, BenchError> {
    let mut per_run: Vec<Vec<Row>> = Vec::new();
    let mut peaks = Vec::new();
    let mut ceilings = Vec::new();
    let mut names = (String::from("target"), String::from("compare"));
    for (run, path) in runs.iter().zip(paths) {
        // Compared again from both servers' figures, so the report reads with this build's
        // rules whichever build wrote the run.
        let (Some(target), Some(other)) = (run.get("target"), run.get("compare")) else {
            return Err(BenchError::Failed(format!(
                "{}: no comparison (not --compare)",
                path.display()
            )));
        };
        let rows: Vec<Row> = compare::rows(compare::ops(target), compare::ops(other));
        let hwm = target.pointer("/server_end/hwm_mb").and_then(Value::as_f64);
        peaks.extend(compare::peak_mb(&rows, hwm));
        ceilings.extend(run.get("ceilings").cloned());
        if let Some(n) = run.pointer("/comparison/names").and_then(Value::as_array) {
            let s = |i: usize| n.get(i).and_then(Value::as_str).unwrap_or("").to_string();
            names = (s(0), s(1));
        }
        per_run.push(rows);
    }
    let first = per_run.first().cloned().unwrap_or_default();
    let mut rows = Vec::new();
    for head in &first {
        let same: Vec<&Row> = per_run
            .iter()
            .filter_map(|rows| rows.iter().find(|r| r.name == head.name))
            .collect();
        let ok = |o: &compare::Op| o.errors == 0;
        let collect = |f: &dyn Fn(&Row) -> Option<f64>| {
            Spread::of(same.iter().filter_map(|r| f(r)).collect())
        };
        rows.push(SummaryRow {
            name: head.name.clone(),
            group: head.group,
            unit: head.unit.clone(),
            target: collect(&|r| Some(r.target.value).filter(|_| ok(&r.target))),
            compare: collect(&|r| r.compare.as_ref().filter(|c| ok(c)).map(|c| c.value)),
            ratio: collect(&|r| r.ratio),
            p50_ratio: collect(&|r| r.p50_ratio),
            target_p50_ms: collect(&|r| r.target.p50_ms),
            target_cpu_s: collect(&|r| r.target.server_cpu_s),
            compare_cpu_s: collect(&|r| r.compare.as_ref()?.server_cpu_s),
            target_peak_mb: collect(&|r| r.target.server_peak_mb),
            compare_peak_mb: collect(&|r| r.compare.as_ref()?.server_peak_mb),
            target_failed_runs: same.iter().filter(|r| !ok(&r.target)).count(),
            compare_failed_runs: same
                .iter()
                .filter(|r| r.compare.as_ref().is_none_or(|c| !ok(c)))
                .count(),
            first_error: same.iter().find_map(|r| {
                let c = r.compare.as_ref().and_then(|c| c.first_error.clone());
                r.target.first_error.clone().or(c).or(r.note.clone())
            }),
            unanswered_runs: same.iter().filter(|r| r.note.is_some()).count(),
        });
    }
    // A target is judged on the median ratio of each operation it covers; an operation that
    // failed in any run counts as failed.
    let flat: Vec<_> = rows
        .iter()
        .map(|r| {
            let clean =
                r.target_failed_runs == 0 && r.compare_failed_runs == 0 && r.unanswered_runs == 0;
            let m = |s: &Option<Spread>| s.as_ref().map(|s| s.median).filter(|_| clean);
            (r.name.clone(), r.group, m(&r.ratio), m(&r.p50_ratio))
        })
        .collect();
    let target_peak_mb = peaks.into_iter().reduce(f64::max);
    let verdicts = compare::verdicts(&flat, target_peak_mb);
    Ok(Summary {
        runs: paths.to_vec(),
        names,
        rows,
        target_peak_mb,
        ceilings,
        verdicts,
    })
}

fn print(s: &Summary) {
    println!(
        "{} runs; median (min..max); ratio > 1 means {} is better",
        s.runs.len(),
        s.names.0
    );
    println!(
        "{:<48} {:>8} {:>22} {:>22} {:>20} {:>20} {:>16} {:>16}",
        "operation", "unit", s.names.0, s.names.1, "ratio", "p50 ratio", "cpu s (t)", "cpu s (c)"
    );
    for r in &s.rows {
        let fails = if r.target_failed_runs + r.compare_failed_runs + r.unanswered_runs > 0 {
            format!(
                "  [failed runs: {} {}, {} {}; {} found nothing in {}]",
                s.names.0,
                r.target_failed_runs,
                s.names.1,
                r.compare_failed_runs,
                s.names.1,
                r.unanswered_runs
            )
        } else {
            String::new()
        };
        println!(
            "{:<48} {:>8} {:>22} {:>22} {:>20} {:>20} {:>16} {:>16}{fails}",
            r.name,
            r.unit,
            Spread::show(&r.target),
            Spread::show(&r.compare),
            Spread::show(&r.ratio),
            Spread::show(&r.p50_ratio),
            Spread::show(&r.target_cpu_s),
            Spread::show(&r.compare_cpu_s),
        );
    }
    for r in s.rows.iter().filter(|r| r.first_error.is_some()) {
        let err: String = r
            .first_error
            .iter()
            .flat_map(|e| e.chars())
            .take(200)
            .collect();
        println!("  failed {}: {err}", r.name);
    }
    compare::print_verdicts(&s.verdicts);
}
