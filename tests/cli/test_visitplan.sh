#!/usr/bin/env bash
# Issue 19.2: visits planned ahead and confirmed with the customer by the
# working day before (schema 6, `visit_plan`). Real processes on 127.0.0.1:
# a server, rep zhang, manager li.
#  - visit plan add/list/show/edit/delete/--json, visit confirm ID --how
#    [--at]; bad input refused (exit 2) naming the flag;
#  - the rule "visit confirmed 1 day before" is tracked: `today` shows a plan
#    due (due soon, then overdue past the working day before), `report
#    compliance` (text: VISITS CONFIRMED, --json: visit_confirmed) counts it;
#  - recording a visit to the customer on the plan's day closes the plan
#    (its `visit` names the visit), a plan of another day stays open;
#  - the plans reach li, who reads them and the compliance of them.
# Dates come from today (the client refuses a time 30 days away).
#
#   bash tests/cli/test_visitplan.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_visitplan.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_visitplan.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-visitplan-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='visit plan test passphrase -- 19b2'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

z() { runc "$FS" --home "$WORK/zhang" "$@"; }
li() { runc "$FS" --home "$WORK/li" "$@"; }
srv() { runc "$FSS" "$@"; }

# A Wednesday 2 to 8 days ahead, and its Tuesday (the working day before)
for i in 2 3 4 5 6 7 8; do
    if [ "$(date -d "+$i days" +%u)" = 3 ]; then
        WED=$(date -d "+$i days" +%F)
        break
    fi
done
TUE=$(date -d "$WED -1 day" +%F)
WEEK=$(date -d "$TUE" +%G-W%V)
YESTERDAY=$(date -d '-1 day' +%F)
NOW=$(date '+%Y-%m-%d %H:%M')

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
start_server 0
enroll_device zhang "$WORK/zhang" "ws://127.0.0.1:$PORT" --name zhang-laptop
enroll_device li "$WORK/li" "ws://127.0.0.1:$PORT" --name li-laptop
z whoami --set zhang
li whoami --set li
allow_exports north # the test reads lists into variables (issue 20.4)
z sync
expect "zhang takes the team's settings" 0
li sync
expect "li takes the team's settings" 0

z customer add --name "华信机电 plan test"
expect "a customer" 0
CID=$OUT

# ---- add, and bad input ----
z visit plan --customer "${CID:0:8}" --time "$WED 10:00" --place 客户办公室 --purpose 产品演示 \
    --route "地铁10号线到知春路, 步行5分钟"
expect "visit plan: planned" 0
P1=$OUT
[[ "$P1" =~ ^[0-9a-f]{32}$ ]] && ok "visit plan prints the plan's id" || fail "the plan's id" "$P1"
z visit plan --customer "${CID:0:8}" --time "$WED 10:00" --purpose 演示
expect "visit plan without --place: exit 2" 2 "--place"
z visit plan add --customer "${CID:0:8}" --time "$(date -d '+40 days' '+%Y-%m-%d 10:00')" \
    --place 北京 --purpose 演示
expect "a plan 40 days ahead without --confirm: exit 2" 2 "--confirm"
z visit plan --customer "${CID:0:8}" --time "$WED 25:00" --place 北京 --purpose 演示
expect "a time that does not exist: exit 2" 2 "--time"
z visit confirm "${P1:0:8}"
expect "visit confirm without --how: exit 2" 2 "--how"
z visit confirm "${P1:0:8}" --how 电话 --at "$(date -d '+1 day' '+%Y-%m-%d %H:%M')"
expect "a confirmation in the future: exit 2" 2 "in the future"
z visit plan list --json
equal "nothing half-saved: one plan" "$(grep -o '"id":' <<<"$OUT" | wc -l)" 1

# ---- the rule: confirmed by the working day before ----
z today --at "$TUE 10:00" --json
contains "today: the plan is due soon on the day before" "$OUT" \
    "\"rule\":\"visit_confirmed\",\"status\":\"due soon\",\"due\":\"$TUE 18:00\""
