#!/usr/bin/env bash
# The device's lease end to end, real processes on 127.0.0.1 only. The server
# grants a short lease (--lease 20s, then 6s); the rep's device syncs, records a visit,
# loses the server and passes the end of its lease: it locks itself (every
# command but sync and status refuses, and says how to renew) while keeping
# what was recorded. When the server is back a sync renews the lease, the
# device works again and the visit reaches the manager. A running daemon
# renews the lease by itself.
#
#   bash tests/cli/test_lease.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_lease.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_lease.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-lease-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
HZ=$WORK/zhang
HL=$WORK/li
DAEMON_PID=
trap 'stop_daemon_now; stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='lease test passphrase -- 7be2'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE FS_TIMESHIFT FS_BOOTSHIFT
# an ASan build's runtime need not come first for the shim's sake
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
SHIM=$WORK/timeshift.so # put before any LD_PRELOAD given (faketime -f +60d runs the test)
${CC:-cc} -shared -fPIC -O1 -o "$SHIM" "$(dirname "${BASH_SOURCE[0]}")/../timeshift.c" -ldl \
    2>"$WORK/cc.err" || { fail "the time-shift shim builds" "$(cat "$WORK/cc.err")"; finish; }
show() { # TITLE TEXT: printed with FS_SHOW=1
    [ -n "${FS_SHOW-}" ] && printf -- '--- %s\n%s\n' "$1" "$2"
    return 0
}

MARK='larchquill 租约客户'

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { # HOME
    run --home "$1" visit list --json
    grep -oF '"recorded_at":' <<<"$OUT" | wc -l
}
json_num() { # KEY JSON
    grep -oE "\"$1\":[0-9]+" <<<"$2" | head -n 1 | cut -d: -f2
}
# wait_lease_end HOME: sleeps until half a second past the end of the
# lease the replica holds (read from status, so a slow machine that took
# long to get here waits less, and one that was quick waits more)
wait_lease_end() {
    local end now
    end=$(json_num lease_expires_ms "$("$FS" --home "$1" status --json)")
    now=$(date +%s%3N)
    [ -n "$end" ] && [ "$end" -gt "$now" ] && sleep "$(((end - now) / 1000 + 1))"
    return 0
}

# ---- bad --lease values are refused before anything starts ----
srv init --data "$S"
expect "server init" 0
for bad in 0s 7x 400d 5 "" -1d; do
    srv serve --data "$S" --listen 127.0.0.1:0 --lease "$bad"
    expect "serve --lease '$bad' is refused" 2 "--lease:"
done

srv user add --data "$S" --name li --role manager --team north
expect "add manager li" 0
srv user add --data "$S" --name zhang --role rep --team north
expect "add rep zhang" 0
allow_exports north # the test reads lists into variables (issue 20.4)
srv enroll-code --data "$S" --user zhang
ZCODE=$(tail -n 1 <<<"$OUT")
srv enroll-code --data "$S" --user li
LCODE=$(tail -n 1 <<<"$OUT")

# ---- a lease of 20 s, granted at enrollment (long enough for the commands
# below on a loaded machine; the test then waits for its end) ----
start_server 0 --lease 20s
before_ms=$(($(date +%s%3N)))
run --home "$HZ" enroll --server "ws://127.0.0.1:$PORT" --code "$ZCODE" --name zhang-laptop
expect "zhang enrolls" 0
run --home "$HL" enroll --server "ws://127.0.0.1:$PORT" --code "$LCODE" --name li-laptop
expect "li enrolls" 0
run --home "$HZ" status --json
expect "status --json" 0
lease=$(json_num lease_expires_ms "$OUT")
after_ms=$(($(date +%s%3N)))
if [ -n "$lease" ] && [ "$lease" -ge $((before_ms + 20000)) ] && [ "$lease" -le $((after_ms + 20000)) ]; then
    ok "the lease ends 20 s after the sync that granted it"
else
    fail "the lease ends 20 s after the sync that granted it" "lease $lease, window $before_ms..$after_ms + 20000"
fi
contains "status --json: not locked" "$OUT" '"locked":false'
run --home "$HZ" status
contains "status shows the lease" "$OUT" "lease:           until "

