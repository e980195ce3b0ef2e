#!/bin/bash
# SPDX-License-Identifier: MIT
# netback's uplink TAP refuses clearly: without privilege, without /dev/net/tun, with a
# namespace that does not exist, with a name too long, with bad or orphaned --uplink-* options;
# and leaves no interface behind when it stops on a later error or on SIGTERM.
#
#   uplink_errors.sh NETBACK
set -u
NETBACK=$1
. "$(dirname "$0")/netns_lib.sh"
e2e_require ip setpriv unshare
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
failures=0

gone() { # NAME: the interface must not exist
    if ip link show "$1" >/dev/null 2>&1; then
        echo "FAIL: $1 left behind"
        failures=$((failures + 1))
    fi
}

SOCK=@xnv-uplink-errors-$$
NAME=xnvuerr$$
NAME=${NAME:0:15}
NOBODY=$(id -u nobody 2>/dev/null || echo 65534)
e2e_expect 1 "needs CAP_NET_ADMIN" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
    "$NETBACK" --socket $SOCK --uplink-tap $NAME
e2e_expect 1 "/dev/net/tun is missing" unshare -m sh -c \
    "mount -t tmpfs none /dev/net && exec '$NETBACK' --socket $SOCK --uplink-tap $NAME"
e2e_expect 1 "network namespace 'xnv-no-such-ns-$$' does not exist" \
    "$NETBACK" --socket $SOCK --uplink-tap $NAME --uplink-netns xnv-no-such-ns-$$
e2e_expect 1 "--uplink-netns: 'a/b' is not a namespace name" \
    "$NETBACK" --socket $SOCK --uplink-tap $NAME --uplink-netns a/b
e2e_expect 1 "--uplink-tap: 'xnv-much-too-long-name' is longer than 15 characters" \
    "$NETBACK" --socket $SOCK --uplink-tap xnv-much-too-long-name
for opt in "--uplink-netns ns" "--uplink-mtu 1500" "--uplink-mac 02:00:00:00:00:aa"; do
    # shellcheck disable=SC2086 # the option and its value are two words
    e2e_expect 2 "--uplink-netns, --uplink-mtu and --uplink-mac apply only with --uplink-tap" \
        "$NETBACK" --socket $SOCK $opt
done
e2e_expect 2 "--uplink-mtu expects an integer in 68..65521, got '67'" \
    "$NETBACK" --socket $SOCK --uplink-tap $NAME --uplink-mtu 67
e2e_expect 2 "--uplink-mtu expects an integer in 68..65521, got '1500x'" \
    "$NETBACK" --socket $SOCK --uplink-tap $NAME --uplink-mtu 1500x
e2e_expect 2 "a MAC address is six hex pairs" "$NETBACK" --socket $SOCK --uplink-tap $NAME --uplink-mac 02:00:00
e2e_expect 2 "--uplink-tap expects a non-empty value" "$NETBACK" --socket $SOCK --uplink-tap ""
gone $NAME
# The interface is made before the control socket: a socket that cannot be opened stops netback
# after it, and the interface must be gone with it.
e2e_expect 1 "error" "$NETBACK" --socket /nonexistent-xnv-dir-$$/sock --uplink-tap $NAME
gone $NAME
# SIGTERM: the orderly way out closes the TAP, and the interface goes with it.
"$NETBACK" --socket $SOCK --uplink-tap $NAME --quiet >/dev/null 2>"$OUT" &
PID=$!
trap 'kill -KILL $PID 2>/dev/null; rm -f "$OUT"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$OUT" && break; sleep 0.05; done
if ! ip link show $NAME >/dev/null 2>&1; then
    echo "FAIL: $NAME was not created: $(head -c 300 "$OUT")"
    failures=$((failures + 1))
fi
kill -TERM $PID
for _ in $(seq 100); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
if wait $PID && grep -q "stopping: signal SIGTERM" "$OUT"; then
    echo "ok: SIGTERM stops netback"
else
    echo "FAIL: netback did not stop cleanly on SIGTERM: $(tail -c 300 "$OUT")"
    failures=$((failures + 1))
fi
gone $NAME
[ $failures = 0 ] && echo PASS
exit $((failures != 0))
