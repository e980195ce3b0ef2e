#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown table of one workload from Google Benchmark JSON: per implementation the median
and min-max of a metric over the repetitions, and its speed relative to each baseline
(median and min-max of the per-repetition paired ratios; > 1 means faster than the baseline).

  gbench_table.py results.json --workload stream1 --baseline boost_spsc --baseline rte_ring
  gbench_table.py a.json b.json --workload pingpong --metric real_time --baseline raw_cacheline \\
      --target xnv_padded raw_cacheline 0.83

--target IMPL BASELINE X adds a line saying whether the median speed-up of IMPL over BASELINE
reaches X; the exit status stays 0 (a missed target is a finding, not a failure of the tool).
Benchmark names must be <workload>/<implementation>; run the benchmark with repetitions and
--benchmark_enable_random_interleaving=true so that the ratios pair runs close in time.
"""

import argparse
import sys
import statistics

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
import gbench_results as gr  # noqa: E402


def parse_target(t):
    impl, base, want = t
    try:
        value = float(want)
    except ValueError:
        gr.die(f"--target expects IMPL BASELINE NUMBER, got '{want}' as the number")
    if not value > 0:
        gr.die(f"--target expects a positive speed-up, got {want}")
    return impl, base, value


def ratio_cell(ratios):
    lo, hi = min(ratios), max(ratios)
    return f"{statistics.median(ratios):.2f}x ({lo:.2f}–{hi:.2f})"


def table(w, baselines):
    metric_label = w.metric.replace("_", " ")
    head = ["implementation", f"{metric_label} (median)", "min – max", "n"]
    head += [f"vs {b}" for b in baselines]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for impl in w.impls():
        lo, hi = w.spread(impl)
        cells = [f"`{impl}`", gr.fmt_metric(w.median(impl), w.metric),
                 f"{gr.fmt_metric(lo, w.metric)} – {gr.fmt_metric(hi, w.metric)}", str(len(w.values(impl)))]
        for b in baselines:
            cells.append("(baseline)" if impl == b else ratio_cell(w.speedups(impl, b)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out files (JSON)")
    ap.add_argument("--workload", required=True, help="name prefix before the first '/'")
    ap.add_argument("--metric", help="counter or real_time/cpu_time (default: items_per_second if present)")
    ap.add_argument("--baseline", action="append", default=[], help="implementation to compare against (repeatable)")
    ap.add_argument("--target", action="append", default=[], nargs=3, metavar=("IMPL", "BASELINE", "X"),
                    help="report whether IMPL's median speed-up over BASELINE is >= X (repeatable)")
    ap.add_argument("--title", help="a heading line printed above the table")
    ap.add_argument("--drop-above", action="append", default=[], metavar="COUNTER=LIMIT",
                    help="leave out repetitions whose COUNTER exceeds LIMIT (repeatable)")
    ap.add_argument("--drop-below", action="append", default=[], metavar="COUNTER=LIMIT",
                    help="leave out repetitions whose COUNTER is below LIMIT (repeatable)")
    ap.add_argument("--skip-missing", action="store_true",
                    help="ignore baselines and targets naming implementations not in the results")
    args = ap.parse_args()

    try:
        rows = gr.load(args.json, [gr.parse_limit(d) for d in args.drop_above],
                       [gr.parse_limit(d) for d in args.drop_below])
        w = gr.Workload(rows, args.workload, args.metric)
        if args.skip_missing:
            args.baseline = [b for b in args.baseline if b in w.samples]
            args.target = [t for t in args.target if t[0] in w.samples and t[1] in w.samples]
        for b in args.baseline:
            w.require(b)
        targets = [parse_target(t) for t in args.target]
        if args.title:
            print(f"{args.title}\n")
        print(table(w, args.baseline))
        if targets:
            print()
        for impl, base, want in targets:
            ratios = w.speedups(impl, base)
            got = statistics.median(ratios)
            verdict = "met" if got >= want else "missed"
            print(f"- `{impl}` vs `{base}`: {got:.2f}x (target >= {want:g}x): **{verdict}**")
    except gr.ResultError as e:
        gr.die(str(e))


if __name__ == "__main__":
    main()
