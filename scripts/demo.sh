#!/usr/bin/env bash
# The demo command: installs what is missing, builds the release preset and runs the demo.
# Extra arguments go to the demo program.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target xnv-ring-demo
exec build/release/examples/xnv-ring-demo "$@"
