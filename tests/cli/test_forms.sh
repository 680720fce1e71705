#!/usr/bin/env bash
# Every handbook form from the command line: add (by flags, or asked for on
# a terminal), list, show, --json, the state changes, and bad input named by
# its flag with nothing half-saved. Then the weekly plan's round trip
# through a real server on 127.0.0.1: the rep submits, the manager approves,
# the rep sees it; a rep cannot approve.
#
#   bash tests/cli/test_forms.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_forms.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_forms.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-forms-XXXXXX")
ERRLOG=$WORK/all-stderr
H=$WORK/zhang
S=$WORK/server
trap 'stop_server_now; for h in "$H" "$WORK"/li "$WORK"/z2; do "$FS" --home "$h" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='forms test passphrase -- 44b1'
unset FIELDSYNC_HOME
run() { runc "$FS" --home "$H" "$@"; }
count() { # GROUP: records listed by GROUP list --json
    run "$1" list --json
    grep -oE '"id":"[0-9a-f]{32}"' <<<"$OUT" | wc -l
}

# ---- help for every group of forms ----
for g in daily spotcheck plan commitment complaint; do
    runc "$FS" "$g" --help
    expect "$g --help exits 0" 0
    contains "$g --help lists its commands" "$OUT" "  $g "
done
runc "$FS" daily help
contains "daily help too" "$OUT" "daily summary"

run init
expect "init" 0
run unlock
C=$("$FS" --home "$H" customer add --name "XX科技有限公司" --key-account)

# ---- the user name signs the forms ----
run plan add --from 2023-10-09 --to 2023-10-15 --goals "g"
expect "a signed form needs the user name" 2 "whoami --set"
run whoami
expect "whoami with no name" 1 "whoami --set"
run whoami --set zhang
expect "whoami --set" 0
run whoami
equal "whoami" "$OUT" "zhang"

# ---- free text from standard input (issue 17.9): never in argv ----
NOTES='客户要求三年维保，
并希望下周提供报价'
OUT=$("$FS" --home "$H" visit add --customer "${C:0:8}" --time "$(date '+%Y-%m-%d') 10:00" \
    --place 会议室 --purpose 演示 --notes - 2>"$WORK/err" <<<"$NOTES")
RC=$? ERR=$(<"$WORK/err")
expect "visit add --notes -: the notes from standard input" 0
VS=$OUT
run visit show "${VS:0:8}" --json
contains "the notes are the two lines read, line end and all" "$OUT" '"notes":"客户要求三年维保，\n并希望下周提供报价"'
OUT=$("$FS" --home "$H" visit add --customer "${C:0:8}" --time "$(date '+%Y-%m-%d') 10:00" \
    --place - --purpose 演示 --notes - 2>"$WORK/err" <<<"x")
RC=$? ERR=$(<"$WORK/err")
expect "two fields as '-': refused" 2 "only one field can be read from standard input"
OUT=$(head -c 70000 /dev/zero | tr '\0' 'a' | "$FS" --home "$H" visit add --customer "${C:0:8}" \
    --time "$(date '+%Y-%m-%d') 10:00" --place p --purpose p --notes - 2>"$WORK/err")
RC=$? ERR=$(<"$WORK/err")
expect "more than a field holds from standard input: refused" 2 "more than 65536 bytes"

# ---- every form: add, list, show ----
run contact add --customer "${C:0:8}" --name "王经理" --position "采购总监" --phone "+86 10 1234"
expect "contact add" 0
K=$OUT
run contact list
contains "contact list shows the customer by name" "$OUT" "XX科技有限公司"
contains "and the contact, CJK intact" "$OUT" "采购总监"
run contact show "${K:0:8}" --json
contains "contact show --json" "$OUT" '"name":"王经理"'

