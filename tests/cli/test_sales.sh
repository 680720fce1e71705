#!/usr/bin/env bash
# The sales records and their reports (issue 19.2), over real processes: a
# rep records offline (customer profile, deals, payments, a contract with
# its checks, a quarterly survey, a weekly plan stating its goals in
# numbers), syncs; the manager syncs and reads them: the lists, `report
# sales` per rep and for the team, in Chinese and as JSON. Amounts typed as
# "300,000.50" are kept as fen and shown as ¥300,000.50; a contract is
# signed only once its legal review and identity check are recorded, and
# is not changed after. (A session of protocol 6 gets none of the new
# tables: test_sync's sales_records_reach_from_version_7.)
#
#   bash tests/cli/test_sales.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_sales.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_sales.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-sales-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; for u in zhang wang li; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='sales test passphrase -- 7e21'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

zh() { runc "$FS" --home "$WORK/zhang" "$@"; }
wg() { runc "$FS" --home "$WORK/wang" "$@"; }
li() { runc "$FS" --home "$WORK/li" "$@"; }

# Dates from today: this ISO week, its Monday and Sunday.
TODAY=$(date +%F)
YESTERDAY=$(date -d yesterday +%F)
MON=$(date -d "$TODAY -$(($(date +%u) - 1)) days" +%F)
SUN=$(date -d "$MON +6 days" +%F)
WEEK=$(date -d "$MON" +%G-W%V)
MONTH=$(date +%Y-%m)
LASTWEEK=$(date -d "$MON -7 days" +%G-W%V)
QUARTER="$(date +%Y)-Q$((($(date +%-m) - 1) / 3 + 1))"

"$FSS" init --data "$S" >/dev/null 2>>"$ERRLOG"
add_users "zhang rep north" "wang rep north" "li manager north" "chen manager south"
# the managers read the dashboard too (issue 19: "in report and on the dashboard")
LI_PW='li password 123'
CHEN_PW='chen password 123'
FIELDSYNC_USER_PASSWORD=$LI_PW runc "$FSS" user passwd --data "$S" --name li
FIELDSYNC_USER_PASSWORD=$CHEN_PW runc "$FSS" user passwd --data "$S" --name chen
expect "the managers' passwords" 0
start_server 0
allow_exports north # the test reads lists into variables (issue 20.4)
for u in zhang wang li; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PORT"
    runc "$FS" --home "$WORK/$u" unlock
    runc "$FS" --home "$WORK/$u" whoami --set "$u"
    runc "$FS" --home "$WORK/$u" sync # the team's export policy
    expect "$u takes the team's settings" 0
done
stop_server # the reps record offline

# ---- zhang, offline: a customer's profile ----
zh customer add --name "北京华信" --key-account --size "200 人" --business-area "华北制造业"
expect "customer add with profile fields" 0
C1=$OUT
zh customer edit "${C1:0:8}" --decision-chain "采购经理 → 总经理" --history "2025 年试用" \
    --preferences "上午拜访" --open-questions "是否含安装"
expect "customer edit ID sets the profile" 0
zh customer show "${C1:0:8}" --json
contains "the profile is kept" "$OUT" '"size":"200 人","business_area":"华北制造业","decision_chain":"采购经理 → 总经理","history":"2025 年试用","preferences":"上午拜访","open_questions":"是否含安装"'
zh customer add --name "上海联科"
C2=$OUT

# ---- deals: amounts in CNY, kept as fen ----
zh deal add --customer "${C1:0:8}" --title "ERP 升级" --amount "300,000.50" \
    --expected-close "$(date -d '+20 days' +%F)"
