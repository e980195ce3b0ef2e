#!/bin/bash
# SPDX-License-Identifier: MIT
# netfront's TAP mode refuses clearly: without privilege, without /dev/net/tun, with a
# namespace that does not exist, with TAP options outside TAP mode, with a name too long.
#
#   tap_errors.sh NETFRONT
set -u
NETFRONT=$1
. "$(dirname "$0")/netns_lib.sh"
e2e_require ip setpriv unshare
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
failures=0

SOCK=@xnv-tap-errors-$$ # nothing listens here: every case must fail before connecting
NOBODY=$(id -u nobody 2>/dev/null || echo 65534)
e2e_expect 1 "needs CAP_NET_ADMIN" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
    "$NETFRONT" --socket $SOCK --mode tap --tap-name xnverr$$
e2e_expect 1 "/dev/net/tun is missing" unshare -m sh -c \
    "mount -t tmpfs none /dev/net && exec '$NETFRONT' --socket $SOCK --mode tap --tap-name xnverr$$"
e2e_expect 1 "network namespace 'xnv-no-such-ns-$$' does not exist" \
    "$NETFRONT" --socket $SOCK --mode tap --tap-netns xnv-no-such-ns-$$
e2e_expect 1 "is longer than 15 characters" "$NETFRONT" --socket $SOCK --mode tap --tap-name xnv-much-too-long-name
e2e_expect 2 "--tap-name and --tap-netns apply only to --mode tap" "$NETFRONT" --socket $SOCK --tap-name xnv0
e2e_expect 2 "--mode tap generates nothing" "$NETFRONT" --socket $SOCK --mode tap --count 10
# The device made before the refused connection is gone again.
if ip link show xnverr$$ >/dev/null 2>&1; then
    echo "FAIL: xnverr$$ left behind"
    failures=$((failures + 1))
fi
e2e_expect 1 "" "$NETFRONT" --socket $SOCK --mode tap --tap-name xnverr$$
if ip link show xnverr$$ >/dev/null 2>&1; then
    echo "FAIL: xnverr$$ left behind after a failed connection"
    failures=$((failures + 1))
fi
[ $failures = 0 ] && echo PASS
exit $((failures != 0))