run commitment add --customer "${C:0:8}" --text "send 3 success cases" --due 2023-10-12
expect "commitment add" 0
CM=$OUT
run commitment replied "$CM"
expect "replied needs a done commitment" 2 "must be done"
run commitment done "$CM" --replied no
expect "commitment done" 0
run commitment show "$CM" --json
contains "done with the time" "$OUT" '"status":"done"'
contains "and no reply yet" "$OUT" '"customer_replied":false'
run commitment cancel "$CM"
expect "a done commitment cannot be cancelled" 2 "it must be open"
run commitment replied "$CM"
expect "the customer replied" 0
run commitment add --customer "${C:0:8}" --text "SLA" --due 2023-10-20
run commitment cancel "$OUT"
expect "commitment cancel" 0

run plan add --from 2023-10-09 --to 2023-10-15 --goals "sign 2 new customers" \
    --help-needed "tech team: demo environment by 10-10" \
    --task "2023-10-10|visit XX Tech, demo|15:00-16:00" --task "2023-10-11|collect 300k CNY"
expect "plan add with two tasks" 0
P=$OUT
run plan show "${P:0:8}"
contains "plan show lists its tasks" "$OUT" "visit XX Tech, demo"
contains "with the expected time" "$OUT" "15:00-16:00"
run plan approve "$P"
expect "a draft cannot be approved" 2 "must be submitted"
run plan submit "$P"
expect "plan submit" 0
run plan approve "$P"
expect "nor approved by its own rep" 2 "a supervisor does this"

run daily plan --date 2023-10-10 --visits "XX Tech 15:00" --key-tasks "demo"
expect "daily plan" 0
run daily summary --date 2023-10-10 --content "demo done; SLA asked"
expect "daily summary" 0
equal "daily list holds both" "$(count daily)" 2

run selfcheck add --date 2023-10-10 --appearance yes --communication no --communication-fix \
    "did not over-promise on SLA" --data-management yes --teamwork yes --todos yes
expect "selfcheck add" 0
run selfcheck show "$OUT" --json
contains "a no with its measure" "$OUT" '"communication":false,"communication_fix":"did not over-promise on SLA"'

run complaint add --customer "${C:0:8}" --description "late delivery" --received-at "2023-10-13 16:00"
expect "complaint add" 0
CP=$OUT
run complaint outcome "$CP" --outcome "replacement shipped" --satisfaction 6
expect "satisfaction out of range" 2 "--satisfaction"
run complaint outcome "$CP" --outcome "replacement shipped" --satisfaction 4
expect "complaint outcome" 0
run complaint show "$CP" --json
contains "the first receiver owns it" "$OUT" '"owner":"zhang"'

run request add --customer "${C:0:8}" --description "SSO" --confirmed-at "2023-10-13 10:00" \
    --signed-document "REQ-2023-17 signed"
expect "request add" 0
run acceptance add --customer "${C:0:8}" --delivered 2023-10-09
expect "acceptance add" 0
run acceptance collect "$OUT" --date 2023-10-16 --documents "signed acceptance"
expect "acceptance collect" 0
run marketing add --event 2023-10-16 --goal "launch seminar" --budget "20k CNY"
expect "marketing add" 0
run question add --customer "${C:0:8}" --question "24h support?" --asked-at "2023-10-10 14:00"
expect "question add" 0
Q=$OUT
run complaint list
contains "complaint list says what the complaint is" "$OUT" "late delivery"
run question list
contains "question list says what was asked" "$OUT" "24h support?"
run question answer "$Q" --answer "yes, with the SLA"
expect "question answer" 0
run spotcheck add --rep wang --table visit --record "${CM:0:8}" --accurate yes
expect "a record of the wrong kind" 2 "--record: no visit"
run spotcheck add --rep wang --table commitment --record "${CM:0:8}" --accurate yes
expect "spotcheck add" 0
run spotcheck add --table commitment --record "${CM:0:8}" --accurate yes
expect "a record of a customer without an owner needs --rep" 2 "give --rep"
run customer add --name "Spot Check Co." --owner zhang
SC=$OUT
run contact add --customer "${SC:0:8}" --name "Ms. Li"
SK=$OUT
run spotcheck add --rep wang --table contact --record "${SK:0:8}" --accurate no
expect "a spot-check under another rep than the record's" 2 "--rep: that contact is zhang's record"
run spotcheck add --table contact --record "${SK:0:8}" --accurate no
expect "spotcheck add without --rep" 0
run spotcheck show "$OUT" --json
contains "its rep comes from the record" "$OUT" '"rep":"zhang"'
run customer show "${C:0:8}"
contains "customer show: each field by its form's label, no hint" \
    "$(grep -E '^Key account +yes$' <<<"$OUT")" "yes"

