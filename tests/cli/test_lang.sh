#!/usr/bin/env bash
# Issue 17 point 1, "Done when" on language: the rep's daily commands in
# Chinese under LANG=zh_CN.UTF-8 and in English under LANG=C, --lang and
# FIELDSYNC_LANG over the environment, and the same JSON and exit status in
# both. The untranslated-message check: in Chinese, no line of help, today,
# status, a refused date or a form prompt may hold an English word of four
# letters or more that is not a command, option, placeholder or name the
# rep types as is (the list below). Works whether or not the zh_CN.UTF-8
# locale is installed (client/i18n.c falls back to C.UTF-8 + LANGUAGE).
#
#   bash tests/cli/test_lang.sh path/to/fieldsync
# (FS_SHOW=1 prints what each Chinese output showed, for a report.)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_lang.sh path/to/fieldsync}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-lang-XXXXXX")
ERRLOG=$WORK/all-stderr
H=$WORK/zhang
trap '"$FS" --home "$H" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='lang test passphrase -- 7e2a'
unset FIELDSYNC_HOME LC_ALL LC_MESSAGES LANGUAGE FIELDSYNC_LANG
export LANG=C
zh() { LANG=zh_CN.UTF-8 runc "$FS" --home "$H" "$@"; }
en() { LANG=C runc "$FS" --home "$H" "$@"; }
show() { [ -n "${FS_SHOW-}" ] && printf -- '--- %s\n%s\n' "$1" "$2"; return 0; }

# Words a Chinese screen keeps in Latin letters: the program, its commands
# and subcommands, placeholders (ID, NAME, ...), the export policies as
# typed (明文（plaintext）), environment variables and
# abbreviations a Chinese sales team writes so (CRM), and the rep's user
# name. Everything else of four letters or more is an untranslated message.
ALLOWED='fieldsync init passwd customer edit list visit show conflict resolve mine theirs
refused revert retry enroll sync status daemon today report compliance unlock lock whoami exports
search kind limit
calendar help json home lang name industry owner time place purpose notes contact position
objections commit next visitor keep value server code interval team week days idle clear
holiday holidays hours version CODE HOST PORT DEVICE NAME TEXT DATE TIME ZONE TEAM
YYYY MM DD HH Www SIGTERM FIELDSYNC_HOME FIELDSYNC_PASSPHRASE FIELDSYNC_NEW_PASSPHRASE
FIELDSYNC_LANG FIELDSYNC_EXPORT export LC_ALL LC_MESSAGES LANG UTF CRM key account phone email text due
contact commitment plan daily summary selfcheck complaint request acceptance marketing question
spotcheck done cancel replied submit approve return outcome collect answer from goals needed
task TASK EXPECTED visits tasks content appearance communication data management teamwork
todos ITEM description received signed document delivered collected documents event goal
budget asked record table accurate comment satisfaction confirmed duplicate
delete history undelete GROUP OPTION VALUE confirm route kept check theirs mine lost
deal negotiate lost payment contract sign survey sales month meeting
attach attachment RECORD FILE requirement card contract other remove
plaintext sealed
zhang'
# untranslated NAME TEXT: fails NAME when a line of TEXT has such a word.
untranslated() {
    local bad
    printf '%s\n' "$2" >"$WORK/checked"
    bad=$(python3 - "$ALLOWED" "$WORK/checked" 2>&1 <<'PY'
import re, sys
allowed = set(sys.argv[1].split())
for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    # options (--time), ids and hex, quoted commands stay as typed
    s = re.sub(r"--[A-Za-z][A-Za-z-]*", " ", line)
    s = re.sub(r"\b[0-9a-f]{6,32}\b", " ", s)
    words = [w for w in re.findall(r"[A-Za-z_]{4,}", s) if w not in allowed]
    if words:
        print("%s  <- %s" % (line.rstrip(), " ".join(sorted(set(words)))))
PY
)
    if [ -z "$bad" ]; then
        ok "$1"
    else
        fail "$1" "English words in the Chinese output:" "$bad"
    fi
}

day() { date -u -d "$1" +%Y-%m-%d; }
VISIT="$(day '5 days ago') 10:00"
PAST=$(day '3 days ago')   # a promise already overdue
SOON=$(day 'tomorrow')     # and one due soon

