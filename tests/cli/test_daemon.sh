#!/usr/bin/env bash
# The daemon end to end, real processes on 127.0.0.1 only: a rep's daemon is
# running while the server is down; the rep records 50 visits with
# commitments; the server comes back; they reach the manager's device within
# 10 s with no command typed on the rep's side, every field equal. A later
# local change goes up by itself too; the daemon with the unlock agent, and
# the server's poke reaching a connected daemon.
#
#   bash tests/cli/test_daemon.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_daemon.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_daemon.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-daemon-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
HZ=$WORK/zhang
HL=$WORK/li
DAEMON_PID=
trap 'stop_daemon_now; stop_server_now; "$FS" --home "$HZ" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='daemon test passphrase -- c41d'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

MARK1='sablewhisker 首批试点'
MARK2='ottermarble 第二次拜访'
MARK3='umberfinch 第三次拜访'
MARK4='quillhaven 第四次拜访'
MARK5='mossquartz 第五行业'

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { # HOME
    run --home "$1" visit list --json
    grep -oF '"recorded_at":' <<<"$OUT" | wc -l
}
# wait_visits HOME N SECONDS: syncs HOME until it holds N visits; sets WAITED.
wait_visits() {
    local start=$SECONDS
    WAITED=-1
    while [ $((SECONDS - start)) -le "$3" ]; do
        run --home "$1" sync
        if [ "$(n_visits "$1")" -eq "$2" ]; then
            WAITED=$((SECONDS - start))
            return 0
        fi
        sleep 0.5
    done
    return 1
}

srv init --data "$S"
expect "server init" 0
srv user add --data "$S" --name li --role manager --team north
expect "add manager li" 0
srv user add --data "$S" --name zhang --role rep --team north
expect "add rep zhang" 0
allow_exports north # the test reads lists into variables (issue 20.4)
srv enroll-code --data "$S" --user zhang
ZCODE=$(tail -n 1 <<<"$OUT")
srv enroll-code --data "$S" --user li
LCODE=$(tail -n 1 <<<"$OUT")

start_server 0
run --home "$HZ" enroll --server "ws://127.0.0.1:$PORT" --code "$ZCODE" --name zhang-laptop
expect "zhang enrolls" 0
run --home "$HL" enroll --server "ws://127.0.0.1:$PORT" --code "$LCODE" --name li-laptop
expect "li enrolls" 0
stop_server

# The daemon starts while the server is down: offline is normal.
"$FS" --home "$HZ" daemon --interval 2 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
sleep 1
if kill -0 "$DAEMON_PID" 2>/dev/null; then ok "the daemon runs while the server is down"
else fail "the daemon runs while the server is down" "$(cat "$WORK/daemon.err")"; fi

run --home "$HZ" customer add --name "Daemon Test Co." --owner zhang
expect "zhang records a customer offline" 0
CUST=$(tail -n 1 <<<"$OUT")
# 50 visits with commitments, offline. The unlock agent holds the key, so
# the 50 commands cost no key derivation each.
run --home "$HZ" unlock --idle 10m
expect "zhang unlocks for the day" 0
bad=0
for i in $(seq 1 50); do
    d=$(printf '2023-10-%02d' $((i % 28 + 1)))
    run --home "$HZ" visit add --customer "${CUST:0:8}" --time "$d 14:$(printf %02d $((i % 60)))" --confirm \
        --place "会议室 $i" --purpose "demo $i" --notes "$MARK1 #$i" --contact "王经理 $i" \
        --objections "price $i" --next "follow up $i" --commit "send the SLA $i|2023-11-$(printf %02d $((i % 28 + 1)))"
    [ "$RC" -eq 0 ] || bad=$((bad + 1))
done
equal "zhang records 50 visits offline" "$bad" 0
# what he recorded waits for the search index (a search would bring it in)
run --home "$HZ" status --json
Q=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["search_queued"])' <<<"$OUT")
[ "$Q" -ge 100 ] && ok "the 50 visits and their commitments wait for the search index ($Q)" \
    || fail "the 50 visits and their commitments wait for the search index" "$Q"
run --home "$HZ" lock

start_server "$PORT"
if wait_visits "$HL" 50 10; then ok "the 50 visits reach the manager within 10 s (${WAITED}s)"
else fail "the 50 visits reach the manager within 10 s" "$(cat "$WORK/daemon.out" "$WORK/daemon.err")"; fi
# the daemon brought them into the index after its round, before any search
q_left() {
    run --home "$HZ" status --json
    python3 -c 'import json,sys; print(json.load(sys.stdin)["search_queued"])' <<<"$OUT"
}
start=$SECONDS
while [ "$(q_left)" != 0 ] && [ $((SECONDS - start)) -le 10 ]; do sleep 0.5; done
equal "the daemon brought what it synced into the search index" "$(q_left)" 0
run --home "$HZ" visit list --json
ZV=$OUT
run --home "$HL" visit list --json
equal "the manager's 50 visits equal zhang's, every field and commitment" "$OUT" "$ZV"

# A local change while everything is up goes by itself too.
run --home "$HZ" visit add --customer "${CUST:0:8}" --time "2023-10-11 09:30" --confirm --place "office" \
    --purpose "follow-up" --notes "$MARK2"
