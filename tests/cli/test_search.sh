#!/usr/bin/env bash
# Search and names (issue 17, point 2), real processes on 127.0.0.1 only.
# `fieldsync search` finds a Chinese substring of a visit's notes, a
# customer, a commitment and a question; a Traditional query finds a
# Simplified record and the other way round, and so does a name in an
# option; an ambiguous name exits 2 listing its candidates, Traditional ones
# too; an edited record is found by its new text only; --json, --kind,
# --limit, TEXT from standard input, and bad input. Pulled changes are
# searchable on the manager's laptop, and a customer handed to another rep
# leaves zhang's search with its visits. No searched text is left in
# plaintext in the replica's files.
#
#   bash tests/cli/test_search.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_search.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_search.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-search-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='search test passphrase -- 5d1e'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
Z=$WORK/zhang
zh() { run --home "$Z" "$@"; }

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north" "wang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
for u in li zhang wang; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PORT" --name "$u-laptop"
done

# ---- records: one customer's name in Traditional characters ----
zh customer add --name "北京華信科技有限公司"
expect "a customer named in Traditional characters" 0
BJ=$OUT
zh customer add --name "上海华信"
expect "a customer named in Simplified characters" 0
SH=$OUT
zh customer add --name "Acme Trading"
AC=$OUT

# A name typed in Simplified finds the Traditional record. Dates from today
# (rel_day): a visit more than 30 days away is refused.
D3=$(rel_day '3 days ago') D4=$(rel_day '2 days ago') D5=$(rel_day 'yesterday')
zh visit add --customer "华信科技" --time "$D3 10:00" --place 会议室 --purpose 演示 \
    --notes "客户关心数据安全，要求下周提供加密方案的详细说明" --objections "價格偏高" \
    --next "安排技术交流" --commit "周五前发报价单|$D5"
expect "visit add --customer 华信科技 (the record says 華信科技)" 0
V1=$OUT
zh visit show "$V1" --json
contains "the visit is 北京華信科技's" "$OUT" "\"customer\":\"$BJ\""
zh visit add --customer "上海華信" --time "$D4 10:00" --place 工厂 --purpose 回访 \
    --notes "设备运行稳定，考虑二期扩容"
expect "a name typed in Traditional finds the Simplified record" 0
V2=$OUT
zh question add --customer "acme" --question "是否支持私有化部署？"
expect "a question for Acme" 0
Q=$OUT

# ---- an ambiguous name: exit 2, the candidates listed (both scripts) ----
zh visit add --customer "華信" --time "$D4 11:00" --place x --purpose x --notes x
expect "an ambiguous name: exit 2" 2 '2 customer records match "華信"'
contains "the Traditional candidate is listed" "$ERR" "${BJ:0:8}  北京華信科技有限公司"
contains "and the Simplified one" "$ERR" "${SH:0:8}  上海华信"

# ---- search ----
zh search 加密方案
expect "search: a Chinese substring of visit notes" 0
contains "the visit is listed by its short id" "$OUT" "${V1:0:8}"
contains "with its customer's name" "$OUT" "北京華信科技有限公司"
contains "and the notes around the match" "$OUT" "加密方案的详细说明"
contains "the table has its headings" "$OUT" "KIND"

# On a terminal with nothing to look for given, it is asked for, so the
# words stay out of the shell's history file.
DIALOG=$(printf '%s\t%s\n' "要查找的内容：" "加密方案")
DIALOG=$DIALOG pty_dialog "$FS" --lang zh --home "$Z" search
equal "search asks what to look for on a terminal" "$RC" 0
contains "and finds the visit" "$TTY" "${V1:0:8}"

zh search 价格偏高 --json
expect "a Simplified query for a Traditional objection" 0
contains "finds the visit" "$OUT" "\"id\":\"$V1\""
contains "--json names the kind" "$OUT" '"kind":"visit"'
contains "--json carries the customer's name" "$OUT" '"customer_name":"北京華信科技有限公司"'
contains "--json carries the record" "$OUT" '"objections":"價格偏高"'
contains "--json carries the text that matched" "$OUT" '"text":"價格偏高"'

