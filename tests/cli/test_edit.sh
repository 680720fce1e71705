#!/usr/bin/env bash
# Correcting records (issue 17 point 3), with real processes on 127.0.0.1:
# a rep's two laptops and the manager's. The rep moves a visit mistyped in
# 2031 to its right date and deletes a contact: both reach the manager's
# replica (the visit's new date, the contact gone). history lists who
# changed which field when, in English and in JSON, on both devices. The
# record rules refuse, with exit 2 and the rule named: editing or deleting
# a submitted plan, deleting a customer other records name (unless
# --with-records), a bad value, nothing to change. Forced through an older
# path (the rep's second laptop still holds the plan as a draft) the edit
# is refused by the server (sync exit 3) and the manager keeps the
# submitted text; once the manager returns the plan the rep's edit goes
# through. A deleted commitment leaves `today`; a customer deleted with its
# records leaves the manager's lists.
#
#   bash tests/cli/test_edit.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_edit.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_edit.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-edit-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='edit test passphrase -- 7d3e'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
S=$WORK/server
HZ=$WORK/zhang   # zhang's laptop
HZ2=$WORK/zhang2 # zhang's second laptop
HL=$WORK/li      # the manager
run() { runc "$FS" "$@"; }
z() { run --home "$HZ" "$@"; }
li() { run --home "$HL" "$@"; }
lacks() { # NAME HAYSTACK NEEDLE
    if grep -qF -- "$3" <<<"$2"; then fail "$1" "found: $3" "in: $(head -c 2000 <<<"$2")"; else ok "$1"; fi
}

# ---- help ----
for g in visit contact plan daily; do
    run "$g" edit --help
    expect "$g edit --help exits 0" 0
    contains "$g edit --help shows add's options" "$OUT" "$g "
    run "$g" delete --help
    expect "$g delete --help exits 0" 0
    contains "$g delete --help names --with-records" "$OUT" "--with-records"
done
run contact --help
contains "contact --help lists edit and delete" "$OUT" "contact edit ID"
for g in visit customer; do
    run "$g" frob
    expect "$g frob: the subcommands named include edit and delete" 2 "delete (see"
    contains "$g frob: and edit" "$ERR" "edit"
done
run history --help
expect "history --help exits 0" 0
run help
contains "help lists history" "$OUT" "history ID [--json]"

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north"
start_server 0
URL="ws://127.0.0.1:$PORT"
enroll_device zhang "$HZ" "$URL"
enroll_device zhang "$HZ2" "$URL"
enroll_device li "$HL" "$URL"

# ---- a visit mistyped as 2031, a contact ----
z customer add --name "北京华信"
expect "customer add" 0
C=$OUT
z contact add --customer 北京华信 --name "王经理" --phone "138 0000 0000"
expect "contact add" 0
K=$OUT
# customer edit takes the customer as every other kind's edit takes its record
z customer edit 华信 --industry 软件
expect "customer edit NAME, as visit edit ID: accepted" 0
z customer list --json
contains "the industry is set" "$OUT" '"industry":"软件"'
# 17.5: a visit time more than 30 days away, past or future, needs --confirm
z visit add --customer 北京华信 --time "2031-12-01 15:00" --place 北京 --purpose 演示 --notes 谈了价格
expect "visit add in 2031 without --confirm: refused (exit 2)" 2 \
    "--time: 2031-12-01 15:00 is more than 30 days from now"
contains "the refusal names the way through" "$ERR" "only with --confirm"
z visit list --json
lacks "nothing was saved" "$OUT" "2031-12-01"
run --lang zh --home "$HZ" visit add --customer 北京华信 --time "1999-12-01 15:00" --place 北京 \
    --purpose 演示 --notes 谈了价格
expect "the past too, in Chinese (exit 2)" 2 "--time：1999-12-01 15:00 距现在超过 30 天"
z visit add --customer 北京华信 --time "2031-12-01 15:00" --place 北京 --purpose 演示 \
    --notes 谈了价格 --confirm
