#!/usr/bin/env bash
# Attribution from the first record (issue 16, point 5), with real processes
# on 127.0.0.1:
#  - a laptop that never enrolled: `whoami --set zhang`, a visit 4 days ago
#    with a commitment due 3 days ago, the customer recorded before the name
#    was set: `today` and `today --json` list the overdue commitment with its
#    text, customer name and due date, and `report rep zhang` has it;
#  - enrolling sets the device's user and team from the server (READY,
#    protocol version 3): `today` works right after, `whoami` names them;
#  - a local name that differs from the server's: enroll says so, and the
#    records made under it reach the server under the server's name (the
#    manager sees them, nothing is refused);
#  - a device learns its user again at each sync (`whoami --set` of another
#    name is put back by the next sync).
#
#   bash tests/cli/test_attribution.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_attribution.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_attribution.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-attribution-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='attribution test passphrase -- 51c2'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
S=$WORK/server
HN=$WORK/never  # never enrolled
HZ=$WORK/zhang  # enrolls as zhangwei after working as "zhang"
HL=$WORK/li     # the manager
run() { runc "$FS" "$@"; }

VISIT_AT=$(date -d '4 days ago' '+%Y-%m-%d 10:00')
DUE=$(date -d '3 days ago' '+%Y-%m-%d')
DUE_AT="$(date -d "$DUE + 1 day" '+%Y-%m-%d') 00:00" # due by the end of that day

# ---- a laptop that never enrolled ----
run --home "$HN" init
expect "init" 0
# The customer before the name: its owner stays empty on the device.
C=$(FIELDSYNC_PASSPHRASE=$FIELDSYNC_PASSPHRASE "$FS" --home "$HN" customer add --name "XX科技有限公司")
run --home "$HN" whoami --set zhang
expect "whoami --set zhang" 0
run --home "$HN" visit add --customer "$C" --time "$VISIT_AT" --place "客户会议室" \
    --purpose demo --notes "budget 500k" --commit "send 3 success cases|$DUE"
expect "a visit 4 days ago, a commitment due 3 days ago" 0
run --home "$HN" today
expect "today" 0
LINE=$(grep -F "send 3 success cases" <<<"$OUT")
# the status column is as wide as its widest word: "DUE SOON" (another
# rule's, between 17:00 and 18:00) widens it by one
if grep -qE "^OVERDUE +$DUE +send 3 success cases" <<<"$LINE"; then
    ok "today lists the overdue commitment in its words, on its due date"
else
    fail "today lists the overdue commitment in its words, on its due date" "in: $LINE"
fi
contains "and names its customer" "$LINE" "XX科技有限公司"
lacks=$(grep -c "nothing due" <<<"$OUT")
equal "today does not say nothing is due" "$lacks" 0
run --home "$HN" today --json
expect "today --json" 0
contains "today --json: the commitment, its due date, text and customer" "$OUT" \
    "\"rule\":\"commitment_due\",\"status\":\"overdue\",\"due\":\"$DUE_AT\",\"rep\":\"zhang\",\"made_by\":null,\"table\":\"commitment\""
contains "today --json: the commitment's text" "$OUT" '"text":"send 3 success cases","customer":"XX科技有限公司"'
# The weekly spot-check is a supervisor's to do, never on a rep's list.
n=$(grep -c '"rule":"spot_check_weekly"' <<<"$OUT")
equal "a rep's today leaves the supervisor's weekly spot-check out" "$n" 0
run --home "$HN" report rep zhang --json
expect "report rep zhang" 0
contains "report rep zhang lists the commitment" "$OUT" "\"rule\":\"commitment_due\",\"status\":\"overdue\",\"due\":\"$DUE_AT\""

# ---- the server ----
runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhangwei rep east" "li manager east"
allow_exports east # the test reads lists into variables (issue 20.4)
start_server 0
URL="ws://127.0.0.1:$PORT"

# ---- enrolling sets the user: no whoami needed ----
enroll_device li "$HL" "$URL"
contains "enroll names the user, team and role" "$OUT" "this device's user: li (team east, manager)"
run --home "$HL" whoami
equal "whoami after enrolling" "$OUT" "li (team east, manager)"
run --home "$HL" whoami --json
contains "whoami --json names the role" "$OUT" '"role":"manager"'
# in Chinese, as whoami says it (it said "（团队 east, manager）")
code=$("$FSS" enroll-code --data "$S" --user li | tail -n 1)
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/li-zh" enroll --server "$URL" <<<"$code"
expect "li enrolls a second laptop in Chinese" 0
contains "enroll names the user, team and role in Chinese" "$OUT" "本设备的用户：li（团队 east，经理）"
run --home "$HL" today
expect "today right after enrolling works" 0
# The role comes from the server (protocol version 4): a manager whose
# laptop holds nobody's records yet still gives a customer to a rep,
# where guessing from the records held would have taken them for a rep.
run --home "$HL" sync
expect "li syncs: nothing of the team yet" 0
run --home "$HL" customer add --name "华信测控" --owner zhangwei
expect "a manager with an empty laptop records a customer for a rep" 0

# ---- a local name other than the server's ----
run --home "$HZ" init
expect "zhang's laptop" 0
run --home "$HZ" whoami --set zhang
C2=$(FIELDSYNC_PASSPHRASE=$FIELDSYNC_PASSPHRASE "$FS" --home "$HZ" customer add --name "青岚仪器")
run --home "$HZ" visit add --customer "$C2" --time "$VISIT_AT" --place "会议室" \
    --purpose demo --notes "pilot" --commit "send the SLA|$DUE"
expect "a visit before enrolling" 0
run --home "$HZ" customer list --json
contains "the customer is zhang's on the device" "$OUT" '"owner":"zhang"'
enroll_device zhangwei "$HZ" "$URL"
contains "enroll: the server's user" "$OUT" "this device's user: zhangwei (team east, rep)"
contains "enroll: says the local name was another" "$OUT" \
    "note: the name set on this device was zhang, not zhangwei"
run --home "$HZ" customer list --json
contains "the customer now belongs to zhangwei" "$OUT" '"owner":"zhangwei"'
run --home "$HZ" status --json
contains "nothing refused" "$OUT" '"refused_count":0'
contains "nothing pending" "$OUT" '"pending":0'
run --home "$HL" sync
expect "the manager syncs" 0
run --home "$HL" customer list --json
contains "the manager sees the customer under zhangwei" "$OUT" '"name":"青岚仪器"'
contains "with its owner zhangwei" "$OUT" '"owner":"zhangwei"'
run --home "$HL" report rep zhangwei --json
contains "the manager's report charges the commitment to zhangwei" "$OUT" \
    "\"rule\":\"commitment_due\",\"status\":\"overdue\",\"due\":\"$DUE_AT\""
run --home "$HL" today --json
contains "the manager's today lists the weekly spot-check of zhangwei's records" "$OUT" \
    '"rule":"spot_check_weekly"'
contains "under zhangwei" "$(tr '}' '\n' <<<"$OUT" | grep spot_check_weekly)" '"rep":"zhangwei"'

# ---- learnt again at each sync ----
run --home "$HZ" whoami --set somebody
expect "whoami --set another name" 0 "its next sync sets the user name and team the server knows it by"
run --home "$HZ" sync
expect "sync" 0
run --home "$HZ" whoami
equal "the sync puts the server's user back" "$OUT" "zhangwei (team east, rep)"
run --home "$HZ" customer list --json
contains "and leaves the synced records alone" "$OUT" '"owner":"zhangwei"'

stop_server
finish
