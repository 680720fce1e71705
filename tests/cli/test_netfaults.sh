#!/usr/bin/env bash
# Network faults (issue 7, begun): a rep's laptop syncs through a loopback
# proxy (tests/faultproxy.c) that cuts connections at random byte offsets
# and stalls them (60 % of the connections, after 100-3000 bytes). Quick
# mode (ctest): 60 rounds of 3 visits, each synced until it succeeds, at
# least 25 cuts; FS_LONG=1: 2,400 rounds and at least 1,000 cuts. Afterwards every visit is on the
# server exactly once, the manager's replica equals the rep's, and a daemon
# behind the same proxy still gets a later visit through by itself.
#
#   bash tests/cli/test_netfaults.sh path/to/fieldsync path/to/fieldsync-server path/to/faultproxy
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
FS=${1:?usage: test_netfaults.sh fieldsync fieldsync-server faultproxy}
FSS=${2:?usage: test_netfaults.sh fieldsync fieldsync-server faultproxy}
PROXY=${3:?usage: test_netfaults.sh fieldsync fieldsync-server faultproxy}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-netfaults-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
HZ=$WORK/zhang
HL=$WORK/li
PROXY_PID=
DAEMON_PID=
cleanup() {
    [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
    stop_server_now
    "$FS" --home "$HZ" lock >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='netfaults test passphrase -- 5e21'
unset FIELDSYNC_HOME
ROUNDS=60 NEED_CUTS=25
[ "${FS_LONG:-0}" = 1 ] && ROUNDS=2400 NEED_CUTS=1000
MARK='quillfen 断线客户'

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { "$FS" --home "$1" visit list --json | grep -oF '"recorded_at":' | wc -l; }

srv init --data "$S"
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
echo pass >"$WORK/mode"
"$PROXY" "$WORK/proxy.port" "$PORT" "$WORK/mode" "${FS_SEED:-7}" 100 3000 60 2>"$WORK/proxy.log" &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
PPORT=$(cat "$WORK/proxy.port")
enroll_device zhang "$HZ" "ws://127.0.0.1:$PPORT" # through the proxy
enroll_device li "$HL" "ws://127.0.0.1:$PORT"     # directly
run --home "$HZ" unlock
C=$("$FS" --home "$HZ" customer add --name "$MARK" --owner zhang)
echo cut >"$WORK/mode"

# ---- rounds of visits, each synced through the cutting proxy until it succeeds ----
attempts=0
stuck=0
for r in $(seq 1 "$ROUNDS"); do
    for v in 1 2 3; do
        "$FS" --home "$HZ" visit add --customer "$C" --time "2023-10-10 14:$(printf %02d $((v * 7)))" --confirm \
            --place "site $r" --purpose "round $r" --notes "$MARK round $r visit $v" \
            --commit "promise $r.$v|2023-10-12" >/dev/null 2>>"$ERRLOG" || stuck=1
    done
    ok_round=0
    for a in $(seq 1 100); do
        attempts=$((attempts + 1))
        if "$FS" --home "$HZ" sync >/dev/null 2>>"$WORK/sync.err"; then ok_round=1; break; fi
    done
    [ "$ok_round" = 1 ] || stuck=1
done
cuts=$(grep -c "^cut after" "$WORK/proxy.log")
echo "rounds $ROUNDS, sync attempts $attempts, cuts $cuts"
equal "every round got through in the end" "$stuck" 0
if [ "$cuts" -ge "$NEED_CUTS" ]; then ok "at least $NEED_CUTS cuts during sync ($cuts)"
else fail "at least $NEED_CUTS cuts during sync" "only $cuts cuts"; fi

# ---- nothing lost, nothing twice ----
run --home "$HL" sync
expect "li syncs" 0
want=$((ROUNDS * 3))
converged "$HZ" "$HL" "$want"
run --home "$HZ" status --json
contains "nothing pending on the rep's laptop" "$OUT" '"pending":0'

# ---- the daemon behind the cutting proxy recovers by itself ----
"$FS" --home "$HZ" daemon --interval 2 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
# At the same instant as the daemon's own first open, on purpose.
"$FS" --home "$HZ" visit add --customer "$C" --time "2023-10-11 09:00" --confirm --place p --purpose p \
    --notes "$MARK after" >/dev/null
got=
for _ in $(seq 1 120); do
    "$FS" --home "$HL" sync >/dev/null 2>&1
    if [ "$(n_visits "$HL")" -eq $((want + 1)) ]; then got=1; break; fi
    sleep 0.5
done
if [ -n "$got" ]; then ok "the daemon got the later visit through the faults by itself"
else fail "the daemon got the later visit through the faults by itself" "$(tail -20 "$WORK/daemon.out")" "$(tail -5 "$WORK/daemon.err")"; fi

stop_server
hits=$(grep -rlaF -e quillfen -e 断线客户 "$S" "$HZ" "$HL" "$WORK/serve.log" "$WORK/proxy.log" \
    "$WORK/sync.err" "$WORK/daemon.out" "$WORK/daemon.err" 2>/dev/null)
equal "no marker in any file or log" "$hits" ""
finish