en init
expect "init" 0
en whoami --set zhang
expect "whoami" 0
en customer add --name 北京华信科技
expect "a customer" 0
C=$OUT
en visit add --customer 北京华信 --time "$VISIT" --place 海淀 --purpose 产品介绍 --notes 谈了报价 \
    --commit "寄送样品|$PAST" --commit "提交报价单|$SOON"
expect "a visit with two promises" 0

# ---- help ----
zh help
expect "help in Chinese exits 0" 0
contains "help in Chinese" "$OUT" "用法：fieldsync"
contains "help lists the commands in Chinese" "$OUT" "列出客户"
show "help (zh)" "$OUT"
untranslated "help has no untranslated message" "$OUT"
en help
contains "help in English under LANG=C" "$OUT" "usage: fieldsync"
LANG=zh_CN.UTF-8 runc "$FS" --lang en help
contains "--lang en under zh_CN gives English" "$OUT" "usage: fieldsync"
FIELDSYNC_LANG=zh runc "$FS" help
contains "FIELDSYNC_LANG=zh under LANG=C gives Chinese" "$OUT" "用法：fieldsync"
FIELDSYNC_LANG=zh LANG=C runc "$FS" --lang en help
contains "--lang over FIELDSYNC_LANG" "$OUT" "usage: fieldsync"
en --lang fr help
expect "--lang fr is refused" 2 "--lang: expected zh or en"

# ---- a form's list: its headings, statuses and kinds in words ----
en plan add --from 2026-12-07 --to 2026-12-13 --goals "签约 2 家新客户" --task "2026-12-08|拜访华信|1h"
expect "a weekly plan with a task" 0
en daily plan --date "$(date +%F)" --visits "北京华信 10:00"
expect "a daily plan" 0
en deal add --customer 北京华信 --title ERP --amount 300000
expect "a deal" 0
for g in plan daily deal; do
    zh $g list
    expect "$g list in Chinese" 0
    show "$g list (zh)" "$OUT"
    untranslated "$g list has no untranslated heading or status" "$OUT"
done
zh plan list
contains "plan list: the week's start by its label" "$OUT" "本周开始"
contains "plan list: the week's goals" "$OUT" "签约 2 家新客户"
contains "and the plan's status in words" "$OUT" "草稿"
zh daily list
contains "daily list: a plan of the day" "$OUT" "日计划"
zh deal list
contains "deal list: the stage in words" "$OUT" "线索"
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" customer show 北京华信
equal "customer show on a terminal, in Chinese" "$RC" 0
contains "the customer's visits under a Chinese heading" "$TTY" "拜访记录："
untranslated "customer show's work has no untranslated word" "$TTY"
zh plan show 签约
contains "plan show: its tasks under a Chinese heading" "$OUT" "计划任务："
contains "with Chinese column headings" "$OUT" "预计时间"
untranslated "plan show has no untranslated word" "$OUT"
zh plan edit 签约 --goals "签约 3 家新客户"
expect "plan edit, the plan named by its goals" 0
contains "what was done, said with a Chinese colon" "$OUT" "plan edit："
en plan list
contains "plan list in English: headings in capitals" "$OUT" "WEEK FROM"
contains "the status as it is" "$OUT" "draft"
zh contract list
equal "an empty list in Chinese" "$OUT" "没有合同"
en customer add --name 上海恒远机械
en customer list # two customers to a pipe: an export, as this device may
expect "two customers listed to a pipe (FIELDSYNC_EXPORT=1)" 0
zh exports
expect "exports in Chinese" 0
contains "the exports under Chinese headings" "$OUT" "导出人"
contains "each kind in words, as plaintext" "$(tr -s ' ' <<<"$OUT")" "zhang 客户 2 明文（plaintext）"
untranslated "exports has no untranslated word" "$OUT"
# a record added on a terminal says what it recorded; to a pipe, the id alone
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" visit plan --customer 上海恒远 \
    --time "$VISIT" --place 恒远工厂 --purpose 复访
