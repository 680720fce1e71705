#!/usr/bin/env bash
# Issue 20.1: a flood of dashboard logins does not stall the devices' sync.
# Each login's Argon2 check runs on the hub's two workers, at most four
# waiting or running; beyond that a login is answered 503 at once, and the
# server's thread, which serves every device, never waits on a password.
# A rep's `fieldsync sync` is timed 5 times alone, then 5 times while 16
# threads post logins in a loop (tests/cli/login_flood.py), in the same
# run; the ratio must stay under FLOOD_MAX_RATIO (4: for a loaded machine;
# on the code before the workers it was in the tens). With two CPU-bound
# processes beside it (scripts/stress, issue 20.8) it measured 2.88, 2.71
# and 1.24 on a shared 2-core machine: 3 held by too little.
#
#   bash tests/cli/test_loginflood.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/web_fixture.sh"
FS=${1:?usage: test_loginflood.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_loginflood.sh path/to/fieldsync path/to/fieldsync-server}
FLOOD=$(dirname "${BASH_SOURCE[0]}")/login_flood.py
MAX_RATIO=${FLOOD_MAX_RATIO:-4}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-loginflood-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
FLOOD_PID=
stop_flood() {
    if [ -n "$FLOOD_PID" ]; then
        touch "$WORK/stop"
        wait "$FLOOD_PID" 2>/dev/null
        FLOOD_PID=
    fi
}
trap 'stop_flood; stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='loginflood test passphrase -- 31cd'
unset FIELDSYNC_HOME
if ! command -v python3 >/dev/null; then
    echo "FAIL python3 is needed for the flood"
    exit 1
fi
srv() { runc "$FSS" "$@"; }

web_fixture

# syncs LABEL: five syncs of zhang's laptop; sets SECS (their total, seconds).
syncs() {
    local t0 t1 i bad=0
    t0=$(date +%s.%N)
    for i in 1 2 3 4 5; do
        runc "$FS" --home "$WORK/zhang" sync
        [ "$RC" -eq 0 ] || bad=$((bad + 1))
    done
    t1=$(date +%s.%N)
    SECS=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    equal "$1: the five syncs succeed" "$bad" 0
}

syncs "alone"
ALONE=$SECS

# The flood at the lowest priority: an attacker's own CPU is on his machine,
# not the server's; here it would otherwise take a core from the rep's
# client (what is measured is the server making the rep wait).
nice -n 19 python3 "$FLOOD" "$PORT" 16 "$WORK/stop" >"$WORK/flood.out" 2>"$WORK/flood.err" &
FLOOD_PID=$!
for ((i = 0; i < 300; i++)); do # every thread has had an answer (the flood runs)
    grep -q '^started' "$WORK/flood.out" 2>/dev/null && break
    sleep 0.1
done
contains "the flood is running" "$(cat "$WORK/flood.out")" "started"
syncs "under the flood"
FLOODED=$SECS
stop_flood
COUNTS=$(grep -v '^started' "$WORK/flood.out")
RATIO=$(python3 -c "print(f'{$FLOODED / max($ALONE, 0.01):.2f}')")
echo "five syncs: ${ALONE} s alone, ${FLOODED} s under a 16-thread login flood: ratio ${RATIO}"
echo "flood answers by status: $(tr '\n' ' ' <<<"$COUNTS")"
if python3 -c "import sys; sys.exit(0 if $RATIO <= $MAX_RATIO else 1)"; then
    ok "the flood costs the rep's sync at most ${MAX_RATIO}x (${RATIO}x)"
else
    fail "the flood costs the rep's sync at most ${MAX_RATIO}x" "ratio $RATIO" \
        "alone ${ALONE} s, flooded ${FLOODED} s" "answers: $COUNTS"
fi
refused=$(awk '$1 == 503 || $1 == 429 { n += $2 } END { print n + 0 }' <<<"$COUNTS")
checked=$(awk '$1 == 401 { n += $2 } END { print n + 0 }' <<<"$COUNTS")
if [ "$refused" -gt 0 ] && [ "$checked" -gt 0 ]; then
    ok "logins beyond the workers' queue are refused at once ($refused), others checked ($checked)"
else
    fail "logins beyond the workers' queue are refused at once" "answers: $COUNTS"
fi

# The server's thread is free again: a manager still logs in.
CLIENT=$(dirname "${BASH_SOURCE[0]}")/web_client.py
all=$(python3 "$CLIENT" "$PORT" GET /login)
pre=$(grep -i '^set-cookie: fs_login=' <<<"$all" | head -n 1 | cut -d' ' -f2 | cut -d';' -f1)
csrf=$(grep -oE 'name="csrf" value="[0-9a-f]+' <<<"$all" | cut -d'"' -f4)
all=$(WEB_SOURCE=127.0.0.9 python3 "$CLIENT" "$PORT" POST /login "$pre" \
    "name=li&password=${LI_PW// /+}&csrf=$csrf")
equal "after the flood, li logs in" "$(head -n 1 <<<"$all")" 303

stop_server_now
finish