# ---- bad input: named, nothing half-saved ----
before=$(count plan)
run plan add --from 2023-10-16 --to 2023-10-22 --goals g --task "2023-10-17|ok" --task "2023-13-01|bad"
expect "a bad task date" 2 "--task"
equal "no plan half-saved" "$(count plan)" "$before"
run plan add --from 2023-10-16 --to 2023-10-22 --goals g --task "no date here"
expect "a task without its parts" 2 "--task #1"
run contact add --customer "${C:0:8}" </dev/null
expect "a missing required field, not on a terminal" 2 "--name is required"
run contact add --customer ffffffff --name x
expect "an unknown customer" 2 "--customer: no customer"
run selfcheck add --appearance maybe --communication yes --data-management yes --teamwork yes --todos yes
expect "yes or no" 2 "--appearance: expected yes or no"
run selfcheck add --appearance yes --communication yes --data-management no --teamwork yes --todos yes </dev/null
expect "a no without its measure" 2 "--data-management-fix is required"
run complaint add --customer "${C:0:8}" --description d --received-at "2023-10-13"
expect "a date where a time is due" 2 "--received-at"
run spotcheck add --rep wang --table invoice --record "${CM:0:8}" --accurate yes
expect "an unknown record kind" 2 "--table: expected one of"
run plan frob "$P"
expect "an unknown action" 2 "submit, approve, return"
run commitment done ffffff
expect "an unknown id" 2 "no commitment"

# ---- asked for on a terminal ----
if command -v python3 >/dev/null; then
    pty_run "Name: " "李四" "$FS" --home "$H" contact add --customer "${C:0:8}"
    equal "a missing name is asked for on a terminal" "$RC" 0
    run contact list --json
    contains "and saved as typed" "$OUT" '"name":"李四"'

    # The whole complaint asked for: its time checked as typed ("not in the
    # future" is the form's own check), refused, asked for again, kept.
    LATER=$(date -u -d '+2 days' '+%Y-%m-%d 10:00')
    EARLIER=$(date -u -d '2 days ago' '+%Y/%m/%d 9:05')
    DIALOG=$(printf '%s\t%s\n' "Customer (id or name): " "XX科技" "The complaint: " "发票开错了" \
        "Received (YYYY-MM-DD HH:MM) (Enter for now): " "$LATER" \
        "Received (YYYY-MM-DD HH:MM) (Enter for now): " "$EARLIER")
    DIALOG=$DIALOG pty_dialog "$FS" --home "$H" complaint add
    equal "a complaint asked for whole at the terminal" "$RC" 0
    contains "a time in the future is refused as typed" "$TTY" "--received-at: $LATER is in the future"
    run complaint list --json
    contains "and the time typed again is kept, in its one form" "$OUT" \
        "\"received_at\":\"$(date -u -d '2 days ago' +%F) 09:05\""
    # A self-check corrected at the terminal: a yes turned no asks for its
    # improvement measure as needed (Enter alone is asked again).
    run selfcheck add --date 2023-10-11 --appearance yes --communication yes \
        --data-management yes --teamwork yes --todos yes
    SC=$OUT
    DIALOG=$(printf '%s\t%s\n' "CRM updated in time, data true (yes/no) [yes] (Enter keeps it): " "否" \
        "Data management: improvement measure: " "" \
        "Data management: improvement measure: " "update the CRM the same day")
    DIALOG=$DIALOG pty_dialog "$FS" --home "$H" selfcheck edit "${SC:0:8}"
    equal "a self-check corrected at the terminal" "$RC" 0
    run selfcheck show "$SC" --json
    contains "the no kept with the measure asked for" "$OUT" \
        '"data_management":false,"data_management_fix":"update the CRM the same day"'
    # A weekly plan asked for whole: its tasks column by column; a "|" in a
    # task's words (where the option splits) is refused and asked again.
    DIALOG=$(printf '%s\t%s\n' "Week from (YYYY-MM-DD): " "2023-10-16" \
        "Week to (YYYY-MM-DD): " "2023-10-22" "Core goals of the week: " "renew two contracts" \
        "A task's date (YYYY-MM-DD), one at a time (Enter when done): " "2023-10-17" \
        "Task: " "call A|B" "Task: " "call A or B" \
        "Expected time (e.g. 15:00-16:00) (Enter to skip): " "10:00-11:00")
    DIALOG=$DIALOG pty_dialog "$FS" --home "$H" plan add
    equal "a plan asked for whole at the terminal" "$RC" 0
    contains "a | in a task's words is refused" "$TTY" '--task: "|" separates an item'"'"'s parts'
    run plan show "$(grep -o '[0-9a-f]\{32\}' <<<"$TTY" | tail -n 1)"
    contains "the task kept as typed again, with its time" "$(grep 'call A or B' <<<"$OUT")" \
        "10:00-11:00"
    lacks "and not as typed first" "$OUT" "call A|B"
    # An action given nothing asks which record, a promise by its words.
    run commitment add --customer "${C:0:8}" --text "send the signed quotation" --due 2023-10-12
    CM2=$OUT
    DIALOG=$(printf '%s\t%s\n' "Which commitment (its id, or a name): " "signed quotation")
    DIALOG=$DIALOG pty_dialog "$FS" --home "$H" commitment done
    equal "commitment done asks which promise on a terminal" "$RC" 0
    run commitment show "$CM2" --json
    contains "and marks the one named done" "$OUT" '"status":"done"'
