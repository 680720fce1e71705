#!/usr/bin/env bash
# What a careful supervisor would refuse (issue 17, point 5): each bad
# input of the issue's list is refused with exit 2 and a message naming the
# flag and the rule, and nothing is saved; the right input next to it is
# accepted.
#
#   bash tests/cli/test_validation.sh path/to/fieldsync
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_validation.sh path/to/fieldsync}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-validation-XXXXXX")
ERRLOG=$WORK/all-stderr
H=$WORK/zhang
trap '"$FS" --home "$H" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='validation test passphrase -- 19f4'
unset FIELDSYNC_HOME
run() { runc "$FS" --home "$H" "$@"; }
count() { # GROUP: records listed by GROUP list --json
    "$FS" --home "$H" "$1" list --json | grep -oE '"id":"[0-9a-f]{32}"' | wc -l
}
TODAY=$(date '+%Y-%m-%d')
TOMORROW=$(date -d tomorrow '+%Y-%m-%d')

run init
expect "init" 0
run unlock
run whoami --set zhang
run customer add --name "北京华信科技"
expect "a customer" 0
C=$OUT

# ---- the same customer name twice ----
run customer add --name "北京华信科技"
expect "the same customer name again: exit 2" 2 "--name: a customer of that name is recorded already"
run customer add --name "北京华信科技" --duplicate
expect "with --duplicate: another company of that name" 0
equal "two customers, not three" "$(count customer)" 2
run customer add --name "acme"
run customer add --name "ACME"
expect "a name differing only in the case of its Latin letters is the same" 2 "--name"

# ---- a plan's period, and its tasks within it ----
# Fixed dates here and in the acceptance's below: these rules compare the
# dates given with each other, not with today, and the messages quoted hold
# them; no 30-day rule applies to a plan or an acceptance.
run plan add --from 2026-12-13 --to 2026-12-07 --goals "sign 2"
expect "a plan ending before it starts: exit 2" 2 "--to: 2026-12-07 is before --from 2026-12-13"
run plan add --from 2026-12-07 --to 2026-12-13 --goals "sign 2" --task "2026-12-20|visit|1h"
expect "a task outside the plan's period: exit 2" 2 \
    '--task #1: its date "2026-12-20" is outside the period 2026-12-07 .. 2026-12-13'
equal "no plan was saved" "$(count plan)" 0
run plan add --from 2026-12-07 --to 2026-12-13 --goals "sign 2" --task "2026-12-13|visit|1h"
expect "a task on the period's last day is within it" 0
P=$OUT
# one weekly plan a week: a second one over any of its days is a slip
run plan add --from 2026-12-10 --to 2026-12-16 --goals "sign 3"
expect "a second plan over days of the first: exit 2" 2 \
    "--from: zhang has a weekly plan for 2026-12-07 to 2026-12-13 already (${P:0:8}): correct that one with 'plan edit ${P:0:8}'"
run plan add --from 2026-12-14 --to 2026-12-20 --goals "sign 3"
expect "the next week's plan" 0
P2=$OUT
run plan edit "${P2:0:8}" --from 2026-12-13
expect "an edit moving it onto a day of the first: exit 2" 2 \
    "--from: zhang has a weekly plan for 2026-12-07 to 2026-12-13 already"
run plan edit "${P:0:8}" --to 2026-12-13 --goals "sign 2 new"
expect "an edit of the first within its own days" 0
equal "two plans" "$(count plan)" 2

# ---- nothing received, asked or collected in the future ----
run complaint add --customer "$C" --description "late" --received-at "$TOMORROW 10:00"
expect "a complaint received tomorrow: exit 2" 2 "--received-at: $TOMORROW 10:00 is in the future"
run question add --customer "$C" --question "SLA?" --asked-at "$TOMORROW 09:00"
expect "a question asked tomorrow: exit 2" 2 "--asked-at"
run request add --customer "$C" --description "report" --confirmed-at "$TOMORROW 09:00" \
    --signed-document "scan-1"
expect "a requirement confirmed tomorrow: exit 2" 2 "--confirmed-at"
run complaint add --customer "$C" --description "late" --received-at "$TODAY 00:00"
expect "a complaint received today" 0

# ---- acceptance after delivery ----
run acceptance add --customer "$C" --delivered 2026-12-04 --collected 2026-12-01
expect "documents collected before the delivery: exit 2" 2 \
    "--collected: 2026-12-01 is before --delivered 2026-12-04"
run acceptance add --customer "$C" --delivered "$TOMORROW" --collected "$TOMORROW"
expect "documents collected tomorrow: exit 2" 2 "--collected: $TOMORROW is in the future"
equal "no acceptance was saved" "$(count acceptance)" 0

# ---- one daily plan, summary and self-check per rep and day ----
run daily plan --visits "华信 15:00"
expect "today's daily plan" 0
run daily plan --visits "again"
expect "a second daily plan for today: exit 2" 2 "--date: zhang has a daily plan for $TODAY already"
run daily summary --content "done"
expect "the summary is another kind: accepted" 0
run daily summary --content "again"
expect "a second summary: exit 2" 2 "daily summary for $TODAY already"
run daily plan --date "$(rel_day '5 days ago')" --visits "another day"
expect "a daily plan for another day" 0
run selfcheck add --appearance yes --communication yes --data-management yes --teamwork yes --todos yes
expect "today's self-check" 0
run selfcheck add --appearance yes --communication yes --data-management yes --teamwork yes --todos yes
expect "a second self-check: exit 2" 2 "--date: zhang has a selfcheck for $TODAY already"

# ---- phone numbers and e-mail addresses ----
run contact add --customer "$C" --name 王芳 --email 不是邮箱
expect "an e-mail address that is not one: exit 2" 2 \
    '--email: expected an e-mail address as name@example.com, got "不是邮箱"'
run contact add --customer "$C" --name 王芳 --phone abc
expect "a phone number without digits: exit 2" 2 '--phone: expected a phone number'
run contact add --customer "$C" --name 王芳 --phone "138 0013" --email "wang@@huaxin.cn"
expect "an address with two @: exit 2" 2 "--email"
equal "no contact was saved" "$(count contact)" 0
run contact add --customer "$C" --name 王芳 --phone "+86 (10) 6552-1234" --email wang.fang@huaxin.com.cn
expect "a phone number and an address as written" 0
finish
