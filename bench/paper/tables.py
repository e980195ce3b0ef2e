#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown tables of the paper experiment's results (docs/paper.md, "Results"), from the JSON
that bench/paper/run.py writes:

  bench/paper/tables.py docs/results/paper.json

Each cell is the median over the repetitions with the min-max range; ratios are of medians.
"""

import contextlib
import io
import json
import sys

LABELS = {
    "veth": "veth",
    "original": "xnv original-style",
    "proposed": "xnv proposed",
    "proposed_bp": "xnv proposed, busy-poll",
    "proposed_bp_nb": "xnv proposed, busy-poll in netback too",
}


def die(msg):
    print("tables.py: " + msg, file=sys.stderr)
    sys.exit(1)


def cell(s, digits=2):
    if not s:
        return "—"
    f = "%%.%df" % digits
    return (f + " (" + f + "–" + f + ")") % (s["median"], s["min"], s["max"])


def ratio(a, b, digits=2):
    if not a or not b or not b["median"]:
        return "—"
    return ("%%.%df" % digits) % (a["median"] / b["median"])


def throughput_table(res, configs, key, first_col):
    xnv = [c for c in configs if c != "veth"]
    head = [first_col] + [LABELS.get(c, c) for c in configs] + ["proposed / veth", "proposed / original"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    counts = sorted({int(n) for c in configs for n in (res[c].get(key) or {})})
    for n in counts:
        cells = [str(n)] + [cell((res[c].get(key) or {}).get(str(n))) for c in configs]
        p = (res.get("proposed", {}).get(key) or {}).get(str(n))
        cells.append(ratio(p, (res.get("veth", {}).get(key) or {}).get(str(n))))
        cells.append(ratio(p, (res.get("original", {}).get(key) or {}).get(str(n)), 1))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) if xnv else ""


def render(cond, res):
    configs = [c for c in LABELS if c in res] + [c for c in res if c not in LABELS]
    la0, la1 = cond.get("load_avg_at_start", [0])[0], cond.get("load_avg_at_end", [0])[0]
    print("Conditions: %d CPUs, %d repetitions of %d s per measurement, %d vif pairs, kernel %s;"
          % (cond["cpus"], cond["reps"], cond["seconds"], cond["pairs"], cond["kernel"]))
    print("1-minute load average %.1f at the start and %.1f at the end.\n" % (la0, la1))

    print("iperf3 TCP throughput over one vif pair, Gb/s, median (min–max):\n")
    print(throughput_table(res, configs, "iperf3_gbps", "streams") + "\n")
    print("Total iperf3 TCP throughput with several vif pairs on one netback (one stream per pair, all")
    print("pairs at once), Gb/s, median (min–max):\n")
    print(throughput_table(res, configs, "pairs_gbps", "vif pairs") + "\n")

    print("sockperf TCP ping-pong latency, µs (half round trip), median (min–max):\n")
    head = [LABELS.get(c, c) for c in configs] + [LABELS.get(c, c) + " / veth" for c in configs if c != "veth"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    cells = [cell(res[c].get("pingpong_us"), 1) for c in configs]
    cells += [ratio(res[c].get("pingpong_us"), res.get("veth", {}).get("pingpong_us"), 1)
              for c in configs if c != "veth"]
    print("| " + " | ".join(cells) + " |\n")

    print("netback worker busy time over the whole run (iperf3 and sockperf phases), % of accounted time,")
    print("median (min–max):\n")
    print("| configuration | worker 0 | worker 1 |")
    print("|---|---|---|")
    for c in configs:
        w = res[c].get("worker_busy_pct")
        if not w:
            continue
        cols = [cell(w[i], 1) if i < len(w) else "—" for i in range(2)]
        print("| %s | %s |" % (LABELS.get(c, c).replace("xnv ", ""), " | ".join(cols)))


def main():
    if len(sys.argv) != 2:
        die("usage: tables.py RESULTS.json")
    try:
        with open(sys.argv[1]) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read %s: %s" % (sys.argv[1], e))
    if not isinstance(data, dict) or not isinstance(data.get("conditions"), dict) \
            or not isinstance(data.get("results"), dict):
        die("%s is not a result of bench/paper/run.py: no 'conditions' and 'results' objects" % sys.argv[1])
    cond, res = data["conditions"], data["results"]
    out = io.StringIO()  # printed only when whole: a bad file gives an error, not half a page
    try:
        with contextlib.redirect_stdout(out):
            render(cond, res)
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as e:
        die("%s is not a result of bench/paper/run.py: %s %s" % (sys.argv[1], type(e).__name__, e))
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
