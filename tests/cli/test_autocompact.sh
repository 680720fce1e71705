#!/usr/bin/env bash
# serve compacts its feed by itself (issue 21.1), with real processes on
# 127.0.0.1: `serve --compact-every 3s --compact-keep-days 0` (3 s is a test
# period: the option takes 1s to 365d; its default is 1d). Zhang's laptop
# seeds 300 visits (more rows than a step takes) and edits a customer's two
# fields ten times, syncing each time; the manager's laptop syncs after each
# edit (up to date), zhang's second laptop last synced before them all (far
# behind). While they work, serve compacts every 3 s; the test waits for a
# round that dropped the superseded edits, then: every device syncs and all
# hold the same customer and the 300 visits, a new device too; the audit log
# holds one `compact` entry per completed round, by serve, with the horizon
# and the counts (never a value), and verifies; serve's log says each round
# and its steps. A bad --compact-every or --compact-keep-days is refused;
# --compact-every 0 never compacts.
#
#   bash tests/cli/test_autocompact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_autocompact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
FSS=${2:?usage: test_autocompact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
SEED=${3:?usage: test_autocompact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-autocompact-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='autocompact test passphrase -- 7e1a'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
S=$WORK/server
HA=$WORK/laptop # zhang's laptop
HB=$WORK/second # zhang's second laptop, far behind
HL=$WORK/li     # the manager, up to date
HN=$WORK/li-new # the manager's new device
run() { runc "$FS" "$@"; }
customer() { # HOME: the customer as listed
    "$FS" --home "$1" customer list --json | grep -oE '"(name|industry|preferences)":"[^"]*"' | sort
}
visits() { "$FS" --home "$1" visit list --json | grep -oF '"recorded_at":' | wc -l; }
compact_entries() { # the audit's compact entries (through the running serve)
    "$FSS" audit show --data "$S" 2>/dev/null | grep -E '  compact +serve  '
}

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north"
allow_exports north

# Refused settings; 0: never.
runc "$FSS" serve --data "$S" --listen 127.0.0.1:0 --compact-every 5x
expect "a bad --compact-every: status 2" 2 "--compact-every:"
runc "$FSS" serve --data "$S" --listen 127.0.0.1:0 --compact-every 400d
expect "a period over 365d: status 2" 2 "--compact-every:"
runc "$FSS" serve --data "$S" --listen 127.0.0.1:0 --compact-keep-days 36501
expect "a bad --compact-keep-days: status 2" 2 "--compact-keep-days: expected a whole number"
start_server 0 --compact-every 0
contains "--compact-every 0: serve says it never compacts" "$(cat "$WORK/serve.err")" \
    "compaction: off"
stop_server
start_server 0
contains "by default: daily, at a random moment of the first day" "$(cat "$WORK/serve.err")" \
    "compaction: every 86400 s, of the entries older than 30 days; the first in"
stop_server

start_server 0 --compact-every 3s --compact-keep-days 0
URL="ws://127.0.0.1:$PORT"
contains "every 3 s, every entry" "$(cat "$WORK/serve.err")" \
    "compaction: every 3 s, of the entries older than 0 days"
enroll_device zhang "$HA" "$URL"
enroll_device zhang "$HB" "$URL"
enroll_device li "$HL" "$URL"
C=$("$FS" --home "$HA" customer add --name "青岚仪器")
runc "$SEED" "$HA" "$C" 300 1 40 autocompact
expect "300 visits seeded on the laptop" 0
for h in "$HA" "$HB" "$HL"; do
    run --home "$h" sync
    expect "first sync $(basename "$h")" 0
done
for k in 1 2 3 4 5 6 7 8 9 10; do
    run --home "$HA" customer edit --customer "$C" --industry "仪器 v$k" --preferences "电话 v$k"
    [ "$RC" -eq 0 ] || fail "edit $k" "$ERR"
    run --home "$HA" sync
    [ "$RC" -eq 0 ] || fail "sync after edit $k" "$ERR"
    run --home "$HL" sync
    [ "$RC" -eq 0 ] || fail "the manager's sync after edit $k" "$ERR"
done
ok "ten edits of two fields synced one by one, the manager up to date throughout"

# Rounds ran while they edited; two more complete after the last edit (so
# one began after it): together they dropped the 18 superseded changes.
n0=$(compact_entries | wc -l)
for ((i = 0; i < 120; i++)); do
    [ "$(compact_entries | wc -l)" -ge $((n0 + 2)) ] && break
    sleep 0.5
done
all=$(compact_entries)
got=$(tail -n 1 <<<"$all")
dropped=$(grep -oE 'changes_dropped=[0-9]+' <<<"$all" | awk -F= '{s += $2} END {print s + 0}')
if [ "$(wc -l <<<"$all")" -ge $((n0 + 2)) ] && [ "${dropped:-0}" -ge 18 ]; then
    ok "serve compacted by itself: $(wc -l <<<"$all") rounds, $dropped superseded changes dropped"
else
    fail "serve compacted by itself, the superseded edits dropped" "$all" \
        "$(grep compaction "$WORK/serve.err" | tail -n 5)"
fi
contains "by serve, with the horizon and the counts" "$got" " serve  -  horizon="
if [[ "$got" =~ rows=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 256 ]; then
    ok "more rows than a step takes (${BASH_REMATCH[1]})"
else
    fail "more rows than a step takes" "$got"
fi
steps=$(grep -oE 'compaction: done in [0-9]+ steps' "$WORK/serve.err" | grep -oE '[0-9]+' | sort -n | tail -n 1)
if [ "${steps:-0}" -ge 2 ]; then ok "in several steps ($steps), the sessions served between"; else
    fail "in several steps" "$(grep compaction "$WORK/serve.err" | tail -n 5)"; fi

for h in "$HB" "$HL" "$HA" "$HB"; do
    run --home "$h" sync
    [ "$RC" -eq 0 ] || fail "sync $(basename "$h") after the compaction" "$ERR"
done
want=$(customer "$HA")
contains "the laptop holds the last edit" "$want" '"industry":"仪器 v10"'
equal "the manager (up to date) holds the laptop's customer" "$(customer "$HL")" "$want"
equal "the second laptop (far behind) too" "$(customer "$HB")" "$want"
equal "and the 300 visits" "$(visits "$HB")" 300
equal "the manager too" "$(visits "$HL")" 300
enroll_device li "$HN" "$URL"
equal "a new device of the manager's holds the same customer" "$(customer "$HN")" "$want"
equal "and the 300 visits" "$(visits "$HN")" 300

stop_server # a round cut short by the stop is neither logged done nor audited
rounds=$(grep -c 'compaction: done in' "$WORK/serve.err")
entries=$("$FSS" audit show --data "$S" | grep -cE '  compact +serve  ')
equal "one audit entry per round serve logged" "$entries" "$rounds"
runc "$FSS" audit verify --data "$S"
expect "the audit chain verifies" 0
runc "$FSS" audit show --data "$S"
if grep -qE 'compact .*(青岚|仪器|电话)' <<<"$OUT"; then fail "no value in the entries" "$OUT"; else
    ok "no value in the entries"; fi
if grep -qaF "青岚" "$WORK/serve.log" "$WORK/serve.err" "$ERRLOG" 2>/dev/null; then
    fail "no customer text in serve's log or any stderr"
else
    ok "no customer text in serve's log or any stderr"
fi
finish
