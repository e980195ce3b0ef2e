#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/paper/tables.py: the tables from the committed results, and a clear error (status 1,
# nothing else printed) for a missing file, a file that is not JSON, and JSON that is not a
# result of bench/paper/run.py. bench/paper/run.py and compare.py: bad options refused with a
# message before anything runs (no root needed, nothing is started).
#
#   paper_scripts.sh SOURCE_DIR
set -u
SRC=$1
TABLES="$SRC/bench/paper/tables.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

python3 "$TABLES" "$SRC/docs/results/paper.json" >"$WORK/out" 2>"$WORK/err" || fail "the committed results: $(cat "$WORK/err")"
for want in "| streams | veth |" "| vif pairs | veth |" "proposed / veth" "| configuration | worker 0 | worker 1 |"; do
    grep -qF -- "$want" "$WORK/out" || fail "the tables lack '$want'"
done

# bad FILE TEXT: status 1, TEXT on stderr, nothing on stdout.
bad() {
    python3 "$TABLES" "$1" >"$WORK/out" 2>"$WORK/err"
    local got=$?
    [ $got = 1 ] || fail "$1: status $got (wanted 1)"
    grep -qF -- "$2" "$WORK/err" || fail "$1: said '$(cat "$WORK/err")' (wanted '$2')"
    [ -s "$WORK/out" ] && fail "$1: printed tables anyway"
    echo "ok: $(cat "$WORK/err")"
}
bad "$WORK/missing.json" "cannot read $WORK/missing.json"
echo '{' >"$WORK/broken.json"
bad "$WORK/broken.json" "cannot read $WORK/broken.json"
echo '{"results": {}}' >"$WORK/nocond.json"
bad "$WORK/nocond.json" "no 'conditions' and 'results' objects"
echo '{"conditions": {"cpus": 2}, "results": {"veth": {}}}' >"$WORK/partial.json"
bad "$WORK/partial.json" "is not a result of bench/paper/run.py"
python3 "$TABLES" >/dev/null 2>"$WORK/err"
[ $? = 1 ] && grep -qF "usage: tables.py RESULTS.json" "$WORK/err" || fail "no argument: $(cat "$WORK/err")"

# refused PROGRAM TEXT ARGS...: status 1 and TEXT on stderr.
refused() {
    local prog=$1 text=$2
    shift 2
    python3 "$SRC/bench/paper/$prog" "$@" >/dev/null 2>"$WORK/err"
    local got=$?
    [ $got = 1 ] && grep -qF -- "$text" "$WORK/err" || fail "$prog $*: status $got, said '$(cat "$WORK/err")' (wanted '$text')"
    echo "ok: $(cat "$WORK/err")"
}
mkdir "$WORK/bin" # stand-ins: the checks look only for the two executables
for p in xnv-netback xnv-netfront; do printf '#!/bin/sh\nexit 1\n' >"$WORK/bin/$p"; chmod +x "$WORK/bin/$p"; done
refused run.py "$WORK/none/xnv-netback is not an executable" --bin "$WORK/none"
refused run.py "--reps must be at least 1, got 0" --bin "$WORK/bin" --reps 0
refused run.py "--pairs must be at least 1, got 0" --bin "$WORK/bin" --pairs 0
refused run.py "unknown configuration 'fast'" --bin "$WORK/bin" --configs veth,fast
refused compare.py "$WORK/none/xnv-netback is not an executable" --bin-a "$WORK/bin" --bin-b "$WORK/none"
refused compare.py "--seconds must be at least 1, got 0" --bin-a "$WORK/bin" --bin-b "$WORK/bin" --seconds 0

[ $failures = 0 ] && echo PASS
exit $((failures != 0))
