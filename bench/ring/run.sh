#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the ring benchmark in the release preset, runs it round after round (each round runs
# every implementation once, in a random order), merges the rounds into one Google Benchmark
# JSON, then prints the markdown tables of docs/benchmarks.md and draws its plots, one set for
# each placement of the two CPUs (near: sharing a cache, far: not; see below).
#
#   bench/ring/run.sh [--rounds N] [--min-time SECONDS] [--pause SECONDS] [--realtime MODE]
#                     [--max-stolen PCT] [--json FILE] [--plot PREFIX] [--near-ns NS]
#                     [--tables-only]
#
#   --rounds N          rounds, i.e. repetitions of each benchmark (default 31)
#   --min-time S        minimum measured time of each benchmark in a round (default 0.05)
#   --pause S           seconds to sleep between rounds (default 2)
#   --realtime MODE     auto (default): run each round under SCHED_FIFO when permitted;
#                       on: require it; off: normal scheduling
#   --max-stolen PCT    leave out repetitions in which either side was switched out for
#                       more than PCT percent of the time (default 1)
#   --json FILE         where the merged results go (default docs/results/ring.json)
#   --plot PREFIX       charts go to PREFIX-near.svg and PREFIX-far.svg (default docs/img/ring)
#   --near-ns NS        a probe round trip up to NS means the CPUs were near (default 250)
#   --tables-only       skip building and running; print tables and draw the plot from --json
#
# Why rounds, a real-time policy and pauses: the machine is shared with other work. A spinning
# side that loses its CPU for a moment stalls its peer, so such a repetition measures the
# scheduler. Under SCHED_FIFO the two benchmark threads keep their CPUs for the length of a
# round (about two seconds; the kernel still reserves 5% of each second for other tasks, and
# repetitions that hit that window are left out by --max-stolen), and the pause between
# rounds gives the CPUs back to everyone else.
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=31
min_time=0.05
pause=2
realtime=auto
max_stolen=1
json=docs/results/ring.json
plot=docs/img/ring
near_ns=250
run=1

die() { echo "run.sh: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) need_value "$@"; rounds=$2; shift 2 ;;
    --min-time) need_value "$@"; min_time=$2; shift 2 ;;
    --pause) need_value "$@"; pause=$2; shift 2 ;;
    --realtime) need_value "$@"; realtime=$2; shift 2 ;;
    --max-stolen) need_value "$@"; max_stolen=$2; shift 2 ;;
    --json) need_value "$@"; json=$2; shift 2 ;;
    --plot) need_value "$@"; plot=$2; shift 2 ;;
    --near-ns) need_value "$@"; near_ns=$2; shift 2 ;;
    --tables-only) run=0; shift ;;
    -h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds expects a positive integer, got '$rounds'"
[[ $min_time =~ ^[0-9]*\.?[0-9]+$ ]] || die "--min-time expects seconds, got '$min_time'"
[[ $pause =~ ^[0-9]*\.?[0-9]+$ ]] || die "--pause expects seconds, got '$pause'"
[[ $max_stolen =~ ^[0-9]*\.?[0-9]+$ ]] || die "--max-stolen expects a percentage, got '$max_stolen'"
[[ $near_ns =~ ^[0-9]+$ ]] || die "--near-ns expects whole nanoseconds, got '$near_ns'"
case "$realtime" in auto|on|off) ;; *) die "--realtime expects auto, on or off, got '$realtime'" ;; esac

if [[ $run == 1 ]]; then
  cmake --preset release -B build/release >/dev/null
  cmake --build build/release -j "$(nproc)" --target xnv-bench-ring
  bench=build/release/bench/ring/xnv-bench-ring

  launcher=()
  if [[ $realtime != off ]]; then
    if chrt -f 1 true 2>/dev/null; then
      launcher=(chrt -f 1)
      echo "run.sh: each round runs under SCHED_FIFO priority 1 (chrt -f 1)"
    elif [[ $realtime == on ]]; then
      die "--realtime on, but SCHED_FIFO is not permitted here (needs CAP_SYS_NICE)"
    else
      echo "run.sh: SCHED_FIFO not permitted; rounds run under normal scheduling"
    fi
  fi

  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for ((r = 1; r <= rounds; r++)); do
    printf 'run.sh: round %d of %d\n' "$r" "$rounds"
    "${launcher[@]}" "$bench" \
      --benchmark_repetitions=1 \
      --benchmark_min_time="$min_time" \
      --benchmark_enable_random_interleaving=true \
      --benchmark_out="$tmp/round-$(printf %03d "$r").json" --benchmark_out_format=json >/dev/null
    if [[ $r -lt $rounds ]]; then sleep "$pause"; fi
  done
  mkdir -p "$(dirname "$json")"
  python3 bench/tools/gbench_merge.py -o "$json" "$tmp"/round-*.json
fi

[[ -f $json ]] || die "no results in $json"
# The host places the machine's two virtual CPUs on physical cores near each other (sharing a
# cache: a cache-line round trip of about 100 ns) or far apart (about 500 ns) and moves them
# now and then. Every repetition records the round trip it was measured at (probe_rtt_ns), and
# the results are shown for each placement separately.
report() { # placement-name drop-option
  local name=$1; shift
  local table=(python3 bench/tools/gbench_table.py "$json" --skip-missing --drop-above "stolen_pct=$max_stolen" "$@")
  echo
  echo "## placement: $name"
  if ! "${table[@]}" --workload pingpong --metric real_time >/dev/null 2>&1; then
    echo
    echo "(no undisturbed repetitions at this placement)"
    return 0
  fi
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
  python3 bench/tools/gbench_plot.py "$json" -o "$plot-$name.svg" --drop-above "stolen_pct=$max_stolen" "$@" \
    --title "xnv ring vs peers, CPUs $name: median speed relative to a baseline, bars min-max" \
    --panel stream1:boost_spsc --panel stream32:rte_ring --panel rr:xen_macros --panel pingpong:raw_cacheline
}
report near --drop-above "probe_rtt_ns=$near_ns"
report far --drop-below "probe_rtt_ns=$near_ns"
echo
echo "run.sh: results in $json, plots in $plot-near.svg and $plot-far.svg"
