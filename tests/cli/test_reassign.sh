#!/usr/bin/env bash
# Scope and reassignment end to end, real processes on 127.0.0.1 only.
# zhang's customer and visits reach his manager li and nobody else: not rep
# wang of the same team, not chen, the manager of another team. li hands
# the customer to wang: zhang's device purges it and its visits, wang's
# receives them field for field, the hand-over is audited. A rep cannot hand
# a customer on: the client refuses it before saving (exit 2); an edit the
# rep makes before learning of the hand-over was made with the right to
# make it and is kept (issue 24), and reaches the new owner.
#
#   bash tests/cli/test_reassign.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_reassign.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_reassign.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-reassign-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='reassign test passphrase -- 2f7d'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

MARK='wrenholm 转交客户'
run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
count() { # HOME TABLE: rows the device holds (a visit's commitments are inside it)
    run --home "$WORK/$1" "$2" list --json
    if [ "$2" = visit ]; then grep -oF '"recorded_at":' <<<"$OUT" | wc -l
    else grep -oE '"id":"[0-9a-f]{32}"' <<<"$OUT" | sort -u | wc -l; fi
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north" "wang rep north" "chen manager south"
allow_exports north south # the test reads lists into variables (issue 20.4)
start_server 0
for u in li zhang wang chen; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PORT" --name "$u-laptop"
    run --home "$WORK/$u" whoami --set "$u"
done

run --home "$WORK/zhang" customer add --name "$MARK" --key-account --industry "logistics"
expect "zhang records a customer" 0
CID=$OUT
for i in 1 2 3; do # dates from today (rel_day): 30-day rule on visit times
    run --home "$WORK/zhang" visit add --customer "$CID" --time "$(rel_day "$((16 - i)) days ago") 10:00" \
        --place "$MARK site $i" --purpose "visit $i" --notes "$MARK notes $i" \
        --commit "$MARK promise $i|$(rel_day "$((6 - i)) days ago")"
    expect "zhang records visit $i" 0
done
run --home "$WORK/zhang" customer add --name "zhang's other customer"
expect "zhang records a second customer" 0
for u in zhang li wang chen; do
    run --home "$WORK/$u" sync
    expect "$u syncs" 0
done

# ---- scope: only zhang and his manager hold zhang's rows ----
equal "li holds zhang's 2 customers" "$(count li customer)" 2
equal "li holds zhang's 3 visits" "$(count li visit)" 3
equal "wang (same team, another rep) holds no customer" "$(count wang customer)" 0
equal "wang holds no visit" "$(count wang visit)" 0
equal "chen (another team's manager) holds no customer" "$(count chen customer)" 0
equal "chen holds no visit" "$(count chen visit)" 0
for u in wang chen; do
    if grep -rqaF -e wrenholm -e 转交客户 "$WORK/$u"; then fail "no marker in $u's files"
    else ok "no marker in $u's files"; fi
done

# ---- a rep cannot hand a customer on: refused before it is saved ----
run --home "$WORK/zhang" customer edit --customer "$CID" --owner wang
expect "zhang's hand-over is refused on his laptop" 2 \
    "only a manager can hand a customer to another rep"
run --home "$WORK/zhang" sync
expect "zhang syncs" 0
run --home "$WORK/zhang" status --json
contains "nothing reached the server to refuse" "$OUT" '"refused_count":0'
run --home "$WORK/wang" sync
equal "wang received nothing" "$(count wang customer)" 0

# ---- li hands the customer to wang; zhang, not yet knowing, edits it ----
run --home "$WORK/li" customer edit --customer "$CID" --owner wang
expect "li hands the customer to wang" 0
run --home "$WORK/li" sync
expect "li syncs the hand-over" 0
run --home "$WORK/zhang" customer edit --customer "$CID" --industry "shipping"
expect "zhang edits the customer he still holds" 0
run --home "$WORK/zhang" sync
expect "zhang's sync: the edit made before he knew is kept (exit 0)" 0
run --home "$WORK/zhang" status --json
contains "nothing refused" "$OUT" '"refused_count":0'
equal "zhang keeps only his other customer" "$(count zhang customer)" 1
equal "zhang's device purged the 3 visits" "$(count zhang visit)" 0
run --home "$WORK/zhang" visit list --json
if grep -qF -e wrenholm -e 转交客户 <<<"$OUT"; then fail "zhang's lists no longer show the customer"
else ok "zhang's lists no longer show the customer"; fi
run --home "$WORK/wang" sync
expect "wang syncs" 0
equal "wang holds the customer" "$(count wang customer)" 1
equal "wang holds its 3 visits" "$(count wang visit)" 3
run --home "$WORK/li" visit list --json
LIV=$OUT
run --home "$WORK/wang" visit list --json
equal "wang's visits equal li's field for field" "$OUT" "$LIV"
run --home "$WORK/wang" customer list --json
contains "wang is the owner now" "$OUT" '"owner":"wang"'
contains "with zhang's edit made before he knew" "$OUT" '"industry":"shipping"'
run --home "$WORK/chen" sync
equal "chen still holds nothing" "$(count chen customer)" 0

# ---- audited ----
stop_server
srv audit show --data "$S"
contains "the hand-over is audited" "$OUT" "scope_change"
contains "with who had it and who has it" "$OUT" "zhang -> wang"
srv audit verify --data "$S"
expect "the audit chain verifies" 0

hits=$(grep -rlaF -e wrenholm -e 转交客户 "$S" "$WORK/serve.log" "$ERRLOG" 2>/dev/null)
equal "no marker in the store, the server's log or any message" "$hits" ""
finish