equal "visit plan on a terminal" "$RC" 0
contains "says what it recorded, in Chinese" "$TTY" "已记录拜访计划："
zh visit plan list --json
expect "the plan was recorded" 0
# a planned visit's list and page: every heading and label in Chinese,
# what it is for among them
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" visit plan list
contains "the list says what the visit is for" "$TTY" "复访"
untranslated "visit plan list has no untranslated heading" "$TTY"
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" visit plan show 上海恒远
untranslated "visit plan show has no untranslated label" "$TTY"
contains "who planned it, in words" "$TTY" "计划人"
# a correction and a deletion say what they did, in words, on a terminal
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" visit plan edit 上海恒远 --place 恒远二厂
equal "visit plan edit on a terminal" "$RC" 0
contains "says what it changed, in Chinese" "$TTY" "已修改拜访计划："
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" customer edit 上海恒远 --industry 机械
equal "customer edit on a terminal" "$RC" 0
contains "customer edit says so too" "$TTY" "已修改客户："
zh customer edit 上海恒远 --industry 机械制造
equal "to a pipe, customer edit says nothing, as before" "$OUT" ""
zh customer edit 上海恒远 --key-account 否
expect "yes or no answered 否" 0
zh customer show 上海恒远 --json
contains "kept as no" "$OUT" '"key_account":false'
zh customer edit 上海恒远 --key-account 不
expect "another word refused, saying both ways" 2 "应为“是”或“否”（也可写 yes 或 no）"
zh visit plan edit 上海恒远 --place 恒远三厂
contains "to a pipe: the command and the id, as before" "$OUT" "visit plan edit："
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" visit confirm 上海恒远 --how 电话
equal "visit confirm by the customer's name, on a terminal" "$RC" 0
contains "says what it did, in words" "$TTY" "已与客户确认拜访计划："
zh visit confirm 上海恒远 --how 微信
contains "to a pipe: the command and the id" "$OUT" "visit plan confirm："
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" visit plan delete 上海恒远
equal "visit plan delete on a terminal" "$RC" 0
contains "says what it deleted" "$TTY" "已删除拜访计划："
# dates and times as a Chinese rep types them, kept in the one form
D3=$(date -d '+3 days' +%F)
zh visit plan --customer 上海恒远 --time "$(date -d "$D3" +%Y年%-m月%-d日)10：30" --place 恒远工厂 --purpose 复访
expect "a time written 2026年12月10日10：30" 0
VP2=$OUT
zh visit plan show "$VP2" --json
contains "kept as YYYY-MM-DD HH:MM" "$OUT" "\"time\":\"$D3 10:30\""
zh visit plan edit "${VP2:0:8}" --time "$(date -d "$D3" +%Y/%-m/%-d) 9:05"
expect "2026/12/10 9:05 in an edit" 0
zh visit plan show 上海恒远 --json
contains "kept as YYYY-MM-DD HH:MM too" "$OUT" "\"time\":\"$D3 09:05\""
zh visit plan --customer 上海恒远 --time "$(date -d "$D3" +%Y/%-m/%-d)" --place p --purpose p
expect "a date without its time is still refused, in Chinese" 2 "格式应为“YYYY-MM-DD HH:MM”"
zh visit plan --customer 上海恒远 --time "$(date +%Y)/13/01 10:00" --place p --purpose p
expect "a month 13 is refused" 2 "--time"
# the same plan typed twice (the command run again): refused, named
# the same plan typed twice (the command run again): recorded, with a note
# naming the first and how to delete one
zh visit plan --customer 上海恒远 --time "$D3 09:05" --place 恒远工厂 --purpose 复访
expect "the same customer at the same minute again: recorded, with a note" 0 "注意：该客户在 $D3 09:05 已有一条拜访计划（${VP2:0:8}）"
contains "saying how to delete one" "$ERR" "fieldsync visit plan delete"
TWICE=$OUT
zh visit plan --customer 上海恒远 --time "$D3 09:05" --place 恒远工厂 --purpose 复访 --duplicate
expect "--duplicate: another one, no note" 0
equal "no note with --duplicate" "$ERR" ""
zh visit plan delete "${TWICE:0:8}"
expect "the one typed twice deleted" 0

# ---- today ----
zh today
expect "today in Chinese" 0
show "today (zh)" "$OUT"
contains "today's header in Chinese" "$OUT" "截至"
contains "today's headings in Chinese" "$OUT" "状态"
contains "an overdue promise is 逾期" "$(grep '寄送样品' <<<"$OUT")" "逾期 "
contains "a promise's own words" "$OUT" "寄送样品"
contains "the customer by name" "$OUT" "北京华信科技"
untranslated "today has no untranslated message" "$OUT"
en today
contains "today in English under LANG=C" "$(grep '寄送样品' <<<"$OUT")" "OVERDUE "
contains "today's headings in English" "$OUT" "STATUS"
zh today --json
ZJ=$OUT
en today --json
equal "today --json is the same in both languages" "$ZJ" "$OUT"
contains "with English keys and status names" "$OUT" '"status":"overdue"'

