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
# BIN is the build's bin directory (default: build/bin). Overrides:
# LOAD_DEVICES, LOAD_SECONDS, LOAD_VISITS (per push), LOAD_INTERVAL_MS (pause
# between a device's rounds), LOAD_IDLE. Exit status 0 only with no error and
# nothing lost. Prints each phase's table and, last, one line of JSON.
set -u

mode=${1:-quick}
bin=${2:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
case $mode in
quick) devices=50 seconds=5 idle=200 ;;
full) devices=1000 seconds=60 idle=10000 ;;
*)
    echo "usage: $0 quick|full [BIN_DIR]" >&2
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
SRV_PID=
cleanup() {
    if [ -n "$SRV_PID" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FIELDSYNC_PASSPHRASE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export FIELDSYNC_PASSPHRASE
status=0
json=

# start_server DIR: serve on 127.0.0.1, a free port; sets SRV_PID and PORT.
start_server() {
    local line='' i
    : >"$1/serve.out"
    "$FSS" serve --data "$1/store" --listen 127.0.0.1:0 >"$1/serve.out" 2>"$1/serve.err" &
    SRV_PID=$!
    for ((i = 0; i < 300; i++)); do
        line=$(head -n 1 "$1/serve.out")
        [ -n "$line" ] && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
        echo "load: serve did not start" >&2
        cat "$1/serve.err" >&2
        exit 1
    fi
    PORT=${BASH_REMATCH[1]}
}

# stop_server DIR: SIGTERM by PID; serve must exit 0.
stop_server() {
    local rc
    kill -TERM "$SRV_PID"
    wait "$SRV_PID"
    rc=$?
    SRV_PID=
    if [ "$rc" -ne 0 ]; then
        echo "load: serve exited $rc" >&2
        cat "$1/serve.err" >&2
        status=1
    fi
}

# phase NAME DEVICES LOADSIM-MODE ARGS...: one phase on a fresh store.
phase() {
    local name=$1 n=$2 what=$3 dir=$WORK/$1 out rc
    shift 3
    mkdir -p "$dir"
    echo "== $name: $n devices"
    "$LOADSIM" setup --data "$dir/store" --keys "$dir/keys" --devices "$n" || exit 1
    start_server "$dir"
    out=$("$LOADSIM" "$what" --keys "$dir/keys" --port "$PORT" --server-pid "$SRV_PID" \
        --devices "$n" "$@")
    rc=$?
    printf '%s\n' "$out" | grep -v '^loadsim: {'
    json="$json${json:+,}\"$name\":$(printf '%s\n' "$out" | sed -n 's/^loadsim: //p')"
    [ "$rc" -eq 0 ] || status=1
    stop_server "$dir"
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
echo "load: {\"mode\":\"$mode\",$json,\"ok\":$([ $status -eq 0 ] && echo true || echo false)}"
exit $status
