#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Curves and tables from xnv-bench-notify's Google Benchmark JSON (run with repetitions and
--benchmark_report_aggregates_only=true, or without: then the median over repetitions is
taken here).

  plot_notify.py results.json --img-dir docs/img --prefix notify --markdown tables.md

Writes <prefix>-notifications.svg, <prefix>-p50.svg and <prefix>-p99.svg (one panel per
channel kind, one curve per policy, offered load on the x axis; --format png for PNG) and,
with --markdown, the tables of medians. Needs gnuplot.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from collections import defaultdict

POLICIES = ["always", "event_idx", "delayed_rearm", "frames_usecs", "adaptive", "event_idx+defer64"]
METRICS = {
    "notifications_per_million": ("notifications per million items", True),
    "p50_ns": ("median item latency (us)", True),
    "p99_ns": ("99th percentile item latency (us)", True),
}


def rate_label(rate):
    if rate == 0:
        return "saturation"
    if rate >= 1_000_000:
        return f"{rate // 1_000_000}M/s"
    return f"{rate // 1000}k/s"


def load(path):
    """{(workload, policy, rate): {metric: median}} from the JSON."""
    with open(path) as f:
        doc = json.load(f)
    samples = defaultdict(lambda: defaultdict(list))
    medians = {}
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            continue
        parts = b["run_name"].split("/")
        key = (parts[0], parts[1], int(parts[2]), int(parts[3]))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = b
            continue
        for k, v in b.items():
            if isinstance(v, (int, float)):
                samples[key][k].append(v)
    out = {}
    for key, b in medians.items():
        out[key] = {k: v for k, v in b.items() if isinstance(v, (int, float))}
    for key, s in samples.items():
        if key not in out:
            out[key] = {k: statistics.median(v) for k, v in s.items()}
    return out, doc.get("context", {})


def axes(data, work):
    """Workloads, offered rates and policies measured with `work` ns of consumer work."""
    keys = [k for k in data if k[3] == work]
    workloads = sorted({k[0] for k in keys}, key=lambda w: (w != "notify_futex", w))
    rates = sorted({k[2] for k in keys}, key=lambda r: (r == 0, r))
    policies = [p for p in POLICIES if any(k[1] == p for k in keys)]
    return workloads, rates, policies


def sweep_work(data):
    """The consumer work of the load sweep: the value most runs used."""
    counts = defaultdict(int)
    for k in data:
        counts[k[3]] += 1
    return max(counts, key=counts.get)


def value(data, key, metric):
    v = data.get(key, {}).get(metric)
    if v is None:
        return None
    return v / 1000.0 if metric.endswith("_ns") else v


def categories(data):
    """The x axis: the load sweep, then saturation with every other consumer work setting."""
    work = sweep_work(data)
    _, rates, _ = axes(data, work)
    cats = [(r, work, rate_label(r)) for r in rates]
    for other in sorted({k[3] for k in data if k[3] != work}):
        for r in sorted({k[2] for k in data if k[3] == other}, key=lambda r: (r == 0, r)):
            cats.append((r, other, f"{rate_label(r)}\\n{other} ns work"))
    return cats


def plot(data, metric, out):
    work = sweep_work(data)
    workloads, _, policies = axes(data, work)
    cats = categories(data)
    label, logy = METRICS[metric]
    with tempfile.TemporaryDirectory() as tmp:
        height = 380 * len(workloads)
        terminal = (f'pngcairo noenhanced size 960,{height} font "sans,10"' if out.endswith(".png")
                    else f'svg noenhanced size 960,{height} dynamic font "sans,11"')
        lines = [
            f"set terminal {terminal}",
            f'set output "{out}"',
            f"set multiplot layout {len(workloads)},1",
            "set grid",
            "set key outside right top",
            f'set ylabel "{label}"',
            f'set xlabel "offered load (items per second); {work} ns of consumer work per item unless marked"',
            "set xtics (" + ", ".join(f'"{c[2]}" {i}' for i, c in enumerate(cats)) + ")",
            f"set xrange [-0.3:{len(cats) - 0.7}]",
        ]
        if logy:
            lines.append("set logscale y")
        for w in workloads:
            plots = []
            for p in policies:
                path = os.path.join(tmp, f"{w}-{p}.dat")
                with open(path, "w") as f:
                    for i, (r, wk, _) in enumerate(cats):
                        v = value(data, (w, p, r, wk), metric)
                        if wk != work:
                            f.write("\n")  # a separate point, not joined to the sweep
                        if v is not None and (v > 0 or not logy):
                            f.write(f"{i} {v}\n")
                plots.append(f'"{path}" using 1:2 with linespoints lw 2 title "{p}"')
            if metric == "notifications_per_million":
                plots.append('15625 with lines dt 2 lc "gray40" title "1 per 64 items"')
            lines.append(f'set title "{w.replace("_", " ")}: {label}"')
            lines.append("plot " + ", ".join(plots))
        lines.append("unset multiplot")
        script = os.path.join(tmp, "plot.gp")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["gnuplot", script], check=True)


def fmt(v, metric):
    if v is None:
        return "–"
    if metric == "items_per_second":
        return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"
    if metric.endswith("_ns"):
        return f"{v:.1f}" if v < 100 else f"{v:.0f}"
    if metric == "avg_batch":
        return f"{v:.1f}"
    return f"{v:.0f}"


def markdown(data):
    tables = [
        ("notifications_per_million", "Notifications per million items"),
        ("avg_batch", "Items per notification"),
        ("p50_ns", "Median item latency (µs)"),
        ("p99_ns", "99th percentile item latency (µs)"),
        ("items_per_second", "Delivered throughput (items/s)"),
    ]
    out = []
    work = sweep_work(data)
    workloads, rates, policies = axes(data, work)
    for w in workloads:
        for metric, title in tables:
            out.append(f"**{w}, {work} ns of work per item: {title}**\n")
            out.append("| policy | " + " | ".join(rate_label(r) for r in rates) + " |")
            out.append("|---|" + "---:|" * len(rates))
            for p in policies:
                cells = [fmt(value(data, (w, p, r, work), metric), metric) for r in rates]
                out.append(f"| {p} | " + " | ".join(cells) + " |")
            out.append("")
    # Every other consumer work setting: one row per workload and policy.
    others = sorted({(k[3], k[2]) for k in data if k[3] != work})
    for other_work, rate in others:
        out.append(f"**{rate_label(rate)} with {other_work} ns of work per item**\n")
        cols = [m for m, _ in tables]
        out.append("| channel | policy | " + " | ".join(t for _, t in tables) + " |")
        out.append("|---|---|" + "---:|" * len(cols))
        for w in sorted({k[0] for k in data}, key=lambda w: (w != "notify_futex", w)):
            for p in POLICIES:
                if (w, p, rate, other_work) in data:
                    cells = [fmt(value(data, (w, p, rate, other_work), m), m) for m in cols]
                    out.append(f"| {w} | {p} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--img-dir", default=".")
    ap.add_argument("--prefix", default="notify")
    ap.add_argument("--markdown", help="write the tables of medians here")
    ap.add_argument("--format", choices=["svg", "png"], default="svg")
    args = ap.parse_args()
    data, _ = load(args.json)
    for metric, name in [("notifications_per_million", "notifications"), ("p50_ns", "p50"), ("p99_ns", "p99")]:
        plot(data, metric, os.path.join(args.img_dir, f"{args.prefix}-{name}.{args.format}"))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(data))


if __name__ == "__main__":
    main()