# ---- status ----
zh status
expect "status in Chinese" 0
show "status (zh)" "$OUT"
contains "status labels in Chinese" "$OUT" "待同步修改："
untranslated "status has no untranslated message" "$OUT"
# every value starts in one column (12: four characters, a colon, padding)
cols=$(python3 -c '
import sys, unicodedata
w = lambda t: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in t)
for line in sys.stdin.read().splitlines():
    head, sep, rest = line.partition("：")
    if sep and " " not in head:
        print(w(head + sep) + len(rest) - len(rest.lstrip(" ")))
' <<<"$OUT" | sort -u | tr '\n' ' ')
equal "status: the values in one column" "$cols" "12 "
en status
contains "status in English" "$OUT" "pending changes:"

# ---- lock, conflicts, replica check: the short answers too ----
zh lock
contains "lock without an agent, in Chinese" "$OUT" "未解锁"
en lock
contains "and in English" "$OUT" "not unlocked"
zh conflict list
contains "no conflicts, in Chinese" "$OUT" "没有待处理的冲突"
untranslated "conflict list has no untranslated message" "$OUT"
zh check
contains "the replica check, in Chinese" "$OUT" "副本检查"
zh conflict resolve
expect "conflict resolve without an id: a usage error, said in Chinese" 2 "请先给出冲突编号"
for c in "conflict resolve" "refused retry" "check" "exports"; do
    zh $c --help
    untranslated "$c --help: its explanation in Chinese too" "$OUT"
done
untranslated "replica check has no untranslated message" "$OUT"

# ---- a refused date ----
zh visit add --customer "${C:0:8}" --time 2026-13-01 --place p --purpose p --notes n
expect "a bad date: exit 2 in Chinese" 2 '--time：格式应为“YYYY-MM-DD HH:MM”'
show "bad date (zh)" "$ERR"
untranslated "the refused date has no untranslated message" "$ERR"
zh visit add --customer "${C:0:8}" --time "2026-13-01 10:00" --place p --purpose p --notes n
expect "why the date is wrong, in Chinese" 2 "月份须为 01-12"
untranslated "the reason has no untranslated message" "$ERR"
en visit add --customer "${C:0:8}" --time 2026-13-01 --place p --purpose p --notes n
expect "a bad date: exit 2 in English" 2 '--time: expected "YYYY-MM-DD HH:MM"'
zh visit add --customer "${C:0:8}" --time "月底 10:00" --place p --purpose p --notes n
expect "a date in words is quoted back as typed" 2 '--time：格式应为“YYYY-MM-DD HH:MM”，收到的是 "月底 10:00"'
zh visit add --customer "${C:0:8}" --time "$(printf '明天\033[2J')" --place p --purpose p --notes n
expect "one with a control character is described, not echoed" 2 "收到的是 一个 10 字节的值"
zh visit add --customer 不存在的客户 --time "$VISIT" --place p --purpose p --notes n
expect "an unknown customer, in Chinese" 2 "--customer：没有编号或名称为"
zh unlock --idle 5x
expect "a bad --idle: why, in Chinese" 2 "--idle：应为整数加单位 s、m、h 或 d，如 15m"
untranslated "the refused duration has no untranslated message" "$ERR"
zh unlock --idle 48h
expect "an --idle too long, in Chinese" 2 "--idle：太长"

