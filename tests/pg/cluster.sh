#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for the tests of the PostgreSQL store
# (issue 21.2).
#   tests/pg/cluster.sh start DIR   initdb in DIR (made here, must not exist),
#                                   postgres on a free port of 127.0.0.1 only,
#                                   its Unix socket in DIR (never /tmp); prints
#                                   the URL postgresql://USER@127.0.0.1:PORT/DB
#   tests/pg/cluster.sh stop DIR    stops it (the PID in DIR/data/postmaster.pid)
#                                   and removes DIR
# Trust authentication on loopback for a throw-away user: a test cluster
# only. As root, initdb and postgres run as the user postgres (runuser), on
# a DIR that user owns. A caller starts it and stops it in a trap, so no
# cluster outlives its test. PostgreSQL missing is an error naming the
# packages to install, never a skip.
set -euo pipefail

PGBIN=${FS_PGBIN:-/usr/lib/postgresql/15/bin}
PGUSER_NAME=fstest
PGDB=fieldsync

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

start() {
    local dir=$1
    [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] \
        || die "PostgreSQL 15 is not installed ($PGBIN/initdb): apt-get install postgresql libpq-dev"
    [ ! -e "$dir" ] || die "$dir exists already"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
        getent passwd postgres >/dev/null || die "no user postgres: apt-get install postgresql"
        chown postgres: "$dir"
        # postgres must reach DIR through its parents (a mktemp -d is 0700)
        local p
        p=$(dirname "$dir")
        while [ "$p" != / ]; do
            runuser -u postgres -- test -x "$p" || chmod o+x "$p"
            p=$(dirname "$p")
        done
    fi
    chmod 700 "$dir"
    as_owner "$PGBIN/initdb" -D "$dir/data" -U "$PGUSER_NAME" -A trust --auth-host=trust \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    local port tries=0
    while :; do
        port=$(free_port)
        if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=on" \
            start >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        [ $tries -lt 5 ] || { tail -20 "$dir/server.log" >&2; die "postgres did not start"; }
    done
    echo "$port" >"$dir/port"
    as_owner "$PGBIN/psql" -q -h 127.0.0.1 -p "$port" -U "$PGUSER_NAME" -d postgres \
        -c "CREATE DATABASE $PGDB" >/dev/null \
        || die "cannot create the database"
    echo "postgresql://$PGUSER_NAME@127.0.0.1:$port/$PGDB"
}

stop() {
    local dir=$1
    [ -d "$dir" ] || return 0
    local pidfile="$dir/data/postmaster.pid"
    if [ -f "$pidfile" ]; then
        local pid
        pid=$(head -1 "$pidfile")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -INT "$pid" 2>/dev/null || true # fast shutdown
            for _ in $(seq 1 300); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dir"
}

case "${1-}" in
start) [ $# -eq 2 ] || die "usage: cluster.sh start DIR"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: cluster.sh stop DIR"; stop "$2" ;;
*) die "usage: cluster.sh start|stop DIR" ;;
esac
