#!/usr/bin/env bash
# Records by name (issue 17, point 2): every option that takes a customer,
# contact, commitment, visit (its notes, or its customer's name), plan (its
# goals), deal, question or complaint takes part of its name as well as an
# id prefix (Chinese as typed, Traditional and
# Simplified alike, Latin letters in any case); a name that fits several
# lists them and exits 2; an exact name wins over longer ones; a name that
# fits none says so, naming what was typed.
#
#   bash tests/cli/test_names.sh path/to/fieldsync
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_names.sh path/to/fieldsync}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-names-XXXXXX")
ERRLOG=$WORK/all-stderr
H=$WORK/zhang
trap '"$FS" --home "$H" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='names test passphrase -- 7c2e'
unset FIELDSYNC_HOME
run() { runc "$FS" --home "$H" "$@"; }

run init
expect "init" 0
run unlock
run whoami --set zhang
BJ=$("$FS" --home "$H" customer add --name "北京华信科技有限公司")
SH=$("$FS" --home "$H" customer add --name "上海华信")
HX=$("$FS" --home "$H" customer add --name "华信")
AC=$("$FS" --home "$H" customer add --name "Acme Trading")
# dates from today (rel_day): a visit more than 30 days away is refused
D3=$(rel_day '3 days ago') D5=$(rel_day 'yesterday') D10=$(rel_day '+4 days')
PMON=$(rel_day 'next monday')
PFRI=$(rel_day "$PMON +4 days")

run visit add --customer "北京华信" --time "$D3 10:00" --place 会议室 --purpose 演示 \
    --notes "谈了报价" --commit "周五前发报价单|$D5"
expect "visit add --customer by part of a Chinese name" 0
VISIT=$OUT
run visit show "$VISIT" --json
contains "the visit is the customer's named" "$OUT" "\"customer\":\"$BJ\""

run visit add --customer "华信科" --time "$D3 11:00" --place x --purpose x --notes x
expect "another part of the same name" 0
run visit show "$OUT" --json
contains "finds the same customer" "$OUT" "\"customer\":\"$BJ\""

run visit add --customer "华信" --time "$D3 12:00" --place x --purpose x --notes x
expect "an exact name wins over the longer names holding it" 0
run visit show "$OUT" --json
contains "the customer named exactly 华信" "$OUT" "\"customer\":\"$HX\""

run visit add --customer "华" --time "$D3 12:00" --place x --purpose x --notes x
expect "a name that fits several: exit 2" 2 '3 customer records match "华"'
contains "each candidate is listed by id and name" "$ERR" "${SH:0:8}  上海华信"
contains "and the next" "$ERR" "${BJ:0:8}  北京华信科技有限公司"
n_before=$("$FS" --home "$H" visit list --json | grep -oF '"recorded_at":' | wc -l)
equal "nothing was recorded by the ambiguous command" "$n_before" 3

run contact add --customer "acme" --name "王芳" --phone "+86 138 0000 0000"
expect "contact add --customer, Latin in another case" 0
run contact list --json
contains "the contact is Acme's" "$OUT" "\"customer\":\"$AC\""

run customer edit --customer "上海华信" --industry 制造
expect "customer edit --customer by its name" 0
run customer show "上海华信" --json
contains "customer show by its name" "$OUT" '"industry":"制造"'

run visit add --customer "广州" --time "$D3 12:00" --place x --purpose x --notes x
expect "a name that fits none: exit 2, naming what was typed" 2 \
    'no customer with the id or name "广州"'

run commitment done "报价单"
expect "commitment done, named by part of its text" 0
run commitment list --json
contains "the commitment is done" "$OUT" '"status":"done"'

# A visit by part of its notes, a plan by part of its goals; Traditional
# typed for Simplified text (and the other way round) finds it.
run commitment add --customer "北京華信" --text "寄样品" --due "$D10" --visit "談了報價"
expect "commitment add --visit by part of the visit's notes, in Traditional" 0
run commitment show "$OUT" --json
contains "the commitment is that visit's" "$OUT" "\"visit\":\"$VISIT\""
run plan add --from "$PMON" --to "$PFRI" --goals "拿下華東區三家新客戶"
expect "a weekly plan" 0
PLAN=$OUT
run plan show "华东区" --json
expect "plan show by part of its goals, in Simplified" 0
contains "finds the plan" "$OUT" "\"id\":\"$PLAN\""
run visit show "x" --json
expect "a visit named by text that fits several: exit 2" 2 "visit records match"

run visit add --customer "${AC:0:8}" --time "$D3 12:00" --place x --purpose x --notes x
expect "an id prefix still works" 0
run visit add --customer "" --time "$D3 12:00" --place x --purpose x --notes x
expect "an empty reference: exit 2" 2 "--customer"

# A record about a customer by its customer's name too: a visit (shown by
# its time and customer), a question or a commitment (by its words and
# customer); a contact, a person, by its own name only.
run visit show "acme" --json
expect "the one visit to Acme, by its customer's name" 0
contains "it is that visit" "$OUT" "\"customer\":\"$AC\""
run question add --customer "Acme" --question "能否三周交货？"
expect "a question from Acme" 0
run question answer "ACME" --answer "可以"
expect "question answer, named by its customer" 0
run question show "三周" --json
contains "found by its words: answered" "$OUT" '"answer":"可以"'
run commitment done "北京华信"
expect "two commitments to 北京华信: exit 2" 2 "2 commitment records match"
contains "each listed with its words and customer" "$ERR" "寄样品 · 北京华信科技有限公司"
run contact show "acme"
expect "a contact is not found by its customer's name" 2 'no contact with the id or name "acme"'
# On a terminal, customer show goes on with the work done with the customer;
# to a pipe (a list of records: the export gate) the fields alone.
pty_run "never asked" "" "$FS" --home "$H" customer show 北京华信
equal "customer show on a terminal" "$RC" 0
contains "the customer's visits, the latest first" "$TTY" "visits:"
contains "each with its notes" "$TTY" "谈了报价"
contains "its open commitments" "$TTY" "open commitments:"
contains "the one still open" "$TTY" "寄样品"
lacks "not the one done" "$TTY" "周五前发报价单"
run customer show 北京华信
expect "customer show to a pipe" 0
lacks "to a pipe, the fields alone" "$OUT" "visits:"
run plan show "ZHANG" --json
expect "a weekly plan by its rep's name, as a manager names it" 0
contains "that plan" "$OUT" "\"id\":\"$PLAN\""
run plan add --from "$(rel_day "$PMON +7 days")" --to "$(rel_day "$PMON +11 days")" --goals "回款"
run plan show "zhang"
expect "two of zhang's plans: exit 2" 2 "2 weekly plan records match"
contains "each by its week, rep and goals" "$ERR" "${PLAN:0:8}  $PMON..$PFRI zhang · 拿下華東區三家新客戶"
finish
