#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two builds of the reference programs side by side in the proposed configuration (docs/paper.md,
"Before and after"): one iperf3 TCP stream over one vif pair, and the CPU it costs, with veth in
every repetition for the ratio. Repetitions interleave veth, build A and build B.

  compare.py --bin-a DIR --bin-b DIR [--reps N] [--seconds S] [--out FILE]

CPU cost: busy core-seconds of the whole machine (/proc/stat, everything but idle and iowait)
while iperf3 runs, per GB received; it includes the TCP stacks and iperf3, alike for both builds.
Needs root, iperf3.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the experiment's own set-up and measurement functions)


def busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-a", required=True, help="directory with build A's xnv-netback and xnv-netfront")
    ap.add_argument("--bin-b", required=True, help="directory with build B's xnv-netback and xnv-netfront")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--out", default=None)
    o = ap.parse_args()
    run.check_args("compare.py", [o.bin_a, o.bin_b], o.reps, o.seconds)
    if os.geteuid() != 0:
        sys.exit("compare.py: needs root (network namespaces, TAP interfaces)")
    run.signal.signal(run.signal.SIGINT, run.on_signal)
    run.signal.signal(run.signal.SIGTERM, run.on_signal)
    logdir = tempfile.mkdtemp()
    cfg = run.CONFIGS["proposed"]
    raw = {"veth": [], "a": [], "b": []}
    load_start = os.getloadavg()
    try:
        for rep in range(o.reps):
            for name, binary in (("veth", None), ("a", o.bin_a), ("b", o.bin_b)):
                tag = "c%s%d" % (name[0], rep)
                if binary is None:
                    nss, _ = run.setup_veth(tag, 1)
                else:
                    nss, _ = run.setup_xnv(tag, binary, cfg[0], cfg[1], logdir, 1)
                a, b = nss[0]
                dst = run.address(a, b, "198.18.%d" % (100 + rep % 50))
                t0 = busy_seconds()
                gbps = run.iperf(a, b, dst, 1, o.seconds)
                t1 = busy_seconds()
                run.cleanup()
                gb = gbps * o.seconds / 8
                raw[name].append({"gbps": gbps, "core_s_per_gb": (t1 - t0) / gb if gb > 0 else None})
                print("rep %d %s: %.2f Gb/s, %s core-s/GB" % (rep, name, gbps, raw[name][-1]["core_s_per_gb"]),
                      flush=True)
    finally:
        run.cleanup()
    res = {"conditions": {"cpus": os.cpu_count(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg(),
                          "reps": o.reps, "seconds": o.seconds, "kernel": os.uname().release,
                          "bin_a": o.bin_a, "bin_b": o.bin_b},
           "results": {}}
    for name, xs in raw.items():
        res["results"][name] = {"gbps": run.summary([x["gbps"] for x in xs]),
                                "core_s_per_gb": run.summary([x["core_s_per_gb"] for x in xs])}
    veth = res["results"]["veth"]["gbps"]["median"]
    for name in ("a", "b"):
        r = res["results"][name]
        print("%s: %.2f Gb/s (%.2f-%.2f), %.2fx veth's %.2f; %.3f core-s/GB (%.3f-%.3f)" % (
            name, r["gbps"]["median"], r["gbps"]["min"], r["gbps"]["max"], r["gbps"]["median"] / veth, veth,
            r["core_s_per_gb"]["median"], r["core_s_per_gb"]["min"], r["core_s_per_gb"]["max"]))
    if o.out:
        with open(o.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