expect "deal add, amount with a comma and fen" 0
D1=$OUT
zh deal add --customer "${C2:0:8}" --title "仓储系统" --amount 120000
D2=$OUT
zh deal add --customer "${C2:0:8}" --title "报表" --amount "1,2345"
expect "a misplaced comma is refused, naming --amount" 2 "--amount: expected an amount in CNY"
zh deal add --customer "${C2:0:8}" --title "报表" --amount "12.345"
expect "three decimals are refused" 2 "--amount: expected an amount in CNY"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/zhang" deal add --customer "${C2:0:8}" --title x --amount abc
expect "in Chinese too" 2 "--amount：应为人民币金额"
zh deal list
contains "shown as ¥300,000.50" "$OUT" "¥300,000.50"
contains "a new deal is a lead" "$OUT" "lead"
zh deal show "${D1:0:8}" --json
contains "fen in --json" "$OUT" '"amount":30000050'
# amounts as Chinese reps write them: in 万 (ten thousand), with 元 or ￥
for amount in "30万:30000000" "1.5万元:1500000" "12.345678万:12345678" "￥8,000元:800000"; do
    zh deal add --customer "${C2:0:8}" --title "金额 ${amount%%:*}" --amount "${amount%%:*}"
    expect "--amount ${amount%%:*}" 0
    AD=$OUT
    zh deal show "${AD:0:8}" --json
    contains "${amount%%:*} kept as ${amount##*:} fen" "$OUT" "\"amount\":${amount##*:},"
    zh deal delete "${AD:0:8}"
done
for bad in "30万万" "1.1234567万" "万" "3,0万"; do
    zh deal add --customer "${C2:0:8}" --title x --amount "$bad"
    expect "--amount $bad refused" 2 "--amount: expected an amount in CNY"
done
zh deal negotiate "${D1:0:8}"
expect "deal negotiate" 0
zh deal won "${D1:0:8}"
expect "deal won" 0
zh deal won "${D1:0:8}"
expect "won twice: refused by the stage" 2 "the stage is won; it must be lead|negotiating"
zh deal lost "${D2:0:8}" --at "$TODAY"
expect "deal lost --at today" 0
zh deal show "${D1:0:8}" --json
contains "won, closed today" "$OUT" "\"stage\":\"won\",\"expected_close\":\"$(date -d '+20 days' +%F)\",\"opened_at\":\"$TODAY\",\"closed_at\":\"$TODAY\""

# ---- payments (回款) ----
zh payment add --deal "${D1:0:8}" --amount 100000 --date "$TODAY"
expect "payment add" 0
zh payment add --deal "ERP" --amount "50,000"
expect "a deal named by its title" 0
P2=$OUT
# at a terminal, a correction shows the deal by its title and the amount
# in yuan; Enter to each keeps the payment as it is
DIALOG= pty_dialog "$FS" --home "$WORK/zhang" payment edit "${P2:0:8}"
equal "a payment looked over at the terminal" "$RC" 0
contains "its deal shown by title" "$TTY" "Deal (id or title) [ERP 升级] (Enter keeps it): "
contains "its amount in yuan" "$TTY" "Amount collected (CNY) [¥50,000.00] (Enter keeps it): "
contains "nothing typed, nothing changed" "$TTY" "payment edit: nothing changed"
zh payment add --deal "${D1:0:8}" --amount 1 --date "$(date -d '+2 days' +%F)"
expect "a payment in the future is refused" 2 "--date:"
zh payment list --json
contains "the payment's customer is the deal's" "$OUT" "\"customer\":\"$C1\""
zh payment list
contains "payments shown in CNY" "$OUT" "¥50,000.00"
# moved to another deal, a payment takes that deal's customer
zh payment add --deal "${D2:0:8}" --amount 1
P3=$OUT
zh payment edit "${P3:0:8}" --deal "${D1:0:8}" --amount 2
expect "payment edit --deal" 0
zh payment show "${P3:0:8}" --json
contains "its customer follows the deal" "$OUT" "\"deal\":\"$D1\",\"customer\":\"$C1\",\"amount\":200"
zh payment delete "${P3:0:8}"
expect "payment delete" 0
zh deal delete "${D1:0:8}"
expect "a deal its payments name is kept" 2 "is named by 2 other records (2 payments)"

# ---- a contract: signed only after legal review and identity check ----
zh contract add --deal "${D1:0:8}" --amount "300,000.50" --amount-matches yes \
    --delivery-period "30 天" --delivery-matches yes --service-standard "7x24" --service-matches yes
