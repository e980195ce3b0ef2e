#!/bin/bash
# SPDX-License-Identifier: MIT
# The paper's experiment (docs/paper.md): builds the reference programs (release preset), runs
# veth, original-style xnv and proposed xnv side by side (bench/paper/run.py), writes
# docs/results/paper.json and plots docs/img/paper-*.svg. Needs root, iperf3, sockperf, gnuplot.
#   bench/paper/run.sh [REPS] [SECONDS] [run.py options: --pairs N, --configs A,B,...]
#   (defaults 5 repetitions of 4 s, 4 vif pairs, every configuration)
set -eu
cd "$(dirname "$0")/../.."
REPS=${1:-5}
SECONDS_PER_RUN=${2:-4}
shift $(( $# < 2 ? $# : 2 ))
BUILD=${XNV_PAPER_BUILD:-build/paper-release}
cmake --preset release -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target xnv-netback xnv-netfront >/dev/null
python3 bench/paper/run.py --bin "$BUILD/examples/netif" --reps "$REPS" --seconds "$SECONDS_PER_RUN" \
    --out docs/results/paper.json "$@"
bash bench/paper/plot.sh docs/results/paper.json docs/img
