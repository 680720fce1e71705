#!/usr/bin/env bash
# The rules engine's views from the command line: today, report compliance
# and report rep, judged at fixed moments (--at) on a fixture recorded with
# the CLI; the calendar options; bad input named by its flag.
#
#   bash tests/cli/test_views.sh path/to/fieldsync
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_views.sh path/to/fieldsync}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-views-XXXXXX")
ERRLOG=$WORK/all-stderr
H=$WORK/rep
trap '"$FS" --home "$H" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
export FIELDSYNC_PASSPHRASE='views test passphrase -- 9d1e'
unset FIELDSYNC_HOME
run() { runc "$FS" --home "$H" "$@"; }
jnum() { # KEY JSON: the first number after "KEY":
    grep -oE "\"$1\":\\{[^}]*\\}" <<<"$2" | head -n 1
}

run init
expect "init" 0
run unlock
C=$(FIELDSYNC_PASSPHRASE= "$FS" --home "$H" customer add --name "XX科技有限公司" --key-account --owner zhang)
run visit add --customer "$C" --time "2023-10-10 14:00" --confirm --place "客户会议室" --purpose "demo" \
    --notes "budget 500k-800k CNY" --commit "send 3 cases|2023-10-12" --commit "SLA|2023-10-18"
expect "the handbook's example visit" 0

# ---- today ----
run today --at "2023-10-12 10:00"
expect "today" 0
# A commitment due on a date is due by the end of that day, shown as the
# date; the line says what was promised, and to whom.
contains "the commitment due today is due soon" "$OUT" "DUE SOON  2023-10-12        send 3 cases"
contains "today's daily plan is overdue after 09:00" "$OUT" "OVERDUE   2023-10-12 09:00"
contains "the later commitment is listed as promised" "$OUT" "on time   2023-10-18        SLA"
contains "today names the customer" "$(grep -F "send 3 cases" <<<"$OUT")" "XX科技有限公司"
run today --at "2023-10-13 00:01" --json
expect "today --json" 0
contains "a minute after the due day it is overdue" "$OUT" '"rule":"commitment_due","status":"overdue","due":"2023-10-13 00:00"'
run today --at "2023年10月12日 8:59" --json
contains "at 08:59 the plan is due soon" "$OUT" '"rule":"daily_plan","status":"due soon","due":"2023-10-12 09:00"'
# The quarter's survey of a key account is about the customer: named, and
# its record is the customer's (not a survey's id).
run today --at "2023-12-20 10:00" --json
expect "today in the quarter's last weeks" 0
SURVEY=$(python3 -c 'import json,sys; print(json.dumps([[f["table"], f["record"], f["customer"]] for f in json.loads(sys.argv[1]) if f["rule"] == "satisfaction_survey"], ensure_ascii=False))' "$OUT")
equal "the survey due names its customer" "$SURVEY" "[[\"customer\", \"$C\", \"XX科技有限公司\"]]"
run today --at "2023-12-20 10:00"
contains "and so does its line" "$(grep -F "satisfaction survey" <<<"$OUT")" "XX科技有限公司"

# ---- report compliance, the week of 2023-10-09, Friday evening ----
run report compliance --week 2023-W41 --at "2023-10-13 20:00" --json
expect "report compliance --json" 0
J=$OUT
contains "the week's dates" "$J" '"team":null,"week":"2023-W41","from":"2023-10-09","to":"2023-10-15"'
contains "5 daily plans overdue" "$(jnum daily_plan "$J")" '"overdue":5'
contains "the 10-12 commitment overdue" "$(jnum commitment_due "$J")" '"overdue":1'
contains "the key account visited this month" "$(jnum key_account_monthly "$J")" '"on_time":1'
contains "the 2023 visit recorded today is late" "$(jnum contact_recorded "$J")" '"missed":1'
contains "no spot-checks: accuracy unknown" "$J" '"meets_98_percent":null'
run report compliance --week 2023-W41 --at "2023-10-13 20:00" --holiday 2023/10/11
contains "a holiday expects no plan: 0/4" "$OUT" "0/4"
run report compliance --week 2023-W41 --at "2023-10-13 20:00"
contains "the table names the rep" "$OUT" "zhang"
contains "and says no spot-check" "$OUT" "NO"

run report compliance --days 7 --at "2023-10-13 20:00" --json
contains "--days: the 7 days up to the moment" "$OUT" '"team":null,"week":"last 7 days","from":"2023-10-07","to":"2023-10-13"'
run report compliance --days 0
expect "--days 0" 2 "--days:"
run report compliance --days 7 --week 2023-W41
expect "--days with --week" 2 "--days:"

