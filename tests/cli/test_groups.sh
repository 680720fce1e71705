#!/usr/bin/env bash
# Columns that belong together are decided together (issue 25, finding 7),
# with real processes on 127.0.0.1: two laptops of one rep, their
# manager's, and a laptop enrolled at the end (what the server holds). One
# laptop marks a commitment done while the other cancels it; after every
# replica syncs, each holds one writer's record whole (never "cancelled"
# with the other's done_at) and the lost values are listed as conflicts.
# Both ways round: the later write wins, whichever it is.
#
#   bash tests/cli/test_groups.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_groups.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_groups.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-groups-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='groups test passphrase -- 5c21'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
S=$WORK/server
HA=$WORK/laptop # zhang's laptop
HB=$WORK/second # zhang's second laptop
HL=$WORK/li     # the manager
HN=$WORK/new    # the manager's laptop enrolled at the end: the server's record
run() { runc "$FS" "$@"; }
group() { # HOME ID: the commitment's status and done_at, as JSON
    "$FS" --home "$1" commitment show "$2" --json | grep -oE '"(status|done_at)":(null|"[^"]*")' |
        tr '\n' ' '
}
conflicts() { # HOME: the open conflicts, as JSON
    "$FS" --home "$1" conflict list --json
}
sync_all() {
    local h round
    for round in 1 2; do # the second round carries the conflict records
        for h in "$HA" "$HB" "$HL"; do
            run --home "$h" sync
            expect "sync $(basename "$h")" 0
        done
    done
}

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north"
allow_exports north # the test reads conflict lists into variables (issue 20.4)
start_server 0
URL="ws://127.0.0.1:$PORT"
enroll_device zhang "$HA" "$URL"
enroll_device zhang "$HB" "$URL"
enroll_device li "$HL" "$URL"
run --home "$HA" customer add --name "青岚仪器"
expect "customer add" 0
C=$OUT
run --home "$HA" commitment add --customer "${C:0:8}" --text "send 3 success cases" --due "$(rel_day '+6 days')" # dated from today (rel_day)
expect "a commitment" 0
CM1=$OUT
run --home "$HA" commitment add --customer "${C:0:8}" --text "报价单" --due "$(rel_day '+8 days')"
expect "another" 0
CM2=$OUT
sync_all

# ---- the finding: done on the laptop, then cancelled on the second ----
run --home "$HA" commitment done "${CM1:0:8}" --replied no
expect "the laptop marks it done" 0
sleep 0.05 # the second laptop's write is the later one
run --home "$HB" commitment cancel "${CM1:0:8}"
expect "the second laptop cancels it" 0
# ---- the other way round: cancelled first, done later ----
run --home "$HB" commitment cancel "${CM2:0:8}"
expect "the second laptop cancels the other" 0
sleep 0.05
run --home "$HA" commitment done "${CM2:0:8}" --replied no
expect "the laptop marks it done later" 0
DONE_AT=$("$FS" --home "$HA" commitment show "$CM2" --json | grep -oE '"done_at":"[^"]*"')
sync_all
enroll_device li "$HN" "$URL"
run --home "$HN" sync
expect "sync the laptop enrolled at the end" 0

for h in "$HA" "$HB" "$HL" "$HN"; do
    n=$(basename "$h")
    equal "$n: the cancel won, without a done_at" "$(group "$h" "$CM1")" \
        '"status":"cancelled" "done_at":null '
    equal "$n: the later done won, with its done_at" "$(group "$h" "$CM2")" \
        "\"status\":\"done\" $DONE_AT "
done
for h in "$HA" "$HB" "$HL"; do
    n=$(basename "$h")
    OUT=$(conflicts "$h")
    contains "$n lists the lost done" "$OUT" '"done"'
    contains "$n lists the lost cancel" "$OUT" '"cancelled"'
done

stop_server
finish