expect "contract add" 0
K=$OUT
zh contract sign "${K:0:8}"
expect "signing without the legal review is refused" 2 'contract sign: refused: "Legal review by" is not recorded yet'
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/zhang" contract sign "${K:0:8}"
expect "refused in Chinese" 2 "已拒绝：尚未记录“法务审核人”"
zh contract edit "${K:0:8}" --legal-by "王律师" --legal-at "$YESTERDAY"
expect "the legal review recorded" 0
zh contract sign "${K:0:8}"
expect "without the identity check: refused" 2 "\"Business licence seen\" is not recorded yet; record it first with 'contract edit ID --licence-seen'"
zh contract edit "${K:0:8}" --licence-seen yes --authorisation-seen no
zh contract sign "${K:0:8}"
expect "an authorisation not seen: refused" 2 "Legal representative's authorisation seen"
zh contract edit "${K:0:8}" --authorisation-seen yes
zh contract sign "${K:0:8}"
expect "contract sign, every check recorded" 0
zh contract edit "${K:0:8}" --amount 1
expect "a signed contract is not changed" 2 "a signed contract keeps what was signed"
zh contract delete "${K:0:8}"
expect "nor deleted" 2 "a signed contract keeps what was signed"

# ---- a survey ----
zh survey add --customer "${C1:0:8}" --quarter "$(date +%Y)-Q5" --attitude 5 --ability 4 --speed 4
expect "a quarter that does not exist" 2 "--quarter: expected a quarter as YYYY-Qn"
zh survey add --customer "${C1:0:8}" --quarter "$QUARTER" --attitude 6 --ability 4 --speed 4
expect "a score above 5" 2 "--attitude: expected a whole number from 1 to 5"
zh survey add --customer "${C1:0:8}" --quarter "$QUARTER" --attitude 5 --ability 4 --speed 3 --comment "响应快"
expect "survey add" 0

# ---- a visit planned ahead, confirmed ----
VPDAY=$(date -d '+3 days' +%F)
zh visit plan --customer "${C1:0:8}" --time "$VPDAY 10:00" --place "望京SOHO <T1>" --purpose "演示 & 报价"
expect "a visit plan" 0
VP=$OUT
VPAT=$(date '+%Y-%m-%d %H:%M')
zh visit confirm "${VP:0:8}" --how "微信" --at "$VPAT"
expect "the plan confirmed" 0

# ---- the week's plan states its goals in numbers ----
zh plan add --from "$MON" --to "$SUN" --goals "签约 2 个新客户，回款 30 万元" \
    --task "$TODAY|回访北京华信|上午"
expect "a weekly plan with goals" 0
# for the meeting: a reason stated in the self-check, next week's plan
zh selfcheck add --appearance yes --communication no --communication-fix "回复太慢，改为当天回复" \
    --data-management yes --teamwork yes --todos yes
expect "a self-check with a measure" 0
NMON=$(date -d "$MON +7 days" +%F)
zh plan add --from "$NMON" --to "$(date -d "$NMON +6 days" +%F)" --goals "回款 20 万元" \
    --task "$NMON|拜访上海联科|下午"
expect "next week's plan" 0

# ---- wang: a deal won with a new customer, collected in full ----
wg customer add --name "广州远航"
C3=$OUT
wg deal add --customer "${C3:0:8}" --title "培训" --amount 8000
D3=$OUT
wg deal won "${D3:0:8}"
wg payment add --deal "${D3:0:8}" --amount 8000
wg plan add --from "$MON" --to "$SUN" --goals "sign 1 new customer, collect 10,000 CNY"
expect "wang's plan, in English" 0
# a key account of wang's never surveyed, and a contract ready to sign
wg customer add --name "深圳海川" --key-account
wg contract add --deal "${D3:0:8}" --amount 8000 --legal-by "陈律师" --legal-at "$YESTERDAY" \
    --licence-seen yes --authorisation-seen yes
expect "wang's contract, every check recorded" 0
K2=$OUT

# ---- the rep's own report, offline ----
zh report sales --week "$WEEK" --json
contains "zhang's figures: 1 new customer of goal 2, 1 won of 2 opened, ¥150,000 of ¥300,000" "$OUT" '{"rep":"zhang","new_customers":1,"goal_new_customers":2,"deals_opened":2,"deals_won":1,"conversion":0.5,"won_fen":30000050,"collected_fen":15000000,"goal_collected_fen":30000000}'

