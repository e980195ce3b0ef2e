#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the ring benchmark in the release preset, runs every implementation in one run (the
# repetitions of all benchmarks in random interleaved order), keeps the Google Benchmark JSON,
# then prints the markdown tables of docs/benchmarks.md and draws its plot.
#
#   bench/ring/run.sh [--repetitions N] [--min-time SECONDS] [--json FILE] [--plot FILE]
#                     [--wait-quiet SECONDS] [--tables-only]
#
#   --repetitions N     repetitions of each benchmark (default 15)
#   --min-time S        minimum measured time of each repetition (default 0.1)
#   --json FILE         where the results go (default docs/results/ring.json)
#   --plot FILE         the chart, .svg or .png (default docs/img/ring.svg)
#   --wait-quiet S      first wait up to S seconds for the other processes on the machine to
#                       leave the CPUs alone (default 0: do not wait)
#   --tables-only       skip building and running; print tables and draw the plot from --json
set -euo pipefail
cd "$(dirname "$0")/../.."

reps=15
min_time=0.1
json=docs/results/ring.json
plot=docs/img/ring.svg
wait_quiet=0
run=1

die() { echo "run.sh: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repetitions) need_value "$@"; reps=$2; shift 2 ;;
    --min-time) need_value "$@"; min_time=$2; shift 2 ;;
    --json) need_value "$@"; json=$2; shift 2 ;;
    --plot) need_value "$@"; plot=$2; shift 2 ;;
    --wait-quiet) need_value "$@"; wait_quiet=$2; shift 2 ;;
    --tables-only) run=0; shift ;;
    -h|--help) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--repetitions expects a positive integer, got '$reps'"
[[ $min_time =~ ^[0-9]*\.?[0-9]+$ ]] || die "--min-time expects seconds, got '$min_time'"
[[ $wait_quiet =~ ^[0-9]+$ ]] || die "--wait-quiet expects whole seconds, got '$wait_quiet'"

# Percentage of CPU time spent outside idle over the next 2 seconds, all CPUs together.
busy_percent() {
  local a b
  read -r -a a < /proc/stat
  sleep 2
  read -r -a b < /proc/stat
  local busy=$(( (b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8]) ))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
  echo $(( 100 * busy / (busy + idle + 1) ))
}

if [[ $run == 1 ]]; then
  cmake --preset release -B build/release >/dev/null
  cmake --build build/release -j "$(nproc)" --target xnv-bench-ring

  if [[ $wait_quiet -gt 0 ]]; then
    waited=0
    while busy=$(busy_percent) && [[ $busy -gt 10 && $waited -lt $wait_quiet ]]; do
      echo "run.sh: CPUs ${busy}% busy with other work, waiting (${waited}s of ${wait_quiet}s)"
      waited=$(( waited + 2 ))
    done
    echo "run.sh: CPUs ${busy}% busy when starting"
  fi

  mkdir -p "$(dirname "$json")"
  build/release/bench/ring/xnv-bench-ring \
    --benchmark_repetitions="$reps" \
    --benchmark_min_time="$min_time" \
    --benchmark_enable_random_interleaving=true \
    --benchmark_display_aggregates_only=true \
    --benchmark_out="$json" --benchmark_out_format=json
fi

[[ -f $json ]] || die "no results in $json"
table=(python3 bench/tools/gbench_table.py "$json" --skip-missing)
echo
"${table[@]}" --workload stream1 --baseline boost_spsc --baseline rte_ring --baseline moodycamel_rwq \
  --target xnv_padded boost_spsc 2.0
echo
"${table[@]}" --workload stream32 --baseline rte_ring --baseline boost_spsc --baseline moodycamel_rwq \
  --target xnv_padded rte_ring 1.2
echo
"${table[@]}" --workload rr --baseline xen_macros --baseline boost_spsc_pair \
  --target xnv_xen_abi xen_macros 1.0 --target xnv_padded xen_macros 1.2
echo
# Round-trip time: lower is better, so the speed-up over the floor is floor_time / time and
# "within 1.2x of the floor" is a speed-up of at least 1/1.2.
"${table[@]}" --workload pingpong --metric real_time --baseline raw_cacheline \
  --target xnv_padded raw_cacheline 0.833 --target xnv_xen_abi raw_cacheline 0.833

mkdir -p "$(dirname "$plot")"
python3 bench/tools/gbench_plot.py "$json" -o "$plot" \
  --title "xnv ring vs peers: median speed relative to a baseline, bars = min-max over repetitions" \
  --panel stream1:boost_spsc --panel stream32:rte_ring --panel rr:xen_macros --panel pingpong:raw_cacheline
echo
echo "run.sh: results in $json, plot in $plot"
