# SPDX-License-Identifier: MIT
# What the network end-to-end scripts share; sourced, not run.
#
#   e2e_require TOOL...      exit 77 (skipped) unless root, /dev/net/tun and every TOOL exist
#   e2e_expect STATUS TEXT COMMAND...
#                            run COMMAND (20 s at most, stderr into $OUT): it must exit with
#                            STATUS and say TEXT on stderr; a mismatch is printed and counted
#                            in $failures
#   e2e_transfer FROM_NS TO_NS TO_ADDR PORT
#                            send $WORK/src.bin over TCP with $NETTOOL; it must arrive
#                            byte-identical (else the script's `fail`)
#   e2e_iperf_tcp FROM_NS TO_NS TO_ADDR PORT STREAMS
#                            iperf3 TCP for 2 s; some bytes must arrive (else `fail`)
#   e2e_setup TAG SUFFIX...  a run name, one namespace name per SUFFIX (in NS[SUFFIX]), an
#                            abstract socket name (SOCK), a scratch directory (WORK), a random
#                            /24 of 198.18.0.0/15 (NET) and an EXIT trap that removes every
#                            process in PIDS, every namespace and WORK, also on INT and TERM
#
# Addresses in NET exist only inside the namespaces the run creates.

e2e_require() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: network end-to-end tests need root (network namespaces, TAP interfaces)"
        exit 77
    fi
    if [ ! -c /dev/net/tun ]; then
        echo "SKIP: /dev/net/tun is missing"
        exit 77
    fi
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            echo "SKIP: $tool is not installed"
            exit 77
        fi
    done
}

e2e_cleanup() {
    local p ns
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for ns in "${NS[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$WORK"
}

e2e_setup() {
    local tag=$1 s
    shift
    RUN=xnv$$$tag$RANDOM
    declare -gA NS=()
    for s in "$@"; do NS[$s]=$RUN$s; done
    SOCK=@$RUN
    WORK=$(mktemp -d)
    # Chosen per run so that parallel runs do not share addresses.
    NET=198.$((18 + RANDOM % 2)).$((RANDOM % 256))
    PIDS=()
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

e2e_expect() {
    local status=$1 text=$2
    shift 2
    timeout 20 "$@" >/dev/null 2>"$OUT"
    local got=$?
    if [ $got != "$status" ] || ! grep -qF -- "$text" "$OUT"; then
        echo "FAIL: '$*' exited $got (wanted $status) saying: $(head -c 300 "$OUT") (wanted '$text')"
        failures=$((failures + 1))
    else
        echo "ok: $(grep -m1 -F -- "$text" "$OUT" | cut -c1-200)"
    fi
}

e2e_transfer() {
    rm -f "$WORK/dst.bin"
    ip netns exec "$2" python3 "$NETTOOL" serve "$3" "$4" "$WORK/dst.bin" &
    local srv=$!
    PIDS+=($srv)
    ip netns exec "$1" timeout 60 python3 "$NETTOOL" send "$3" "$4" "$WORK/src.bin" || fail "sending the file to $3"
    wait $srv || fail "receiving the file at $3"
    cmp "$WORK/src.bin" "$WORK/dst.bin" || fail "the file arrived at $3 different"
    echo "$(($(stat -c %s "$WORK/src.bin") / 1048576)) MiB arrived byte-identical at $3"
}

e2e_iperf_tcp() {
    ip netns exec "$2" iperf3 -s -D -B "$3" -p "$4" --logfile "$WORK/iperf3-server-$4.log" || fail "iperf3 server"
    sleep 0.3
    ip netns exec "$1" timeout 30 iperf3 -c "$3" -p "$4" -t 2 -P "$5" -J >"$WORK/tcp-$4.json" || fail "iperf3 TCP"
    python3 - "$WORK/tcp-$4.json" <<'PY' || fail "iperf3 TCP result"
import json, sys
r = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("TCP %.2f Gb/s, %d bytes received" % (r["bits_per_second"] / 1e9, r["bytes"]))
sys.exit(0 if r["bytes"] > 0 else 1)
PY
}
