#!/usr/bin/env bash
# Several addresses of the one server (issue 21.3, the client's part), real
# processes on 127.0.0.1 only:
#  - zhang enrolls with a dead first address (a free port nobody listens on)
#    and the real server second: the code is redeemed there, and sync says
#    which server it used; the order is remembered (the next sync tries the
#    one that answered first, so says nothing of the dead one);
#  - status and server list name the addresses, in English and Chinese;
#  - server add/remove round trip, and their bad inputs;
#  - an address that answers and refuses (another server's key) is an
#    error naming it, not a silent move to the next; local changes wait;
#  - an address that accepts TCP and never answers is left within the
#    bound (FS_WS_ANSWER_MS, 10 s) for the next one;
#  - li's daemon keeps syncing when the server moves: serve stops, starts
#    again on another port that is li's second address, and the daemon
#    reaches it and receives zhang's next visit; then again to a third
#    address li added while the daemon ran;
#  - a replica enrolled by the published client (34f102e: one address) syncs
#    after the upgrade as a list of one, and takes a second address.
#
#   bash tests/cli/test_servers.sh path/to/fieldsync path/to/fieldsync-server CACHE
# CACHE: where the old client is kept, as for test_oldclient.sh
# (FS_OLD_CLIENT_DIR overrides it).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OLD_COMMIT=34f102e # the release test_oldclient.sh runs: one server address

FS=${1:?usage: test_servers.sh path/to/fieldsync path/to/fieldsync-server CACHE}
FSS=${2:?usage: test_servers.sh path/to/fieldsync path/to/fieldsync-server CACHE}
CACHE=${FS_OLD_CLIENT_DIR:-${3:?usage: test_servers.sh path/to/fieldsync path/to/fieldsync-server CACHE}}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-servers-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server  # the server's store
S2=$WORK/other  # another server (another key), for the refusing address
HZ=$WORK/zhang  # rep
HL=$WORK/li     # manager, runs the daemon
HW=$WORK/wang   # rep, enrolls past an address that never answers
HC=$WORK/chen   # rep, enrolled by the published client
SILENT_PID=
OTHER_PID=
DAEMON_PID=
trap 'stop_daemon_now; stop_server_now; [ -z "$SILENT_PID" ] || kill "$SILENT_PID" 2>/dev/null;
      [ -z "$OTHER_PID" ] || kill "$OTHER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='servers test passphrase -- 21c3'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { # HOME
    run --home "$1" visit list --json
    grep -oF '"recorded_at":' <<<"$OUT" | wc -l
}
code_for() { # USER: a fresh enrollment code from the store in $S
    "$FSS" enroll-code --data "$S" --user "$1" | tail -n 1
}
json_field() { # JSON KEY: one top-level field, as Python prints it
    python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"
}

# ---- the old client, built once (or found in the cache) ----
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! OLD=$("$ROOT/scripts/old-client" "$OLD_COMMIT" "$CACHE" 2>"$WORK/old-build.err" | tail -n 1) ||
    [ ! -x "$OLD" ]; then
    fail "the old client ($OLD_COMMIT) is built" "$(cat "$WORK/old-build.err")"
    finish
fi
ok "the old client of $OLD_COMMIT: $OLD"

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north" "wang rep north" "chen rep north"
allow_exports north
start_server 0
P1=$PORT
A1=ws://127.0.0.1:$P1
DEAD=ws://127.0.0.1:$(free_port)

# ---- enroll past a dead first address ----
run --home "$HZ" enroll --server "$DEAD" --server "$A1" --name zhang-laptop <<<"$(code_for zhang)"
expect "zhang enrolls with a dead first address and the server second" 0
contains "enroll says the first address did not answer" "$OUT" "the server at $DEAD did not answer"
contains "enroll says it tried the second" "$OUT" "trying $A1"
contains "enroll names the server that answered" "$OUT" "enrolled with the server at 127.0.0.1:$P1"
run --home "$HZ" server list
expect "server list" 0
equal "server list: both addresses in the order given, the one that answered marked" \
    "$(head -n 2 <<<"$OUT")" "$DEAD
