#!/bin/bash
# SPDX-License-Identifier: MIT
# netfront's --reconnect in TAP mode (docs/security.md, "netfront's reconnect"): two network
# namespaces, a netfront TAP in each, one netback between them. netback is killed with SIGKILL
# and a new one started on the same socket; the TAP interfaces must survive (same interface
# index, addresses kept), both netfronts reconnect, and TCP works across them again.
#
#   tap_reconnect.sh NETBACK NETFRONT
#
# Exit 77 (skipped) when not root or without /dev/net/tun. Addresses come from 198.18.0.0/15
# and exist only inside the namespaces this run creates; everything it creates is removed on
# exit, failure or signal.
set -u
NETBACK=$1 NETFRONT=$2

. "$(dirname "$0")/../e2e/netns_lib.sh"
e2e_require ip python3
e2e_setup rc a b
NSA=${NS[a]} NSB=${NS[b]}
A=$NET.1 B=$NET.2

fail() {
    echo "FAIL: $*"
    for f in "$WORK"/*.log; do echo "--- $f"; tail -8 "$f" | cut -c1-300; done
    exit 1
}

# wait_for FILE TEXT: until FILE contains TEXT (20 s at most).
wait_for() {
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# tcp_echo: a TCP round trip from A to B; the server in B echoes one line.
tcp_echo() {
    local port=$1
    ip netns exec "$NSB" timeout 20 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
c, _ = s.accept(); c.sendall(c.recv(100))' $B $port &
    local srv=$!
    local out
    out=$(ip netns exec "$NSA" timeout 20 python3 -c '
import socket, sys, time
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); break
    except OSError:
        time.sleep(0.1)
c.sendall(b"across the vifs"); print(c.recv(100).decode())' $B $port)
    wait $srv
    [ "$out" = "across the vifs" ]
}

ifindex() { ip -n "$1" -o link show xnv0 2>/dev/null | cut -d: -f1; }

ip netns add "$NSA" || fail "ip netns add"
ip netns add "$NSB" || fail "ip netns add"

"$NETBACK" --socket "$SOCK" --quiet >"$WORK/netback1.log" 2>&1 &
PIDS+=($!)
NB1=$!
wait_for "$WORK/netback1.log" "listening on" || fail "netback did not listen"
for ns in "$NSA" "$NSB"; do
    mac=02:00:00:00:0c:0$([ $ns = "$NSA" ] && echo 1 || echo 2)
    "$NETFRONT" --socket "$SOCK" --mode tap --tap-name xnv0 --tap-netns "$ns" --mac $mac --reconnect 30 \
        --quiet --json "$WORK/front-$ns.json" >"$WORK/front-$ns.log" 2>&1 &
    PIDS+=($!)
    wait_for "$WORK/front-$ns.log" "connected to" || fail "netfront in $ns did not connect"
done
FA=${PIDS[1]} FB=${PIDS[2]}
ip -n "$NSA" addr add $A/24 dev xnv0 || fail "address"
ip -n "$NSB" addr add $B/24 dev xnv0 || fail "address"
echo "== TCP across the vifs before the fault"
tcp_echo 5301 || fail "TCP before the fault"
IA=$(ifindex "$NSA") IB=$(ifindex "$NSB")

echo "== kill -9 netback: the TAP interfaces stay"
kill -KILL $NB1
wait $NB1 2>/dev/null
wait_for "$WORK/front-$NSA.log" "lost netback" || fail "netfront A did not notice"
wait_for "$WORK/front-$NSB.log" "lost netback" || fail "netfront B did not notice"
[ "$(ifindex "$NSA")" = "$IA" ] || fail "A's TAP interface did not survive"
[ "$(ifindex "$NSB")" = "$IB" ] || fail "B's TAP interface did not survive"

echo "== a new netback on the same socket: both reconnect, TCP works again"
"$NETBACK" --socket "$SOCK" --quiet >"$WORK/netback2.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/front-$NSA.log" "reconnected to" || fail "netfront A did not reconnect"
wait_for "$WORK/front-$NSB.log" "reconnected to" || fail "netfront B did not reconnect"
[ "$(ifindex "$NSA")" = "$IA" ] || fail "A's TAP interface changed"
ip -n "$NSA" -o addr show dev xnv0 | grep -q "$A/24" || fail "A's address is gone"
tcp_echo 5302 || fail "TCP after the reconnect"

kill -INT $FA
for _ in $(seq 50); do kill -0 $FA 2>/dev/null || break; sleep 0.1; done
wait $FA || fail "netfront A did not stop cleanly"
python3 - "$WORK/front-$NSA.json" <<'PY' || fail "netfront A's summary"
import json, sys
f = json.load(open(sys.argv[1]))
print("netfront A: netback_losses %d, reconnects %d, TAP read %d wrote %d frames" %
      (f["netback_losses"], f["reconnects"], f["tap"]["read_frames"], f["tap"]["written_frames"]))
sys.exit(0 if f["netback_losses"] == 1 and f["reconnects"] == 1 and not f["failed"] else 1)
PY
kill -0 $FB 2>/dev/null || fail "netfront B exited"
echo "PASS"