# ---- a visit add prompt on a terminal ----
if command -v python3 >/dev/null; then
    # timeout: pty_run waits for the program, which waits for an answer
    # when its prompt is not the one expected.
    TO=$(command -v timeout)
    LANG=zh_CN.UTF-8 pty_run "地点：" "朝阳区" "$TO" 40 "$FS" --home "$H" visit add --customer "${C:0:8}" \
        --time "$VISIT" --purpose 回访 --notes 客户满意
    equal "visit add asks for the place in Chinese" "$RC" 0
    show "visit add prompt (zh)" "$TTY"
    contains "the prompt's words" "$TTY" "地点："
    untranslated "the prompt has no untranslated message" "$(grep -v '^[0-9a-f]\{32\}' <<<"$TTY")"
    LANG=C pty_run "Place: " "Chaoyang" "$TO" 40 "$FS" --home "$H" visit add --customer "${C:0:8}" \
        --time "$VISIT" --purpose again --notes fine
    equal "visit add asks for the place in English" "$RC" 0
    contains "the English prompt" "$TTY" "Place: "

    # The whole visit at the terminal, nothing on the command line: each
    # field asked for in Chinese, the optional ones skipped with Enter, a
    # date in the rep's way, a bad one asked for again, two promises, and a
    # customer not found asked for again once the replica is open.
    WHEN=$(date -u -d '4 days ago' '+%Y年%-m月%-d日 9:30')
    DIALOG=$(printf '%s\t%s\n' "客户（编号或名称）：" "华信物流" "拜访时间（YYYY-MM-DD HH:MM）：" "$WHEN" \
        "地点：" "望京" "拜访目的：" "需求调研" "沟通记录：" "-" "沟通记录：" "客户想先试用三个月" \
        "联系人（可不填，回车跳过）：" "赵总" \
        "对客户的承诺，逐条填写（填完直接回车）：" "安排试用账号" \
        "承诺完成日期（YYYY-MM-DD）：" "下周" \
        "承诺完成日期（YYYY-MM-DD）：" "$SOON" \
        "对客户的承诺，逐条填写（填完直接回车）：" "发送合同模板" \
        "承诺完成日期（YYYY-MM-DD）：" "${SOON//-//}" \
        "客户（编号或名称）：" "北京华信")
    DIALOG=$DIALOG LANG=zh_CN.UTF-8 pty_dialog "$FS" --home "$H" visit add
    equal "a whole visit asked for at the terminal, in Chinese" "$RC" 0
    show "visit add, the whole form at the terminal (zh)" "$TTY"
    contains "the optional fields are asked for, skippable" "$TTY" "客户异议（可不填，回车跳过）："
    contains "a bad date is refused and asked for again" "$TTY" "--commit："
    contains "a customer not found is said, and asked for again" "$TTY" \
        "没有编号或名称为 \"华信物流\" 的客户"
    contains "and the visit is recorded" "$TTY" "已记录拜访："
    untranslated "the whole form has no untranslated message" \
        "$(sed 's/[0-9a-f]\{32\}//; s/--commit//' <<<"$TTY")"
    zh visit list --json
    contains "the visit is kept with its time in its one form" "$OUT" \
        "\"time\":\"$(date -u -d '4 days ago' +%F) 09:30\""
    contains "and its contact" "$OUT" '"contact":"赵总"'
    contains "its notes: a lone - at the prompt was asked again, not kept" "$OUT" \
        '"notes":"客户想先试用三个月"'
    contains "its first promise, with the date typed again" "$OUT" "安排试用账号"
    contains "its second promise, its date written with slashes" "$OUT" "\"due\":\"$SOON\""
    contains "and the words of the second" "$OUT" "发送合同模板"

    # Days and times in words, on the command line too: 明天下午3点, 下周五.
    zh visit plan --customer 北京华信 --time "明天下午3点" --place 望京 --purpose 演示
    expect "a visit planned for 明天下午3点" 0
    zh commitment add --customer 北京华信 --text 回复报价 --due 下周五
    expect "a promise due 下周五" 0
    zh visit plan list --json
    contains "kept as tomorrow 15:00" "$OUT" "\"time\":\"$(day tomorrow) 15:00\""
    zh commitment list --json
    contains "kept as next week's Friday" "$OUT" \
        "\"due\":\"$(date -u -d "$(date -u +%F) -$(( $(date -u +%u) - 1 )) days +11 days" +%F)\""
else
    echo "SKIP the terminal prompts: python3 is missing"
fi

# ---- init's path in Chinese (issue 17) ----
LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh" init
expect "init in Chinese" 0
contains "init says what it made, in Chinese" "$OUT" "已在 $WORK/fresh 中创建加密的本地数据"
untranslated "init has no untranslated message" "$(sed "s|$WORK/fresh||" <<<"$OUT$ERR")"
LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh" init
expect "init again: refused in Chinese" 1 "中已有本地数据"
untranslated "init's refusal has no untranslated message" "$(sed "s|$WORK/fresh||" <<<"$ERR")"
LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh" whoami
expect "whoami before a name is set, in Chinese" 1 "本设备还没有设置用户名"
LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh" whoami --set zhang --team north
equal "whoami names the team in Chinese" "$OUT" "zhang（团队 north）"
FIELDSYNC_PASSPHRASE= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh2" init
expect "an empty passphrase: refused in Chinese" 2 "已设置 FIELDSYNC_PASSPHRASE，但其值为空"
FIELDSYNC_PASSPHRASE=short LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh2" init
untranslated "a weak passphrase, in Chinese" "$ERR"
LANG=zh_CN.UTF-8 setsid -w env -u FIELDSYNC_PASSPHRASE "$FS" --home "$WORK/fresh2" init \
    </dev/null >"$WORK/np.out" 2>"$WORK/np.err"
