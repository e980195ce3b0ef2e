#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The paper's experiment on this machine (docs/paper.md): iperf3 TCP throughput (1, 2, 4
streams), sockperf TCP ping-pong latency and netback's per-worker busy time, for

  veth      a veth pair between two network namespaces (the kernel's own path, the ceiling)
  original  xnv like Xen's original netback: 1 worker, all events on it, notify every packet,
            no GSO/LRO
  proposed  xnv as the paper proposes: 2 workers, hysteresis dispatch, event-index coalescing,
            GSO and LRO, 2 queues per vif

each repeated, medians with min/max. Needs root, iperf3 and sockperf.

Several vifs: every configuration is set up with PAIRS (default 4) pairs of interfaces, each
pair in its own two network namespaces (pair i: namespaces ...a<i>/...b<i>, 198.18.<n>.1 and .2
on its own /24), all pairs' netfronts on one netback. The single-pair measurements use pair 0
while the other pairs stay idle; the vif sweep runs one iperf3 stream on each of the first
1, 2, 4 pairs at once and reports the total. Separate namespaces per pair keep the pairs' TCP
stacks apart, as separate guests are, so the pairs share only netback (or, for veth, the
kernel). Only the namespaces it creates carry addresses (198.18.0.0/15); everything is removed
on exit or signal.

  run.py --bin DIR [--reps N] [--seconds S] [--pairs N] [--configs veth,original,...] [--out FILE]
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

STREAMS = [1, 2, 4]
PAIR_COUNTS = [1, 2, 4]
procs = []
namespaces = []


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def spawn(*cmd, log=None):
    p = subprocess.Popen(list(cmd), stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in procs:
        procs.remove(p)


def cleanup():
    for p in list(procs):
        stop(p)
    for ns in list(namespaces):
        pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        sh("ip", "netns", "del", ns, check=False)
        namespaces.remove(ns)


def on_signal(sig, _):
    cleanup()
    sys.exit(128 + sig)


def netns_pair(tag):
    a, b = "xnvp%d%sa" % (os.getpid(), tag), "xnvp%d%sb" % (os.getpid(), tag)
    for ns in (a, b):
        sh("ip", "netns", "add", ns)
        namespaces.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    return a, b


def wait_for(pred, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def setup_veth(tag, pairs):
    out = []
    for k in range(pairs):
        a, b = netns_pair("%s%d" % (tag, k))
        sh("ip", "link", "add", "xnv0", "netns", a, "type", "veth", "peer", "name", "xnv0", "netns", b)
        out.append((a, b))
    return out, None


def setup_xnv(tag, binary, nb_args, nf_args, logdir, pairs):
    sock = "@xnvp%d%s" % (os.getpid(), tag)
    jfile = os.path.join(logdir, "netback-%s.json" % tag)
    nb = spawn(os.path.join(binary, "xnv-netback"), "--socket", sock, "--quiet", "--json", jfile, *nb_args,
               log=open(os.path.join(logdir, "netback-%s.log" % tag), "w"))
    out = []
    for k in range(pairs):
        a, b = netns_pair("%s%d" % (tag, k))
        for i, ns in enumerate((a, b)):
            for _ in range(50):
                logf = os.path.join(logdir, "front-%s-%d-%d.log" % (tag, k, i))
                nf = spawn(os.path.join(binary, "xnv-netfront"), "--socket", sock, "--mode", "tap", "--tap-name",
                           "xnv0", "--tap-netns", ns, "--mac", "02:00:00:00:%02x:%02x" % (k, i + 1), "--quiet",
                           *nf_args, log=open(logf, "w"))
                if wait_for(lambda: "connected to" in open(logf).read() or nf.poll() is not None, 5) and \
                        nf.poll() is None:
                    break
                stop(nf)
                time.sleep(0.2)
            else:
                raise RuntimeError("netfront did not connect; see " + logf)
        out.append((a, b))
    return out, (nb, jfile)


def address(a, b, net):
    sh("ip", "-n", a, "addr", "add", net + ".1/24", "dev", "xnv0")
    sh("ip", "-n", b, "addr", "add", net + ".2/24", "dev", "xnv0")
    sh("ip", "-n", a, "link", "set", "xnv0", "up")
    sh("ip", "-n", b, "link", "set", "xnv0", "up")
    return net + ".2"


def iperf(a, b, dst, streams, seconds):
    return iperf_all([(a, b, dst)], streams, seconds)


def iperf_all(pairs, streams, seconds):
    """iperf3 on every (a, b, dst) pair at once; the total received, Gb/s."""
    srvs = [spawn("ip", "netns", "exec", b, "iperf3", "-s", "-B", dst, "-p", "5301") for a, b, dst in pairs]
    time.sleep(0.3)
    clients = [subprocess.Popen(["ip", "netns", "exec", a, "iperf3", "-c", dst, "-p", "5301", "-t", str(seconds),
                                 "-P", str(streams), "-J"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True) for a, b, dst in pairs]
    total = 0.0
    for c in clients:
        try:
            out, _ = c.communicate(timeout=seconds + 30)
            total += json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
        except (ValueError, KeyError, subprocess.TimeoutExpired):
            c.kill()
            c.wait()
    for srv in srvs:
        stop(srv)
    return total


def pingpong(a, b, dst, seconds):
    srv = spawn("ip", "netns", "exec", b, "sockperf", "sr", "--tcp", "-i", dst, "-p", "11111")
    time.sleep(0.5)
    r = sh("ip", "netns", "exec", a, "sockperf", "pp", "--tcp", "-i", dst, "-p", "11111", "-t", str(seconds),
           "-m", "64", check=False, timeout=seconds + 30)
    stop(srv)
    out = r.stdout + r.stderr
    for line in out.splitlines():
        # "sockperf: Summary: Latency is 12.345 usec" (half the round trip, sockperf's convention)
        if "Summary: Latency is" in line:
            return float(line.split("Latency is")[1].split()[0])
    return None


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "values": xs}


CONFIGS = {
    "veth": None,
    "original": (["--workers", "1", "--dispatch", "all_on_first", "--coalesce", "always", "--no-gso"],
                 ["--coalesce", "always", "--no-gso", "--no-lro"]),
    "proposed": (["--workers", "2", "--dispatch", "hysteresis", "--coalesce", "event_idx"],
                 ["--coalesce", "event_idx", "--queues", "2"]),
    # The proposed configuration with netfront's queue threads busy-polling for 50 us after
    # their last work before they sleep (--busy-poll-us): a reply that comes back within it
    # costs no wake-up on either netfront.
    "proposed_bp": (["--workers", "2", "--dispatch", "hysteresis", "--coalesce", "event_idx"],
                    ["--coalesce", "event_idx", "--queues", "2", "--busy-poll-us", "50"]),
    # The same with netback's event thread and idle workers also polling 50 us before sleeping.
    "proposed_bp_nb": (["--workers", "2", "--dispatch", "hysteresis", "--coalesce", "event_idx",
                        "--event-busy-poll-us", "50", "--worker-spin-us", "50"],
                       ["--coalesce", "event_idx", "--queues", "2", "--busy-poll-us", "50"]),
}
DEFAULT_CONFIGS = "veth,original,proposed,proposed_bp"


def check_args(prog, bins, reps, seconds, pairs=1):
    """Exit with a message naming the problem if an option cannot give a run."""
    for d in bins:
        for name in ("xnv-netback", "xnv-netfront"):
            path = os.path.join(d, name)
            if not os.access(path, os.X_OK):
                sys.exit("%s: %s is not an executable (build it, or point --bin at the build's examples/netif)"
                         % (prog, path))
    for opt, v in (("--reps", reps), ("--seconds", seconds), ("--pairs", pairs)):
        if v < 1:
            sys.exit("%s: %s must be at least 1, got %d" % (prog, opt, v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory with xnv-netback and xnv-netfront")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--out", default="docs/results/paper.json")
    ap.add_argument("--logdir", default=None)
    ap.add_argument("--pairs", type=int, default=4, help="most vif pairs (the sweep runs 1, 2, 4 up to it)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated, of: " + ", ".join(CONFIGS))
    o = ap.parse_args()
    names = o.configs.split(",")
    for n in names:
        if n not in CONFIGS:
            sys.exit("run.py: unknown configuration '%s' (known: %s)" % (n, ", ".join(CONFIGS)))
    check_args("run.py", [o.bin], o.reps, o.seconds, o.pairs)
    pair_counts = [k for k in PAIR_COUNTS if k <= o.pairs]
    if os.geteuid() != 0:
        sys.exit("run.py: needs root (network namespaces, TAP interfaces)")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    logdir = o.logdir or sh("mktemp", "-d").stdout.strip()
    raw = {c: {"iperf3_gbps": {str(s): [] for s in STREAMS}, "pingpong_us": [], "busy_pct": [],
               "pairs_gbps": {str(k): [] for k in pair_counts}} for c in names}
    load_start = os.getloadavg()
    try:
        # Repetitions interleave the configurations so that the machine's background load
        # falls on all of them alike.
        for rep in range(o.reps):
            for i, name in enumerate(names):
                cfg = CONFIGS[name]
                tag = "%s%d" % ("".join(w[0] for w in name.split("_")), rep)
                if cfg is None:
                    nss, nb = setup_veth(tag, o.pairs)
                else:
                    nss, nb = setup_xnv(tag, o.bin, cfg[0], cfg[1], logdir, o.pairs)
                # Pair k of configuration i: 198.18.<16 i + k>.0/24 (within 198.18.0.0/15).
                pairs = [(a, b, address(a, b, "198.18.%d" % (16 * i + k))) for k, (a, b) in enumerate(nss)]
                a, b, dst = pairs[0]
                for s in STREAMS:
                    raw[name]["iperf3_gbps"][str(s)].append(iperf(a, b, dst, s, o.seconds))
                raw[name]["pingpong_us"].append(pingpong(a, b, dst, o.seconds))
                for k in pair_counts:
                    raw[name]["pairs_gbps"][str(k)].append(iperf_all(pairs[:k], 1, o.seconds))
                if nb is not None:
                    stop(nb[0])
                    with open(nb[1]) as f:
                        w = json.load(f)["workers"]
                    raw[name]["busy_pct"].append([x["busy_of_accounted_pct"] for x in w])
                cleanup()
                print("rep %d %s: %s Gb/s; pairs %s Gb/s; ping-pong %s us" % (
                    rep, name, ", ".join("%.2f" % raw[name]["iperf3_gbps"][str(s)][-1] for s in STREAMS),
                    ", ".join("%.2f" % raw[name]["pairs_gbps"][str(k)][-1] for k in pair_counts),
                    raw[name]["pingpong_us"][-1]), flush=True)
    finally:
        cleanup()
    res = {"conditions": {"cpus": os.cpu_count(), "load_avg_at_start": load_start,
                          "load_avg_at_end": os.getloadavg(), "reps": o.reps,
                          "seconds": o.seconds, "pairs": o.pairs, "kernel": os.uname().release,
                          "configs": {k: (None if CONFIGS[k] is None else
                                          {"netback": CONFIGS[k][0], "netfront": CONFIGS[k][1]}) for k in names}},
           "results": {}}
    for name, r in raw.items():
        busy = None
        if r["busy_pct"]:
            busy = [summary([b[w] for b in r["busy_pct"]]) for w in range(len(r["busy_pct"][0]))]
        res["results"][name] = {"iperf3_gbps": {s: summary(v) for s, v in r["iperf3_gbps"].items()},
                                "pairs_gbps": {k: summary(v) for k, v in r["pairs_gbps"].items()},
                                "pingpong_us": summary(r["pingpong_us"]), "worker_busy_pct": busy}
    os.makedirs(os.path.dirname(o.out) or ".", exist_ok=True)
    with open(o.out, "w") as f:
        json.dump(res, f, indent=1)
    print("wrote " + o.out)


if __name__ == "__main__":
    main()