$A1  (answered last: tried first)"

run --home "$HZ" customer add --name "Many Doors Co." --industry survey
expect "zhang records a customer" 0
CID=$(tail -n 1 <<<"$OUT")
run --home "$HZ" visit add --customer "$CID" --time "$(rel_day '2 days ago') 10:00" --place office \
    --purpose demo --notes "first visit"
expect "zhang records a visit" 0
run --home "$HZ" sync
expect "zhang syncs" 0
grep -qE '^in sync: [1-9][0-9]* changes sent' <<<"$OUT" && ok "sync sends zhang's changes" ||
    fail "sync sends zhang's changes" "$OUT"
contains "sync names the server" "$OUT" "with the server at $A1"
lacks "the order is remembered: the dead address is not tried first" "$OUT" "did not answer"
run --home "$HZ" status
contains "status: the server tried first is the one that answered" "$OUT" \
    "server:          $A1 (key "
contains "status: the other address" "$OUT" "  or else:       $DEAD"
contains "status: the one that answered last" "$OUT" "last answered:   $A1"
run --home "$HZ" status --json
equal "status --json: server_last" "$(json_field "$OUT" server_last)" "$A1"
equal "status --json: servers, as kept" "$(json_field "$OUT" servers)" "['$DEAD', '$A1']"
run --home "$HZ" --lang zh status
contains "status in Chinese: the one that answered last" "$OUT" "上次应答：  $A1"
contains "status in Chinese: the other address" "$OUT" "备用地址：  $DEAD"
run --home "$HZ" --lang zh sync
expect "zhang syncs (Chinese)" 0
contains "sync in Chinese names the server" "$OUT" "，服务器 $A1"

# ---- server add / remove, and their bad inputs ----
EXTRA=ws://127.0.0.1:$(free_port)
run --home "$HZ" server add "$EXTRA"
expect "server add" 0
run --home "$HZ" server list --json
equal "server add appends the address" \
    "$(python3 -c 'import json,sys; print(" ".join(s["url"] for s in json.load(sys.stdin)["servers"]))' <<<"$OUT")" \
    "$DEAD $A1 $EXTRA"
run --home "$HZ" server add "$EXTRA"
expect "server add: an address already listed is refused" 2 "already one of the server's addresses"
run --home "$HZ" server add "http://127.0.0.1:9"
expect "server add: not a ws:// URL" 2 "server add: expected ws://HOST:PORT"
run --home "$HZ" server add
expect "server add: no address" 2 "missing the server's address"
run --home "$HZ" server remove "ws://127.0.0.1:1"
expect "server remove: an address not listed" 2 "not one of the server's addresses"
run --home "$HZ" server remove "$EXTRA"
expect "server remove" 0
run --home "$HZ" server list
equal "server remove: back to the two" "$(head -n 2 <<<"$OUT")" "$DEAD
$A1  (answered last: tried first)"
run --home "$HZ" enroll --server "$A1" --server "$A1" <<<"not a code"
expect "enroll: the same --server twice is refused" 2 "is given twice"
nine=()
for i in 1 2 3 4 5 6 7 8 9; do nine+=(--server "ws://127.0.0.1:$((20000 + i))"); done
run --home "$WORK/nine" enroll "${nine[@]}" <<<"not a code"
expect "enroll: at most 8 addresses" 2 "--server: at most 8 addresses"
[ ! -e "$WORK/nine" ] && ok "nothing is created for a refused command line" ||
    fail "nothing is created for a refused command line"

# ---- an address that answers and refuses: an error, not a silent move ----
srv init --data "$S2"
expect "another server's store (another key)" 0
"$FSS" serve --data "$S2" --listen 127.0.0.1:0 >"$WORK/other.out" 2>"$WORK/other.err" &
OTHER_PID=$!
for ((i = 0; i < 100; i++)); do
    [ -s "$WORK/other.out" ] && break
    sleep 0.1
