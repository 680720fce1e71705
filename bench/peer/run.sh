#!/usr/bin/env bash
# The PouchDB peer of the benchmarks (issue 8): N visits of the benchmarks'
# generator (dump_visits) written to an on-disk PouchDB client, replicated to
# an express-pouchdb server and on to a fresh client over loopback, bytes
# counted by a proxy (see pouch_bench.js).
#
#   bench/peer/run.sh N [BIN_DIR] [pouch_bench options...]
# BIN_DIR: the build's bin directory holding dump_visits (default: $FS_BENCH_BIN,
# else build/bin). Options go to pouch_bench.js (--batch-size N, --batches-limit N,
# --insert-batch N, --server-mode MODE).
# Installs what it needs: nodejs/npm with apt-get if node or npm is missing, the
# pinned npm packages (package-lock.json) with npm ci if node_modules is missing.
# stdout: the one JSON object of pouch_bench.js; everything else on stderr.
# Exit status 0, or non-zero on any failure; temp files and child processes are
# removed either way.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

n=${1:-}
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 N [BIN_DIR] [pouch_bench options...]" >&2
    exit 2
fi
shift
bin=${FS_BENCH_BIN:-$root/build/bin}
if [ $# -gt 0 ] && [[ $1 != --* ]]; then
    bin=$1
    shift
fi
if [ ! -x "$bin/dump_visits" ]; then
    echo "$0: no $bin/dump_visits; build it: cmake --build BUILD --target dump_visits" >&2
    exit 1
fi

# nodejs and npm from Debian, only when missing (as scripts/lib.sh does).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "==> installing Debian packages with apt-get: nodejs npm" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "$0: node $(node --version) is too old; 18 or later is needed" >&2
    exit 1
fi
if [ ! -d "$here/node_modules/pouchdb-node" ] || [ ! -d "$here/node_modules/express-pouchdb" ]; then
    echo "==> installing the pinned PouchDB packages with npm ci (bench/peer)" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-peer.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> dump_visits $n" >&2
"$bin/dump_visits" "$n" >"$work/visits.jsonl" 2>"$work/visits.stats"
raw=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).raw_field_bytes)' \
    "$work/visits.stats")
echo "    $(cat "$work/visits.stats")" >&2

# The benchmark's databases go under $work too (TMPDIR), so they are removed
# even if node is killed. Run in the background so that a signal reaches the
# trap, which stops node by its PID (node stops its server and proxy).
echo "==> pouch_bench.js" >&2
TMPDIR=$work node "$here/pouch_bench.js" "$work/visits.jsonl" --expect-raw-bytes "$raw" "$@" &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=""
exit $rc