contains "no passphrase and no terminal, in Chinese" "$(cat "$WORK/np.err")" "没有口令"
untranslated "that refusal has no untranslated message" "$(cat "$WORK/np.err")"
# A mistyped enrollment code, given on standard input: named in Chinese
# (it said "the enrollment code：不是有效的注册码").
LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/fresh" enroll --server ws://127.0.0.1:9 \
    <<<"FS1-mistyped"
expect "a mistyped enrollment code: refused in Chinese" 2 "输入的注册码：不是有效的注册码"
untranslated "that refusal has no untranslated message" "$ERR"

# ---- a rep's week: edit, history, delete in Chinese (issue 17) ----
en visit list --json
V1=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' <<<"$OUT")
zh visit edit --help
expect "visit edit --help in Chinese" 0
contains "its own usage" "$OUT" "visit edit ID"
lacks_add=$(grep -c "visit add" <<<"$OUT")
equal "not add's usage" "$lacks_add" 0
contains "with edit's options" "$OUT" "[--notes TEXT]"
untranslated "visit edit --help has no untranslated message" "$OUT"
zh visit delete --help
untranslated "visit delete --help has no untranslated message" "$OUT"
zh plan edit --help
contains "plan edit --help: the plan's options" "$OUT" "[--goals TEXT]"
untranslated "plan edit --help has no untranslated message" "$OUT"
zh visit edit "${V1:0:8}" --time "$(day '60 days ago') 10:00"
expect "a visit time 60 days back: refused in Chinese" 2 "距现在超过 30 天"
untranslated "that refusal has no untranslated message" "$ERR"
zh visit edit "${V1:0:8}" --notes 又谈了一次报价
expect "visit edit" 0
zh history "${V1:0:8}"
expect "history in Chinese" 0
show "history (zh)" "$OUT"
contains "history names the field without its format hint" "$(grep -F 2026 <<<"$OUT" | head -n 2)" "拜访时间  "
lacks_hint=$(grep -c "（YYYY" <<<"$OUT")
equal "no format hint in history's labels" "$lacks_hint" 0
contains "the customer by its name, not its id" "$(grep -F 客户 <<<"$OUT")" "北京华信科技"
untranslated "history has no untranslated message" "$OUT"
zh customer delete "${C:0:8}"
expect "deleting a customer with visits: refused in Chinese" 2 "条拜访记录"
show "delete refused (zh)" "$ERR"
untranslated "the refusal counts each kind in Chinese" "$ERR"
en customer delete "${C:0:8}"
contains "in English: a count phrase per kind" "$ERR" "visits, 5 commitments"
zh search 华信
untranslated "search has no untranslated message" "$OUT"
zh customer list
untranslated "customer list has no untranslated message" "$OUT"
zh visit list
contains "visit list: the commitments in words" "$OUT" "项未完成"
untranslated "visit list has no untranslated message" "$(grep -v again <<<"$OUT")" # typed so
zh visit show "${V1:0:8}"
contains "visit show names its fields as the form does" "$OUT" "沟通记录"
untranslated "visit show has no untranslated message" "$(grep -v '^id ' <<<"$OUT")"
zh customer add --name 北京华信科技 --key-account yes
expect "a stray value: refused" 2
contains "the usage that follows, in Chinese" "$ERR" "用法：fieldsync"
zh history
expect "history without an id" 2 "用法：fieldsync"
zh today --tz Mars/Base
expect "today with an unknown zone, in Chinese" 2 "--tz：本机没有时区 Mars/Base"
zh visit add --customer "${C:0:8}" --time "$VISIT" --place p --purpose p --notes n --commit x
expect "a promise without its date, in Chinese" 2 "到期日前没有“|”"
zh visit show 0123456789
expect "no such visit, in Chinese" 2 "的拜访"
untranslated "the kind of record in Chinese" "$ERR"
zh customer add --name 北京华信科技
expect "a customer name twice, in Chinese" 2 "同名的客户已有记录"