run --home "$HZ" customer add --name "$MARK" --key-account
expect "a customer while the lease runs" 0
CID=$OUT
# dates from today (rel_day): a visit more than 30 days away is refused
V1=$(rel_day '16 days ago') V1DUE=$(rel_day '9 days ago') V2=$(rel_day '15 days ago')
run --home "$HZ" visit add --customer "$CID" --time "$V1 10:00" --place "$MARK site" \
    --purpose "renewal" --notes "$MARK notes" --commit "$MARK quote|$V1DUE"
expect "a visit while the lease runs" 0
stop_server

# ---- the lease ends while the server is down: the device locks itself ----
wait_lease_end "$HZ"
run --home "$HZ" visit add --customer "$CID" --time "$V2 10:00" --place p --purpose p \
    --notes n
expect "visit add is refused on a locked device" 1 "this device is locked"
contains "the refusal says how to renew" "$ERR" "sync"
contains "the refusal says nothing is lost" "$ERR" "nothing recorded here is lost"
run --home "$HZ" visit list
expect "visit list is refused on a locked device" 1 "this device is locked"
run --home "$HZ" customer list --json
expect "customer list is refused on a locked device" 1 "this device is locked"
run --home "$HZ" conflict list
expect "conflict list is refused on a locked device" 1 "this device is locked"
run --home "$HZ" status --json
expect "status works on a locked device" 0
contains "status --json: locked" "$OUT" '"locked":true'
run --home "$HZ" status
contains "status says LOCKED" "$OUT" "LOCKED until the server renews it"
run --home "$HZ" sync
expect "sync with the server down fails" 1 "cannot reach"
run --home "$HZ" visit list
expect "still locked after a failed sync" 1 "this device is locked"
# the clock set back an hour (and the boot clock behind the last sync's:
# just rebooted) does not unlock it (issue 20.6)
runc env LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT=-3600 FS_BOOTSHIFT=-1000000000 "$FS" --home "$HZ" visit list
expect "the clock set back an hour: still locked" 1 "its clock was set back"
show "locked, clock set back" "$ERR"
runc env LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT=-3600 FS_BOOTSHIFT=-1000000000 "$FS" --home "$HZ" customer list --json
expect "customer list too" 1 "this device is locked"
lacks=$(grep -c "$MARK" <<<"$OUT")
equal "and no customer is printed" "$lacks" 0

# ---- the server is back: a sync renews the lease, nothing was lost ----
start_server "$PORT" --lease 1h
run --home "$HZ" sync
expect "sync renews the lease" 0
run --home "$HZ" status --json
contains "status --json: unlocked" "$OUT" '"locked":false'
lease=$(json_num lease_expires_ms "$OUT")
now_ms=$(date +%s%3N)
if [ -n "$lease" ] && [ "$lease" -gt $((now_ms + 3500 * 1000)) ]; then
    ok "the renewed lease is the server's 1 h"
else
    fail "the renewed lease is the server's 1 h" "lease $lease, now $now_ms"
fi
equal "zhang's visit is still there after the lock" "$(n_visits "$HZ")" 1
run --home "$HZ" visit add --customer "$CID" --time "$V2 10:00" --place p --purpose p \
    --notes n
expect "visit add works again" 0
run --home "$HZ" sync
expect "zhang syncs" 0
run --home "$HL" sync
expect "li syncs" 0
equal "li holds both of zhang's visits" "$(n_visits "$HL")" 2
run --home "$HL" visit list --json
contains "the visit recorded before the lock reached li" "$OUT" "$MARK notes"
stop_server

# ---- the daemon renews the lease by itself ----
start_server "$PORT" --lease 6s
run --home "$HZ" sync
expect "zhang syncs under the 6 s lease" 0
"$FS" --home "$HZ" daemon --interval 1 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
sleep 9
run --home "$HZ" visit list
expect "with the daemon running, the device stays unlocked past 6 s" 0
stop_daemon_now
cat "$WORK/daemon.err" >>"$ERRLOG"
stop_server
wait_lease_end "$HZ"
run --home "$HZ" visit list
expect "without the daemon and the server, it locks again" 1 "this device is locked"

# ---- nothing of the customer's in any file, log or message ----
stop_daemon_now
hits=$(grep -rlaF -e "${MARK%% *}" -e "租约客户" "$HZ" "$HL" "$S" "$WORK/serve.log" "$ERRLOG" \
    "$WORK/daemon.out" "$WORK/daemon.err" 2>/dev/null)
equal "no marker in any file, log or message" "$hits" ""

finish
