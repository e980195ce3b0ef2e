#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Bar chart of Google Benchmark JSON results with gnuplot: one panel per workload, one bar
per implementation at the median over the repetitions, error bars from min to max.

With a baseline for a panel, bars show the speed relative to that baseline (the per-repetition
paired ratios, > 1 means faster); without one, they show the metric itself.

  gbench_plot.py results.json -o ring.svg \\
      --panel stream1:boost_spsc --panel stream32:rte_ring --panel rr:xen_macros \\
      --panel pingpong:raw_cacheline

--panel WORKLOAD[:BASELINE] is repeatable; panels are stacked vertically. The output format
follows the file name: .svg or .png.
"""

import argparse
import sys
import os
import statistics
import subprocess
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
import gbench_results as gr  # noqa: E402


def panel_rows(w, baseline):
    rows = []
    for impl in w.impls():
        if baseline:
            v = [1.0] * len(w.values(impl)) if impl == baseline else w.speedups(impl, baseline)
        else:
            v = w.values(impl)
        rows.append((impl, statistics.median(v), min(v), max(v)))
    return rows


def ylabel(w, baseline):
    if baseline:
        return f"speed relative to {baseline}"
    if w.metric in gr.TIME_METRICS:
        return f"{w.metric.replace('_', ' ')} (ns, lower is better)"
    return w.metric.replace("_", " ")


def gp_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script(panels, out, title, width, height_per_panel):
    ext = os.path.splitext(out)[1].lower()
    if ext == ".svg":
        term = f"set terminal svg size {width},{height_per_panel * len(panels)} dynamic font 'sans,11' background '#ffffff'"
    elif ext == ".png":
        term = f"set terminal pngcairo size {width},{height_per_panel * len(panels)} font 'sans,10'"
    else:
        gr.die(f"output must end in .svg or .png, got '{out}'")
    lines = [term, f"set output {gp_quote(out)}",
             f"set multiplot layout {len(panels)},1" + (f" title {gp_quote(title)}" if title else ""),
             "set style fill solid 0.6 border -1", "set boxwidth 0.6", "set grid ytics",
             "set xtics noenhanced", "set key off", "set yrange [0:*]", "set offsets 0.5, 0.5, 0, 0"]
    for name, label, data, baseline in panels:
        lines.append(f"set title {gp_quote(name)} noenhanced")
        lines.append(f"set ylabel {gp_quote(label)} noenhanced")
        if baseline:
            lines.append("set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb '#444444'")
        else:
            lines.append("unset arrow 1")
        lines.append(f"plot {gp_quote(data)} using 0:2:3:4:(0.6):xticlabels(1) with boxerrorbars notitle lc rgb '#3b6ea8', "
                     f"'' using 0:2:(sprintf('%.3g', $2)) with labels notitle offset -2.5,0.7 font ',9'")
    lines.append("unset multiplot")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out files (JSON)")
    ap.add_argument("-o", "--output", required=True, help="image to write (.svg or .png)")
    ap.add_argument("--panel", action="append", required=True, metavar="WORKLOAD[:BASELINE]",
                    help="one panel per workload, optionally relative to a baseline implementation")
    ap.add_argument("--metric", help="counter or real_time/cpu_time (default: items_per_second if present)")
    ap.add_argument("--title", help="title above all panels")
    ap.add_argument("--width", type=int, default=760)
    ap.add_argument("--panel-height", type=int, default=260)
    ap.add_argument("--drop-above", action="append", default=[], metavar="COUNTER=LIMIT",
                    help="leave out repetitions whose COUNTER exceeds LIMIT (repeatable)")
    ap.add_argument("--drop-below", action="append", default=[], metavar="COUNTER=LIMIT",
                    help="leave out repetitions whose COUNTER is below LIMIT (repeatable)")
    args = ap.parse_args()

    try:
        rows = gr.load(args.json, [gr.parse_limit(d) for d in args.drop_above],
                       [gr.parse_limit(d) for d in args.drop_below])
        with tempfile.TemporaryDirectory(prefix="gbench-plot-") as tmp:
            panels = []
            for i, spec in enumerate(args.panel):
                workload, _, baseline = spec.partition(":")
                w = gr.Workload(rows, workload, args.metric)
                if baseline:
                    w.require(baseline)
                data = os.path.join(tmp, f"panel{i}.dat")
                with open(data, "w", encoding="utf-8") as f:
                    for impl, med, lo, hi in panel_rows(w, baseline):
                        f.write(f"{gp_quote(impl)} {med:.6g} {lo:.6g} {hi:.6g}\n")
                panels.append((workload, ylabel(w, baseline), data, baseline))
            gp = os.path.join(tmp, "plot.gp")
            with open(gp, "w", encoding="utf-8") as f:
                f.write(script(panels, args.output, args.title, args.width, args.panel_height))
            done = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
            if done.returncode != 0:
                gr.die(f"gnuplot failed:\n{done.stderr}")
    except gr.ResultError as e:
        gr.die(str(e))
    except FileNotFoundError:
        gr.die("gnuplot not found (Debian package gnuplot-nox)")


if __name__ == "__main__":
    main()