else
    echo "SKIP the terminal prompt: python3 is missing"
fi

# ---- the plan's round trip through the server ----
"$FSS" init --data "$S" >/dev/null 2>>"$ERRLOG"
"$FSS" user add --data "$S" --name zhang --role rep --team north >/dev/null
"$FSS" user add --data "$S" --name li --role manager --team north >/dev/null
start_server 0
for u in zhang li; do
    code=$("$FSS" enroll-code --data "$S" --user "$u" | tail -n 1)
    h=$WORK/$u
    [ "$u" = zhang ] && h=$WORK/z2
    runc "$FS" --home "$h" enroll --server "ws://127.0.0.1:$PORT" --code "$code"
    expect "$u enrolls" 0
    runc "$FS" --home "$h" unlock
    runc "$FS" --home "$h" whoami --set "$u"
done
runc "$FS" --home "$WORK/z2" plan add --from 2023-10-09 --to 2023-10-15 --goals "sign 2" --task "2023-10-10|demo"
P2=$OUT
runc "$FS" --home "$WORK/z2" plan submit "$P2"
runc "$FS" --home "$WORK/z2" sync
expect "zhang syncs his submitted plan" 0
runc "$FS" --home "$WORK/li" sync
runc "$FS" --home "$WORK/li" plan approve "$P2"
expect "li approves it" 0
runc "$FS" --home "$WORK/li" sync
expect "li syncs the approval" 0
runc "$FS" --home "$WORK/z2" sync
runc "$FS" --home "$WORK/z2" plan show "$P2" --json
contains "zhang sees it approved" "$OUT" '"status":"approved"'
contains "signed by li" "$OUT" '"approved_by":"li"'
runc "$FS" --home "$WORK/z2" plan show "$P2"
contains "with its task" "$OUT" "demo"
stop_server

run lock
hits=$(grep -rlaF -e "XX科技" -e "王经理" "$S" "$WORK/serve.log" 2>/dev/null)
equal "no customer text in the store or the server's log" "$hits" ""
finish
