#!/usr/bin/env bash
# A rep's write reaching the manager (issue 21.5), real processes on
# 127.0.0.1: fieldsync-server serve on a free port, a rep (zhang) and a
# manager (li) of one team enrolled with the CLI, the rep's `fieldsync daemon`
# running (unlocked by the agent, as in the field), the manager's started by
# bench/reach.c, which times each visit from the rep's `visit add` exiting to
# the manager's daemon logging that its replica holds it. Twice on the same
# server, the daemons connected throughout: idle, then while loadsim's
# devices push and pull against it (bench/load.sh's active phase: each
# device pushes 2 visits and pulls, then pauses 0.5-1.5 s). Targets: p50 <= 100 ms idle, p99 <= 1 s under load.
#
#   bench/reach.sh quick [BIN]   12 visits idle, 12 under 100 devices (under a minute)
#   bench/reach.sh full  [BIN]   50 visits idle, 50 under 1,000 devices
# BIN: the build's bin directory (default build/bin). Overrides: REACH_VISITS,
# REACH_DEVICES. Prints both lines of bench/reach.c and, last, one line
# "reach: {...}" of JSON. Exit 0 when every visit arrived both times.
set -u

mode=${1:-quick}
bin=${2:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
case $mode in
quick) visits=12 devices=100 warmup=3 ;;
full) visits=50 devices=1000 warmup=15 ;;
*)
    echo "usage: $0 quick|full [BIN_DIR]" >&2
    exit 2
    ;;
esac
visits=${REACH_VISITS:-$visits}
devices=${REACH_DEVICES:-$devices}
FS=$bin/fieldsync
FSS=$bin/fieldsync-server
LOADSIM=$bin/loadsim
REACH=$bin/reach
for b in "$FS" "$FSS" "$LOADSIM" "$REACH"; do
    if [ ! -x "$b" ]; then
        echo "reach: $b is missing (build first)" >&2
        exit 2
    fi
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((devices + 256)) ]; then
    echo "reach: $((devices + 256)) descriptors needed, the hard limit is $(ulimit -Hn)" >&2
    exit 2
fi

export LC_ALL=C.UTF-8
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-reach.XXXXXX")
S=$WORK/store HZ=$WORK/zhang HL=$WORK/li
SRV_PID= REP_PID=
cleanup() {
    if [ -n "$REP_PID" ]; then
        kill -TERM "$REP_PID" 2>/dev/null
        wait "$REP_PID" 2>/dev/null
    fi
    "$FS" --home "$HZ" lock >/dev/null 2>&1
    if [ -n "$SRV_PID" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FIELDSYNC_PASSPHRASE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export FIELDSYNC_PASSPHRASE
fail() {
    echo "reach: $1" >&2
    [ -n "${2:-}" ] && cat "$2" >&2
    exit 1
}

# The store: loadsim's devices (teams of 10) enrolled, then the two people.
"$LOADSIM" setup --data "$S" --keys "$WORK/keys" --devices "$devices" >"$WORK/setup.out" 2>&1 ||
    fail "loadsim setup failed" "$WORK/setup.out"
"$FSS" user add --data "$S" --name li --role manager --team reachteam >/dev/null 2>&1 &&
    "$FSS" user add --data "$S" --name zhang --role rep --team reachteam >/dev/null 2>&1 ||
    fail "cannot add the users"
ZCODE=$("$FSS" enroll-code --data "$S" --user zhang 2>/dev/null | tail -n 1)
LCODE=$("$FSS" enroll-code --data "$S" --user li 2>/dev/null | tail -n 1)

"$FSS" serve --data "$S" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SRV_PID=$!
line=
for ((i = 0; i < 300; i++)); do
    line=$(head -n 1 "$WORK/serve.out")
    [ -n "$line" ] && break
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
done
[[ "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "serve did not start" "$WORK/serve.err"
PORT=${BASH_REMATCH[1]}

"$FS" --home "$HZ" enroll --server "ws://127.0.0.1:$PORT" --name zhang-laptop <<<"$ZCODE" \
    >"$WORK/cli.out" 2>&1 || fail "zhang cannot enroll" "$WORK/cli.out"
"$FS" --home "$HL" enroll --server "ws://127.0.0.1:$PORT" --name li-laptop <<<"$LCODE" \
    >"$WORK/cli.out" 2>&1 || fail "li cannot enroll" "$WORK/cli.out"
"$FS" --home "$HZ" customer add --name "Reach Bench 测试客户" --owner zhang >"$WORK/cli.out" 2>&1 ||
    fail "zhang cannot add a customer" "$WORK/cli.out"
CUST=$(tail -n 1 "$WORK/cli.out")
"$FS" --home "$HZ" unlock --idle 30m >"$WORK/cli.out" 2>&1 || fail "zhang cannot unlock" "$WORK/cli.out"
"$FS" --home "$HZ" daemon --interval 3600 >"$WORK/rep-daemon.out" 2>&1 &
REP_PID=$!

# Idle, then under loadsim's active phase against the same server (started
# by reach after the idle visits, ended by SIGUSR1 when the loaded ones are
# measured; --seconds only a bound).
seconds=$((warmup + visits * 65 + 60)) # each visit at most 60 s + its pause and add
status=0
"$REACH" --fs "$FS" --rep "$HZ" --manager "$HL" --customer "${CUST:0:8}" --visits "$visits" \
    --warmup "$warmup" --json -- "$LOADSIM" active --keys "$WORK/keys" --port "$PORT" \
    --server-pid "$SRV_PID" --devices "$devices" --seconds "$seconds" --visits 2 --interval 1000 \
    --out "$WORK/results" >"$WORK/reach.out" || status=1
grep -vE '^(reach-idle|reach-load|loadsim): \{' "$WORK/reach.out" | sed '/^reach /!s/^/  load: /'
idle=$(sed -n 's/^reach-idle: //p' "$WORK/reach.out")
loaded=$(sed -n 's/^reach-load: //p' "$WORK/reach.out")
load_line=$(sed -n 's/^loadsim: //p' "$WORK/reach.out")
[ -n "$idle" ] && [ -n "$loaded" ] && [ -n "$load_line" ] || status=1
echo "reach: {\"mode\":\"$mode\",\"idle\":${idle:-null},\"load\":${loaded:-null},\"loadsim\":${load_line:-null},\"ok\":$([ $status -eq 0 ] && echo true || echo false)}"
exit $status
