#!/usr/bin/env bash
# Issue 25.2: a server restored from a backup never makes a device skip
# entries. Over real processes on 127.0.0.1 (a server, rep zhang with two
# laptops, manager li), the finding's scenario:
#  - zhang records a customer and visits 1-3; everyone syncs.
#  - The server is stopped and its data directory copied (the backup).
#  - zhang records visits 4-6; everyone syncs.
#  - The server is stopped and the copy put back by hand (no restore
#    command: the feed keeps its epoch), then started again.
#  - zhang's second laptop edits the customer and syncs; zhang records
#    visits 7-8 and syncs; li syncs; then everyone syncs again.
# Every replica ends with visits 1-8 once each and the edit, the same
# visits and customer everywhere; zhang's pushes the server lost (4-6) were
# sent again; each device says it re-synced (status, sync's output).
# Then the same with `fieldsync-server backup` taken while serving and
# `restore` (a new feed epoch): visit 9 is lost by the restore and sent again, a visit recorded after it reaches
# everyone, and li's status says the server was restored.
# Before issue 25.2 li and the second laptop never got 7-8 and the first
# laptop never got the edit, every sync saying "in sync".
#
#   bash tests/cli/test_srvrestore.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_srvrestore.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_srvrestore.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-srvrestore-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_daemon_now; stop_server_now; for u in zhang zhang2 li; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='srvrestore test passphrase -- 41c9'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
START=$SECONDS

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
# state HOME: "VISITS SHA256" of what the replica lists: its visits (every
# field) and its customers, sorted by id.
state() {
    {
        "$FS" --home "$1" visit list --json
        echo
        "$FS" --home "$1" customer list --json
    } | python3 -c '
import hashlib, json, sys
parts = [json.loads(p) for p in sys.stdin.read().split("\n\n") if p.strip()]
visits = sorted(parts[0], key=lambda v: v["id"])
customers = sorted(parts[1], key=lambda c: c["id"])
h = hashlib.sha256(json.dumps([visits, customers], sort_keys=True).encode()).hexdigest()
print(len(visits), len({v["id"] for v in visits}), h)'
}
sync_ok() { # NAME HOME
    run --home "$2" sync
    expect "$1 syncs" 0
    SYNC_OUT=$OUT
}
visit() { # HOME N (dated from today, rel_day: within the 30-day rule)
    run --home "$1" visit add --customer "$CID" --time "$(rel_day "$((20 - $2)) days ago") 10:00" --place "site $2" \
        --purpose "visit $2" --notes "notes of visit $2"
    expect "zhang records visit $2" 0
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
URL="ws://127.0.0.1:$PORT"
for h in zhang:zhang zhang2:zhang li:li; do
    enroll_device "${h#*:}" "$WORK/${h%%:*}" "$URL" --name "${h%%:*}-laptop"
    run --home "$WORK/${h%%:*}" whoami --set "${h#*:}"
done

run --home "$WORK/zhang" customer add --name "Restore Trading" --industry "logistics"
expect "zhang records a customer" 0
CID=$OUT
for i in 1 2 3; do visit "$WORK/zhang" "$i"; done
for u in zhang zhang2 li; do sync_ok "$u (visits 1-3)" "$WORK/$u"; done

# The backup: the data directory copied while the server is stopped.
stop_server
cp -a "$S" "$WORK/backup"
start_server "$PORT"

for i in 4 5 6; do visit "$WORK/zhang" "$i"; done
for u in zhang zhang2 li; do sync_ok "$u (visits 4-6)" "$WORK/$u"; done
equal "li holds visits 1-6 before the restore" "$(state "$WORK/li" | cut -d' ' -f1)" 6

# The restore, by hand: the backup copied back over the data directory.
stop_server
rm -rf "$S"
cp -a "$WORK/backup" "$S"
start_server "$PORT"

run --home "$WORK/zhang2" customer edit --customer "$CID" --industry "shipping"
expect "zhang's second laptop edits the customer" 0
sync_ok "zhang's second laptop (the edit)" "$WORK/zhang2"
contains "zhang's second laptop says it re-synced" "$SYNC_OUT" "re-synced:"
for i in 7 8; do visit "$WORK/zhang" "$i"; done
sync_ok "zhang (visits 7-8)" "$WORK/zhang"
contains "zhang says it sent 4-6 again" "$SYNC_OUT" "again: the server no longer held them"
contains "zhang says it re-synced" "$SYNC_OUT" "re-synced:"
LANG=zh_CN.UTF-8 LANGUAGE=zh_CN sync_ok "li (in Chinese)" "$WORK/li"
contains "li says it re-synced, in Chinese" "$SYNC_OUT" "已重新同步：服务器的变更序列与本设备的位置不再相符"
for u in zhang2 zhang li; do sync_ok "$u (once more)" "$WORK/$u"; done

want=$(state "$WORK/zhang")
equal "zhang holds visits 1-8 once each" "$(cut -d' ' -f1-2 <<<"$want")" "8 8"
equal "zhang's second laptop holds the same visits and customer" "$(state "$WORK/zhang2")" "$want"
equal "li holds the same visits and customer" "$(state "$WORK/li")" "$want"
for u in zhang zhang2 li; do
    run --home "$WORK/$u" customer show "$CID" --json
    contains "$u holds the second laptop's edit" "$OUT" '"industry":"shipping"'
    run --home "$WORK/$u" status
    contains "$u has nothing left to send" "$OUT" "pending changes: 0"
    contains "$u's status says it re-synced" "$OUT" "re-synced:"
    run --home "$WORK/$u" conflict list --json
    equal "$u has no conflict from pulling again" "$OUT" "[]"
done
run --home "$WORK/zhang" status
contains "zhang's status says what it sent again" "$OUT" "sent again:"

# ---- the same with the backup and restore commands: a new feed epoch ----
# The backup is taken while the server serves (through it: SQLite's online
# backup API), sealed as the store is.
srv backup --data "$S" --out "$WORK/backup2"
expect "backup while serving" 0
contains "backup says where" "$OUT" "backed up the store"
srv backup --data "$S" --out "$WORK/backup2"
expect "backup refuses a directory that exists" 2 "it exists"
srv backup --data "$S" --out "backup3"
expect "backup refuses a relative path" 2 "absolute path"
if grep -qa "Restore Trading" "$WORK/backup2/replica.db"; then
    fail "the backup is sealed (no customer text in it)"
else
    ok "the backup is sealed (no customer text in it)"
fi
visit "$WORK/zhang" 9
for u in zhang zhang2 li; do sync_ok "$u (visit 9)" "$WORK/$u"; done
srv restore --data "$S" --from "$WORK/backup2"
expect "restore refuses while serve runs" 1 "stop it first"
srv restore --data "$S" --from "$WORK/nothing-here"
expect "restore refuses a backup that holds no store" 2 "holds no server store"
stop_server
srv restore --data "$S" --from "$WORK/backup2"
expect "restore puts the backup back" 0
contains "restore says the feed has a new epoch" "$OUT" "new epoch"
equal "the store's files before the restore are kept" "$(ls -d "$S"/pre-restore-* | wc -l)" 1
srv audit verify --data "$S"
expect "the restored store's audit log verifies" 0
start_server "$PORT"
visit "$WORK/zhang2" 10
# li's daemon meets the restored server first: its log says so in words.
"$FS" --home "$WORK/li" daemon --interval 1 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for ((i = 0; i < 100; i++)); do
    grep -q "re-synced" "$WORK/daemon.out" && break
    sleep 0.2
done
stop_daemon_now
contains "li's daemon logs the re-sync in words" "$(cat "$WORK/daemon.out")" \
    "re-synced: the server was restored from a backup (a new feed epoch)"
for u in zhang zhang2 li zhang; do sync_ok "$u (after the restore command)" "$WORK/$u"; done
want=$(state "$WORK/zhang")
equal "zhang holds visits 1-10 once each" "$(cut -d' ' -f1-2 <<<"$want")" "10 10"
equal "zhang's second laptop holds the same (restore command)" "$(state "$WORK/zhang2")" "$want"
equal "li holds the same (restore command)" "$(state "$WORK/li")" "$want"
run --home "$WORK/li" status
contains "li's status says the server was restored" "$OUT" "the server was restored from a backup"
run --home "$WORK/li" conflict list --json
equal "li has no conflict from the second re-sync" "$OUT" "[]"
srv audit show --data "$S"
contains "the audit log records the restore" "$OUT" "restore"

stop_server
echo "runtime: $((SECONDS - START)) s"
finish
