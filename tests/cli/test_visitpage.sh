#!/usr/bin/env bash
# visit list a page at a time (issue 21.6): 56 visits over four weeks (one
# deleted), recorded out of time order. The table shows the newest 50,
# newest first, and says on stderr that there are more; --limit N the
# newest N; --all every visit oldest first, as the table was before;
# --json every visit oldest first, as before, and with --limit the newest N.
# The rows are the same visits in every form (the order of --json
# reversed). Bad --limit, and --limit with --all, exit 2.
#
#   bash tests/cli/test_visitpage.sh path/to/fieldsync
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_visitpage.sh path/to/fieldsync}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-visitpage-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'rm -rf "$WORK"' EXIT
export FIELDSYNC_PASSPHRASE='visit page test passphrase -- 51c2'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
H=$WORK/home
run() { runc "$FS" --home "$H" "$@"; }
ids_of_table() { grep -oE '^[0-9a-f]{8} ' <<<"$1" | tr -d ' '; }
ids_of_json() { grep -oE '"id":"[0-9a-f]{8}' <<<"$1" | cut -d'"' -f4; }

run init
expect "init" 0
C=$("$FS" --home "$H" customer add --name "青岚仪器")
DEL=
for i in $(seq 0 55); do
    # days 0..27 back, each twice, in an order that is not time's
    d=$(((i * 11) % 28))
    run visit add --customer "$C" --time "$(rel_day "-$d days") $(printf '%02d:%02d' $((8 + i % 10)) $((i % 60)))" \
        --place "会议室" --purpose "演示 $i" --notes "第 $i 次"
    [ "$RC" -eq 0 ] || fail "visit $i" "$ERR"
    [ "$i" -eq 17 ] && DEL=$OUT
done
run visit delete "$DEL"
expect "one visit deleted" 0

run visit list --json
expect "--json" 0
JSON_IDS=$(ids_of_json "$OUT")
equal "--json: every live visit" "$(wc -l <<<"$JSON_IDS")" 55
times=$(grep -oE '"time":"[^"]*"' <<<"$OUT")
equal "--json: oldest first, as before" "$times" "$(sort <<<"$times")"
NEWEST=$(tac <<<"$JSON_IDS")

run visit list
expect "visit list" 0
equal "the table: the newest 50, newest first" "$(ids_of_table "$OUT")" "$(head -n 50 <<<"$NEWEST")"
contains "it says there are more" "$ERR" "the newest 50 visits, newest first; --limit N shows N, --all every one"
lacks=$(grep -c "${DEL:0:8}" <<<"$OUT")
equal "not the deleted visit" "$lacks" 0
run visit list --limit 3
equal "--limit 3: the newest 3" "$(ids_of_table "$OUT")" "$(head -n 3 <<<"$NEWEST")"
run visit list --limit 55
equal "--limit 55: all of them, newest first" "$(ids_of_table "$OUT")" "$NEWEST"
equal "and nothing said of more" "$(grep -c 'the newest' <<<"$ERR")" 0
run visit list --all
expect "--all" 0
equal "--all: every visit, oldest first, as before" "$(ids_of_table "$OUT")" "$JSON_IDS"
run visit list --json --limit 2
equal "--json --limit 2: the newest 2, newest first" "$(ids_of_json "$OUT")" "$(head -n 2 <<<"$NEWEST")"

for bad in 0 x 1000001 -3 ""; do
    run visit list --limit "$bad"
    expect "--limit '$bad': status 2" 2 "--limit"
done
run visit list --limit 3 --all
expect "--limit with --all: status 2" 2 "give one of them"
zh() { runc env -u LC_ALL -u LANGUAGE LANG=zh_CN.UTF-8 "$FS" --home "$H" "$@"; }
zh visit list
contains "in Chinese: there are more" "$ERR" "最新的 50 条拜访"
if grep -qaF "青岚" "$ERRLOG"; then fail "no customer text in any stderr"; else
    ok "no customer text in any stderr"; fi
finish
