#!/usr/bin/env bash
# Issue 25.1: records near the size limits never wedge a sync. Over real
# processes on 127.0.0.1 (a server, rep zhang with two laptops, manager li):
#  - zhang records 860 visits with 25,000-byte notes and pushes them 215 at
#    a time: 21 MiB in one batch of 5,000 changes, more than a 16 MiB
#    message. li and zhang's second laptop pull all of them (they used to
#    fail every pull from then on).
#  - zhang's second laptop records 40 visits with 8 fields of 65,000 bytes
#    (20 MiB) and pushes them (they used to be "sent next time" for ever);
#    li and the first laptop pull them.
#  - li records 40 more such visits to zhang's customer; both of zhang's
#    laptops pull them.
# Each time every replica lists the same visits, byte for byte, and each
# sync exits 0 in one go.
#
#   bash tests/cli/test_bigrecords.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_bigrecords.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
FSS=${2:?usage: test_bigrecords.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
SEED=${3:?usage: test_bigrecords.sh path/to/fieldsync path/to/fieldsync-server path/to/bigseed}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-bigrecords-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; for u in zhang zhang2 li; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='bigrecords test passphrase -- 7f3a'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
START=$SECONDS

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
# digest HOME: "COUNT SHA256" of the visits the replica lists, every field.
digest() {
    "$FS" --home "$1" visit list --json | python3 -c '
import hashlib, json, sys
visits = sorted(json.load(sys.stdin), key=lambda v: v["id"])
h = hashlib.sha256(json.dumps(visits, sort_keys=True).encode()).hexdigest()
print(len(visits), h)'
}
# all_equal WANT: the three replicas list WANT visits, the same ones.
all_equal() {
    local z z2 l
    z=$(digest "$WORK/zhang")
    z2=$(digest "$WORK/zhang2")
    l=$(digest "$WORK/li")
    equal "zhang's first laptop holds $1 visits" "${z%% *}" "$1"
    equal "zhang's second laptop holds the same visits" "$z2" "$z"
    equal "li holds the same visits" "$l" "$z"
}
sync_ok() { # NAME HOME
    run --home "$2" sync
    expect "$1 syncs completely" 0
    run --home "$2" status
    contains "$1 has nothing left to send" "$OUT" "pending changes: 0"
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
for h in zhang:zhang zhang2:zhang li:li; do
    enroll_device "${h#*:}" "$WORK/${h%%:*}" "ws://127.0.0.1:$PORT" --name "${h%%:*}-laptop"
    run --home "$WORK/${h%%:*}" unlock
    run --home "$WORK/${h%%:*}" whoami --set "${h#*:}"
done

run --home "$WORK/zhang" customer add --name "Bigrecords Trading" --key-account
expect "zhang records a customer" 0
CID=$OUT
sync_ok "zhang" "$WORK/zhang"

# 1. 860 visits with 25,000-byte notes, pushed 215 at a time (a push that
#    always went through): 21 MiB that used to come down in one CHANGES.
for i in 1 2 3 4; do
    runc "$SEED" "$WORK/zhang" "$CID" 215 1 25000 "zhang$i"
    expect "zhang records 215 visits with 25,000-byte notes ($i of 4)" 0
    sync_ok "zhang ($i of 4)" "$WORK/zhang"
done
sync_ok "li" "$WORK/li"
sync_ok "zhang's second laptop" "$WORK/zhang2"
all_equal 860

# 2. 40 visits with 8 fields of 65,000 bytes, from the second laptop.
runc "$SEED" "$WORK/zhang2" "$CID" 40 8 65000 zhang2
expect "zhang's second laptop records 40 visits of 8 x 65,000 bytes" 0
sync_ok "zhang's second laptop (40 x 8 x 65,000)" "$WORK/zhang2"
sync_ok "li" "$WORK/li"
sync_ok "zhang" "$WORK/zhang"
all_equal 900

# 3. The other way: the manager records 40 such visits to zhang's customer.
runc "$SEED" "$WORK/li" "$CID" 40 8 65000 li
expect "li records 40 visits of 8 x 65,000 bytes" 0
sync_ok "li (40 x 8 x 65,000)" "$WORK/li"
sync_ok "zhang" "$WORK/zhang"
sync_ok "zhang's second laptop" "$WORK/zhang2"
all_equal 940

stop_server
if grep -q "a session ended" "$WORK/serve.log"; then
    fail "serve logged no failure" "$(grep "a session ended" "$WORK/serve.log" | head -n 5)"
else
    ok "serve logged no failure"
fi
echo "runtime: $((SECONDS - START)) s"
finish
