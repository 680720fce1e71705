#!/usr/bin/env bash
# Issue 25 point 3, over real processes on 127.0.0.1 (a server, rep zhang,
# manager li): a laptop replica restored from a backup, or copied to a
# second laptop, loses nothing.
#  a. restore: zhang's home is backed up (copied while no fieldsync runs);
#     a customer and 4 visits are synced after it; the backup is restored
#     and one visit recorded. A sync gives the laptop a new device identity
#     (in words, in sync's output, status and the server's device list and
#     audit), and it then holds everything: its own records synced after
#     the backup come back, the new visit reaches the manager, once.
#  b. copy: the home is copied to a second directory; each copy records
#     visits and both sync, twice, the original first; then the copy is
#     copied again and the new copy syncs first. Every laptop and the
#     manager hold every visit once, and `fieldsync check` passes on each.
#  c. a restored replica of a device revoked after push is refused a new
#     identity: sync exits 1 saying so, and the replica keeps its data.
#
#   bash tests/cli/test_laptopcopy.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_laptopcopy.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_laptopcopy.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-laptopcopy-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='laptop copy test passphrase -- 7e21'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
z() { run --home "$WORK/zhang" "$@"; }
z2() { run --home "$WORK/zhang2" "$@"; }
li() { run --home "$WORK/li" "$@"; }
visits() { "$FS" --home "$1" visit list --json | grep -oF '"recorded_at":' | wc -l; }
customers() { "$FS" --home "$1" customer list --json | grep -oE '"id":"[0-9a-f]{32}"' | wc -l; }
# visit HOME N NOTE: records visit N to customer $CID on the replica in HOME
# (dated from today, rel_day: within the 30-day rule)
visit() {
    run --home "$1" visit add --customer "$CID" --time "$(rel_day "$(( $2 % 9 + 1 )) days ago") 10:00" \
        --place site --purpose follow-up --notes "$3"
    expect "$3 recorded" 0
}
zhang_devices() {
    "$FSS" device list --data "$S" --json | python3 -c '
import json, sys
print(sum(1 for d in json.load(sys.stdin) if d["user"] == "zhang"))'
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
for u in zhang li; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PORT" --name "$u-laptop"
    run --home "$WORK/$u" whoami --set "$u"
done

z customer add --name "first customer" --key-account
expect "zhang records a customer" 0
CID=$OUT
visit "$WORK/zhang" 1 "visit 1"
z sync
expect "zhang syncs" 0

# ---- a. restored from a backup ----
cp -a "$WORK/zhang" "$WORK/backup"
z customer add --name "customer after the backup"
expect "zhang records a customer after the backup" 0
CID2=$OUT
for n in 2 3 4 5; do
    z visit add --customer "$CID2" --time "$(rel_day "$n days ago") 11:00" --place office --purpose demo \
        --notes "after the backup $n"
    expect "visit after the backup $n" 0
done
z sync
expect "zhang syncs the customer and 4 visits" 0
li sync
expect "li syncs" 0
rm -rf "$WORK/zhang"
mv "$WORK/backup" "$WORK/zhang"
equal "the restored laptop holds what the backup held" "$(visits "$WORK/zhang")" 1
visit "$WORK/zhang" 6 "visit after the restore"
z sync
expect "the restored laptop syncs" 0
contains "sync says the replica took a new device identity" "$OUT" \
    "new device identity: this replica was restored from a backup or copied"
contains "and that its unsent changes were kept" "$OUT" "unsent changes kept"
z sync
expect "and syncs again" 0
equal "the restored laptop has its records synced after the backup" "$(visits "$WORK/zhang")" 6
equal "and both customers" "$(customers "$WORK/zhang")" 2
z status
contains "status says what happened" "$OUT" "identity:        this replica was restored"
z check
expect "fieldsync check passes on the restored laptop" 0
li sync
expect "li syncs again" 0
converged "$WORK/zhang" "$WORK/li" 6
equal "the server lists a second device for zhang" "$(zhang_devices)" 2
srv audit show --data "$S"
contains "the audit records the new identity" "$OUT" "device_fork"

# ---- b. copied to a second laptop ----
cp -a "$WORK/zhang" "$WORK/zhang2"
visit "$WORK/zhang" 7 "original 7"
visit "$WORK/zhang" 8 "original 8"
visit "$WORK/zhang2" 7 "copy 7"
visit "$WORK/zhang2" 8 "copy 8"
visit "$WORK/zhang2" 9 "copy 9"
for round in 1 2; do
    z sync
    expect "the original syncs (round $round)" 0
    z2 sync
    expect "the copy syncs (round $round)" 0
done
# the copy is copied again, and this time the new copy syncs first
cp -a "$WORK/zhang2" "$WORK/zhang3"
z2 status
NOTE_BEFORE=$(grep '^identity:' <<<"$OUT")
visit "$WORK/zhang2" 10 "copy 10"
visit "$WORK/zhang3" 10 "second copy 10"
visit "$WORK/zhang3" 11 "second copy 11"
for round in 1 2; do
    run --home "$WORK/zhang3" sync
    expect "the new copy syncs first (round $round)" 0
    z2 sync
    expect "then the copy it was made from (round $round)" 0
    z sync
    expect "then the original (round $round)" 0
done
z2 status
NOTE_AFTER=$(grep '^identity:' <<<"$OUT")
[ -n "$NOTE_AFTER" ] && [ "$NOTE_AFTER" != "$NOTE_BEFORE" ] &&
    ok "the copy that synced second took another new identity" ||
    fail "the copy that synced second took another new identity" "before: $NOTE_BEFORE" \
        "after: $NOTE_AFTER"
li sync
expect "li syncs the copies' visits" 0
for h in zhang zhang2 zhang3; do
    equal "$h holds every visit" "$(visits "$WORK/$h")" 14
    converged "$WORK/$h" "$WORK/li" 14
done
for h in zhang zhang2 zhang3 li; do
    run --home "$WORK/$h" check
    expect "fieldsync check passes on $h" 0
done
equal "the server lists four devices for zhang" "$(zhang_devices)" 4

# ---- c. a restored replica of a device being revoked gets no new identity ----
run --home "$WORK/zhang3" status
FP3=$(grep -oE 'became [0-9a-f]{16}' <<<"$OUT" | cut -d' ' -f2)
cp -a "$WORK/zhang3" "$WORK/backup3"
visit "$WORK/zhang3" 12 "synced then lost 12"
run --home "$WORK/zhang3" sync
expect "the second copy syncs a visit" 0
rm -rf "$WORK/zhang3"
mv "$WORK/backup3" "$WORK/zhang3"
srv device revoke --data "$S" --device "$FP3" --after-push
expect "its device is revoked after push" 0
run --home "$WORK/zhang3" sync
expect "the restored replica of a device being revoked is refused a new identity" 1 \
    "needs a new device identity, but the server refused one: the device is revoked"
equal "and keeps what it holds" "$(visits "$WORK/zhang3")" 14
equal "no device was added" "$(zhang_devices)" 4

# nothing of the customers' text in what the programs printed to stderr
if grep -qF "after the backup" "$ERRLOG"; then
    fail "no customer text on stderr" "$(grep -F "after the backup" "$ERRLOG" | head -3)"
else
    ok "no customer text on stderr"
fi
stop_server
finish
