# SPDX-License-Identifier: MIT
# What the network end-to-end scripts share; sourced, not run.
#
#   e2e_require TOOL...      exit 77 (skipped) unless root, /dev/net/tun and every TOOL exist
#   e2e_expect STATUS TEXT COMMAND...
#                            run COMMAND (20 s at most, stderr into $OUT): it must exit with
#                            STATUS and say TEXT on stderr; a mismatch is printed and counted
#                            in $failures
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