expect "zhang records a second visit" 0
if wait_visits "$HL" 51 10; then ok "a later local change is pushed by itself (${WAITED}s)"
else fail "a later local change is pushed by itself" "$(cat "$WORK/daemon.out" "$WORK/daemon.err")"; fi
run --home "$HL" visit list --json
contains "the manager holds the first visit's notes byte for byte" "$OUT" "$MARK1"
contains "the manager holds the second visit's notes byte for byte" "$OUT" "$MARK2"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
equal "the daemon exits 0 on SIGTERM" "$?" 0
DAEMON_PID=
contains "the daemon logged being offline" "$(cat "$WORK/daemon.out")" "offline"
contains "the daemon logged its stop" "$(cat "$WORK/daemon.out")" "stopped"
# ---- the daemon with the unlock agent: the key comes and goes with it ----
# Without $FIELDSYNC_PASSPHRASE the daemon takes the key from the agent at
# each sync, so the agent's idle timeout and 'lock' stop it syncing.
run --home "$HZ" unlock --idle 1h
expect "zhang unlocks" 0
(unset FIELDSYNC_PASSPHRASE; exec setsid -w "$FS" --home "$HZ" daemon --interval 1 \
    >"$WORK/daemon2.out" 2>"$WORK/daemon2.err") &
DAEMON_PID=$!
# At the same instant as the daemon's first open, on purpose.
run --home "$HZ" visit add --customer "${CUST:0:8}" --time "2023-10-12 09:30" --confirm --place "office" \
    --purpose "third" --notes "$MARK3"
expect "zhang records a third visit" 0
if wait_visits "$HL" 52 10; then ok "the daemon syncs with the agent's key (${WAITED}s)"
else fail "the daemon syncs with the agent's key" "$(cat "$WORK/daemon2.out" "$WORK/daemon2.err")"; fi
run --home "$HZ" lock
expect "zhang locks" 0
run --home "$HZ" visit add --customer "${CUST:0:8}" --time "2023-10-13 09:30" --confirm --place "office" \
    --purpose "fourth" --notes "$MARK4"
expect "zhang records a fourth visit with the passphrase" 0
sleep 3
run --home "$HL" sync
equal "locked, the daemon does not sync" "$(n_visits "$HL")" 52
contains "the daemon says it is locked" "$(cat "$WORK/daemon2.out")" "locked"
run --home "$HZ" unlock
expect "zhang unlocks again" 0
if wait_visits "$HL" 53 10; then ok "unlocked, the daemon syncs what waited (${WAITED}s)"
else fail "unlocked, the daemon syncs what waited" "$(cat "$WORK/daemon2.out" "$WORK/daemon2.err")"; fi
contains "the daemon says it syncs again" "$(cat "$WORK/daemon2.out")" "unlocked again"
stop_daemon_now
run --home "$HZ" lock

# ---- the server's POKE reaches a daemon between syncs ----
# zhang's daemon pulls only once an hour by itself and nothing changes on
# his device: the manager's edit can only arrive by the server's poke over
# the connection the daemon keeps open.
"$FS" --home "$HZ" daemon --interval 3600 >"$WORK/daemon3.out" 2>"$WORK/daemon3.err" &
DAEMON_PID=$!
sleep 2 # connected and in sync
run --home "$HL" customer edit --customer "${CUST:0:8}" --industry "$MARK5"
expect "li edits zhang's customer" 0
t0=$(date +%s%N)
run --home "$HL" sync
expect "li syncs the edit" 0
got=
for i in $(seq 1 50); do
    run --home "$HZ" customer list --json
    if grep -qF -- "$MARK5" <<<"$OUT"; then got=$((($(date +%s%N) - t0) / 1000000)); break; fi
    sleep 0.1
done
if [ -n "$got" ]; then ok "the poke brings li's edit to zhang's daemon within 5 s (${got} ms)"
else fail "the poke brings li's edit to zhang's daemon within 5 s" "$(cat "$WORK/daemon3.out" "$WORK/daemon3.err")"; fi
run --home "$HZ" status --json
contains "zhang is in sync after the poke" "$OUT" '"pending":0'
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
equal "the connected daemon exits 0 on SIGTERM" "$?" 0
DAEMON_PID=

# ---- the daemon's log in the rep's language ----
FIELDSYNC_LANG=zh "$FS" --home "$HL" daemon --interval 3600 >"$WORK/daemon4.out" \
    2>"$WORK/daemon4.err" &
DAEMON_PID=$!
for i in $(seq 1 100); do
    grep -qF "正在与服务器" "$WORK/daemon4.out" && break
    sleep 0.1
done
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
LOG4=$(cat "$WORK/daemon4.out")
contains "the daemon says what it syncs, in Chinese" "$LOG4" \
    "正在同步 $HL 与 127.0.0.1:$PORT（每 3600 秒一次，本机有修改时也会同步）"
contains "and with which server" "$LOG4" "正在与服务器 ws://127.0.0.1:$PORT 同步"
contains "and that it stopped" "$LOG4" "已停止"
lacks "no English line" "$LOG4" "syncing"

for m in sablewhisker 首批试点 ottermarble 第二次拜访 umberfinch 第三次 quillhaven 第四次 \
    mossquartz 第五行业; do
    if grep -rqaF -- "$m" "$WORK"/daemon*.out "$WORK"/daemon*.err "$S" "$HZ" "$HL"; then
        fail "no '$m' in the daemon's log or any data file"
    else
        ok "no '$m' in the daemon's log or any data file"
    fi
done
stop_server
finish
