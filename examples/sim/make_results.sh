#!/usr/bin/env bash
# Regenerates the simulator's results: docs/results/sim-*.csv and docs/img/sim-*.svg.
# Builds xnv-sim in build/sim-release (the release preset), runs the experiments of
# docs/results/sim.md, then draws the plots with gnuplot (examples/sim/plots.gp).
#
#   examples/sim/make_results.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build/sim-release
cmake --preset release -B "$build" >/dev/null
cmake --build "$build" --target xnv-sim -j "$(nproc)"
sim="$build/examples/sim/xnv-sim"
out=docs/results
mkdir -p "$out" docs/img

# The paper's experiment at 4, 8 and 16 CPUs: one 940 Mb/s source per CPU, the library's
# default hysteresis_config.
"$sim" --experiment paper --cpu-list 4,8,16 --out "$out" | tee "$out/sim-paper.txt"

# Each coalescer at 10%, 50% and 100% load, Poisson arrivals, 4 CPUs, the paper's dispatcher.
"$sim" --experiment coalescers --cpu-list 4 --arrivals poisson --out "$out" | tee "$out/sim-coalescers.txt"

# Offered load from 5% to 100% of 940 Mb/s per source, at 4 and 16 CPUs.
"$sim" --experiment sweep --cpu-list 4,16 --duration-ms 1000 --warmup-ms 300 --out "$out" >/dev/null

# The dispatcher over time: a ramp (8 CPUs, one worker at a time) and a square wave
# (4 CPUs, the paper's two levels).
"$sim" --experiment single --cpus 8 --policy hysteresis --shape ramp --duration-ms 4000 --warmup-ms 100 \
    --out "$out" | tee "$out/sim-timeline-ramp.txt"
mv "$out/sim-timeline.csv" "$out/sim-timeline-ramp.csv"
"$sim" --experiment single --cpus 4 --policy hysteresis_two_level --shape square --duration-ms 8000 \
    --warmup-ms 100 --out "$out" | tee "$out/sim-timeline-square.txt"
mv "$out/sim-timeline.csv" "$out/sim-timeline-square.csv"

gnuplot examples/sim/plots.gp
echo "make_results.sh: wrote $out/sim-*.csv and docs/img/sim-*.svg"
