#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test in three builds,
# a plain one, AddressSanitizer + UndefinedBehaviorSanitizer, and ThreadSanitizer, each with
# -Werror on xnv's own targets, then builds the libFuzzer targets with clang and fuzzes each
# briefly (docs/fuzzing.md). Fails if any build or test fails.
#
#   scripts/test.sh [PRESET...]     presets: dev asan tsan fuzz (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(dev asan tsan fuzz)
jobs=$(nproc)
failed=()
for preset in "${presets[@]}"; do
  echo "=== test.sh: ${preset}: configure, build, test"
  start=$SECONDS
  if cmake --preset "$preset" >/dev/null &&
     cmake --build --preset "$preset" -j "$jobs" &&
     ctest --preset "$preset" -j "$jobs"; then
    echo "=== test.sh: ${preset}: passed in $((SECONDS - start)) s"
  else
    echo "=== test.sh: ${preset}: FAILED after $((SECONDS - start)) s"
    failed+=("$preset")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== test.sh: failed: ${failed[*]}"
  exit 1
fi
echo "=== test.sh: all passed (${presets[*]})"