expect "visit add (2031, mistyped) with --confirm" 0
V=$OUT
z sync
expect "zhang syncs" 0
li sync
expect "li syncs" 0
li visit list --json
contains "li sees the visit in 2031" "$OUT" '"time":"2031-12-01 15:00"'

# ---- edit and delete, synced to the manager ----
z visit edit "${V:0:8}" --notes 谈了价格
expect "an edit that leaves a far time as it is needs no --confirm" 0
z visit edit "${V:0:8}" --time "2032-01-01 15:00"
expect "an edit to another far time needs --confirm (exit 2)" 2 \
    "--time: 2032-01-01 15:00 is more than 30 days from now"
FIXED="$(date -d '5 days ago' +%Y-%m-%d) 15:00"
z visit edit "${V:0:8}" --time "$FIXED"
expect "visit edit --time" 0
z visit show "${V:0:8}" --json
contains "the visit's new date" "$OUT" "\"time\":\"$FIXED\""
contains "its notes unchanged" "$OUT" '"notes":"谈了价格"'
z contact delete "${K:0:8}"
expect "contact delete" 0
z contact list --json
lacks "the contact leaves zhang's list" "$OUT" "$K"
z sync
expect "zhang syncs the edit and the delete" 0
li sync
expect "li syncs" 0
li visit list --json
contains "li's replica has the right date" "$OUT" "\"time\":\"$FIXED\""
lacks "and not 2031" "$OUT" '2031-12-01'
li contact list --json
lacks "li's replica lost the contact" "$OUT" "$K"

# ---- history ----
z history "${V:0:8}"
expect "history of the visit" 0
contains "names the field by its label" "$OUT" "Visit time"
contains "the old value" "$OUT" "2031-12-01 15:00"
last=$(tail -n 1 <<<"$OUT")
contains "newest last: the new date" "$last" "$FIXED"
contains "by zhang" "$last" "zhang"
# a correction of the customer's words comes from standard input, as add
# takes them ("-" is never stored as the words)
z visit edit "${V:0:8}" --notes - <<<"谈了价格；更正：预算 50-80 万"
expect "visit edit --notes - (standard input)" 0
z visit show "${V:0:8}" --json
contains "the notes read from standard input" "$OUT" '"notes":"谈了价格；更正：预算 50-80 万"'
z customer edit 北京华信 --history - <<<"合作三年"
expect "customer edit --history - (standard input)" 0
z customer show 北京华信 --json
contains "the customer's history read from standard input" "$OUT" '"history":"合作三年"'
z visit edit "${V:0:8}" --notes - --place - <<<"x"
expect "two fields from standard input: refused" 2 "only one field can be read from standard input"
z history "${K:0:8}" --json
expect "history of the deleted contact, JSON" 0
contains "its deletion" "$OUT" '"field":"deleted","label":"Deleted","value":true'
contains "its name as written" "$OUT" '"field":"name","label":"Name","value":"王经理"'
li history "${V:0:8}" --json
expect "history on the manager's laptop" 0
contains "the date zhang's laptop wrote, its label without a hint" "$OUT" "\"this_device\":false,\"user\":null,\"field\":\"time\",\"label\":\"Visit time\",\"value\":\"$FIXED\""
run --home "$HZ" --lang zh history "${V:0:8}"
contains "labels translated" "$OUT" "拜访时间"
z history 000000
expect "history of no record" 2
# A record by its name, as a rep names it: one visit to 北京华信 so far.
z visit show 北京华信 --json
expect "visit show by its customer's name" 0
contains "the visit to 北京华信" "$OUT" "\"id\":\"$V\""
z history 华信
expect "history by a name two records hold (exit 2)" 2 "2 records match"
contains "the customer listed, with its kind" "$ERR" "${C:0:8}  customer  北京华信"
contains "the visit listed by its time and customer" "$ERR" "${V:0:8}  visit  $FIXED 北京华信"
z history 谈了价
expect "history by a part of the visit's notes" 0
contains "the visit's history" "$OUT" "Visit time"
z history 上海某某
expect "history of no such name (exit 2)" 2 "no record with the id or name \"上海某某\""
z visit edit 33e8 --place x
expect "four digits are no id (exit 2)" 2 "an id needs at least 6 of its hex digits"

