#!/usr/bin/env bash
# The demo command: installs what is missing, builds the release preset's xnv-netback and
# xnv-netfront, then runs a netback and two netfronts that send generated frames of mixed sizes
# (64 to 65535 bytes) to each other through it for about ten seconds. netback prints a status
# line per second (per vif: Mpps, Gb/s, notifications, drops; per worker: busy %); at the end
# the netfronts' checks (lost, corrupted, ...) and netback's totals are summarised.
# Every process it starts is stopped when it ends, fails or is interrupted.
#
#   scripts/demo.sh [SECONDS]      traffic time (default 10)
#
# XNV_DEMO_BUILD_DIR selects another build directory for the release preset (default
# build/release).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }

bash scripts/setup.sh
build=${XNV_DEMO_BUILD_DIR:-build/release}
cmake --preset release -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)" --target xnv-netback xnv-netfront
bin=$build/examples/netif

work=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sock="@xnv-demo-$$"
echo "demo: netback on $sock with 2 workers (hysteresis dispatcher); two netfronts with 2 queues each,"
echo "demo: sending frames of 64..65535 bytes to each other for ${seconds} s"
# netback prints its status line every second; its JSON summary goes to a file (and the line
# it also prints on stdout at exit is left out here).
"$bin/xnv-netback" --socket "$sock" --workers 2 --dispatch hysteresis --exit-when-idle \
  --json "$work/netback.json" > >(grep --line-buffered -v '^{') &
pids+=($!)
for _ in $(seq 100); do
  grep -q . /proc/net/unix 2>/dev/null && grep -q "xnv-demo-$$" /proc/net/unix && break
  sleep 0.05
done
front() {
  "$bin/xnv-netfront" --socket "$sock" --mac "$1" --peer-mac "$2" --queues 2 --seconds "$seconds" \
    --size-min 64 --size-max 65535 --quiet --json "$work/$3.json" > /dev/null &
  pids+=($!)
}
front 02:00:00:00:00:01 02:00:00:00:00:02 front1
front 02:00:00:00:00:02 02:00:00:00:00:01 front2
status=0
for p in "${pids[@]:1}"; do wait "$p" || status=$?; done
wait "${pids[0]}" || status=$?
pids=()
[[ $status -eq 0 ]] || { echo "demo: a program failed (status $status)" >&2; exit "$status"; }

python3 - "$work" <<'PY'
import json, sys
d = sys.argv[1]
print("\ndemo summary")
for name in ("front1", "front2"):
    j = json.load(open(f"{d}/{name}.json"))
    print(f"  netfront {j['mac']}: sent {j['sent']} frames ({j['tx_gbps']:.2f} Gb/s, {j['tx_mpps']:.3f} Mpps), "
          f"received {j['received']} ({j['rx_gbps']:.2f} Gb/s); lost {j['lost']}, duplicated {j['duplicated']}, "
          f"reordered {j['reordered']}, corrupted {j['corrupted']} -> {'clean' if j['clean'] else 'NOT CLEAN'}")
n = json.load(open(f"{d}/netback.json"))
t = n["totals"]
print(f"  netback: {t['tx_packets'] + t['rx_packets']} frames handled, "
      f"{t['notifications_per_packet']:.4f} notifications per frame, drops "
      + (", ".join(f"{k}={v}" for k, v in t["drops"].items() if v) or "none"))
print("  workers busy over the run: " + ", ".join(f"w{i} {w['busy_pct']:.0f}%" for i, w in enumerate(n["workers"]))
      + f"; dispatcher {n['dispatcher']['policy']}, {n['dispatcher']['moves']} moves")
PY
