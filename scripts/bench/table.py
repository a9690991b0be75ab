#!/usr/bin/env python3
"""Markdown tables of a `tessera-bench --summarize ... --json summary.json` file, as pasted
into the README's "Tessera vs Orthanc" section: one row per operation (median and range over
the repetitions of each server's figure, the ratio, the p50 ratio, CPU seconds and peak RSS),
then the targets.

    scripts/bench/table.py bench-out/vs-orthanc/summary.json
"""
import json
import sys


def fmt(value):
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def spread(s):
    if not s:
        return "–"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def pair(a, b):
    return f"{spread(a)} / {spread(b)}"


def main(path):
    with open(path) as f:
        summary = json.load(f)
    t, c = summary["names"]
    print(
        f"| operation | unit | {t.capitalize()} | {c.capitalize()} | ratio | p50 ratio "
        f"| server CPU s {t[0].upper()} / {c[0].upper()} "
        f"| peak RSS MB {t[0].upper()} / {c[0].upper()} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in summary["rows"]:
        failed = r["target_failed_runs"] + r["compare_failed_runs"] + r["unanswered_runs"]
        note = " (see note)" if failed else ""
        print(
            f"| {r['name']} | {r['unit']} | {spread(r['target'])} | {spread(r['compare'])}{note} "
            f"| {spread(r['ratio'])} | {spread(r['p50_ratio'])} "
            f"| {pair(r['target_cpu_s'], r['compare_cpu_s'])} "
            f"| {pair(r['target_peak_mb'], r['compare_peak_mb'])} |"
        )
    print()
    print("| target | achieved (weakest ratio, median over runs) | met? | notes |")
    print("|---|---|---|---|")
    for v in summary["verdicts"]:
        achieved = v.get("achieved")
        shown = "–" if achieved is None else (
            f"{achieved:.0f} MB" if "RSS" in v["target"] else f"{achieved:.2f}x"
        )
        met = "yes" if v.get("met") else "**no**"
        print(f"| {v['target']} | {shown} | {met} | {v.get('note', '')} |")


if __name__ == "__main__":
    main(sys.argv[1])