zh search 華信科技 --json
contains "a Traditional query finds the customer" "$OUT" "\"id\":\"$BJ\""
zh search 二期擴容 --json
contains "a Traditional query finds Simplified notes" "$OUT" "\"id\":\"$V2\""
zh search 华信 --json
expect "a two-character query (no trigram): exit 0" 0
contains "finds the Traditional customer" "$OUT" "\"id\":\"$BJ\""
contains "and the Simplified one" "$OUT" "\"id\":\"$SH\""
zh search 报价单 --kind commitment --json
contains "--kind commitment: the promise" "$OUT" '"text":"周五前发报价单"'
if grep -qF '"kind":"visit"' <<<"$OUT"; then fail "--kind commitment lists only commitments"
else ok "--kind commitment lists only commitments"; fi
zh search 私有化部署 --json
contains "a customer question is found" "$OUT" "\"id\":\"$Q\""
contains "named as a question" "$OUT" '"kind":"question"'
zh search ACME --kind customer --json
contains "Latin letters in any case" "$OUT" "\"id\":\"$AC\""
zh search "安全 下周" --json
contains "words are ANDed, in any order" "$OUT" "\"id\":\"$V1\""
zh search "安全 扩容" --json
equal "words in no single record: nothing" "$OUT" "[]"
zh search 华 --limit 1 --json
equal "--limit 1: one record" "$(grep -oF '"kind":' <<<"$OUT" | wc -l)" 1
zh search - <<<"加密方案"
expect "TEXT - reads the query from standard input" 0
contains "and finds the visit" "$OUT" "${V1:0:8}"
zh search 不存在的内容
expect "nothing found: exit 0" 0
contains "says so" "$OUT" "nothing found"

zh search
expect "no TEXT: exit 2" 2 "what to look for is missing"
zh search x --kind plan
expect "--kind plan: exit 2" 2 "--kind: expected customer, contact, visit, commitment or question"
zh search x --limit 0
expect "--limit 0: exit 2" 2 "--limit"
zh search "   "
expect "blank TEXT: exit 2" 2 "nothing to look for"
zh search "a b c d e f g h i"
expect "more than 8 words: exit 2" 2 "at most 8 words"
zh search $'\xff\xfe'
expect "TEXT not UTF-8: exit 2" 2 "not valid UTF-8"
zh search --help
expect "search --help: exit 0" 0
contains "prints the usage" "$OUT" "search TEXT|-"

# ---- an edit: the old text is gone, the new one found ----
zh customer edit --customer "上海华信" --name "上海东方仪器"
expect "the Simplified customer renamed" 0
zh search 上海华信 --json
equal "its old name is not found" "$OUT" "[]"
zh search 东方仪器 --json
contains "its new name is" "$OUT" "\"id\":\"$SH\""

# ---- pulled changes: li's laptop finds zhang's records ----
zh sync
expect "zhang syncs" 0
run --home "$WORK/li" sync
expect "li syncs" 0
run --home "$WORK/li" search 加密方案 --json
contains "li finds zhang's visit by its notes" "$OUT" "\"id\":\"$V1\""
run --home "$WORK/li" search 東方儀器 --json
contains "and the renamed customer, in Traditional" "$OUT" "\"id\":\"$SH\""
run --home "$WORK/li" search 上海华信 --json
equal "not by its old name" "$OUT" "[]"

# li renames a customer: zhang's search follows the pulled edit.
run --home "$WORK/li" customer edit --customer "${AC:0:8}" --name "Apex Trading"
expect "li renames Acme" 0
run --home "$WORK/li" sync
zh sync
expect "zhang pulls li's edit" 0
zh search acme --kind customer --json
equal "zhang no longer finds Acme" "$OUT" "[]"
zh search APEX --json
contains "zhang finds Apex" "$OUT" "\"id\":\"$AC\""

# li hands 北京華信 to wang: zhang's device purges it and its visit.
run --home "$WORK/li" customer edit --customer "$BJ" --owner wang
expect "li hands 北京華信 to wang" 0
run --home "$WORK/li" sync
zh sync
expect "zhang syncs the hand-over" 0
zh search 加密方案 --json
equal "the purged visit is not found on zhang's laptop" "$OUT" "[]"
zh search 华信科技 --json
equal "nor the purged customer" "$OUT" "[]"
run --home "$WORK/wang" sync
run --home "$WORK/wang" search 加密方案 --json
contains "wang finds it" "$OUT" "\"id\":\"$V1\""

# ---- nothing searched is in plaintext in zhang's or li's files ----
zh lock >/dev/null 2>&1
hits=$(grep -rlaF -e 加密方案 -e 數據安全 -e 价格偏高 -e 價格偏高 -e 东方仪器 -e 私有化部署 \
    "$Z" "$WORK/li" 2>/dev/null)
equal "no searched text in plaintext in the replicas' files" "$hits" ""
hits=$(grep -laF -e 加密方案 -e 价格偏高 -e 东方仪器 "$ERRLOG" 2>/dev/null)
equal "nor in any message" "$hits" ""
stop_server
finish
