#!/usr/bin/env bash
# Issue 20.3 (begun): a flood of malformed first websocket frames cannot
# flood the audit. Handshake failures are counted per source network and
# reason per minute: the first is written at once ("... from NET"), the
# rest summed into one entry ("N more from NET within a minute") when the
# next failure comes after the minute, or when serve stops. 600 bad frames
# from 127.0.0.0/24 write a handful of entries that still add up to 600.
#
#   bash tests/cli/test_auditflood.sh path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
FSS=${1:?usage: test_auditflood.sh path/to/fieldsync-server}
BAD=$(dirname "${BASH_SOURCE[0]}")/bad_frames.py
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-auditflood-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='auditflood test passphrase -- 5e21'
if ! command -v python3 >/dev/null; then
    echo "FAIL python3 is needed for the websocket client"
    exit 1
fi

runc "$FSS" init --data "$S"
expect "server store made" 0
start_server 0
runc python3 "$BAD" "$PORT" 600
expect "600 bad first frames sent" 0
equal "every connection was upgraded" "$OUT" 600

# While serving: the first failure is there at once, naming its network.
runc "$FSS" audit show --data "$S"
expect "audit show while serving" 0
contains "the first failure is written at once, with its network" "$OUT" "from 127.0.0.0/24"

stop_server_now # the minute's count is written when the store closes
runc "$FSS" audit show --data "$S"
expect "audit show after stop" 0
FAILED=$(grep -F auth_failed <<<"$OUT")
n=$(grep -c . <<<"$FAILED")
if [ "$n" -ge 2 ] && [ "$n" -le 10 ]; then
    ok "600 bad frames wrote a handful of auth_failed entries ($n)"
else
    fail "600 bad frames wrote a handful of auth_failed entries" "$n entries" \
        "$(head -n 5 <<<"$FAILED")"
fi
contains "the rest are summed into one entry" "$FAILED" "more from 127.0.0.0/24 within a minute"
total=$(awk '/ more from 127\.0\.0\.0\/24/ { for (i = 1; i < NF; i++) if ($(i + 1) == "more") n += $i; next }
             /from 127\.0\.0\.0\/24/ { n++ } END { print n + 0 }' <<<"$FAILED")
equal "the entries add up to the 600 failures" "$total" 600
runc "$FSS" audit verify --data "$S"
expect "the chain verifies" 0
# The summed entry is written before serve logs the head at its stop, so
# the head a log shipper keeps is the last one.
runc "$FSS" audit head --data "$S"
HEAD_NOW=$(tail -n 1 <<<"$OUT")
contains "the head logged at stop is the audit's last" "$(cat "$WORK/serve.err")" \
    "audit head at stop: $HEAD_NOW"
finish