# ---- sync, and the manager reads ----
start_server "$PORT"
for u in zhang wang li; do
    runc "$FS" --home "$WORK/$u" sync
    expect "$u syncs" 0
done
li deal list
contains "the manager holds zhang's deal" "$OUT" "ERP 升级"
contains "and wang's" "$OUT" "培训"
li contract list
contains "the signed contract with its legal review" "$OUT" "signed  王律师"
li survey list
contains "the survey" "$OUT" "$QUARTER"
li customer show "${C1:0:8}" --json
contains "the profile reaches the manager" "$OUT" '"decision_chain":"采购经理 → 总经理"'
li report sales --week "$WEEK" --json
contains "zhang's figures on the manager's laptop" "$OUT" '{"rep":"zhang","new_customers":1,"goal_new_customers":2,"deals_opened":2,"deals_won":1,"conversion":0.5,"won_fen":30000050,"collected_fen":15000000,"goal_collected_fen":30000000}'
contains "wang's: goals read from English" "$OUT" '{"rep":"wang","new_customers":1,"goal_new_customers":1,"deals_opened":1,"deals_won":1,"conversion":1,"won_fen":800000,"collected_fen":800000,"goal_collected_fen":1000000}'
contains "the team's" "$OUT" '"team":{"new_customers":2,"goal_new_customers":3,"deals_opened":3,"deals_won":2,"conversion":0.6667,"won_fen":30800050,"collected_fen":15800000,"goal_collected_fen":31000000}'
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/li" report sales --week "$WEEK"
expect "report sales in Chinese" 0
contains "Chinese headings" "$OUT" "新签客户"
contains "the collection goal" "$OUT" "回款目标"
contains "the team's total" "$OUT" "团队合计"
contains "zhang's collected" "$OUT" "¥150,000.00"
li report sales --week "$LASTWEEK" --json
contains "last week: both reps, nothing done" "$OUT" '"team":{"new_customers":0,"goal_new_customers":null,"deals_opened":0,"deals_won":0,"conversion":null,"won_fen":0,"collected_fen":0,"goal_collected_fen":null}'
li report sales --month "$MONTH" --rep wang --json
contains "the month, one rep" "$OUT" '"period":"'"$MONTH"'"'
contains "wang only" "$OUT" '"reps":[{"rep":"wang"'
# ---- the dashboard: the customer's page lists the sales records ----
CLIENT=$(dirname "${BASH_SOURCE[0]}")/web_client.py
http() { # METHOD PATH [COOKIE] [BODY]: sets STATUS, HEAD, BODY
    local all
    all=$(python3 "$CLIENT" "$PORT" "$@")
    STATUS=$(head -n 1 <<<"$all")
    HEAD=$(sed -n '2,/^$/p' <<<"$all")
    BODY=$(sed -n '/^$/,$p' <<<"$all")
}
cookie_of() { grep -i "^set-cookie: $1=" <<<"$HEAD" | head -n 1 | cut -d' ' -f2 | cut -d';' -f1; }
login() { # NAME PASSWORD: sets SESSION
    http GET /login
    local pre csrf
    pre=$(cookie_of fs_login)
    csrf=$(grep -oE 'name="csrf" value="[0-9a-f]+' <<<"$BODY" | cut -d'"' -f4)
    http POST /login "$pre" "name=$1&password=$2&csrf=$csrf"
    SESSION=$(cookie_of fs_session)
}
login li "${LI_PW// /+}"
[ -n "$SESSION" ] && ok "li logs in to the dashboard" || fail "li logs in" "$STATUS $HEAD"
http GET "/customer?id=$C1" "$SESSION"
equal "the customer's page" "$STATUS" 200
contains "its deal's title" "$BODY" "<td>ERP 升级</td>"
contains "the amount in CNY from fen" "$BODY" "<td>¥300,000.50</td>"
contains "the deal's stage" "$BODY" "<td>won</td>"
contains "the deals' heading" "$BODY" "<h2>Deals</h2>"
contains "a payment, its amount and day" "$BODY" "<tr><td>$TODAY</td><td>¥100,000.00</td></tr>"
contains "the other payment" "$BODY" "¥50,000.00"
lacks "the deleted payment is not listed" "$BODY" "¥2.00"
contains "the contract: amount, status, legal review, identity checked" "$BODY" \
    "<tr><td>¥300,000.50</td><td>signed</td><td>王律师</td><td>$YESTERDAY</td><td>yes</td><td>yes</td></tr>"
