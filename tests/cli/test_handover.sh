#!/usr/bin/env bash
# Issue 24: hand-overs never lose work done offline. Real processes on
# 127.0.0.1: a server, reps zhang and wang, manager li.
#  - zhang, offline, records a visit with a commitment to his customer; li
#    hands the customer to wang and syncs; zhang syncs: nothing is refused,
#    li and wang receive the visit and the commitment, made by zhang, wang's
#    `today` lists the commitment and the complaint zhang took ("made by
#    zhang"), and the question he noted (asked by zhang: the device that
#    wrote it first), on li's dashboard too, in Chinese as well; zhang's
#    laptop no longer holds the customer after that sync.
#  - zhang edits another customer's industry offline while li hands it to wang:
#    accepted by last-writer-wins, the same on every replica.
#  - after zhang's laptop has synced a hand-over, a visit to that customer
#    is refused on the laptop at once (exit 2), in words.
#
#   bash tests/cli/test_handover.sh path/to/fieldsync path/to/fieldsync-server
# (FS_SHOW=1 prints what each output showed, for a report.)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_handover.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_handover.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-handover-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='handover test passphrase -- 7e21'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

MARK='tarnwick 交接客户'
run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
z() { run --home "$WORK/zhang" "$@"; }
w() { run --home "$WORK/wang" "$@"; }
li() { run --home "$WORK/li" "$@"; }
show() { # TITLE TEXT: printed with FS_SHOW=1
    [ -n "${FS_SHOW-}" ] && printf -- '--- %s\n%s\n' "$1" "$2"
    return 0
}
has_id() { # HOME TABLE ID: 1 if the replica in HOME lists the row
    runc "$FS" --home "$WORK/$1" "$2" list --json
    grep -cF "\"id\":\"$3\"" <<<"$OUT"
}
# field HOME TABLE ID COLUMN: the column of the row in HOME's list --json
field() {
    runc "$FS" --home "$WORK/$1" "$2" list --json
    python3 - "$OUT" "$3" "$4" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
def walk(rs):
    for r in rs:
        yield r
        for k in ("commitments",):
            for c in r.get(k) or []:
                yield c
for r in walk(rows):
    if r.get("id") == sys.argv[2]:
        print(r.get(sys.argv[3]))
        break
PY
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north" "wang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
LI_PW='li dashboard 4417'
CLIENT=$(dirname "${BASH_SOURCE[0]}")/web_client.py
FIELDSYNC_USER_PASSWORD=$LI_PW srv user passwd --data "$S" --name li
expect "li's dashboard password" 0
start_server 0
for u in zhang wang li; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PORT" --name "$u-laptop"
    run --home "$WORK/$u" whoami --set "$u"
done

z customer add --name "$MARK" --key-account --industry "logistics"
expect "zhang records a customer" 0
CID=$OUT
z customer add --name "$MARK two" --industry "shipping"
expect "and a second one" 0
CID2=$OUT
z customer add --name "$MARK three" --industry "textiles"
expect "and a third" 0
CID3=$OUT
z sync
expect "zhang syncs" 0
li sync
expect "li syncs" 0
w sync
expect "wang syncs" 0

# ---- 1. offline work before the hand-over is kept ----
# Dated from today (rel_day; a visit more than 30 days away is refused):
# the visit and the complaint yesterday; the complaint's outcome is due on
# the third working day after (Monday to Friday), and the promise the same
# day, so both fall after the hand-over (wang's duty) and in one week's
# dashboard page.
DAY0=$(rel_day yesterday) # the day of the offline work
DUE=$DAY0 n=0
while [ "$n" -lt 3 ]; do
    DUE=$(rel_day "$DUE +1 day")
    [ "$(date -u -d "$DUE" +%u)" -le 5 ] && n=$((n + 1))
done
z visit add --customer "$CID" --time "$DAY0 10:00" --place site --purpose follow-up \
    --notes "$MARK offline visit" --commit "send quote|$DUE"
expect "zhang, offline, records a visit with a commitment" 0
VID=$OUT
z complaint add --customer "$CID" --description "$MARK late delivery" \
    --received-at "$DAY0 11:00"
expect "and takes a complaint from it" 0
z question add --customer "$CID" --question "$MARK can we pay in instalments"
expect "and notes a question the customer asked" 0
QID=$OUT
z customer edit --customer "$CID2" --industry "cold chain"
expect "zhang, offline, edits the second customer's industry" 0
z customer edit --customer "$CID3" --industry "zhang's offline industry"
expect "zhang, offline, edits the third customer's industry" 0
sleep 0.05
li customer edit --customer "$CID3" --industry "li's industry" --owner wang
expect "li edits the same field later and hands the third customer to wang" 0
li customer edit --customer "$CID" --owner wang
expect "li hands the customer to wang" 0
li customer edit --customer "$CID2" --owner wang
expect "and the second one" 0
li sync
expect "li syncs the hand-overs" 0

z sync
expect "zhang syncs: nothing refused (exit 0)" 0
show "zhang: sync" "$OUT"
z status --json
contains "zhang's device holds no refusal" "$OUT" '"refused_count":0'
contains "and nothing left to send" "$OUT" '"pending":0'
equal "zhang's laptop no longer holds the customer" "$(has_id zhang customer "$CID")" 0
equal "nor the second one" "$(has_id zhang customer "$CID2")" 0
equal "nor the visit he made to it (it is wang's now)" "$(has_id zhang visit "$VID")" 0

li sync
expect "li syncs" 0
w sync
expect "wang syncs" 0
for u in li wang; do
    equal "$u holds zhang's offline visit" "$(has_id $u visit "$VID")" 1
    equal "$u: the visit is attributed to zhang" "$(field $u visit "$VID" visitor)" zhang
done
run --home "$WORK/wang" visit list --json
WV=$OUT
contains "wang holds the commitment" "$WV" "send quote"
run --home "$WORK/li" visit list --json
equal "li's visits equal wang's field for field" "$OUT" "$WV"
w customer list --json
contains "wang owns the customer" "$OUT" '"owner":"wang"'
equal "wang holds zhang's edit of the industry" "$(field wang customer "$CID2" industry)" "cold chain"
equal "li holds it too" "$(field li customer "$CID2" industry)" "cold chain"
# the same field edited later by li: zhang's offline edit loses, visibly
for u in li wang; do
    equal "$u: li's newer industry wins" "$(field $u customer "$CID3" industry)" "li's industry"
    run --home "$WORK/$u" conflict list --json
    contains "$u: zhang's losing edit is an open conflict" "$OUT" \
        '"kept":"li'"'"'s industry","lost":"zhang'"'"'s offline industry"'
done

# ---- 2. the new owner is told ----
w today
show "wang: today" "$OUT"
contains "wang's today lists the inherited commitment, with who made it" "$OUT" \
    "wang (made by zhang)"
w today --json
contains "today --json: the commitment's words" "$OUT" '"text":"send quote"'
contains "and who made it" "$OUT" '"made_by":"zhang"'
python3 - "$OUT" <<'PY'
import json, sys
found = [f for f in json.loads(sys.argv[1]) if f["rule"] == "complaint_outcome"]
assert len(found) == 1, found
f = found[0]
assert f["rep"] == "wang" and f["made_by"] == "zhang", f
PY
RC=$? ERR="see the python traceback above"
expect "wang's today: the inherited complaint is his, taken by zhang" 0
# a question has no column naming who asked it: the device that wrote it
# first, and what that device's records say of its user
python3 - "$OUT" "$QID" "$MARK" <<'PY'
import json, sys
found = [f for f in json.loads(sys.argv[1]) if f["rule"] == "question_answered"]
assert len(found) == 1, found
f = found[0]
assert f["record"] == sys.argv[2], f
assert f["rep"] == "wang" and f["made_by"] == "zhang", f
assert f["text"] == sys.argv[3] + " can we pay in instalments", f
PY
RC=$? ERR="see the python traceback above"
expect "wang's today: the inherited question is his to answer, asked by zhang" 0
LANG=zh_CN.UTF-8 LANGUAGE=zh_CN run --home "$WORK/wang" today
show "wang: today in Chinese" "$OUT"
contains "in Chinese too: the question, with who asked it" "$(grep -F "${QID:0:8}" <<<"$OUT")" \
    "wang（zhang 经手）"
LANG=zh_CN.UTF-8 LANGUAGE=zh_CN run --home "$WORK/wang" sync
expect "wang: sync in Chinese" 0
contains "sync says it is in sync in Chinese" "$OUT" "已同步：发送了 0 条修改，同步位置"

# the manager's dashboard: wang's page lists the inherited work, who made it
http() { # PATH [COOKIE] [BODY]: GET or (with BODY) POST; sets HEAD and BODY
    local all method=GET
    [ -n "${3-}" ] && method=POST
    all=$(python3 "$CLIENT" "$PORT" "$method" "$1" "${2-}" ${3:+"$3"})
    HEAD=$(sed -n '2,/^$/p' <<<"$all")
    BODY=$(sed -n '/^$/,$p' <<<"$all")
}
cookie_of() { grep -i "^set-cookie: $1=" <<<"$HEAD" | head -n 1 | cut -d' ' -f2 | cut -d';' -f1; }
http /login
csrf=$(grep -oE 'name="csrf" value="[0-9a-f]+' <<<"$BODY" | cut -d'"' -f4)
http /login "$(cookie_of fs_login)" "name=li&password=${LI_PW// /+}&csrf=$csrf"
LI_WEB=$(cookie_of fs_session)
WEEK=$(date -d tomorrow +%G-W%V) # the question's deadline: asked now, 24 h
http "/rep?name=wang&week=$WEEK" "$LI_WEB"
row=$(grep -F "data-record=\"$QID\"" <<<"$BODY")
show "dashboard: wang's question row" "$row"
contains "the dashboard's rep page: the inherited question" "$row" "can we pay in instalments"
contains "asked by zhang" "$row" "made by zhang"
http "/rep?name=wang&week=$(date -u -d "$DUE" +%G-W%V)" "$LI_WEB" # the promise's week
contains "the dashboard: the inherited commitment, made by zhang" \
    "$(grep -F 'data-rule="commitment_due"' <<<"$BODY")" "made by zhang"
contains "and the inherited complaint, taken by zhang" \
    "$(grep -F 'data-rule="complaint_outcome"' <<<"$BODY")" "made by zhang"
WEB_LANG=zh-CN http "/rep?name=wang&week=$WEEK" "$LI_WEB"
contains "in Chinese: 由 zhang 创建" "$(grep -F "data-record=\"$QID\"" <<<"$BODY")" \
    "由 zhang 创建"

# ---- 3. after the hand-over reached the laptop: refused at once ----
z visit add --customer "$CID" --time "$DAY0 12:00" --place site --purpose late \
    --notes "late visit"
expect "zhang's visit after syncing the hand-over is refused locally (exit 2)" 2 \
    "was handed to another rep"
show "zhang: visit add after the hand-over (exit $RC)" "$ERR"
z status --json
contains "nothing was saved to send" "$OUT" '"pending":0'

stop_server
srv audit show --data "$S"
contains "the hand-over is audited" "$OUT" "zhang -> wang"
hits=$(grep -rlaF -e tarnwick -e 交接客户 "$S" "$WORK/serve.log" "$ERRLOG" 2>/dev/null)
equal "no customer text in the store, the server's log or any message" "$hits" ""
finish
