#!/usr/bin/env bash
# Load (issue 7): many simulated devices against one fieldsync-server serve on
# 127.0.0.1, each with its own enrolled identity and real handshakes
# (bench/loadsim.c). Two phases, each on a fresh store and a fresh server:
#   active  DEVICES devices push visits and pull for SECONDS; afterwards the
#           server is stopped and the store is opened to check that every
#           acknowledged change is there (zero lost)
#   idle    IDLE devices connect and stay idle: the server's RSS per connection
#
#   bench/load.sh quick [BIN]   50 active for 5 s, 200 idle (a ctest: load_quick)
#   bench/load.sh full  [BIN]   1,000 active for 60 s, 10,000 idle
# On the PostgreSQL store (issue 21.3/21.4), the same sizes:
#   bench/load.sh pg-quick|pg-full [BIN]    one node on PostgreSQL
#   bench/load.sh pg2-quick|pg2-full [BIN]  two nodes on one PostgreSQL, the
#                                           devices split across them (device i
#                                           on node i % 2); node 2 is a copy of
#                                           node 1's data directory
# Each PostgreSQL phase has a database of its own on a throw-away cluster
# (tests/pg/cluster.sh, stopped at exit). Besides accepted changes/s and ACK
# p50/p99, each node's CPU seconds per 1,000 changes it acknowledged and its
# RSS per connection, and PostgreSQL's CPU (the postmaster and its children,
# /proc/PID/stat) per 1,000 changes of all. verify reads the store through
# node 1 after every node stopped: it catches up with what node 2 wrote.
# BIN is the build's bin directory (default: build/bin). Overrides:
# LOAD_DEVICES, LOAD_SECONDS, LOAD_VISITS (per push), LOAD_INTERVAL_MS (pause
# between a device's rounds), LOAD_IDLE. Exit status 0 only with no error and
# nothing lost. Prints each phase's table and, last, one line of JSON.
set -u

mode=${1:-quick}
bin=${2:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
store=sqlite nodes=1
case $mode in
pg-*) store=pg ;;
pg2-*) store=pg nodes=2 ;;
esac
case ${mode#pg*-} in
quick) devices=50 seconds=5 idle=200 ;;
full) devices=1000 seconds=60 idle=10000 ;;
*)
    echo "usage: $0 quick|full|pg-quick|pg-full|pg2-quick|pg2-full [BIN_DIR]" >&2
    exit 2
    ;;
esac
devices=${LOAD_DEVICES:-$devices}
seconds=${LOAD_SECONDS:-$seconds}
idle=${LOAD_IDLE:-$idle}
visits=${LOAD_VISITS:-2}
interval=${LOAD_INTERVAL_MS:-1000}
LOADSIM=$bin/loadsim
FSS=$bin/fieldsync-server
for b in "$LOADSIM" "$FSS"; do
    if [ ! -x "$b" ]; then
        echo "load: $b is missing (build first)" >&2
        exit 2
    fi
done

# Every connection is a descriptor in loadsim and one in the server.
most=$devices
[ "$idle" -gt "$most" ] && most=$idle
need=$((most + 256))
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "load: $need descriptors needed, the hard limit (ulimit -Hn) is $(ulimit -Hn)" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-load.XXXXXX")
SRV_PIDS=()
cleanup() {
    local p
    for p in "${SRV_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ "$store" = pg ] && bash "$ROOT/tests/pg/cluster.sh" stop "$WORK/pg" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FIELDSYNC_PASSPHRASE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export FIELDSYNC_PASSPHRASE
status=0
json=

PGURL= PGPID=
if [ "$store" = pg ]; then
    # the throw-away cluster: one database per phase
    PGURL=$(bash "$ROOT/tests/pg/cluster.sh" start "$WORK/pg") || {
        echo "load: the PostgreSQL cluster did not start (apt-get install postgresql libpq-dev)" >&2
        exit 2
    }
    PGPID=$(head -n 1 "$WORK/pg/data/postmaster.pid")
fi

# start_server DIR STORE: serve STORE on 127.0.0.1, a free port; appends to
# SRV_PIDS, sets PORT.
start_server() {
    local line='' i pid out=$1/serve-$(basename "$2")
    : >"$out.out"
    "$FSS" serve --data "$2" --listen 127.0.0.1:0 >"$out.out" 2>"$out.err" &
    pid=$!
    SRV_PIDS+=("$pid")
    for ((i = 0; i < 300; i++)); do
        line=$(head -n 1 "$out.out")
        [ -n "$line" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
        echo "load: serve did not start" >&2
        cat "$out.err" >&2
        exit 1
    fi
    PORT=${BASH_REMATCH[1]}
}

# stop_servers DIR: SIGTERM to every node by PID; each must exit 0.
stop_servers() {
    local rc p
    for p in "${SRV_PIDS[@]}"; do
        kill -TERM "$p"
        wait "$p"
        rc=$?
        if [ "$rc" -ne 0 ]; then
            echo "load: serve exited $rc" >&2
            cat "$1"/serve-*.err >&2
            status=1
        fi
    done
    SRV_PIDS=()
}

# phase NAME DEVICES LOADSIM-MODE ARGS...: one phase on a fresh store (on
# PostgreSQL: a fresh database), with every node.
phase() {
    local name=$1 n=$2 what=$3 dir=$WORK/$1 out rc k targets=() storeopt=()
    shift 3
    mkdir -p "$dir"
    echo "== $name: $n devices, $store store, $nodes node(s)"
    if [ "$store" = pg ]; then
        psql -X -q "$PGURL" -c "CREATE DATABASE load_$name" >/dev/null || exit 1
        storeopt=(--store "${PGURL%/*}/load_$name")
        targets=(--pg-pid "$PGPID")
    fi
    "$LOADSIM" setup --data "$dir/store" --keys "$dir/keys" --devices "$n" "${storeopt[@]}" ||
        exit 1
    for ((k = 2; k <= nodes; k++)); do
        cp -a "$dir/store" "$dir/store$k" # a stopped node's copy is a new node
    done
    start_server "$dir" "$dir/store"
    targets+=(--port "$PORT" --server-pid "${SRV_PIDS[0]}")
    for ((k = 2; k <= nodes; k++)); do
        start_server "$dir" "$dir/store$k"
        targets+=(--port "$PORT" --server-pid "${SRV_PIDS[k - 1]}")
    done
    out=$("$LOADSIM" "$what" --keys "$dir/keys" "${targets[@]}" --devices "$n" "$@")
    rc=$?
    printf '%s\n' "$out" | grep -v '^loadsim: {'
    json="$json${json:+,}\"$name\":$(printf '%s\n' "$out" | sed -n 's/^loadsim: //p')"
    [ "$rc" -eq 0 ] || status=1
    stop_servers "$dir"
    if [ "$what" = active ]; then
        out=$("$LOADSIM" verify --data "$dir/store" --keys "$dir/keys" --results "$dir/results")
        rc=$?
        printf '%s\n' "$out" | grep -v '^loadsim: {'
        json="$json,\"verify\":$(printf '%s\n' "$out" | sed -n 's/^loadsim: //p')"
        [ "$rc" -eq 0 ] || status=1
    fi
    rm -rf "$dir"
}

phase active "$devices" active --seconds "$seconds" --visits "$visits" \
    --interval "$interval" --out "$WORK/active/results"
phase idle "$idle" idle --hold 5
echo "load: {\"mode\":\"$mode\",\"store\":\"$store\",\"nodes\":$nodes,$json,\"ok\":$([ $status -eq 0 ] && echo true || echo false)}"
exit $status
