#!/usr/bin/env bash
# End-to-end tests of `fieldsync-server serve`: it starts on a free loopback
# port, announces "listening on HOST:PORT", accepts TCP connections, listens
# on the address asked for only, stops cleanly (status 0) on SIGTERM and
# SIGINT; bad --listen values are refused (2 syntax, 1 cannot bind) and a
# port already in use is an error naming the address.
#
#   bash tests/server_cli/test_serve.sh path/to/fieldsync-server
#
# Loopback only. Needs bash (/dev/tcp), coreutils and grep; ss (iproute2)
# is used when present. Prints one line per check, ends "N passed, M failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SRV=${1:?usage: test_serve.sh path/to/fieldsync-server}
if [ ! -x "$SRV" ]; then
    echo "test_serve.sh: $SRV is not an executable" >&2
    exit 2
fi
export LC_ALL=C

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-serve-XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

export FIELDSYNC_PASSPHRASE='serve test passphrase, cobalt heron 7'

# run ARGS...: runs the server to completion; sets RC, OUT, ERR.
run() {
    OUT=$("$SRV" "$@" 2>"$WORK/err")
    RC=$?
    ERR=$(<"$WORK/err")
}

# start TAG DATA LISTEN: starts serve in the background (stdout to
# $WORK/TAG.out, stderr to $WORK/TAG.err); sets SPID. Then waits up to 10 s
# for its first stdout line; sets LINE and PORT (empty if none came).
start() {
    local tag=$1
    "$SRV" serve --data "$2" --listen "$3" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
    SPID=$!
    PIDS+=("$SPID")
    LINE=
    PORT=
    local i
    for ((i = 0; i < 100; i++)); do
        if [ -s "$WORK/$tag.out" ] && LINE=$(head -n 1 "$WORK/$tag.out") && [ -n "$LINE" ]; then
            break
        fi
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    LINE=$(head -n 1 "$WORK/$tag.out" 2>/dev/null)
    if [[ $LINE =~ ^listening\ on\ .*:([0-9]+)$ ]]; then PORT=${BASH_REMATCH[1]}; fi
}

# stop_and_wait NAME SIGNAL: sends SIGNAL to $SPID, waits up to 10 s for it to
# exit and checks status 0.
stop_and_wait() {
    local name=$1 sig=$2 i rc
    kill "-$sig" "$SPID"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SPID" 2>/dev/null; then
        fail "$name" "still running 10 s after SIG$sig"
        kill -KILL "$SPID"
        wait "$SPID" 2>/dev/null
        return
    fi
    wait "$SPID"
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "$name"; else fail "$name" "exit status $rc, expected 0"; fi
}

# tcp_connect PORT: succeeds if 127.0.0.1:PORT accepts a TCP connection.
tcp_connect() {
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

D=$WORK/data
D2=$WORK/data2
"$SRV" init --data "$D" >/dev/null 2>&1 && "$SRV" init --data "$D2" >/dev/null 2>&1 || {
    echo "test_serve.sh: init failed" >&2
    exit 1
}

# ---- help ----

run help
if grep -qF "serve --data DIR --listen HOST:PORT" <<<"$OUT"; then ok "help lists serve"; else
    fail "help lists serve" "got: $OUT"; fi
run serve --help
expect "serve --help exits 0" 0

# ---- start, connect, stop on SIGTERM ----

start a "$D" 127.0.0.1:0
if [ -n "$PORT" ] && [ "$PORT" -gt 0 ]; then
    ok "announces 'listening on 127.0.0.1:PORT' with the real port ($PORT)"
else
    fail "announces 'listening on 127.0.0.1:PORT' with the real port" "first line: $LINE" \
        "stderr: $(cat "$WORK/a.err")"
fi
if [ "$(wc -l <"$WORK/a.out")" -eq 1 ]; then ok "one line on stdout"; else
    fail "one line on stdout" "stdout: $(cat "$WORK/a.out")"; fi
if [ -n "$PORT" ] && tcp_connect "$PORT"; then ok "the port accepts a TCP connection"; else
    fail "the port accepts a TCP connection" "port '$PORT'"; fi
if [ -n "$PORT" ] && command -v ss >/dev/null 2>&1; then
    # libwebsockets 4.1 would listen on every interface for a plain IPv4
    # literal; serve must bind the loopback address only.
    SOCK=$(ss -Hltn "sport = :$PORT" 2>/dev/null)
    if grep -qE '(^|[[:space:]])(\[::ffff:)?127\.0\.0\.1\]?:'"$PORT"'([[:space:]]|$)' <<<"$SOCK" &&
        ! grep -qE '(\*|0\.0\.0\.0|\[::\]):'"$PORT"'([[:space:]]|$)' <<<"$SOCK"; then
        ok "listens on 127.0.0.1 only"
    else
        fail "listens on 127.0.0.1 only" "ss: $SOCK"
    fi
fi

# ---- the same port again ----

if [ -n "$PORT" ]; then
    run serve --data "$D2" --listen "127.0.0.1:$PORT"
    expect "a port in use: status 1, names the address" 1 "127.0.0.1:$PORT"
    run serve --data "$D" --listen "127.0.0.1:$PORT"
    expect "a port in use, same store: status 1" 1 "in use"
fi

stop_and_wait "SIGTERM: exits 0 within 10 s" TERM
if grep -qF "SIGTERM" "$WORK/a.err"; then ok "SIGTERM logged on stderr"; else
    fail "SIGTERM logged on stderr" "stderr: $(cat "$WORK/a.err")"; fi
if grep -qF "$FIELDSYNC_PASSPHRASE" "$WORK/a.err" "$WORK/a.out"; then
    fail "no passphrase in the output"
else
    ok "no passphrase in the output"
fi
if [ -n "$PORT" ] && ! tcp_connect "$PORT"; then ok "the port is closed after stopping"; else
    fail "the port is closed after stopping"; fi

# ---- SIGINT, and the store is free again afterwards ----

start b "$D" 127.0.0.1:0
if [ -n "$PORT" ]; then ok "restarts on the same store"; else
    fail "restarts on the same store" "stderr: $(cat "$WORK/b.err")"; fi
stop_and_wait "SIGINT: exits 0 within 10 s" INT
run device list --data "$D"
expect "the store opens after serve stopped" 0

# ---- bad --listen ----

run serve --data "$D"
expect "no --listen: status 2" 2 "--listen is required"
run serve --listen 127.0.0.1:0
expect "no --data: status 2" 2 "--data is required"
for bad in 127.0.0.1 127.0.0.1: :8080 127.0.0.1:65536 127.0.0.1:99999999999 127.0.0.1:-1 \
    127.0.0.1:80x 127.0.0.1:+80 ::1:0 '' ' '; do
    run serve --data "$D" --listen "$bad"
    expect "--listen '$bad': status 2, names --listen" 2 "--listen"
done
run serve --data "$D" --listen 192.0.2.1:0
expect "--listen on an address not of this machine: status 1" 1 "--listen"
run serve --data "$D" --listen no-such-host.invalid:0
expect "--listen on a host that does not resolve: status 1" 1 "--listen"
run serve --data "$WORK/nothing" --listen 127.0.0.1:0
expect "--data without a store: status 2" 2 "--data"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
