#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Merge Google Benchmark JSON files, each one round of a benchmark binary (every benchmark
run once, or a few times), into one file in which each input is a round: the repetitions of
input i get repetition_index values after those of inputs 0..i-1, so that gbench_table.py and
gbench_plot.py pair repetitions of the same round when computing ratios.

  gbench_merge.py -o merged.json round-01.json round-02.json ...

The context is the first input's, with "merged_rounds" added and the load average of every
round listed as "round_load_avg". Aggregate entries are dropped (the tools recompute them).
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out files, one per round")
    ap.add_argument("-o", "--output", required=True, help="merged JSON to write")
    args = ap.parse_args()

    docs = []
    for path in args.json:
        try:
            with open(path, encoding="utf-8") as f:
                docs.append(json.load(f))
        except (OSError, json.JSONDecodeError) as e:
            print(f"{sys.argv[0]}: {path}: cannot read Google Benchmark JSON: {e}", file=sys.stderr)
            sys.exit(2)
    runs = [[b for b in d.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"] for d in docs]
    if not any(runs):
        print(f"{sys.argv[0]}: no benchmark results in the inputs", file=sys.stderr)
        sys.exit(2)
    # Round i's repetitions become i*per_round .. i*per_round + per_round - 1 for every
    # benchmark, so the same index always means the same round, even if a round lacks one.
    per_round = 1 + max(b.get("repetition_index", 0) for r in runs for b in r)
    merged = {"context": dict(docs[0].get("context", {})), "benchmarks": []}
    for i, r in enumerate(runs):
        for b in r:
            b = dict(b)
            b["repetition_index"] = i * per_round + b.get("repetition_index", 0)
            b["repetitions"] = per_round * len(runs)
            merged["benchmarks"].append(b)
    loads = [d.get("context", {}).get("load_avg") for d in docs]
    merged["context"]["merged_rounds"] = len(args.json)
    merged["context"]["round_load_avg"] = loads
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
