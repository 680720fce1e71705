#!/usr/bin/env bash
# One clock and calendar per team (issue 17 point 7), over real processes:
#  - fieldsync-server team set/show, checked (a bad zone, hours or date:
#    exit 2 naming the flag, in Chinese too) and audited;
#  - a rep whose laptop keeps its own calendar in UTC syncs and takes the
#    team's: Asia/Shanghai, a holiday on a working day. today's "as of" is
#    Beijing's time, a complaint's deadline skips the holiday, calendar and
#    status say the team's is in use;
#  - changed on the server (through the running serve), the laptop follows
#    at its next sync.
# (A session of protocol 5 gets none of it: test_sync's
# team_settings_reach_the_team_from_version_6.)
#
#   bash tests/cli/test_teamset.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_teamset.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_teamset.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-teamset-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; "$FS" --home "$WORK/zhang" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='teamset test passphrase -- 4b7c'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
export TZ=UTC # the laptop's clock and zone

run() { runc "$FS" --home "$WORK/zhang" "$@"; }
srv() { runc "$FSS" "$@"; }
beijing() { TZ=Asia/Shanghai date '+%Y-%m-%d %H:%M'; }

srv init --data "$S"
expect "server init" 0
add_users "zhang rep north" "chen rep south"

# Fixed dates in this test, on purpose: it is about a calendar (a Friday, a
# Monday holiday, week 2026-W49), so its records are stated in that week and
# judged with `today --at` / `report --at` in it, not with the clock; none is
# a visit time (the 30-day rule), and each stated time is in the past.
# ---- team set: checked, audited ----
srv team set --data "$S" --team north --tz Mars/Base
expect "an unknown zone: exit 2 naming --tz" 2 "--tz: Mars/Base is not a time zone here"
srv team set --data "$S" --team north --hours 18:00-09:00
expect "hours ending before they start: exit 2" 2 "--hours: expected HH:MM-HH:MM"
srv team set --data "$S" --team north --holiday 2026-02-30
expect "a day that does not exist: exit 2" 2 "--holiday: expected a date YYYY-MM-DD"
srv team set --data "$S" --team north --workday 2026-12-09
expect "a weekday as a day worked: exit 2" 2 "--workday: 2026-12-09 is a weekday already"
srv team set --data "$S" --team north
expect "nothing to set: exit 2" 2 "team set: give --tz"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" team set --data "$S" --team north --tz Mars/Base
expect "in Chinese: exit 2, the flag named" 2 "--tz：本机没有时区 Mars/Base（应写作 Asia/Shanghai、UTC 等）"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" team set --data "$S" --team north --holiday 2026-13-01
expect "a bad date in Chinese" 2 "--holiday：应为日期 YYYY-MM-DD（月份须为 01-12）"
srv team show --data "$S" --team north --json
equal "nothing set yet" "$OUT" '{"team": "north", "tz": null, "hours": null, "holidays": [], "workdays": [], "export_rep": null, "export_manager": null, "export_pk": null, "passphrase_min_chars": null, "passphrase_min_words": null}'

# ---- the rep's laptop: its own calendar in UTC until the team's comes ----
start_server 0
enroll_device zhang "$WORK/zhang" "ws://127.0.0.1:$PORT" --name "zhang-laptop"
run unlock
run calendar --tz UTC --hours 08:00-17:00
expect "the laptop's own calendar: UTC" 0
contains "before sync, the device's own is in use" "$OUT" "in use:        this device's own"
C=$(FIELDSYNC_PASSPHRASE= "$FS" --home "$WORK/zhang" customer add --name "北京华信" --owner zhang)
# received Friday 2026-12-04 16:00: its outcome is due within 3 working days
run complaint add --customer "${C:0:8}" --description "发货延迟" --received-at "2026-12-04 16:00"
expect "a complaint" 0
run today --at "2026-12-07 10:00" --json
contains "its own calendar: due Wednesday 17:00" "$OUT" '"rule":"complaint_outcome","status":"on time","due":"2026-12-09 17:00"'

# ---- set on the server (through the running serve) ----
# 2026-12-07 is a Monday: a holiday on a working day
srv team set --data "$S" --team north --tz Asia/Shanghai --hours 09:00-18:00 --holiday 2026-12-07
expect "team set north" 0
contains "team set shows what is set" "$OUT" "holidays:      2026-12-07"
srv team set --data "$S" --team south --tz UTC
expect "team set south" 0
srv team show --data "$S" --team north --json
equal "team show --json" "$OUT" '{"team": "north", "tz": "Asia/Shanghai", "hours": "09:00-18:00", "holidays": ["2026-12-07"], "workdays": [], "export_rep": null, "export_manager": null, "export_pk": null, "passphrase_min_chars": null, "passphrase_min_words": null}'
srv audit show --data "$S"
contains "audited: the zone" "$OUT" "team_set        operator  north  tz=Asia/Shanghai"
contains "audited: the holiday" "$OUT" "team_set        operator  north  holidays=2026-12-07"

