#!/usr/bin/env bash
# lost25b: a record only a manager's laptop still holds is not lost. Over
# real processes on 127.0.0.1 (a server, rep zhang, manager li):
#  - zhang's home is copied (his laptop's backup) and the server backed up.
#  - zhang records a customer; zhang and li sync: li holds it.
#  - The server is restored from its backup (a new feed epoch) and zhang's
#    home put back: the customer is nowhere but on li's laptop.
#  - zhang syncs (a new identity); li syncs: a re-sync, the customer does
#    not come, nothing is sent yet (its writer might still send it).
#  - Two hours later (the server's clock, through the time-shift shim, and
#    li's), li syncs in Chinese: it sends the customer back and says so;
#    zhang's laptop gets it; li's status says so; a sync after sends
#    nothing more.
# Before lost25b li's laptop kept the customer alone, every sync saying
# "in sync".
#
#   bash tests/cli/test_heldback.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_heldback.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_heldback.sh path/to/fieldsync path/to/fieldsync-server}
SHIM_SRC=$(dirname "${BASH_SOURCE[0]}")/../timeshift.c
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-heldback-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; for u in zhang li; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='heldback test passphrase -- 5d17'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE FS_TIMESHIFT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
SHIM=$WORK/timeshift.so
if ! ${CC:-cc} -shared -fPIC -O1 -o "$SHIM" "$SHIM_SRC" -ldl 2>"$WORK/cc.err"; then
    fail "the time-shift shim builds" "$(cat "$WORK/cc.err")"
    finish
fi
LATER=7200 # two hours: past the grace (FS_LOST_GRACE_MS, an hour)

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
later() { runc env LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT=$LATER "$FS" "$@"; }
not_contains() { # NAME HAYSTACK NEEDLE
    if grep -qF -- "$3" <<<"$2"; then fail "$1" "found: $3" "in: $(head -c 2000 <<<"$2")"; else ok "$1"; fi
}
sync_ok() { # NAME HOME
    run --home "$2" sync
    expect "$1 syncs" 0
    SYNC_OUT=$OUT
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
URL="ws://127.0.0.1:$PORT"
for u in zhang li; do
    enroll_device "$u" "$WORK/$u" "$URL" --name "$u-laptop"
    run --home "$WORK/$u" whoami --set "$u"
done
for u in zhang li; do sync_ok "$u (first)" "$WORK/$u"; done

# the backups: zhang's home copied while nothing runs in it, the server's
# taken while it serves
run --home "$WORK/zhang" lock
cp -a "$WORK/zhang" "$WORK/zhang.bak"
srv backup --data "$S" --out "$WORK/backup"
expect "server backup" 0

run --home "$WORK/zhang" customer add --name "Held Trading" --industry "logistics"
expect "zhang records a customer" 0
CID=$OUT
sync_ok "zhang (the customer)" "$WORK/zhang"
sync_ok "li (the customer)" "$WORK/li"
run --home "$WORK/li" customer show "$CID" --json
contains "li holds the customer" "$OUT" "Held Trading"

# both restored from before the customer
stop_server
srv restore --data "$S" --from "$WORK/backup"
expect "server restore" 0
start_server "$PORT"
run --home "$WORK/zhang" lock
rm -rf "$WORK/zhang"
mv "$WORK/zhang.bak" "$WORK/zhang"
sync_ok "zhang (restored laptop)" "$WORK/zhang"
run --home "$WORK/zhang" customer show "$CID" --json
expect "zhang's restored laptop does not hold the customer" 2

sync_ok "li (re-sync)" "$WORK/li"
contains "li says it re-synced" "$SYNC_OUT" "re-synced:"
not_contains "li sends nothing back within the hour" "$SYNC_OUT" "sent back"
sync_ok "zhang (within the hour)" "$WORK/zhang"
run --home "$WORK/zhang" customer show "$CID" --json
expect "the customer is not on the server within the hour" 2

# two hours later, on the server's clock and li's
stop_server
LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT=$LATER start_server "$PORT"
LANG=zh_CN.UTF-8 LANGUAGE=zh_CN later --home "$WORK/li" --lang zh sync
expect "li syncs two hours later (in Chinese)" 0
contains "li says in Chinese it sent the customer back" "$OUT" "送回了 1 条服务器丢失"
later --home "$WORK/li" status
contains "li's status says what it sent back" "$OUT" "sent back:"
contains "li's status counts one record" "$OUT" "1 record the server had lost and only this device held"
later --home "$WORK/li" status --json
contains "li's status in JSON counts it" "$OUT" '"returned_count":1'
later --home "$WORK/zhang" sync
expect "zhang syncs two hours later" 0
run --home "$WORK/zhang" customer show "$CID" --json
expect "zhang's laptop has the customer again" 0
contains "with its name" "$OUT" "Held Trading"
contains "and its industry" "$OUT" "logistics"
later --home "$WORK/li" status --json
BEFORE=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])' <<<"$OUT")
later --home "$WORK/li" sync
expect "li syncs again" 0
not_contains "li sends nothing back twice" "$OUT" "sent back"
equal "li has nothing pending" "$BEFORE" 0

stop_server
finish