# ---- refusals on the device, exit 2, the rule named ----
z visit edit "${V:0:8}"
expect "edit with nothing to change" 2 "nothing to change"
z contact add --customer 北京华信 --name "李工"
K2=$OUT
z contact edit "${K2:0:8}" --email "不是邮箱"
expect "edit checks values as add does" 2 "--email"
z visit edit "${V:0:8}" --place ""
expect "a required field is not cleared" 2 "--place"
z customer delete "${C:0:8}"
expect "a customer with visits is not deleted alone" 2 "--with-records"
# next week's plan, Monday to Sunday, dated from today (rel_day)
PMON=$(rel_day 'next monday')
PSUN=$(rel_day "$PMON +6 days") PTUE=$(rel_day "$PMON +1 day") PWED=$(rel_day "$PMON +2 days")
z plan add --from "$PMON" --to "$PSUN" --goals "拜访3家新客户" --task "$PTUE|演示"
expect "plan add" 0
P=$OUT
z plan edit "${P:0:8}" --to "$(rel_day "$PMON -1 day")"
expect "edit keeps the plan's dates in order" 2 "--to"
z sync
run --home "$HZ2" sync
expect "the second laptop gets the draft" 0
z plan submit "${P:0:8}"
expect "plan submit" 0
z sync
expect "zhang syncs the submitted plan" 0
z plan edit "${P:0:8}" --goals "改了"
expect "a submitted plan is not edited" 2 "until the manager returns it"
z plan delete "${P:0:8}"
expect "nor deleted" 2 "until the manager returns it"

# ---- forced through an older path: the server refuses ----
run --home "$HZ2" plan edit "${P:0:8}" --goals "离线改的"
expect "the second laptop, still holding a draft, edits it" 0
run --home "$HZ2" sync
expect "the server refuses the edit of a submitted plan" 3
run --home "$HZ2" refused list
contains "kept as refused" "$OUT" "goals"
li sync
li plan show "${P:0:8}" --json
contains "the manager keeps the submitted goals" "$OUT" '"goals":"拜访3家新客户"'

# ---- returned: the rep's to edit again ----
li plan return "${P:0:8}" --comment "多约两家"
expect "li returns the plan" 0
li sync
z sync
z plan edit "${P:0:8}" --goals "拜访5家新客户" --task "$PWED|报价"
expect "a returned plan is edited" 0
z sync
expect "and synced" 0
li sync
li plan show "${P:0:8}" --json
contains "the manager sees the new goals" "$OUT" '"goals":"拜访5家新客户"'
li plan show "${P:0:8}"
contains "and the new task" "$OUT" "报价"
lacks "not the old one" "$OUT" "演示"

# ---- deleted records leave today and the lists ----
z commitment add --customer 北京华信 --text "寄样品" --due "$(date -u +%F)"
CM=$OUT
z today --json
contains "today shows the commitment" "$OUT" "${CM:0:8}"
z commitment delete "${CM:0:8}"
expect "commitment delete" 0
z today --json
lacks "and no longer" "$OUT" "${CM:0:8}"
z customer delete "${C:0:8}" --with-records
expect "a customer deleted with its records" 0 ""
contains "says how many went with it" "$OUT" "records that named it"
z sync
expect "synced" 0
li sync
li customer list --json
lacks "the customer leaves the manager's list" "$OUT" "$C"
li visit list --json
lacks "and its visit" "$OUT" "$V"
li history "${C:0:8}"
expect "a deleted customer still has a history" 0
contains "its deletion" "$OUT" "Deleted"