run sync
expect "zhang syncs (the team's settings come)" 0
run calendar --json
contains "the team's calendar is in use" "$OUT" '"tz":"Asia/Shanghai","work_start":"09:00","work_end":"18:00","holidays":["2026-12-07"],"workdays":[],"source":"team","team":"north"'
run calendar
contains "calendar says which" "$OUT" "in use:        the team's (north), set on the server"
run status
contains "status says which" "$OUT" "calendar:        the team's (north), set on the server: Asia/Shanghai"
run today --at "2026-12-07 10:00" --json
contains "the deadline skips the holiday: Thursday 18:00" "$OUT" '"rule":"complaint_outcome","status":"on time","due":"2026-12-10 18:00"'
case "$OUT" in
*'"rule":"daily_plan","status":"overdue","due":"2026-12-07 09:00"'*)
    fail "no daily plan is expected on the holiday" "$OUT" ;;
*) ok "no daily plan is expected on the holiday" ;;
esac
before=$(beijing)
run today
after=$(beijing)
expect "today" 0
if grep -qF -e "as of $before" -e "as of $after" <<<"$OUT"; then
    ok "today's time is Beijing's ($after), not the laptop's UTC ($(date '+%H:%M'))"
else
    fail "today's time is Beijing's" "want as of $before or $after" "$OUT"
fi
# a form's "now" is the team's too: the default stamp, and "not in the future"
before=$(beijing)
run complaint add --customer "${C:0:8}" --description "包装破损"
after=$(beijing)
expect "a complaint received now" 0
allow_exports north # the rep's list is read into a variable (issue 20.4)
run sync
run complaint list --json
if grep -qF -e "\"received_at\":\"$before\"" -e "\"received_at\":\"$after\"" <<<"$OUT"; then
    ok "received now: stamped in Beijing time ($after)"
else
    fail "received now: stamped in Beijing time" "want $before or $after" "$OUT"
fi
run complaint add --customer "${C:0:8}" --description "另一件" --received-at "$(beijing)"
expect "Beijing's now typed on a UTC laptop is not the future" 0
later=$(TZ=Asia/Shanghai date -d '+2 hours' '+%Y-%m-%d %H:%M')
run complaint add --customer "${C:0:8}" --description "将来" --received-at "$later"
expect "two hours past Beijing's now is refused" 2 "--received-at: $later is in the future"
run calendar --tz UTC
expect "the laptop's own can still be set" 0 "serves only until the team's comes"
contains "but the team's stays in use" "$OUT" "time zone:     Asia/Shanghai"

# ---- changed on the server again ----
srv team set --data "$S" --team north --holiday 2026-12-08 --hours 09:00-17:30
expect "team set while serving" 0
contains "both holidays kept" "$OUT" "holidays:      2026-12-07,2026-12-08"
run today --at "2026-12-07 10:00" --json
contains "not before the next sync" "$OUT" '"due":"2026-12-10 18:00"'
run sync
expect "zhang syncs again" 0
run today --at "2026-12-07 10:00" --json
contains "the laptop follows: Friday 17:30" "$OUT" '"rule":"complaint_outcome","status":"on time","due":"2026-12-11 17:30"'
run calendar --json
contains "no other team's settings on the laptop" "$OUT" '"source":"team","team":"north"'

# ---- issue 17.6: a stated time is kept, and so is the recording time ----
run commitment add --customer "${C:0:8}" --text "寄样品" --due 2026-12-04
expect "a commitment due Friday 2026-12-04" 0
P=$OUT
run commitment done "${P:0:8}" --at "2026-12-04 17:00"
expect "done, stated as Friday 17:00, recorded now" 0
rec=$(beijing)
run commitment list --json
contains "the stated time kept" "$OUT" '"done_at":"2026-12-04 17:00"'
contains "the recording time kept" "$OUT" "\"done_recorded_at\":\"${rec:0:13}"
run report rep zhang --week 2026-W49 --at "2026-12-07 10:00" --json
contains "done on time, judged by the stated time" "$OUT" '"rule":"commitment_due","status":"on time","due":"2026-12-05 00:00","done":"2026-12-04 17:00"'
run commitment add --customer "${C:0:8}" --text "报价单" --due 2026-12-31
Q=$OUT
later=$(TZ=Asia/Shanghai date -d '+2 hours' '+%Y-%m-%d %H:%M')
run commitment done "${Q:0:8}" --at "$later"
expect "done --at in the future: exit 2" 2 "--at: $later is in the future"
run question add --customer "${C:0:8}" --question "交货期？" --asked-at "2026-12-05 10:00"
expect "a question asked Saturday 10:00" 0
QQ=$OUT
run question answer "${QQ:0:8}" --answer "两周" --at "2026-12-05 15:00"
expect "answered, stated as Saturday 15:00" 0
run question list --json
contains "the stated answer time kept" "$OUT" '"answered_at":"2026-12-05 15:00"'
contains "its recording time too" "$OUT" '"answered_recorded_at":"'
run question answer "${QQ:0:8}" --answer "两周" --at "2026-13-05 15:00"
expect "a bad --at: exit 2 naming it" 2 "--at"
stop_server
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" team show --data "$S" --team north
contains "team show in Chinese (run on the store)" "$OUT" "时区：      Asia/Shanghai"
contains "both holidays, in Chinese" "$OUT" "节假日：    2026-12-07,2026-12-08"
if grep -qF "发货延迟" "$WORK/serve.log" "$ERRLOG"; then
    fail "no customer text in any log"
else
    ok "no customer text in any log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