done
OTHER=ws://127.0.0.1:$(head -n 1 "$WORK/other.out" | sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p')
# the list becomes DEAD, OTHER, A1 with no address answered last
run --home "$HZ" server remove "$A1"
expect "remove the server's address" 0
run --home "$HZ" server add "$OTHER"
expect "add another server's address" 0
run --home "$HZ" server add "$A1"
expect "add the server's address again, last" 0
run --home "$HZ" status --json
equal "removing the address that answered last forgets it" "$(json_field "$OUT" server_last)" None
run --home "$HZ" visit add --customer "$CID" --time "$(rel_day '1 day ago') 11:00" --place office \
    --purpose follow-up --notes "second visit"
expect "zhang records a second visit" 0
run --home "$HZ" sync
expect "sync: an address with another key is an error" 1 "sync: the server at $OTHER: "
contains "it moved past the dead address first" "$OUT" "the server at $DEAD did not answer"
lacks "it did not move on to the next address silently" "$OUT" "trying $A1"
lacks "sync did not say it is in sync" "$OUT" "in sync:"
run --home "$HZ" status --json
lacks "the visit waits, pending" "$OUT" '"pending":0,'
run --home "$HZ" server remove "$OTHER"
expect "remove the wrong address" 0
run --home "$HZ" sync
expect "sync with the right addresses again" 0
grep -qE '^in sync: [1-9][0-9]* changes sent' <<<"$OUT" && ok "the pending visit went to the server" ||
    fail "the pending visit went to the server" "$OUT"
contains "through the server's address" "$OUT" "with the server at $A1"
run --home "$HZ" status --json
contains "nothing is pending any more" "$OUT" '"pending":0,'
kill "$OTHER_PID" 2>/dev/null
wait "$OTHER_PID" 2>/dev/null
OTHER_PID=

# ---- an address that accepts TCP and never answers: left within the bound ----
SILENT_PORT=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
time.sleep(600)  # the kernel accepts; nothing is ever read or said
' "$SILENT_PORT" >"$WORK/silent.out" &
SILENT_PID=$!
for ((i = 0; i < 100; i++)); do
    [ -s "$WORK/silent.out" ] && break
    sleep 0.1
done
SILENT=ws://127.0.0.1:$SILENT_PORT
start=$SECONDS
run --home "$HW" enroll --server "$SILENT" --server "$A1" --name wang-laptop <<<"$(code_for wang)"
took=$((SECONDS - start))
expect "wang enrolls past an address that never answers" 0
contains "enroll says it did not answer within the bound" "$OUT" \
    "the server at $SILENT did not answer (the server at 127.0.0.1:$SILENT_PORT did not answer within 10 s)"
[ "$took" -ge 9 ] && [ "$took" -le 40 ] && ok "the silent address is left after about 10 s (${took}s)" ||
    fail "the silent address is left after about 10 s" "took ${took}s"
kill "$SILENT_PID" 2>/dev/null
wait "$SILENT_PID" 2>/dev/null
SILENT_PID=

