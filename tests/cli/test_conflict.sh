#!/usr/bin/env bash
# Conflicts can be decided (issue 16, point 6), with real processes on
# 127.0.0.1: two devices of one rep and their manager's; the same field
# edited on both devices before they sync makes a conflict; `conflict
# resolve` on one device decides it (--keep mine, --keep theirs, --value);
# after a sync every replica holds the same value and none lists the
# conflict. Then what is refused, and how it is said.
#
#   bash tests/cli/test_conflict.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_conflict.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_conflict.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-conflict-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='conflict test passphrase -- 0b7e'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
S=$WORK/server
HA=$WORK/laptop # zhang's laptop
HB=$WORK/phone  # zhang's second device
HL=$WORK/li     # the manager
run() { runc "$FS" "$@"; }
field() { # HOME FIELD: the customer's FIELD as JSON text
    "$FS" --home "$1" customer list --json | grep -oE "\"$2\":(\"([^\"\\\\]|\\\\.)*\"|null)"
}
open_conflicts() { # HOME: the number of open conflicts
    "$FS" --home "$1" conflict list --json | grep -oF '"id":' | wc -l
}
sync_all() {
    local h
    for h in "$HA" "$HB" "$HA" "$HL"; do
        run --home "$h" sync
        expect "sync $(basename "$h")" 0
    done
}
# conflict_on FIELD VALUE-A VALUE-B: both devices edit FIELD before syncing
# (B later, so B's value is kept); sets CONF to the conflict's id.
conflict_on() {
    run --home "$HA" customer edit --customer "$C" "--$1" "$2"
    expect "the laptop writes $1" 0
    sleep 0.01
    run --home "$HB" customer edit --customer "$C" "--$1" "$3"
    expect "the phone writes $1" 0
    sync_all
    run --home "$HA" conflict list --json
    CONF=$(grep -oE '"id":"[0-9a-f]{32}"' <<<"$OUT" | head -n 1 | cut -d'"' -f4)
    equal "one open conflict on the laptop" "$(open_conflicts "$HA")" 1
    equal "and on the phone" "$(open_conflicts "$HB")" 1
}
# decided WANT: every replica holds WANT and lists no conflict.
decided() {
    local h
    run --home "$HL" sync # a decision the manager made goes up first
    sync_all
    for h in "$HA" "$HB" "$HL"; do
        equal "$(basename "$h") lists no conflict" "$(open_conflicts "$h")" 0
        equal "$(basename "$h") holds the decided value" "$(field "$h" "$FIELD")" "$1"
    done
}

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north"
start_server 0
URL="ws://127.0.0.1:$PORT"
enroll_device zhang "$HA" "$URL"
enroll_device zhang "$HB" "$URL"
enroll_device li "$HL" "$URL"
C=$(FIELDSYNC_PASSPHRASE=$FIELDSYNC_PASSPHRASE "$FS" --home "$HA" customer add --name "青岚仪器")
sync_all

# ---- --keep mine on the device whose value lost ----
FIELD=industry
conflict_on industry "logistics (laptop)" "retail (phone)"
run --home "$HA" conflict resolve "${CONF:0:8}" --keep mine
expect "resolve --keep mine on the laptop" 0
contains "it says what the field holds again" "$OUT" 'is "logistics (laptop)" again'
equal "the laptop's inbox is empty at once" "$(open_conflicts "$HA")" 0
decided '"industry":"logistics (laptop)"'

# ---- --keep theirs on the device whose value won ----
FIELD=name
conflict_on name "青岚仪器 (laptop)" "青岚仪器有限公司 (phone)"
run --home "$HB" conflict resolve "$CONF" --keep theirs
expect "resolve --keep theirs on the phone" 0
decided '"name":"青岚仪器 (laptop)"'

# ---- --value: a third value ----
FIELD=industry
conflict_on industry "instruments" "lab equipment"
run --home "$HA" conflict resolve "$CONF" --value "instruments and lab equipment, 仪器"
expect "resolve --value on the laptop" 0
decided '"industry":"instruments and lab equipment, 仪器"'

# ---- the manager's device, which wrote neither ----
FIELD=name
conflict_on name "Qinglan (laptop)" "Qinglan Instruments (phone)"
run --home "$HL" sync
run --home "$HL" conflict resolve "$CONF" --keep mine
expect "--keep mine where neither value is this device's: status 2" 2 "this device wrote neither value"
run --home "$HL" conflict resolve "$CONF" --keep lost
expect "the manager restores the lost value" 0
decided '"name":"Qinglan (laptop)"'

# ---- refused, and said so ----
run --home "$HA" conflict resolve "$CONF" --keep mine
expect "a conflict decided already: status 2" 2 "is decided already"
run --home "$HA" conflict resolve
expect "no id: status 2" 2 "give the conflict's id first"
run --home "$HA" conflict resolve 0123456789 --keep mine
expect "an unknown id: status 2" 2 "ID"
run --home "$HA" conflict resolve "$CONF"
expect "neither --keep nor --value: status 2" 2 "give either --keep mine|theirs or --value V"
run --home "$HA" conflict resolve "$CONF" --keep mine --value x
expect "both: status 2" 2 "give either --keep mine|theirs or --value V"
run --home "$HA" conflict resolve "$CONF" --keep both
expect "--keep both: status 2" 2 "--keep: expected mine or theirs"
run --home "$HA" conflict resolve --help
expect "conflict resolve --help" 0

stop_server
finish