# ---- a deletion undone ----
# The customer deleted by mistake comes back, as it was, on both laptops;
# the visit deleted with it stays deleted until undeleted too.
z undelete "${C:0:8}"
expect "undelete the customer, by the id delete printed" 0
equal "to a pipe: the id alone" "$OUT" "$C"
z customer show "${C:0:8}" --json
contains "the customer as it was" "$OUT" '"name":"北京华信"'
z undelete "${C:0:8}"
expect "a record that is not deleted: refused (exit 2)" 2 "is not deleted"
z undelete "${V:0:8}"
expect "its visit too" 0
z undelete 000000
expect "no such record (exit 2)" 2 "no record with id 000000"
z sync
expect "the undeletions sync" 0
li sync
li customer list --json
contains "the customer is back in the manager's list" "$OUT" "$C"
li visit list --json
contains "and its visit" "$OUT" "$V"
li search 北京华信 --kind customer --json
contains "found again by the manager's search" "$OUT" "$C"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$HZ" undelete "${C:0:8}"
expect "in Chinese" 2 "没有被删除"

# ---- corrected at the terminal ----
# An edit given nothing asks which record, then each field with its value
# now: Enter keeps it, a new value replaces it, - empties an optional one
# and is refused for one the record needs.
z visit show "${V:0:8}" --json
BEFORE=$OUT
DIALOG=$(printf '%s\t%s\n' "Which visit to correct (its id, or a name): " "${V:0:8}" \
    "Visit time (YYYY-MM-DD HH:MM) [" "明天上午9点" "Place [" "上海浦东" \
    "Purpose [" "-" "Purpose [" "" "Contact person (Enter to skip): " "王经理")
DIALOG=$DIALOG pty_dialog "$FS" --home "$HZ" visit edit
equal "a visit corrected field by field at the terminal" "$RC" 0
contains "each field shows its value now" "$TTY" "Place [北京] (Enter keeps it): "
contains "a needed field is not emptied" "$TTY" "--purpose: must not be empty"
contains "the correction is said" "$TTY" "visit changed: $V"
z visit show "${V:0:8}" --json
contains "the place typed is kept" "$OUT" '"place":"上海浦东"'
contains "the time in words, in its one form" "$OUT" "\"time\":\"$(date -u -d tomorrow +%F) 09:00\""
contains "a field that was empty filled" "$OUT" '"contact":"王经理"'
contains "Enter kept the purpose" "$OUT" "$(grep -o '"purpose":"[^"]*"' <<<"$BEFORE")"
contains "and the notes" "$OUT" "$(grep -o '"notes":"[^"]*"' <<<"$BEFORE")"
DIALOG=$(printf '%s\t%s\n' "Contact person [王经理] (Enter keeps it, - clears it): " "-")
DIALOG=$DIALOG pty_dialog "$FS" --home "$HZ" visit edit "${V:0:8}"
equal "corrected again" "$RC" 0
z visit show "${V:0:8}" --json
contains "- emptied the contact" "$OUT" '"contact":null'
DIALOG=$(printf '%s\t%s\n' "Company name [" "北京华信科技有限公司")
DIALOG=$DIALOG pty_dialog "$FS" --home "$HZ" customer edit 北京华信
equal "a customer's name corrected at the terminal" "$RC" 0
z customer show "${C:0:8}" --json
contains "the name typed is kept" "$OUT" '"name":"北京华信科技有限公司"'
DIALOG= pty_dialog "$FS" --home "$HZ" customer edit "${C:0:8}"
equal "Enter to every field: exit 0" "$RC" 0
contains "nothing changed, said" "$TTY" "customer edit: nothing changed"

stop_server
hits=$(grep -rlaF -e "北京华信" -e "王经理" "$S" "$WORK/serve.log" 2>/dev/null)
equal "no customer text in the store or the server's log" "$hits" ""
finish
