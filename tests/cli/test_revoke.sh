#!/usr/bin/env bash
# Issue 25.4: revocation counts the cost. Over real processes on 127.0.0.1
# (a server, rep zhang with three laptops, manager li). Laptops B and C
# each hold 860 visits whose sync was cut mid-way (a loopback proxy,
# tests/faultproxy.c, cuts the connection after 6.2 MB: two batches and the
# PULL that reports what the laptop holds got through, the rest did not).
#  - device list shows each device's unsent changes as last reported, and
#    its state.
#  - device revoke on B refuses, naming how many changes it would destroy
#    and the two options; nothing is revoked.
#  - --after-push on B: B syncs once more, the server keeps every visit,
#    then tells it to wipe; li gets all 860 of B's. The audit records
#    "after push: pending=N" and "discarded=0".
#  - --discard-unsent on C: wiped at its next contact, the audit records
#    discarded=N, and li never gets what C had not sent.
#
#   bash tests/cli/test_revoke.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed path/to/faultproxy
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

USAGE="usage: test_revoke.sh fieldsync fieldsync-server bigseed faultproxy"
FS=${1:?$USAGE}
FSS=${2:?$USAGE}
SEED=${3:?$USAGE}
PROXY=${4:?$USAGE}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-revoke-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null; stop_server_now; for u in a b c li; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='revoke test passphrase -- 2b9e'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
START=$SECONDS

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { # HOME [TAG]: the visits the replica lists [whose notes bigseed tagged TAG]
    "$FS" --home "$1" visit list --json | python3 -c '
import json, sys
tag = sys.argv[1] + " " if len(sys.argv) > 1 else ""
print(sum(1 for v in json.load(sys.stdin) if (v["notes"] or "").startswith(tag)))' "${@:2}"
}
fingerprint() { # DEVICE-NAME: its fingerprint from device list --json
    "$FSS" device list --data "$S" --json | python3 -c '
import json, sys
print(next(d["fingerprint"] for d in json.load(sys.stdin) if d["name"] == sys.argv[1]))' "$1"
}
field_of() { # DEVICE-NAME FIELD: from device list --json
    "$FSS" device list --data "$S" --json | python3 -c '
import json, sys
print(next(d[sys.argv[2]] for d in json.load(sys.stdin) if d["name"] == sys.argv[1]))' "$1" "$2"
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
echo pass >"$WORK/mode"
"$PROXY" "$WORK/proxy.port" "$PORT" "$WORK/mode" 7 6200000 6200000 100 2>"$WORK/proxy.log" &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
PPORT=$(cat "$WORK/proxy.port")
for h in a:zhang b:zhang c:zhang li:li; do
    enroll_device "${h#*:}" "$WORK/${h%%:*}" "ws://127.0.0.1:$PPORT" --name "laptop-${h%%:*}"
    run --home "$WORK/${h%%:*}" unlock
    run --home "$WORK/${h%%:*}" whoami --set "${h#*:}"
done

run --home "$WORK/a" customer add --name "Revoke Trading" --key-account
expect "zhang records a customer on laptop A" 0
CID=$OUT
run --home "$WORK/a" sync
expect "laptop A syncs" 0
for h in b c; do
    run --home "$WORK/$h" sync
    expect "laptop $h syncs" 0
done

# B and C record 860 visits each; their syncs are cut mid-way.
echo cut >"$WORK/mode"
for h in b c; do
    runc "$SEED" "$WORK/$h" "$CID" 860 1 25000 "laptop-$h" random
    expect "laptop $h records 860 visits" 0
    run --home "$WORK/$h" sync
    expect "laptop $h's sync is cut mid-way" 1
done
echo pass >"$WORK/mode"
grep -q "^cut after" "$WORK/proxy.log" && ok "the proxy cut the syncs" ||
    fail "the proxy cut the syncs" "$(cat "$WORK/proxy.log")"

FB=$(fingerprint laptop-b)
FC=$(fingerprint laptop-c)
PB=$(field_of laptop-b pending)
PC=$(field_of laptop-c pending)
[ "$PB" -gt 0 ] && [ "$PC" -gt 0 ] && ok "device list --json: B and C hold unsent changes ($PB, $PC)" ||
    fail "device list --json: B and C hold unsent changes" "B: $PB C: $PC"
srv device list --data "$S"
expect "device list" 0
contains "device list has a PENDING column" "$OUT" "PENDING"
contains "device list shows B's pending count" "$(grep laptop-b <<<"$OUT")" " $PB "
contains "device list shows B active" "$(grep laptop-b <<<"$OUT")" "active"
LANG=zh_CN.UTF-8 LC_ALL= runc "$FSS" device list --data "$S"
contains "in Chinese: the headings in words" "$OUT" "待上传"
contains "and B's state" "$(grep laptop-b <<<"$OUT")" "正常"
contains "the columns in line under CJK headings" "$(head -n 1 <<<"$OUT")" "用户             设备"
equal "A has nothing unsent" "$(field_of laptop-a pending)" 0

# Revoking B without saying what becomes of its changes is refused.
srv device revoke --data "$S" --device "$FB"
expect "revoking B with unsent changes is refused" 2 "holds $PB unsent changes"
contains "the refusal names --discard-unsent" "$ERR" "--discard-unsent"
contains "the refusal names --after-push" "$ERR" "--after-push"
equal "B is still active" "$(field_of laptop-b state)" active
srv device revoke --data "$S" --device "$FB" --discard-unsent --after-push
expect "the two options together are refused" 2

# --after-push: B pushes once more, then is told to wipe.
srv device revoke --data "$S" --device "$FB" --after-push
expect "revoke B after its push" 0
contains "revoke says B will be revoked after its push" "$OUT" "after its next push ($PB unsent"
equal "B's state" "$(field_of laptop-b state)" revoke-after-push
run --home "$WORK/b" sync
expect "B's last sync pushes, then B is wiped" 1 "revoked"
contains "B says it was wiped" "$ERR" "was wiped"
[ ! -e "$WORK/b/replica.key" ] && ok "B's replica is gone" || fail "B's replica is gone"
equal "B is revoked" "$(field_of laptop-b state)" revoked
equal "B has nothing pending" "$(field_of laptop-b pending)" 0
run --home "$WORK/li" sync
expect "li syncs" 0
equal "li holds every one of B's 860 visits" "$(n_visits "$WORK/li" laptop-b)" 860

# --discard-unsent: C is wiped at its next contact; its unsent visits are lost.
srv device revoke --data "$S" --device "$FC" --discard-unsent
expect "revoke C, discarding" 0
contains "revoke says how many are discarded" "$OUT" "its $PC unsent changes will be discarded"
run --home "$WORK/c" sync
expect "C is wiped at its next contact" 1 "was wiped"
run --home "$WORK/li" sync
expect "li syncs again" 0
GOT=$(n_visits "$WORK/li" laptop-c)
[ "$GOT" -gt 0 ] && [ "$GOT" -lt 860 ] &&
    ok "li holds what C had sent before the cut, not the rest ($GOT of 860)" ||
    fail "li holds what C had sent before the cut, not the rest" "li holds $GOT of C's"

stop_server
srv audit show --data "$S"
AUDIT=$OUT
contains "the audit records B's pending count at the revocation" "$AUDIT" "after push: pending=$PB"
contains "the audit records B pushed everything" "$AUDIT" "discarded=0"
contains "the audit records C's discarded changes" "$AUDIT" "discarded=$PC"
srv audit verify --data "$S"
expect "audit verify" 0
echo "runtime: $((SECONDS - START)) s"
finish
