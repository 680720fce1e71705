#!/usr/bin/env bash
# End-to-end tests of the fieldsync command-line client: every command, its
# exit statuses and messages, the all-or-nothing visit write, byte-exact
# UTF-8 in --json, CJK alignment in tables, passphrase changes, and finally
# a raw-byte scan of the replica's files for the text the tests wrote.
#
#   bash tests/cli/test_cli.sh path/to/fieldsync
#
# Needs only bash and coreutils/grep/util-linux (setsid); prints one line per
# check and ends with "N passed, M failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_cli.sh path/to/fieldsync}
if [ ! -x "$FS" ]; then
    echo "test_cli.sh: $FS is not an executable" >&2
    exit 2
fi
# Byte-exact greps; wc -L needs a UTF-8 locale to measure display widths.
export LC_ALL=C.UTF-8

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-cli-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
H=$WORK/home
ERRLOG=$WORK/all-stderr # every stderr of the run, checked for leaks at the end

PASS1='correct horse battery stapler'
PASS2='tr0ub4dor & 3 -- second passphrase'
export FIELDSYNC_PASSPHRASE=$PASS1
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

# Text written into the replica; none of it may appear in its files or on
# stderr. Unusual enough not to occur by chance.
CN_NAME='青松岭测绘科技有限公司 (QSL Survey)'
EN_NAME='Quillfeather Analytics GmbH'
ODD_NAME='Müller "Bau" \ Söhne'
ODD_NAME_JSON='"name":"Müller \"Bau\" \\ Söhne"'
LONG_NAME='北京市朝阳区某某某某某某某某某某某某某某某某某某某某某某某某某某某某有限公司'
NOTES_CN='客户认为竞品流程繁琐希望简化审批'
NOTES_EN='zephyrine wants simpler approval flows'
COMMIT1='寄送三个同行业成功案例'
COMMIT2='state the after-sales SLA marigoldix'
BADCOMMIT='never-saved promise quasarnel'
MARKERS=("青松岭测绘" "Quillfeather" "Müller \"Bau\"" "竞品流程繁琐" "zephyrine" \
    "同行业成功案例" "marigoldix" "quasarnel" "某某某某某某")


# run ARGS...: runs fieldsync.
run() {
    runc "$FS" "$@"
}

# lacks NAME HAYSTACK NEEDLE

# equal NAME GOT WANT
equal() {
    if [ "$2" == "$3" ]; then
        ok "$1"
    else
        fail "$1" "got:      $2" "expected: $3"
    fi
}

# count_in TEXT NEEDLE: how many times NEEDLE occurs in TEXT.
count_in() {
    grep -oF -- "$2" <<<"$1" | wc -l
}

# Rows in the replica, from the JSON lists.
n_customers() {
    run --home "$H" customer list --json
    count_in "$OUT" '"key_account":'
}
n_visits() {
    run --home "$H" visit list --json
    count_in "$OUT" '"recorded_at":'
}
n_commitments() {
    run --home "$H" visit list --json
    count_in "$OUT" '"due":'
}

# Display column where NEEDLE starts in LINE.
column_of() {
    printf '%s' "${1%%"$2"*}" | wc -L
}

is_id() {
    [[ $1 =~ ^[0-9a-f]{32}$ ]]
}

echo "# fieldsync client tests ($FS)"

# ---- version, help, command-line errors ----
run --version
expect "--version exits 0" 0
if [[ $OUT =~ ^fieldsync\ [0-9]+\.[0-9]+ ]]; then ok "--version prints a version"; else
    fail "--version prints a version" "got: $OUT"; fi

for h in help --help; do
    run "$h"
    expect "$h exits 0" 0
    for c in init passwd "customer add" "customer list" "visit add" "visit list" --version \
        FIELDSYNC_HOME FIELDSYNC_PASSPHRASE FIELDSYNC_NEW_PASSPHRASE; do
        contains "$h lists $c" "$OUT" "$c"
    done
done
run visit add --help
expect "visit add --help exits 0" 0
contains "visit add --help shows --commit" "$OUT" '--commit "TEXT|YYYY-MM-DD"'

run
expect "no command: status 2" 2 "no command"
run frobnicate
expect "unknown command: status 2, named" 2 "frobnicate"
run --frob customer list
expect "unknown global option: status 2, named" 2 "--frob"
run --home "$H" customer
expect "missing subcommand: status 2" 2 "customer"
run --home "$H" customer delete
expect "unknown subcommand: status 2, named" 2 "delete"
runc env -u FIELDSYNC_HOME "$FS" customer list
expect "no --home and no FIELDSYNC_HOME: status 2" 2 "FIELDSYNC_HOME"
contains "no home: message names --home" "$ERR" "--home"
run --home "$H" customer list
expect "list before init: status 1, clear message" 1 "no replica in"