# ---- report: a whole week (last week: every working day in it) ----
LASTWEEK=$(date -u -d '7 days ago' +%G-W%V)
zh report rep zhang --week "$LASTWEEK"
expect "report rep in Chinese" 0
contains "report rep: the week in words" "$OUT" "周次 $LASTWEEK"
contains "its columns" "$(head -n 2 <<<"$OUT")" "规则"
contains "the rules' texts in Chinese" "$OUT" "日计划 09:00 前提交"
untranslated "report rep has no untranslated message" "$OUT"
en report rep zhang --week "$LASTWEEK"
contains "in English: the week" "$OUT" "week $LASTWEEK"
contains "and the rule" "$OUT" "daily plan submitted before 09:00"
zh report rep zhang --days 3
contains "report rep --days in words" "$OUT" "最近 3 天"
# the week as a manager says it: 上周, or a day in it
zh report rep zhang --week 上周
expect "--week 上周" 0
contains "is last week" "$OUT" "周次 $LASTWEEK"
zh report rep zhang --week "$(date -u -d '7 days ago' +%Y/%-m/%-d)"
contains "a day of last week, written 2026/12/1" "$OUT" "周次 $LASTWEEK"
zh report compliance --week last
contains "last, in English words" "$OUT" "周次 $LASTWEEK"
zh report sales --week 本周
contains "本周 is this week" "$OUT" "$(date -u +%G-W%V)"
zh report rep zhang --week 前周
expect "another word refused, naming the ways" 2 "本周、上周、下周"
# on a terminal the table also says what each record is: a promise's
# words and its customer; to a pipe, ids alone (no customer data)
LANG=zh_CN.UTF-8 pty_run "never asked" "" "$FS" --home "$H" report rep zhang --days 14
equal "report rep on a terminal" "$RC" 0
contains "a column for the work itself" "$TTY" "工作内容"
contains "a promise in its words, with its customer" "$TTY" "寄送样品 · 北京华信科技"
untranslated "report rep on a terminal has no untranslated word" "$TTY"
zh report rep zhang --days 14
lacks_work=$(grep -c "寄送样品" <<<"$OUT")
equal "to a pipe: no customer's words" "$lacks_work" 0
zh report compliance --week "$LASTWEEK"
expect "report compliance in Chinese" 0
contains "the compliance headline" "$OUT" "执行情况，周次 $LASTWEEK（"
contains "its columns" "$OUT" "24 小时内录入"
contains "its cells in words" "$OUT" "漏 0 次"
untranslated "report compliance has no untranslated message" "$OUT"
en report compliance --week "$LASTWEEK"
contains "in English" "$OUT" "0 missed"
zh report compliance --week "$LASTWEEK" --json
ZJ=$OUT
en report compliance --week "$LASTWEEK" --json
equal "report compliance --json is the same in both languages" "$ZJ" "$OUT"
zh contact list
equal "an empty list in Chinese" "$OUT" "没有联系人"
en contact list
equal "and in English" "$OUT" "no contacts"
zh contact show
expect "show without an id, in Chinese" 2 "contact show：请先给出记录的编号"

# ---- Traditional Chinese (po/zh_TW.po, made from zh_CN.po by OpenCC) ----
LANG=zh_TW.UTF-8 runc "$FS" --home "$H" status
expect "status under zh_TW.UTF-8" 0
contains "Traditional characters, Taiwan's words" "$OUT" "伺服器："
equal "no Simplified word left" "$(grep -c '服务器\|设备' <<<"$OUT")" 0
LANG=zh_HK.UTF-8 runc "$FS" --home "$H" today
contains "zh_HK gets the Traditional catalog too" "$OUT" "狀態"
LANG=zh_TW.UTF-8 runc "$FS" --home "$H" visit add --customer "${C:0:8}" --time "2026-13-01 10:00" \
    --place p --purpose p --notes n # fixed: a month 13 never exists
expect "a refused date in Traditional characters" 2 "月份須為 01-12"
untranslated "the Traditional refusal has no untranslated message" "$ERR"
zh status
contains "zh_CN still Simplified" "$OUT" "服务器："

zh visit list --json
ZJ=$OUT
en visit list --json
equal "visit list --json is the same in both languages" "$ZJ" "$OUT"

# last: a key account changes what the reports above count
en customer edit 上海恒远 --key-account yes
zh customer list
contains "a key account marked in words" "$(tr -s ' ' <<<"$OUT")" "上海恒远机械 机械制造 是"
untranslated "customer list with a key account has no untranslated word" "$OUT"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
