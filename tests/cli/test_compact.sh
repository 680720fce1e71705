#!/usr/bin/env bash
# Feed compaction (issue 21.1) with real processes on 127.0.0.1: zhang's
# laptop edits a customer's fields ten times, syncing each time, while his
# second laptop (behind, with an edit of one field unsent) and the
# manager's laptop (behind) wait; `fieldsync-server compact --keep-days 0`
# through the running serve; then every device syncs from where it was and
# all hold the same customer, the unsent edit a conflict on every device, no
# other conflict; a new device of the manager's pulls one change per field.
# With 300 more visits (seeded by tests/bigseed.c) the feed has more rows
# than one step takes (256): through serve the command runs step by step.
# A bad --keep-days is refused; compact on the stopped store works too.
#
#   bash tests/cli/test_compact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_compact.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_compact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
SEED=${3:?usage: test_compact.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-compact-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='compact test passphrase -- 3c9d'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
S=$WORK/server
HA=$WORK/laptop # zhang's laptop
HB=$WORK/second # zhang's second laptop, behind
HL=$WORK/li     # the manager, behind
HN=$WORK/li-new # the manager's new device
run() { runc "$FS" "$@"; }
open_conflicts() { # HOME
    "$FS" --home "$1" conflict list --json | grep -oF '"id":' | wc -l
}
customer() { # HOME: the customer as listed
    "$FS" --home "$1" customer list --json | grep -oE '"(name|industry|preferences)":"[^"]*"' | sort
}

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north"
allow_exports north
start_server 0
URL="ws://127.0.0.1:$PORT"
enroll_device zhang "$HA" "$URL"
enroll_device zhang "$HB" "$URL"
enroll_device li "$HL" "$URL"
C=$("$FS" --home "$HA" customer add --name "青岚仪器")
runc "$SEED" "$HA" "$C" 300 1 40 compact
expect "300 visits seeded on the laptop" 0
for h in "$HA" "$HB" "$HL"; do
    run --home "$h" sync
    expect "first sync $(basename "$h")" 0
done
run --home "$HB" customer edit --customer "$C" --industry "second laptop's unsent word"
expect "the second laptop edits offline" 0
sleep 0.01
for k in 1 2 3 4 5 6 7 8 9 10; do
    run --home "$HA" customer edit --customer "$C" --industry "仪器 v$k" --preferences "电话 v$k"
    [ "$RC" -eq 0 ] || fail "edit $k" "$ERR"
    run --home "$HA" sync
    [ "$RC" -eq 0 ] || fail "sync after edit $k" "$ERR"
done
ok "ten edits of two fields synced one by one"

runc "$FSS" compact --data "$S" --keep-days x
expect "a bad --keep-days: status 2" 2 "--keep-days: expected a whole number of days"
runc "$FSS" compact --data "$S" --keep-days 0
expect "compact through the running serve" 0
contains "it says what it dropped" "$OUT" "compacted the feed in"
rows=$(grep -oE '[0-9]+ rows' <<<"$OUT" | cut -d' ' -f1)
if [ "${rows:-0}" -gt 256 ]; then ok "more rows than a step takes ($rows): several steps"; else
    fail "more rows than a step takes" "$OUT"; fi
contains "serve ran it" "$(cat "$WORK/serve.err")" "control: compact done (ok)"
dropped=$(grep -oE '[0-9]+ changes dropped' <<<"$OUT" | cut -d' ' -f1)
runc "$FSS" audit show --data "$S"
contains "the compaction is audited, by the operator, with its counts" "$OUT" \
    "operator  -  horizon="
contains "the changes it dropped" "$OUT" "changes_dropped=$dropped "
if [ "${dropped:-0}" -ge 18 ]; then ok "at least 18 superseded changes dropped ($dropped)"; else
    fail "at least 18 superseded changes dropped" "$OUT"; fi

for h in "$HL" "$HB" "$HA" "$HL" "$HB"; do
    run --home "$h" sync
    [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] || fail "sync $(basename "$h") after the compaction" "$ERR"
done
want=$(customer "$HA")
contains "the laptop holds the last edit" "$want" '"industry":"仪器 v10"'
equal "the manager holds the laptop's customer" "$(customer "$HL")" "$want"
equal "the second laptop too" "$(customer "$HB")" "$want"
equal "one conflict on the second laptop (its unsent word lost)" "$(open_conflicts "$HB")" 1
run --home "$HB" conflict list --json
contains "with its value" "$OUT" "second laptop's unsent word"
equal "the same one on the manager's laptop" "$(open_conflicts "$HL")" 1
equal "and on zhang's laptop" "$(open_conflicts "$HA")" 1
enroll_device li "$HN" "$URL"
equal "a new device of the manager's holds the same customer" "$(customer "$HN")" "$want"
equal "and the one conflict" "$(open_conflicts "$HN")" 1
equal "and the 300 visits" "$("$FS" --home "$HN" visit list --json | grep -oF '"recorded_at":' | wc -l)" 300
stop_server
runc "$FSS" compact --data "$S"
expect "compact on the stopped store (the default 30 days: nothing that old)" 0
contains "it reports" "$OUT" "0 changes dropped"
if grep -qaF "青岚" "$WORK/serve.log" "$ERRLOG" 2>/dev/null; then
    fail "no customer text in serve's log or any stderr"
else
    ok "no customer text in serve's log or any stderr"
fi
finish