# ---- the daemon follows the server to its second address ----
P2=$(free_port)
A2=ws://127.0.0.1:$P2
run --home "$HL" enroll --server "$A1" --server "$A2" --name li-laptop <<<"$(code_for li)"
expect "li enrolls with the server's address and the one it will move to" 0
"$FS" --home "$HL" daemon --interval 2 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
wait_li() { # N SECONDS: li's replica holds N visits within SECONDS
    local start=$SECONDS
    while [ $((SECONDS - start)) -le "$2" ]; do
        [ "$(n_visits "$HL")" -eq "$1" ] && return 0
        sleep 0.5
    done
    return 1
}
equal "li's enrollment brought zhang's two visits" "$(n_visits "$HL")" 2
wait_log() { # TEXT SECONDS: the daemon's log holds TEXT within SECONDS
    local start=$SECONDS
    while [ $((SECONDS - start)) -le "$2" ]; do
        grep -qF -- "$1" "$WORK/daemon.out" && return 0
        sleep 0.5
    done
    return 1
}
if wait_log "syncing with the server at $A1" 30; then ok "the daemon logs the server it syncs with"
else fail "the daemon logs the server it syncs with" "$(cat "$WORK/daemon.out" "$WORK/daemon.err")"; fi
# the server moves: it stops, and starts again on li's second address
stop_server
start_server "$P2"
run --home "$HZ" server add "$A2"
expect "zhang adds the server's new address" 0
run --home "$HZ" visit add --customer "$CID" --time "$(rel_day 'today') 09:00" --place office \
    --purpose moved --notes "third visit"
expect "zhang records a third visit" 0
run --home "$HZ" sync
expect "zhang syncs with the moved server" 0
contains "zhang's sync says the old address did not answer" "$OUT" "the server at $A1 did not answer"
contains "zhang's sync names the new address" "$OUT" "with the server at $A2"
if wait_li 3 60; then ok "li's daemon reaches the moved server and receives the third visit"
else fail "li's daemon reaches the moved server and receives the third visit" \
    "$(cat "$WORK/daemon.out" "$WORK/daemon.err")"; fi
contains "the daemon logs the move" "$(cat "$WORK/daemon.out")" "syncing with the server at $A2"
# an address added while the daemon runs counts from its next connection
P3=$(free_port)
A3=ws://127.0.0.1:$P3
run --home "$HL" server add "$A3"
expect "li adds a third address while the daemon runs" 0
stop_server
start_server "$P3"
run --home "$HZ" server add "$A3"
expect "zhang adds the third address" 0
run --home "$HZ" visit add --customer "$CID" --time "$(rel_day 'today') 10:00" --place office \
    --purpose moved-again --notes "fourth visit"
expect "zhang records a fourth visit" 0
run --home "$HZ" sync
expect "zhang syncs with the server on its third address" 0
if wait_li 4 60; then ok "li's daemon reaches the address added while it ran"
else fail "li's daemon reaches the address added while it ran" \
    "$(cat "$WORK/daemon.out" "$WORK/daemon.err")"; fi
kill -0 "$DAEMON_PID" 2>/dev/null && ok "li's daemon still runs" ||
    fail "li's daemon still runs" "$(cat "$WORK/daemon.err")"
stop_daemon_now
contains "the daemon logs the second move" "$(cat "$WORK/daemon.out")" "syncing with the server at $A3"
run --home "$HL" status --json
equal "li's replica remembers the address that answered last" "$(json_field "$OUT" server_last)" "$A3"

# ---- a replica of the published client: one address, upgraded ----
runc "$OLD" --home "$HC" enroll --server "$A3" --name chen-laptop <<<"$(code_for chen)"
expect "chen enrolls with the published client (one address)" 0
runc "$OLD" --home "$HC" sync
expect "chen syncs with the published client" 0
run --home "$HC" server list
expect "this build lists the old replica's servers" 0
equal "the old replica's one address" "$(head -n 1 <<<"$OUT")" "$A3"
run --home "$HC" sync
expect "the old replica syncs after the upgrade" 0
contains "and says with which server" "$OUT" "with the server at $A3"
run --home "$HC" server remove "$A3"
expect "the only address cannot be removed" 2 "is the server's only address"
run --home "$HC" server add "$DEAD"
expect "the upgraded replica takes a second address" 0
run --home "$HC" sync
expect "and still syncs" 0
lacks "trying the address that answered last first" "$OUT" "did not answer"

stop_server
# nothing a rep typed reaches the stderr of any command
lacks "no customer text in any stderr" "$(cat "$ERRLOG")" "Many Doors"
finish
