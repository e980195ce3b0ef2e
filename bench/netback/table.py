#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown tables of the netback benchmark (bench/netback/netback_bench.cpp) from its Google
Benchmark JSON: per frame size, per configuration, the median over the repetitions (and the
min-max of the aggregate rate) of the aggregate Mpps and Gb/s delivered to both netfronts,
the notifications netback sent and received per frame, and each worker's busy share; and the
throughput relative to the first configuration listed (paired by repetition, median).

  table.py results.json [--baseline IMPL]
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import gbench_results as gr  # noqa: E402


def cell(values, fmt):
    m = statistics.median(values)
    return fmt.format(m)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--baseline", default="w1_all_on_first_always")
    args = ap.parse_args()
    try:
        rows = gr.load([args.json])
    except gr.ResultError as e:
        sys.exit(f"table.py: {e}")
    if not rows:
        sys.exit("table.py: no benchmark results in " + args.json)
    # Frame sizes ascending; configurations in the order the benchmark lists them.
    order = ["w1_all_on_first_always", "w1_all_on_first", "w2_all_on_first", "w2_hysteresis",
             "w2_hysteresis_adaptive"]
    workloads = sorted({r["workload"] for r in rows}, key=lambda w: int(w.replace("size", "") or 0))
    for w in workloads:
        impls = []
        by = {}
        for r in rows:
            if r["workload"] != w:
                continue
            if r["impl"] not in by:
                impls.append(r["impl"])
                by[r["impl"]] = {}
            by[r["impl"]][r["rep"]] = r
        impls.sort(key=lambda i: order.index(i) if i in order else len(order))
        size = w.replace("size", "")
        print(f"\n{size}-byte frames (median of {max(len(v) for v in by.values())} runs; rate min-max in brackets)\n")
        print("| configuration | Mpps | Gb/s | vs " + args.baseline + " | notifications sent / frame "
              "| notifications received / frame | busy w0 % | busy w1 % |")
        print("|---|---|---|---|---|---|---|---|")
        base = by.get(args.baseline, {})
        for impl in impls:
            reps = by[impl]
            mpps = [x["Mpps"] for x in reps.values()]
            gbps = [x["Gbps"] for x in reps.values()]
            ratios = [reps[k]["Mpps"] / base[k]["Mpps"] for k in reps if k in base and base[k]["Mpps"] > 0]
            ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
            busy1 = [x["busy_w1"] for x in reps.values() if "busy_w1" in x]
            print(f"| {impl} | {statistics.median(mpps):.3f} ({min(mpps):.3f}–{max(mpps):.3f}) "
                  f"| {statistics.median(gbps):.2f} | {ratio} "
                  f"| {cell([x['ntf_per_pkt'] for x in reps.values()], '{:.4f}')} "
                  f"| {cell([x['kick_per_pkt'] for x in reps.values()], '{:.4f}')} "
                  f"| {cell([x['busy_w0'] for x in reps.values()], '{:.0f}')} "
                  f"| {cell(busy1, '{:.0f}') if busy1 else '-'} |")


if __name__ == "__main__":
    main()
