#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Per-worker utilisation of the backend workload as grouped bars with gnuplot: for each
implementation, one bar per worker at the median over the repetitions of its busy share of
wall time (busy / (busy + idle)), error bars from min to max.

  plot_util.py results.json -o sched-utilisation.svg [--workload backend] [--workers 2]

The output format follows the file name: .svg or .png.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import gbench_results as gr  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out files (JSON)")
    ap.add_argument("-o", "--output", required=True, help="image to write (.svg or .png)")
    ap.add_argument("--workload", default="backend")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--title", default="per-worker utilisation (busy / wall time), median, bars = min-max")
    args = ap.parse_args()
    if args.workers < 1:
        gr.die("--workers expects a positive number")
    try:
        rows = gr.load(args.json)
    except gr.ResultError as e:
        gr.die(str(e))
    impls = []
    for r in sorted(rows, key=lambda r: r.get("family_index", 0)):  # registration order
        if r["workload"] == args.workload and r["impl"] not in impls:
            impls.append(r["impl"])
    if not impls:
        gr.die(f"no results for workload '{args.workload}'")

    lines = []
    for i, impl in enumerate(impls):
        cols = [str(i), '"' + impl + '"']
        for w in range(args.workers):
            v = [float(r.get(f"w{w}_util", 0.0)) for r in rows
                 if r["workload"] == args.workload and r["impl"] == impl]
            cols += [f"{statistics.median(v):.4f}", f"{min(v):.4f}", f"{max(v):.4f}"]
        lines.append(" ".join(cols))

    ext = os.path.splitext(args.output)[1].lower()
    if ext == ".svg":
        term = "svg size 760,340 dynamic font 'sans,11'"
    elif ext == ".png":
        term = "pngcairo size 760,340 font 'sans,10'"
    else:
        gr.die(f"output must end in .svg or .png, got '{args.output}'")
    width = 0.8 / args.workers
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        data = f.name
    plots = []
    for w in range(args.workers):
        off = -0.4 + width * (w + 0.5)
        c = 3 + 3 * w
        plots.append(f"'{data}' using ($1+{off:.3f}):{c} with boxes title 'worker {w}' fs solid 0.6")
        plots.append(f"'{data}' using ($1+{off:.3f}):{c}:{c + 1}:{c + 2} with yerrorbars notitle lc rgb 'black' pt 0")
    script = f"""set terminal {term}
set output '{args.output}'
set title "{args.title}"
set termoption noenhanced
set style fill solid 0.6 border -1
set boxwidth {width * 0.9:.3f}
set yrange [0:1.3]
set ylabel "busy share of wall time"
set xtics ({", ".join(f'"{impl}" {i}' for i, impl in enumerate(impls))})
set xrange [-0.6:{len(impls) - 0.4}]
set key top center horizontal
set grid ytics
plot {", ".join(plots)}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        os.unlink(data)


if __name__ == "__main__":
    main()
