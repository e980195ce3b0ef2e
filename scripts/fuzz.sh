#!/usr/bin/env bash
# Longer fuzzing runs of xnv's libFuzzer targets (docs/fuzzing.md). The test command runs each
# target for a few seconds; this runs them for as long as you like.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]
#
#   TARGET    ring_consumer, netback_tx_parser, netfront_rx, control_message, grant_copy, or all
#             (the default: one after the other)
#   SECONDS   how long each target runs (default 600)
#
# Environment:
#   XNV_FUZZ_BUILD_DIR  build directory (default build/fuzz, the `fuzz` preset's)
#   XNV_FUZZ_JOBS       parallel fuzzing processes per target (libFuzzer -fork; default 1)
#
# Builds the `fuzz` preset (clang 14, libFuzzer, ASan+UBSan), then runs each target over its seed
# corpus and regression inputs. New inputs go to <build>/tests/fuzz/scratch/<target>/long (kept
# between runs, so a later run starts where this one ended; apart from the test command's
# scratch directory, so that a large corpus grown here does not lengthen the tests); crashes
# and invariant violations to <build>/tests/fuzz/scratch/<target>/artifacts/. Exits 1 if any
# target found one, naming the inputs; see docs/fuzzing.md for what to do with them.
set -euo pipefail
cd "$(dirname "$0")/.."

targets_all=(ring_consumer netback_tx_parser netfront_rx control_message grant_copy)
target=${1:-all}
seconds=${2:-600}
build=${XNV_FUZZ_BUILD_DIR:-build/fuzz}
jobs=${XNV_FUZZ_JOBS:-1}

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2; usage; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: XNV_FUZZ_JOBS must be a positive integer, got '$jobs'" >&2; usage; }
if [ "$target" = all ]; then
    targets=("${targets_all[@]}")
else
    found=0
    for t in "${targets_all[@]}"; do [ "$t" = "$target" ] && found=1; done
    [ $found = 1 ] || { echo "fuzz.sh: unknown target '$target' (one of: ${targets_all[*]} all)" >&2; usage; }
    targets=("$target")
fi

echo "=== fuzz.sh: configure and build ($build)"
cmake --preset fuzz -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/xnv_fuzz_}"

# The same limits as the test command, except the time (tests/fuzz/CMakeLists.txt).
declare -A max_len=([ring_consumer]=4352 [netback_tx_parser]=4096 [netfront_rx]=4096 [control_message]=1100
                    [grant_copy]=2048)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
    work="$build/tests/fuzz/scratch/$t"
    mkdir -p "$work/long" "$work/artifacts"
    inputs=("tests/fuzz/corpus/$t")
    [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
    before=$(find "$work/artifacts" -type f | wc -l)
    fork=()
    [ "$jobs" -gt 1 ] && fork=(-fork="$jobs" -ignore_crashes=1)
    echo "=== fuzz.sh: $t for $seconds s"
    status=0
    "$build/tests/fuzz/xnv_fuzz_$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 "${fork[@]}" -artifact_prefix="$work/artifacts/" \
        "$work/long" "${inputs[@]}" || status=$?
    after=$(find "$work/artifacts" -type f | wc -l)
    if [ $status -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "=== fuzz.sh: $t FOUND a failure (exit $status); inputs in $work/artifacts/:"
        ls -t "$work/artifacts" | head -n "$((after - before > 0 ? after - before : 1))" | sed 's/^/    /'
        failed+=("$t")
    else
        echo "=== fuzz.sh: $t: nothing found in $seconds s ($(find "$work/long" -type f | wc -l) inputs in its work corpus)"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "=== fuzz.sh: failures in: ${failed[*]}"
    echo "    reproduce: $build/tests/fuzz/xnv_fuzz_<target> <input>; minimise: add -minimize_crash=1 -runs=100000"
    exit 1
fi
echo "=== fuzz.sh: all quiet (${targets[*]})"