# ---- report rep ----
run report rep zhang --week 2023-W41 --at "2023-10-13 20:00" --hours 09:00-17:00 --json
expect "report rep --json" 0
contains "working hours move the summary's deadline" "$OUT" '"rule":"daily_summary","status":"overdue","due":"2023-10-09 17:00"'
run report rep nobody --week 2023-W41 --at "2023-10-13 20:00" --json
contains "a rep without records: the expected daily records only" "$OUT" '"rule":"daily_plan"'
lacks=$(grep -c '"rule":"commitment_due"' <<<"$OUT")
equal "and none of zhang's commitments" "$lacks" 0
run report rep zhang --week 2023-W41 --tz Asia/Shanghai --at "2023-10-13 20:00"
expect "report rep with a time zone" 0

# ---- the calendar kept on the device ----
run calendar
contains "the default calendar" "$OUT" "09:00-18:00, Monday to Friday"
run calendar --tz UTC --hours 08:30-17:30 --holiday 2023年10月11日
expect "calendar set, the holiday written 2023年10月11日" 0
run calendar --json
equal "calendar --json" "$OUT" '{"tz":"UTC","work_start":"08:30","work_end":"17:30","holidays":["2023-10-11"],"workdays":[],"source":"device","team":null}'
run report compliance --week 2023-W41 --at "2023-10-13 20:00"
contains "the stored holiday applies: 0/4" "$OUT" "0/4"
run report rep zhang --week 2023-W41 --at "2023-10-13 20:00" --json
contains "the stored hours apply" "$OUT" '"rule":"daily_summary","status":"overdue","due":"2023-10-09 17:30"'
run report rep zhang --week 2023-W41 --at "2023-10-13 20:00" --hours 09:00-18:00 --json
contains "a flag overrides them" "$OUT" '"due":"2023-10-09 18:00"'
run calendar --clear-holidays --tz Nowhere/Land
expect "a bad zone changes nothing" 2 "--tz:"
run calendar --clear-holidays
run calendar --json
contains "holidays cleared, the rest kept" "$OUT" '"tz":"UTC","work_start":"08:30","work_end":"17:30","holidays":[]'

# ---- the team ----
run whoami --set li --team north
expect "whoami with a team" 0
run whoami --json
equal "whoami --json: no role before the server says it" "$OUT" '{"user":"li","team":"north","role":null}'
run report compliance --team south
expect "another team's report is not on this device" 2 "--team: this device holds team north"
run report compliance --team north --week 2023-W41 --at "2023-10-13 20:00" --json
contains "the report names the team" "$OUT" '"team":"north"'

# ---- asked for on a terminal ----
if command -v python3 >/dev/null; then
    # Nothing on the command line (nor in the shell's history): every field
    # is asked for, in the form's order; the optional ones may be skipped.
    DIALOG=$(printf '%s\t%s\n' "Company name: " "江南物流 (Jiangnan Logistics)" \
        "Key account (yes/no, Enter for no): " "maybe" \
        "Key account (yes/no, Enter for no): " "是" \
        "Industry (Enter to skip): " "冷链物流")
    DIALOG=$DIALOG pty_dialog "$FS" --home "$H" customer add
    equal "customer add asks for the whole form on a terminal" "$RC" 0
    contains "a yes/no answered otherwise is asked again" "$TTY" "--key-account: expected yes or no"
    contains "the optional fields are asked for" "$TTY" "Open questions from the last contact (Enter to skip): "
    run customer list --json
    contains "and saves it" "$OUT" "江南物流 (Jiangnan Logistics)"
    J=$(printf '%s' "$OUT" | python3 -c 'import json,sys
c=[x for x in json.load(sys.stdin) if x["name"].startswith("江南物流")][0]
print(c.get("key_account"), c.get("industry"), c.get("size"))')
    equal "the answers typed are kept, a skipped one left empty" "$J" "True 冷链物流 None"
else
    echo "SKIP the terminal prompt: python3 is missing"
fi

# ---- bad input ----
run report compliance --tz Mars/Olympus
expect "an unknown zone" 2 "--tz:"
run report compliance --hours 18:00-09:00
expect "hours ending before they start" 2 "--hours:"
run report compliance --holiday 2023-02-30
expect "a holiday that is no date" 2 "--holiday:"
run report compliance --week 2023-W53
expect "a week 2023 does not have" 2 "--week:"
run report compliance --week 2020-W53 --at "2021-01-01 10:00"
expect "a week 53 that exists" 0
run today --at "2023-10-12 25:00"
expect "a bad --at" 2 "--at:"
run report rep
expect "report rep without a name" 2 "name"
run report
expect "report without a subcommand" 2 "compliance, rep"
run today --week 2023-W41
expect "today takes no --week" 2 "--week"

run lock
finish