contains "today: the plan named" "$OUT" "\"table\":\"visit_plan\",\"record\":\"$P1\""
z today --at "$WED 09:00" --json
contains "today: unconfirmed on the day, overdue" "$OUT" \
    "\"rule\":\"visit_confirmed\",\"status\":\"overdue\",\"due\":\"$TUE 18:00\""
z today --at "$TUE 10:00"
contains "today's text names the rule" "$OUT" "visit confirmed with the customer"

z visit confirm "${P1:0:8}" --how "电话, 王经理" --at "$NOW"
expect "visit confirm --how --at" 0
contains "visit confirm prints the plan" "$OUT" "visit plan confirm: $P1"
z visit plan show "${P1:0:8}" --json
contains "show --json: how" "$OUT" '"confirmed_how":"电话, 王经理"'
contains "show --json: when, as stated" "$OUT" "\"confirmed_at\":\"$NOW\""
contains "show --json: the route" "$OUT" '"route_note":"地铁10号线到知春路, 步行5分钟"'
contains "show --json: open (no visit yet)" "$OUT" '"visit":null'
contains "show --json: the planner" "$OUT" '"planner":"zhang"'
z today --at "$TUE 10:00" --json
lacks "confirmed: no longer due" "$OUT" '"rule":"visit_confirmed","status":"due soon"'

z visit plan edit "${P1:0:8}" --route "换乘13号线"
expect "visit plan edit --route" 0
z visit plan show "${P1:0:8}"
contains "show: the route edited" "$OUT" "换乘13号线"
runc "$FS" --home "$WORK/zhang" --lang zh visit plan show "${P1:0:8}"
contains "show in Chinese: the field's name" "$OUT" "路线备注"

# ---- a visit on the plan's day closes it ----
z visit plan --customer "${CID:0:8}" --time "$YESTERDAY 15:00" --place 工厂 --purpose 验收
expect "a plan for yesterday" 0
P2=$OUT
z visit add --customer "${CID:0:8}" --time "$YESTERDAY 15:40" --place 工厂 --purpose 验收 \
    --notes "plan test visit"
expect "the visit of that day" 0
V=$OUT
z visit plan show "${P2:0:8}" --json
contains "the visit closed yesterday's plan" "$OUT" "\"visit\":\"$V\""
z visit plan show "${P1:0:8}" --json
contains "the plan of another day stays open" "$OUT" '"visit":null'
z visit plan list
contains "list: the plans" "$OUT" "${P2:0:8}"

# ---- to the manager ----
z sync
expect "zhang syncs" 0
li sync
expect "li syncs" 0
li visit plan list --json
contains "li holds zhang's confirmed plan" "$OUT" "\"id\":\"$P1\""
contains "li holds the closed plan" "$OUT" "\"visit\":\"$V\""
li report compliance --week "$WEEK" --at "$WED 12:00" --json
contains "compliance --json: the confirmation on time" "$OUT" \
    '"visit_confirmed":{"on_time":1,"due_soon":0,"overdue":0,"missed":0}'
li report compliance --week "$WEEK" --at "$WED 12:00"
contains "compliance: the column" "$OUT" "VISITS CONFIRMED"
contains "compliance: 1 of 1 confirmed in time" "$OUT" "1/1"
# yesterday's plan, closed by the visit but never confirmed: missed (not
# overdue for ever), in the days that hold its deadline
li report compliance --days 10 --json
MISSED=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1])["reps"][0]["rules"]["visit_confirmed"]; print(r["missed"], r["overdue"])' "$OUT")
equal "compliance: the closed, unconfirmed plan is missed" "$MISSED" "1 0"
z today --json
lacks "today: a closed plan is not due any more" "$OUT" "\"record\":\"$P2\""

# ---- delete ----
z visit plan delete "${P2:0:8}"
expect "visit plan delete" 0
z visit plan list --json
lacks "the deleted plan is gone" "$OUT" "\"id\":\"$P2\""

stop_server
grep -qF -- 'plan test visit' "$WORK/serve.log" "$ERRLOG" &&
    fail "no customer text in the logs or messages" ||
    ok "no customer text in the logs or messages"
finish
