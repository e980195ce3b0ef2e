#!/bin/bash
# SPDX-License-Identifier: MIT
# Plots of the paper experiment from its JSON results (gnuplot, svg): throughput by streams,
# total throughput by vif pairs, ping-pong latency. Every configuration in the JSON is plotted.
#   plot.sh [RESULTS_JSON] [IMG_DIR]
set -eu
IN=${1:-docs/results/paper.json}
IMG=${2:-docs/img}
DAT=$(mktemp -d)
trap 'rm -rf "$DAT"' EXIT
mkdir -p "$IMG"
python3 - "$IN" "$DAT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
order = ["veth", "original", "proposed", "proposed_bp", "proposed_bp_nb"]
names = [n for n in order if n in r] + [n for n in r if n not in order]
labels = {"veth": "veth (kernel)", "original": "xnv original-style", "proposed": "xnv proposed",
          "proposed_bp": "xnv proposed, netfront busy-poll", "proposed_bp_nb": "xnv proposed, all busy-poll"}
def table(path, key, rows):
    with open(path, "w") as f:
        for s in rows:
            row = [s]
            for n in names:
                v = (r[n].get(key) or {}).get(s)
                row += ["%.3f" % v["median"], "%.3f" % v["min"], "%.3f" % v["max"]] if v else ["0", "0", "0"]
            f.write(" ".join(row) + "\n")
table(sys.argv[2] + "/tput.dat", "iperf3_gbps", ["1", "2", "4"])
pairs = sorted({k for n in names for k in (r[n].get("pairs_gbps") or {})}, key=int)
table(sys.argv[2] + "/pairs.dat", "pairs_gbps", pairs)
with open(sys.argv[2] + "/lat.dat", "w") as f:
    for i, n in enumerate(names):
        v = r[n]["pingpong_us"]
        if v:
            f.write('%d "%s" %.2f %.2f %.2f\n' % (i, n, v["median"], v["min"], v["max"]))
# The plot commands: one histogram series per configuration.
with open(sys.argv[2] + "/series.gp", "w") as f:
    parts = []
    for i, n in enumerate(names):
        c = 2 + 3 * i
        parts.append('%s using %d:%d:%d%s title "%s"' % ('"DATA"' if i == 0 else '""', c, c + 1, c + 2,
                                                         ":xtic(1)" if i == 0 else "", labels.get(n, n)))
    f.write("plot " + ", \\\n     ".join(parts) + "\n")
with open(sys.argv[2] + "/count", "w") as f:
    f.write(str(len(names)))
PY
N=$(cat "$DAT/count")
sed "s#\"DATA\"#\"$DAT/tput.dat\"#" "$DAT/series.gp" >"$DAT/tput.gp"
sed "s#\"DATA\"#\"$DAT/pairs.dat\"#" "$DAT/series.gp" >"$DAT/pairs.gp"
gnuplot <<GP
set terminal svg size 760,440 dynamic font "sans,12"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.7 border -1
set key top left
set grid ytics
set yrange [0:*]
set ylabel "iperf3 TCP throughput, Gb/s (median, min-max)"
set xlabel "parallel streams"
set output "$IMG/paper-throughput.svg"
set title "One vif pair between two network namespaces"
load "$DAT/tput.gp"
set xlabel "vif pairs, one stream each, all at once"
set ylabel "total iperf3 TCP throughput, Gb/s (median, min-max)"
set output "$IMG/paper-vifs.svg"
set title "Several vif pairs on one netback"
load "$DAT/pairs.gp"
set output "$IMG/paper-latency.svg"
set style data points
unset xlabel
set ylabel "sockperf TCP ping-pong latency, us (median, min-max)"
set title "Request/response latency (64-byte messages)"
set xrange [-0.5:$N-0.5]
set boxwidth 0.5
plot "$DAT/lat.dat" using 1:3:xtic(2) with boxes notitle, "" using 1:3:4:5 with yerrorbars lc rgb "black" notitle
GP
echo "wrote $IMG/paper-throughput.svg $IMG/paper-vifs.svg $IMG/paper-latency.svg"
