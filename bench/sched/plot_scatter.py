#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Throughput against the CPU time the worker threads received, one point per repetition and
implementation of the backend workload, with gnuplot. On a machine shared with other work this
separates what the scheduler does with a CPU-second from how many CPU-seconds it was given.

  plot_scatter.py results.json -o sched-cpu.svg [--workload backend]

The output format follows the file name: .svg or .png.
"""

import argparse
import os
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
    ap.add_argument("--title", default="throughput vs CPU time the workers received (one point per repetition)")
    args = ap.parse_args()
    try:
        rows = gr.load(args.json)
    except gr.ResultError as e:
        gr.die(str(e))
    rows = [r for r in sorted(rows, key=lambda r: r.get("family_index", 0))
            if r["workload"] == args.workload and "workers_cpu" in r]
    if not rows:
        gr.die(f"no results with workers_cpu for workload '{args.workload}'")
    impls = []
    for r in rows:
        if r["impl"] not in impls:
            impls.append(r["impl"])

    ext = os.path.splitext(args.output)[1].lower()
    if ext == ".svg":
        term = "svg size 760,380 dynamic font 'sans,11'"
    elif ext == ".png":
        term = "pngcairo size 760,380 font 'sans,10'"
    else:
        gr.die(f"output must end in .svg or .png, got '{args.output}'")
    files = []
    try:
        for impl in impls:
            with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
                for r in rows:
                    if r["impl"] == impl:
                        f.write(f"{r['workers_cpu']:.4f} {r['items_per_second'] / 1e6:.4f}\n")
                files.append(f.name)
        plots = [f"'{fn}' using 1:2 with points pt {5 + i} ps 1.2 title '{impl}'"
                 for i, (fn, impl) in enumerate(zip(files, impls))]
        script = f"""set terminal {term}
set output '{args.output}'
set termoption noenhanced
set title "{args.title}"
set xlabel "CPU-seconds per second received by the worker threads"
set ylabel "items per second (millions)"
set xrange [0:2.1]
set yrange [0:*]
set grid
set key top left
plot {", ".join(plots)}
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        for fn in files:
            os.unlink(fn)


if __name__ == "__main__":
    main()
