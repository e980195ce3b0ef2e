#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the scheduler benchmark in the release preset, runs every benchmark in one run (the
# repetitions of all benchmarks in random interleaved order), keeps the Google Benchmark JSON,
# then prints the markdown tables of docs/results/sched.md and draws its plots.
#
#   bench/sched/run.sh [--repetitions N] [--json FILE] [--img-dir DIR] [--build-dir DIR]
#                      [--filter REGEX] [--wait-quiet SECONDS] [--tables-only]
#
#   --repetitions N     repetitions of each benchmark (default 10)
#   --json FILE         where the results go (default docs/results/sched.json)
#   --img-dir DIR       where the plots go (default docs/img): sched-backend.svg,
#                       sched-utilisation.svg, sched-cpu.svg, sched-handoff.svg
#   --build-dir DIR     the release build directory (default build/release)
#   --filter REGEX      run only the benchmarks matching REGEX (default: all)
#   --wait-quiet S      first wait up to S seconds for the other processes on the machine to
#                       leave the CPUs alone (default 0: do not wait)
#   --tables-only       skip building and running; print tables and draw the plots from --json
set -euo pipefail
cd "$(dirname "$0")/../.."

reps=10
json=docs/results/sched.json
img=docs/img
build=build/release
filter=
wait_quiet=0
run=1

die() { echo "run.sh: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repetitions) need_value "$@"; reps=$2; shift 2 ;;
    --json) need_value "$@"; json=$2; shift 2 ;;
    --img-dir) need_value "$@"; img=$2; shift 2 ;;
    --build-dir) need_value "$@"; build=$2; shift 2 ;;
    --filter) need_value "$@"; filter=$2; shift 2 ;;
    --wait-quiet) need_value "$@"; wait_quiet=$2; shift 2 ;;
    --tables-only) run=0; shift ;;
    -h|--help) sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--repetitions expects a positive integer, got '$reps'"
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
  cmake --preset release -B "$build" >/dev/null
  cmake --build "$build" -j "$(nproc)" --target bench_sched

  if [[ $wait_quiet -gt 0 ]]; then
    waited=0
    while busy=$(busy_percent) && [[ $busy -gt 10 && $waited -lt $wait_quiet ]]; do
      echo "run.sh: CPUs ${busy}% busy with other work, waiting (${waited}s of ${wait_quiet}s)"
      waited=$(( waited + 2 ))
    done
    echo "run.sh: CPUs ${busy}% busy when starting"
  fi

  mkdir -p "$(dirname "$json")"
  "$build/bench/sched/bench_sched" \
    ${filter:+--benchmark_filter="$filter"} \
    --benchmark_repetitions="$reps" \
    --benchmark_min_time=0.1 \
    --benchmark_enable_random_interleaving=true \
    --benchmark_display_aggregates_only=true \
    --benchmark_out="$json" --benchmark_out_format=json
fi

[[ -f $json ]] || die "no results in $json"
table=(python3 bench/tools/gbench_table.py "$json" --skip-missing)
echo
"${table[@]}" --workload backend --baseline one_worker --baseline all_on_first_2w \
  --target hysteresis_2w one_worker 1.7
echo
# What the worker threads got from the machine and what they did with it: CPU-seconds per
# second, and items per CPU-second (other processes disturb the latter far less).
"${table[@]}" --workload backend --metric workers_cpu --baseline one_worker
echo
"${table[@]}" --workload backend --metric items_per_worker_cpu_s --baseline one_worker
echo
"${table[@]}" --workload backend --metric producers_cpu
echo
for w in handoff_same_thread handoff_1producer handoff_2producers; do
  "${table[@]}" --workload "$w" --baseline boost_lockfree_queue --baseline mutex_deque
  echo
done

mkdir -p "$img"
python3 bench/tools/gbench_plot.py "$json" -o "$img/sched-backend.svg" \
  --title "synthetic netback, 4 rings: throughput relative to one worker (median, bars = min-max)" \
  --panel backend:one_worker
python3 bench/sched/plot_util.py "$json" -o "$img/sched-utilisation.svg"
python3 bench/sched/plot_scatter.py "$json" -o "$img/sched-cpu.svg"
# Only the single-thread hand-off is drawn: the cross-thread ones depend on whether the other
# thread is running at that moment, which a shared machine decides (see the tables).
python3 bench/tools/gbench_plot.py "$json" -o "$img/sched-handoff.svg" \
  --title "hand-off, one thread: speed relative to Boost.Lockfree queue (median, bars = min-max)" \
  --panel handoff_same_thread:boost_lockfree_queue
# gnuplot records each plot command, temporary data file names included, in the SVG: drop
# those names so the images say nothing about the machine that drew them.
for f in "$img"/sched-{backend,utilisation,cpu,handoff}.svg; do
  [[ -f $f ]] && sed -i -E 's#"(/tmp|/var/tmp)/[^"]*"#"data"#g' "$f"
done
echo "run.sh: results in $json, plots in $img/sched-{backend,utilisation,cpu,handoff}.svg"