contains "the survey: quarter, scores, comment" "$BODY" \
    "<tr><td>$QUARTER</td><td>5</td><td>4</td><td>3</td><td>响应快</td></tr>"
contains "the visit plan, escaped, confirmed when and how" "$BODY" \
    "<tr><td>$VPDAY 10:00</td><td>望京SOHO &lt;T1&gt;</td><td>演示 &amp; 报价</td><td>$VPAT</td><td>微信</td></tr>"
lacks "no raw markup from the records" "$BODY" "<T1>"
WEB_LANG=zh-CN http GET "/customer?id=$C1" "$SESSION"
equal "the page in Chinese" "$STATUS" 200
contains "Chinese: the deals' heading" "$BODY" "<h2>商机</h2>"
contains "Chinese: the stage" "$BODY" "<td>已成交</td>"
contains "Chinese: the contract signed" "$BODY" "<td>已签订</td>"
contains "Chinese: the survey's heading" "$BODY" "<h2>满意度调查</h2>"
contains "Chinese: the visit plans' heading" "$BODY" "<h2>拜访计划</h2>"
contains "Chinese: the amount" "$BODY" "¥300,000.50"
login chen "${CHEN_PW// /+}"
[ -n "$SESSION" ] && ok "chen (team south) logs in" || fail "chen logs in" "$STATUS $HEAD"
http GET "/customer?id=$C1" "$SESSION"
equal "another team's manager: not found" "$STATUS" 404
lacks "nothing of the deal" "$BODY" "ERP"

