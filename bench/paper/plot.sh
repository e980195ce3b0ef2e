#!/bin/bash
# SPDX-License-Identifier: MIT
# Plots of the paper experiment from its JSON results (gnuplot, svg).
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
names = [n for n in ("veth", "original", "proposed") if n in r]
with open(sys.argv[2] + "/tput.dat", "w") as f:
    f.write("streams " + " ".join("%s %s_min %s_max" % (n, n, n) for n in names) + "\n")
    for s in ("1", "2", "4"):
        row = [s]
        for n in names:
            v = r[n]["iperf3_gbps"][s]
            row += ["%.3f" % v["median"], "%.3f" % v["min"], "%.3f" % v["max"]] if v else ["0", "0", "0"]
        f.write(" ".join(row) + "\n")
with open(sys.argv[2] + "/lat.dat", "w") as f:
    for i, n in enumerate(names):
        v = r[n]["pingpong_us"]
        if v:
            f.write('%d "%s" %.2f %.2f %.2f\n' % (i, n, v["median"], v["min"], v["max"]))
PY
gnuplot <<GP
set terminal svg size 720,420 dynamic font "sans,12"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.7 border -1
set key top left
set grid ytics
set ylabel "iperf3 TCP throughput, Gb/s (median, min-max)"
set xlabel "parallel streams"
set yrange [0:*]
set output "$IMG/paper-throughput.svg"
set title "One vif pair between two network namespaces"
plot "$DAT/tput.dat" using 2:3:4:xtic(1) title "veth (kernel)", \
     "" using 5:6:7 title "xnv original-style", \
     "" using 8:9:10 title "xnv proposed"
set output "$IMG/paper-latency.svg"
set style data points
unset xlabel
set ylabel "sockperf TCP ping-pong latency, us (median, min-max)"
set title "Request/response latency (64-byte messages)"
set xrange [-0.5:2.5]
set boxwidth 0.5
plot "$DAT/lat.dat" using 1:3:xtic(2) with boxes notitle, "" using 1:3:4:5 with yerrorbars lc rgb "black" notitle
GP
echo "wrote $IMG/paper-throughput.svg $IMG/paper-latency.svg"