# ---- init ----
run --home "$H" init
expect "init creates a replica" 0
if [ -f "$H/replica.key" ] && [ -f "$H/replica.db" ]; then ok "init wrote replica.key and replica.db"; else
    fail "init wrote replica.key and replica.db" "$(ls -la "$H" 2>&1)"; fi
run --home "$H" init
expect "init twice in the same directory fails" 1 "already exists"
# a home whose parents are missing: made as mkdir -p would, each private
run --home "$WORK/nested/laptops/zhang" init
expect "init makes a home's missing parents" 0
equal "each made 0700" "$(stat -c %a "$WORK/nested" "$WORK/nested/laptops" "$WORK/nested/laptops/zhang" | tr '\n' ' ')" \
    "700 700 700 "

if command -v setsid >/dev/null; then
    runc env -u FIELDSYNC_PASSPHRASE setsid -w "$FS" --home "$WORK/nopass" init </dev/null
    expect "init without a passphrase or a terminal fails" 1 "FIELDSYNC_PASSPHRASE"
    if [ ! -e "$WORK/nopass/replica.key" ]; then ok "no key file without a passphrase"; else
        fail "no key file without a passphrase"; fi
    runc env -u FIELDSYNC_PASSPHRASE setsid -w "$FS" --home "$H" customer list </dev/null
    expect "opening without a passphrase or a terminal fails" 1 "FIELDSYNC_PASSPHRASE"
else
    echo "skip no-terminal tests: setsid not found"
fi
runc env FIELDSYNC_PASSPHRASE= "$FS" --home "$WORK/empty" init
expect "init with an empty passphrase fails" 2 "empty"
# a passphrase worth its name (issue 20.7): a copied home is guessed as
# fast as its passphrase is weak
runc env FIELDSYNC_PASSPHRASE=a "$FS" --home "$WORK/weak" init
expect "init with a one-character passphrase fails" 2 "too short: use at least 12 characters, or 4 words"
equal "and creates nothing" "$(ls -A "$WORK/weak" 2>/dev/null | wc -l)" 0
runc env FIELDSYNC_PASSPHRASE='correct horse battery staple' "$FS" --home "$WORK/weak" init
expect "init with a famous passphrase fails" 2 "guessed first"
runc env FIELDSYNC_PASSPHRASE='1111111111111111' "$FS" --home "$WORK/weak" init
expect "init with one character repeated fails" 2 "too few different characters"
runc env LANG=zh_CN.UTF-8 FIELDSYNC_PASSPHRASE='Password1234' "$FS" --lang zh --home "$WORK/weak" init
expect "in Chinese too" 2 "口令"

runc env FIELDSYNC_PASSPHRASE='not the passphrase' "$FS" --home "$H" customer list
expect "wrong passphrase fails with a clear message" 1 "wrong passphrase"

run --home "$H" customer list
expect "customer list on an empty replica" 0
contains "empty list says so" "$OUT" "no customers"

# ---- customers ----
run --home "$H" customer add --name "$CN_NAME" --key-account --industry 软件 --owner 王某
expect "customer add (Chinese name, key account)" 0
CID=$OUT
if is_id "$CID"; then ok "customer add prints a 32-digit id"; else
    fail "customer add prints a 32-digit id" "got: $CID"; fi
run --home "$H" customer add --name "$EN_NAME" --industry Logistics --owner alice
expect "customer add (English name)" 0
EID=$OUT
run --home "$H" customer add --name="$ODD_NAME"
expect "customer add with --name=VALUE, quotes and a backslash" 0
run --home "$H" customer add --name "$LONG_NAME" --industry Pharma
expect "customer add (long name)" 0

run --home "$H" customer add --industry x
expect "customer add without --name: status 2, named" 2 "--name"
run --home "$H" customer add --name "  "
expect "customer add with a blank --name: status 2, named" 2 "--name"
run --home "$H" customer add --name $'\xe9\x9d' --industry x
expect "customer add with invalid UTF-8: status 2, named" 2 "--name"
run --home "$H" customer add --name x --key-account=yes
expect "flag with a value: status 2, named" 2 "--key-account"
run --home "$H" customer add --name x --vip
expect "customer add with an unknown option: status 2, named" 2 "--vip"
run --home "$H" customer add --name
expect "customer add --name without a value: status 2" 2 "--name: missing value"
run --home "$H" customer add "$EN_NAME"
expect "stray argument: status 2" 2 "unexpected argument"
equal "failed adds wrote no customer" "$(n_customers)" 4