# ---- report compliance counts what the rules cannot refuse offline ----
# li, the manager, finds the authorisation letter was not the right one and
# clears it; wang, offline since, signs on his laptop, which still shows it
# seen: both writes are accepted, and the contract is signed unchecked.
li contract edit "${K2:0:8}" --authorisation-seen no
expect "li clears the authorisation" 0
li sync
wg contract sign "${K2:0:8}"
expect "wang signs offline (his copy shows it seen)" 0
wg sync
expect "wang's signing is accepted" 0
li sync
li contract show "${K2:0:8}" --json
contains "signed, the authorisation not seen" "$OUT" '"authorisation_seen":false,"status":"signed"'
# judged just after this quarter's end: wang's key account was never surveyed
QEND=$(date -d "$(date +%Y)-$(printf %02d $(( ($(date +%-m) - 1) / 3 * 3 + 1 )))-01 +3 months" +%F)
QWEEK=$(date -d "$QEND" +%G-W%V)
li report compliance --week "$QWEEK" --at "$QEND 10:00" --json
expect "report compliance after the quarter" 0
rule_of() { # REP RULE: the tally of RULE for REP in $OUT
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps([r["rules"][sys.argv[3]] for r in d["reps"] if r["rep"]==sys.argv[2]][0], separators=(",",":")))' "$OUT" "$1" "$2"
}
# (the week may reach into the next quarter, not due yet: overdue and
# missed are compared)
late_of() { rule_of "$1" "$2" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["overdue"], d["missed"])'; }
equal "wang's key account not surveyed this quarter: overdue" "$(late_of wang satisfaction_survey)" "1 0"
equal "zhang's surveyed" "$(late_of zhang satisfaction_survey)" "0 0"
li report compliance --week "$WEEK" --json
equal "wang's contract signed unchecked: a violation" "$(rule_of wang contract_checked)" '{"on_time":0,"due_soon":0,"overdue":1,"missed":0}'
equal "zhang's checked before the stamp" "$(rule_of zhang contract_checked)" '{"on_time":1,"due_soon":0,"overdue":0,"missed":0}'
li report compliance --week "$WEEK"
contains "the table counts it" "$OUT" "CONTRACTS UNCHECKED"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/li" report compliance --week "$WEEK"
contains "in Chinese" "$OUT" "合同未核验"
# ---- the weekly meeting pack ----
li report meeting --week "$WEEK" --json
expect "report meeting --json" 0
contains "zhang's results against the goals" "$OUT" '"results":{"figures":{"rep":"zhang","new_customers":1,"goal_new_customers":2,"deals_opened":2,"deals_won":1,"conversion":0.5,"won_fen":30000050,"collected_fen":15000000,"goal_collected_fen":30000000},"goals":"签约 2 个新客户，回款 30 万元","plan_status":"draft","tasks":1,"tasks_done":0,"tasks_not_done":[{"date":"'"$TODAY"'","task":"回访北京华信","done":false}]}'
contains "the deal lost" "$OUT" '"deals_lost":[{"closed_at":"'"$TODAY"'","title":"仓储系统","amount_fen":12000000}]'
contains "the reason stated" "$OUT" '"stated_reasons":[{"date":"'"$TODAY"'","item":"communication_fix","reason":"回复太慢，改为当天回复"}]'
contains "next week's plan" "$OUT" '"next_week":{"goals":"回款 20 万元","status":"draft","tasks":[{"date":"'"$NMON"'","task":"拜访上海联科","done":false}]}'
contains "wang's unchecked contract among the overdue" "$OUT" '{"rule":"contract_checked","status":"overdue","due":"'"$TODAY"' 00:00","record":"'"$K2"'"}'
LC_ALL= LANG=zh_CN.UTF-8 runc "$FS" --home "$WORK/li" report meeting --week "$WEEK"
expect "report meeting in Chinese" 0
contains "its title" "$OUT" "周例会材料，$WEEK 周"
contains "results against goals" "$OUT" "新签客户：1（目标 2）；成交/新开商机：1/2；回款：¥150,000.00（目标 ¥300,000.00）"
contains "next week" "$OUT" "下周计划："
contains "the plans' status in words" "$OUT" "本周目标：签约 2 个新客户，回款 30 万元（草稿）"
contains "next week's too" "$OUT" "目标：回款 20 万元（草稿）"
contains "the team's figures" "$OUT" "团队合计"
contains "a reason stated, after the reader's colon" "$OUT" "：回复太慢，改为当天回复"
# wang lost no deal and stated no reason: his empty sections say so
WANG_PACK=$(sed -n '/^== wang ==/,/^== [^w]/p' <<<"$OUT" | tr '\n' '|')
contains "wang's pack: no deal lost, said" "$WANG_PACK" "|  丢单：|    无|"
contains "no reason stated, said" "$WANG_PACK" "|  自查中所述原因和改进措施：|    无|"
contains "an overdue item's date in line after its CJK status" "$WANG_PACK" "|    已逾期      $TODAY 00:00  "
zh report meeting --week "$WEEK" --rep zhang
expect "the rep's own pack, offline" 0
contains "zhang's section" "$OUT" "== zhang =="
li report meeting --week 2026-W60
expect "a week that does not exist" 2 "--week: expected an ISO week"
li report sales --week "$WEEK" --month "$MONTH"
expect "--week and --month together" 2 "give --week or --month, not both"
li report sales --month 2026-13
expect "a month that does not exist" 2 "--month: expected a month YYYY-MM"
stop_server

# A weekly plan from the Friday before to Thursday belongs to the week of
# its middle (4 of its 7 days): its goals count for this week, not the last.
K="$WORK/kim"
runc "$FS" --home "$K" init
runc "$FS" --home "$K" whoami --set kim
runc "$FS" --home "$K" plan add --from "$(date -d "$MON -3 days" +%F)" \
    --to "$(date -d "$MON +3 days" +%F)" --goals "签约 3 个新客户"
expect "a plan from Friday to Thursday" 0
runc "$FS" --home "$K" report sales --week "$WEEK" --json
contains "its goals count for the week of its middle" "$OUT" '"goal_new_customers":3'
runc "$FS" --home "$K" report sales --week "$LASTWEEK" --json
lacks=$(grep -c '"goal_new_customers":3' <<<"$OUT")
equal "and not for the week it starts in" "$lacks" 0

for u in zhang wang li; do runc "$FS" --home "$WORK/$u" lock; done
hits=$(grep -rlaF -e "北京华信" -e "王律师" -e "采购经理" "$S" "$WORK/serve.log" 2>/dev/null)
equal "no customer text in the store or the server's log" "$hits" ""
finish
