#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the release preset's netback benchmark and programs, runs every configuration (the
# repetitions of all benchmarks in random interleaved order), keeps the Google Benchmark JSON
# and prints the markdown tables of docs/results/netback.md.
#
#   bench/netback/run.sh [--repetitions N] [--seconds S] [--json FILE] [--build-dir DIR]
#                        [--tables-only]
#
#   --repetitions N   runs of each configuration (default 5)
#   --seconds S       traffic time of each run (default 2)
#   --json FILE       where the results go (default docs/results/netback.json)
#   --build-dir DIR   the release preset's build directory (default build/release)
#   --tables-only     skip building and running; print the tables from --json
set -euo pipefail
cd "$(dirname "$0")/../.."

reps=5
seconds=2
json=docs/results/netback.json
build=build/release
run=1

die() { echo "run.sh: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repetitions) need_value "$@"; reps=$2; shift 2 ;;
    --seconds) need_value "$@"; seconds=$2; shift 2 ;;
    --json) need_value "$@"; json=$2; shift 2 ;;
    --build-dir) need_value "$@"; build=$2; shift 2 ;;
    --tables-only) run=0; shift ;;
    -h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--repetitions expects a positive integer, got '$reps'"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds expects a positive integer, got '$seconds'"

if [[ $run -eq 1 ]]; then
  cmake --preset release -B "$build" >/dev/null
  cmake --build "$build" -j "$(nproc)" --target xnv-bench-netback xnv-netback xnv-netfront
  mkdir -p "$(dirname "$json")"
  XNV_BENCH_NETBACK_SECONDS=$seconds "$build/bench/netback/xnv-bench-netback" \
    --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_out="$json" --benchmark_out_format=json
fi
python3 bench/netback/table.py "$json"
