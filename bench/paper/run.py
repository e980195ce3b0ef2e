#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The paper's experiment on this machine (docs/paper.md): iperf3 TCP throughput (1, 2, 4
streams), sockperf TCP ping-pong latency and netback's per-worker busy time, for

  veth      a veth pair between two network namespaces (the kernel's own path, the ceiling)
  original  xnv like Xen's original netback: 1 worker, all events on it, notify every packet,
            no GSO/LRO
  proposed  xnv as the paper proposes: 2 workers, hysteresis dispatch, event-index coalescing,
            GSO and LRO, 2 queues per vif

each repeated, medians with min/max. Needs root, iperf3 and sockperf. Only the two namespaces it
creates carry addresses (198.18.0.0/15); everything is removed on exit or signal.

  run.py --bin DIR [--reps N] [--seconds S] [--out FILE]
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


def setup_veth(tag):
    a, b = netns_pair(tag)
    sh("ip", "link", "add", "xnv0", "netns", a, "type", "veth", "peer", "name", "xnv0", "netns", b)
    return a, b, None


def setup_xnv(tag, binary, nb_args, nf_args, logdir):
    a, b = netns_pair(tag)
    sock = "@xnvp%d%s" % (os.getpid(), tag)
    jfile = os.path.join(logdir, "netback-%s.json" % tag)
    nb = spawn(os.path.join(binary, "xnv-netback"), "--socket", sock, "--quiet", "--json", jfile, *nb_args,
               log=open(os.path.join(logdir, "netback-%s.log" % tag), "w"))
    for i, ns in enumerate((a, b)):
        for _ in range(50):
            logf = os.path.join(logdir, "front-%s-%d.log" % (tag, i))
            nf = spawn(os.path.join(binary, "xnv-netfront"), "--socket", sock, "--mode", "tap", "--tap-name", "xnv0",
                       "--tap-netns", ns, "--mac", "02:00:00:00:00:0%d" % (i + 1), "--quiet", *nf_args,
                       log=open(logf, "w"))
            if wait_for(lambda: "connected to" in open(logf).read() or nf.poll() is not None, 5) and nf.poll() is None:
                break
            stop(nf)
            time.sleep(0.2)
        else:
            raise RuntimeError("netfront did not connect; see " + logf)
    return a, b, (nb, jfile)


def address(a, b, net):
    sh("ip", "-n", a, "addr", "add", net + ".1/24", "dev", "xnv0")
    sh("ip", "-n", b, "addr", "add", net + ".2/24", "dev", "xnv0")
    sh("ip", "-n", a, "link", "set", "xnv0", "up")
    sh("ip", "-n", b, "link", "set", "xnv0", "up")
    return net + ".2"


def iperf(a, b, dst, streams, seconds):
    srv = spawn("ip", "netns", "exec", b, "iperf3", "-s", "-B", dst, "-p", "5301")
    time.sleep(0.3)
    r = sh("ip", "netns", "exec", a, "iperf3", "-c", dst, "-p", "5301", "-t", str(seconds), "-P", str(streams), "-J",
           check=False, timeout=seconds + 30)
    stop(srv)
    try:
        return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
    except (ValueError, KeyError):
        return 0.0


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
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory with xnv-netback and xnv-netfront")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--out", default="docs/results/paper.json")
    ap.add_argument("--logdir", default=None)
    o = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run.py: needs root (network namespaces, TAP interfaces)")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    logdir = o.logdir or sh("mktemp", "-d").stdout.strip()
    raw = {c: {"iperf3_gbps": {str(s): [] for s in STREAMS}, "pingpong_us": [], "busy_pct": []} for c in CONFIGS}
    try:
        # Repetitions interleave the configurations so that the machine's background load
        # falls on all of them alike.
        for rep in range(o.reps):
            for i, (name, cfg) in enumerate(CONFIGS.items()):
                tag = "%s%d" % (name[0], rep)
                if cfg is None:
                    a, b, nb = setup_veth(tag)
                else:
                    a, b, nb = setup_xnv(tag, o.bin, cfg[0], cfg[1], logdir)
                dst = address(a, b, "198.18.%d" % (10 + i))
                for s in STREAMS:
                    raw[name]["iperf3_gbps"][str(s)].append(iperf(a, b, dst, s, o.seconds))
                raw[name]["pingpong_us"].append(pingpong(a, b, dst, o.seconds))
                if nb is not None:
                    stop(nb[0])
                    with open(nb[1]) as f:
                        w = json.load(f)["workers"]
                    raw[name]["busy_pct"].append([x["busy_of_accounted_pct"] for x in w])
                cleanup()
                print("rep %d %s: %s Gb/s, ping-pong %s us" % (
                    rep, name, ", ".join("%.2f" % raw[name]["iperf3_gbps"][str(s)][-1] for s in STREAMS),
                    raw[name]["pingpong_us"][-1]), flush=True)
    finally:
        cleanup()
    res = {"conditions": {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), "reps": o.reps,
                          "seconds": o.seconds, "kernel": os.uname().release,
                          "configs": {k: (None if v is None else {"netback": v[0], "netfront": v[1]})
                                      for k, v in CONFIGS.items()}},
           "results": {}}
    for name, r in raw.items():
        busy = None
        if r["busy_pct"]:
            busy = [summary([b[w] for b in r["busy_pct"]]) for w in range(len(r["busy_pct"][0]))]
        res["results"][name] = {"iperf3_gbps": {s: summary(v) for s, v in r["iperf3_gbps"].items()},
                                "pingpong_us": summary(r["pingpong_us"]), "worker_busy_pct": busy}
    os.makedirs(os.path.dirname(o.out) or ".", exist_ok=True)
    with open(o.out, "w") as f:
        json.dump(res, f, indent=1)
    print("wrote " + o.out)


if __name__ == "__main__":
    main()