run --home "$H" customer list --json
expect "customer list --json" 0
JSON=$OUT
if [ "${JSON:0:1}" == "[" ] && [ "${JSON: -1}" == "]" ]; then ok "--json prints one array"; else
    fail "--json prints one array" "got: ${JSON:0:80}"; fi
contains "Chinese name round-trips byte for byte" "$JSON" "\"name\":\"$CN_NAME\""
contains "long Chinese name round-trips" "$JSON" "\"name\":\"$LONG_NAME\""
contains "quotes and backslash escaped in JSON" "$JSON" "$ODD_NAME_JSON"
contains "full id in JSON" "$JSON" "\"id\":\"$CID\""
contains "industry in JSON" "$JSON" '"industry":"软件"'
contains "owner in JSON" "$JSON" '"owner":"王某"'
contains "key account is true" "$JSON" '"key_account":true'
contains "other customers are not key accounts" "$JSON" '"key_account":false'

run --home "$H" customer list
expect "customer list (table)" 0
TABLE=$OUT
contains "table shows the short id" "$TABLE" "${CID:0:8}"
lacks "table shows no full id" "$TABLE" "$CID"
contains "table shows the Chinese name" "$TABLE" "$CN_NAME"
contains "table cuts a long name with …" "$(grep -F 北京市朝阳区 <<<"$TABLE")" "某…"
lacks "the cut name is not shown whole" "$TABLE" "$LONG_NAME"
header=$(head -1 <<<"$TABLE")
want=$(column_of "$header" INDUSTRY)
for pair in "$CN_NAME|软件" "$EN_NAME|Logistics" "北京市朝阳区|Pharma"; do
    line=$(grep -F -- "${pair%%|*}" <<<"$TABLE")
    equal "INDUSTRY column aligned on the row of ${pair%%|*}" "$(column_of "$line" "${pair#*|}")" "$want"
done
want=$(column_of "$header" "KEY ACCOUNT")
line=$(grep -F -- "$CN_NAME" <<<"$TABLE")
equal "KEY ACCOUNT column aligned after CJK cells" "$(column_of "$line" yes)" "$want"

# ---- visits: bad input writes nothing ----
V0=$(n_visits)
C0=$(n_commitments)
equal "no visits yet" "$V0" 0
GOOD=(--place "客户会议室" --purpose "跟进项目需求" --notes "$NOTES_CN")

run --home "$H" visit add --customer ffffffffffff --time "2023-10-10 14:00" --confirm "${GOOD[@]}" \
    --commit "$BADCOMMIT|2023-10-12"
expect "unknown customer: status 2, names --customer" 2 "--customer"
contains "unknown customer: says what is wrong" "$ERR" "no customer"
run --home "$H" visit add --customer "${CID:0:5}" --time "2023-10-10 14:00" --confirm "${GOOD[@]}"
expect "too short an id prefix: status 2, names --customer" 2 "--customer"
run --home "$H" visit add --customer 'xyz;drop' --time "2023-10-10 14:00" --confirm "${GOOD[@]}"
expect "non-hex id: status 2, names --customer" 2 "--customer"

for t in "2023-13-01 14:00" "2023-00-10 14:00" "2023-02-29 10:00" "2023-04-31 10:00" \
    "2023-10-10 24:00" "2023-10-10 14:60" "2023-10-10T14:00" "2023-10-10 14:00:00" \
    "2023-1-10 14:00" "2023-10-10" "10/10/2023 14:00" "2023-10-10 1400" "yesterday" ""; do
    run --home "$H" visit add --customer "$CID" --time "$t" "${GOOD[@]}"
    expect "--time \"$t\" refused with status 2" 2 "--time"
done
run --home "$H" visit add --customer "$CID" --time "2023-13-01 14:00" "${GOOD[@]}"
contains "the --time message shows the expected form and the value" "$ERR" \
    'expected "YYYY-MM-DD HH:MM", got "2023-13-01 14:00"'

for c in "$BADCOMMIT|2023-02-30" "$BADCOMMIT|2023-10-1" "$BADCOMMIT" "|2023-10-12" \
    "   |2023-10-12" "$BADCOMMIT|" "$BADCOMMIT|2023-10-09"; do
    run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm "${GOOD[@]}" \
        --commit "$COMMIT1|2023-10-12" --commit "$c"
    expect "bad --commit \"${c//$BADCOMMIT/TEXT}\" refused with status 2" 2 "--commit #2"
done

run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm --place p --purpose p \
    --notes ""
expect "empty --notes: status 2, named" 2 "--notes"
run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm --place p --purpose p \
    --notes "   "
expect "blank --notes: status 2, named" 2 "--notes"
run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm --purpose p --notes n
expect "missing --place: status 2, named" 2 "--place"
run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm --place --purpose p \
    --notes n
expect "--place without a value: status 2, named" 2 "--place: missing value"
run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm "${GOOD[@]}" --mood happy
expect "unknown option: status 2, named" 2 "--mood"
run --home "$H" visit add --customer "$CID" --time "2023-10-10 14:00" --confirm "${GOOD[@]}" \
    --place again
expect "option given twice: status 2, named" 2 "--place"
run --home "$H" visit add --time "2023-10-10 14:00" --confirm "${GOOD[@]}"
expect "missing --customer: status 2, named" 2 "--customer"

equal "refused visits wrote no visit" "$(n_visits)" "$V0"
equal "refused visits wrote no commitment" "$(n_commitments)" "$C0"

# ---- visits that are saved ----
run --home "$H" visit add --customer "${CID:0:8}" --time "2023-10-10 14:00" --confirm \
    --contact "张经理" --position "采购总监" --place "客户会议室" \
    --purpose "跟进XX项目需求，介绍定制化方案" --notes "$NOTES_CN; $NOTES_EN" \
    --objections "担心新品牌售后能力" --commit "$COMMIT1|2023-10-12" \
    --commit "$COMMIT2 | 2023-10-12" --next "10月12日前发送案例和SLA；10月15日演示" --visitor "李某"
expect "visit add with an 8-digit id prefix and two commitments" 0
VID=$OUT
if is_id "$VID"; then ok "visit add prints a 32-digit id"; else
    fail "visit add prints a 32-digit id" "got: $VID"; fi
run --home "$H" visit add --customer "$EID" --time "2024-02-29 09:30" --confirm --place HQ \
    --purpose "quarterly review" --notes "leap day visit, no promises"
expect "visit add with a full id on a leap day" 0
VID2=$OUT
equal "two visits now" "$(n_visits)" 2
equal "two commitments now" "$(n_commitments)" 2

run --home "$H" visit list --json
expect "visit list --json" 0
JSON=$OUT
contains "visit id in JSON" "$JSON" "\"id\":\"$VID\""
contains "visit customer is the full customer id" "$JSON" "\"customer\":\"$CID\""
contains "visit notes byte for byte" "$JSON" "\"notes\":\"$NOTES_CN; $NOTES_EN\""
contains "visit customer name" "$JSON" "\"customer_name\":\"$CN_NAME\""
contains "visit time" "$JSON" '"time":"2023-10-10 14:00"'
contains "next steps" "$JSON" '"next_steps":"10月12日前发送案例和SLA；10月15日演示"'
if [[ $JSON =~ \"recorded_at\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}\" ]]; then
    ok "recorded_at is set"; else fail "recorded_at is set" "in: ${JSON:0:400}"; fi
contains "commitments array in the visit" "$JSON" '"commitments":[{'
contains "first commitment text" "$JSON" "\"text\":\"$COMMIT1\""
contains "second commitment text, trimmed" "$JSON" "\"text\":\"$COMMIT2\""
contains "commitment due date" "$JSON" '"due":"2023-10-12"'
contains "commitment status open" "$JSON" '"status":"open"'
contains "commitment links its visit" "$JSON" "\"visit\":\"$VID\""
contains "a visit without commitments has an empty array" "$JSON" '"commitments":[]'
lacks "refused commitments were not saved" "$JSON" "quasarnel"

run --home "$H" visit list
expect "visit list (table)" 0
contains "visit table shows the short id" "$OUT" "${VID:0:8}"
contains "visit table shows the second visit" "$OUT" "${VID2:0:8}"
contains "visit table summarises commitments" "$OUT" "2, 2 open, next due 2023-10-12"
header=$(head -1 <<<"$OUT")
line=$(grep -F -- "${VID:0:8}" <<<"$OUT")
equal "visit table: COMMITMENTS column aligned after CJK cells" \
    "$(column_of "$line" "2, 2 open")" "$(column_of "$header" COMMITMENTS)"

run --home "$H" customer list
contains "customer list shows the last visit" "$(grep -F -- "$CN_NAME" <<<"$OUT")" "2023-10-10 14:00"

# ---- FIELDSYNC_HOME and where --home goes ----
runc env FIELDSYNC_HOME="$H" "$FS" customer list
expect "FIELDSYNC_HOME is used without --home" 0
contains "FIELDSYNC_HOME lists the customers" "$OUT" "${CID:0:8}"
runc env FIELDSYNC_HOME="$WORK/nowhere" "$FS" --home "$H" visit list
expect "--home wins over FIELDSYNC_HOME" 0
run customer list --home "$H"
expect "--home after the command" 0

# ---- passwd ----
runc env FIELDSYNC_NEW_PASSPHRASE='short' "$FS" --home "$H" passwd
expect "passwd to a short passphrase fails" 2 "too short"
runc env FIELDSYNC_PASSPHRASE='not it' FIELDSYNC_NEW_PASSPHRASE="$PASS2" "$FS" --home "$H" passwd
expect "passwd with a wrong current passphrase fails" 1 "wrong passphrase"
if command -v setsid >/dev/null; then
    runc env -u FIELDSYNC_NEW_PASSPHRASE setsid -w "$FS" --home "$H" passwd </dev/null
    expect "passwd without a new passphrase or a terminal fails" 1 "FIELDSYNC_NEW_PASSPHRASE"
fi
run --home "$H" customer list
expect "failed passwd changed nothing" 0
runc env FIELDSYNC_NEW_PASSPHRASE="$PASS2" "$FS" --home "$H" passwd
expect "passwd changes the passphrase" 0
run --home "$H" customer list
expect "the old passphrase no longer opens the replica" 1 "wrong passphrase"
runc env FIELDSYNC_PASSPHRASE="$PASS2" "$FS" --home "$H" visit list --json
expect "the new passphrase opens it" 0
contains "data intact after passwd" "$OUT" "\"text\":\"$COMMIT1\""

# ---- nothing in plaintext, nothing leaked on stderr ----
# The command line leaves ps's view (fs_hide_args): any user of the laptop
# can read /proc/PID/cmdline. The visit below waits for its notes at a
# terminal prompt; while it waits, its command line shows the command words
# and option names, not the customer, place or purpose typed after them.
DIALOG=$(printf '%s\t%s' "notes: " "zephyrine asked for a trial") \
    DIALOG_CMDLINE=$WORK/cmdline FIELDSYNC_PASSPHRASE="$PASS2" LANG=C.UTF-8 \
    pty_dialog "$FS" --home "$H" visit add --customer 青松岭测绘 --time "2023-10-12 09:30" \
    --confirm "--place=quasarnel hall" --purpose "marigoldix review"
ARGV_OUT="RC=$RC
CMDLINE=$(cat "$WORK/cmdline" 2>/dev/null)"
contains "a visit asked for its notes at the terminal" "$ARGV_OUT" "RC=0"
contains "ps shows the command words and option names" "$ARGV_OUT" \
    "visit add --customer"
contains "ps shows --purpose but not what it was" "$ARGV_OUT" "--purpose"
for m in "青松岭测绘" "quasarnel" "marigoldix" "2023-10-12"; do
    line=$(printf '%s\n' "$ARGV_OUT" | grep '^CMDLINE=')
    lacks "ps does not show \"$m\" while the command runs" "$line" "$m"
done

# The control proves that grep finds these byte strings where they are.
allout="$OUT$JSON"
for m in "青松岭测绘" "竞品流程繁琐" "zephyrine" "marigoldix"; do
    contains "control: JSON output holds \"$m\"" "$allout" "$m"
done
nfiles=0
while IFS= read -r -d '' f; do
    nfiles=$((nfiles + 1))
    for m in "${MARKERS[@]}"; do
        n=$(LC_ALL=C grep -a -c -F -- "$m" "$f")
        if [ "$n" -ne 0 ]; then
            fail "no plaintext in ${f#"$WORK"/}" "found \"$m\" $n time(s)"
            continue 2
        fi
    done
    ok "no plaintext in ${f#"$WORK"/}"
done < <(find "$WORK/home" -type f -print0)
if [ "$nfiles" -ge 2 ]; then ok "scanned $nfiles replica files"; else
    fail "scanned the replica files" "found only $nfiles"; fi
leaked=0
for m in "${MARKERS[@]}" "$PASS1" "$PASS2"; do
    if LC_ALL=C grep -q -F -- "$m" "$ERRLOG"; then
        fail "stderr never shows customer data or passphrases" "found: $m"
        leaked=1
    fi
done
if [ "$leaked" -eq 0 ]; then ok "stderr never shows customer data or passphrases"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
