#!/usr/bin/env bash
# The PostgreSQL store never sees customer text (issue 21.2): a store made
# with `fieldsync-server init --store postgresql://...` in a throw-away
# cluster (tests/pg/cluster.sh), a real `serve` on the node's data
# directory, a rep syncing a week of visits with marker text and a manager
# receiving them; then a raw-byte scan of PostgreSQL's files (base/ and
# pg_wal/) for the markers, which must find none while the log holds the
# week. Also: the node keeps its URL mode 0600, migrate finds the schema
# current, and a node of another store is refused.
#
#   bash tests/cli/test_pgscan.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_pgscan.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_pgscan.sh path/to/fieldsync path/to/fieldsync-server}
CLUSTER="$(dirname "${BASH_SOURCE[0]}")/../pg/cluster.sh"
PSQL=/usr/lib/postgresql/15/bin/psql
export LC_ALL=C.UTF-8

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-pgscan-XXXXXX")
ERRLOG=$WORK/all-stderr
SRV_PID=
trap 'stop_server_now; "$CLUSTER" stop "$WORK/pg"; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

URL=$("$CLUSTER" start "$WORK/pg") || {
    echo "FAIL a PostgreSQL cluster starts (apt-get install postgresql libpq-dev)"
    exit 1
}
ok "a throw-away PostgreSQL cluster"
PGDATA_DIR=$WORK/pg/data
sql() { "$PSQL" -X -q -At -d "$URL" -c "$1"; }

S=$WORK/server
HZ=$WORK/zhang
HL=$WORK/li
export FIELDSYNC_PASSPHRASE='pg scan passphrase -- 41c9'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

MARKERS=("Quillbrantor" "玄鸟纹样" "snorkelwhistle" "审批链路" "farrowdeep")

runc "$FSS" init --data "$S" --store "$URL"
expect "init --store: a node of a PostgreSQL store" 0
equal "the node keeps the URL, mode 0600" "$(stat -c %a "$S/store")" 600
equal "the log and its meta exist" "$(sql "SELECT count(*) FROM fs_meta")" 2
runc "$FSS" init --data "$WORK/again" --store "$URL"
expect "init --store on a database that holds a store: status 2" 2 "already holds a store"
runc "$FSS" migrate --data "$S"
expect "migrate: the schema is current" 0
contains "migrate names the version" "$OUT" "version 1"
runc "$FSS" user add --data "$S" --name li --role manager --team north
expect "user add li" 0
runc "$FSS" user add --data "$S" --name zhang --role rep --team north
expect "user add zhang" 0
allow_exports north

start_server 0
P=$PORT
enroll_device zhang "$HZ" "ws://127.0.0.1:$P"
enroll_device li "$HL" "ws://127.0.0.1:$P"
runc "$FS" --home "$HZ" sync
runc "$FS" --home "$HZ" customer add --name "${MARKERS[0]} ${MARKERS[1]} 有限公司" --industry survey
expect "zhang adds a customer" 0
CID=$(tail -n 1 <<<"$OUT")
for i in 1 2 3 4 5 6 7; do # a week: one visit a day, synced each day
    runc "$FS" --home "$HZ" visit add --customer "$CID" --time "$(rel_day "$((8 - i)) days ago") 10:00" \
        --place "office $i" --purpose "demo $i" --notes "${MARKERS[2]} ${MARKERS[3]} #$i" \
        --commit "send ${MARKERS[4]} $i|$(rel_day "+$i days")"
    expect "visit $i" 0
    runc "$FS" --home "$HZ" sync
    expect "zhang syncs day $i" 0
done
runc "$FS" --home "$HL" sync
expect "li syncs" 0
runc "$FS" --home "$HL" visit list --json
equal "li holds the week's 7 visits" "$(grep -oF '"recorded_at":' <<<"$OUT" | wc -l)" 7
contains "li reads the notes" "$OUT" "${MARKERS[2]}"
stop_server

n=$(sql "SELECT count(*) FROM fs_log")
[ "${n:-0}" -ge 10 ] && ok "the PostgreSQL log holds the week ($n entries)" ||
    fail "the PostgreSQL log holds the week" "entries: $n"
sql "CHECKPOINT" >/dev/null
sizes=$(du -sk "$PGDATA_DIR/base" "$PGDATA_DIR/pg_wal" | awk '{s += $1} END {print s}')
leaks=""
for m in "${MARKERS[@]}"; do
    hit=$(LC_ALL=C grep -rlaF -- "$m" "$PGDATA_DIR/base" "$PGDATA_DIR/pg_wal" 2>/dev/null | head -3)
    [ -n "$hit" ] && leaks+="$m in $hit; "
done
equal "no marker in PostgreSQL's base/ or pg_wal/ (${sizes} KiB scanned)" "$leaks" ""
# the scan can see: a marker written in the clear is found
sql "CREATE TABLE canary(t text); INSERT INTO canary VALUES('${MARKERS[0]} canary')" >/dev/null
sql "CHECKPOINT" >/dev/null
LC_ALL=C grep -rlaqF -- "${MARKERS[0]} canary" "$PGDATA_DIR/base" "$PGDATA_DIR/pg_wal" &&
    ok "the scan finds text PostgreSQL was given in the clear" ||
    fail "the scan finds text PostgreSQL was given in the clear"
leaks=""
for m in "${MARKERS[@]}"; do
    grep -qF -- "$m" "$ERRLOG" "$WORK/serve.log" "$WORK/pg/server.log" 2>/dev/null && leaks+="$m "
done
equal "no marker in any message or log" "$leaks" ""

# a node of another store is refused
URL2="${URL%/*}/other"
sql "CREATE DATABASE other" >/dev/null
runc "$FSS" init --data "$WORK/other" --store "$URL2"
expect "a second store in another database" 0
runc "$FSS" migrate --data "$S" --store "$URL2"
expect "the node refuses another store's database" 1 "another store"
runc "$FSS" user add --data "$S" --name wang --role rep --team north
expect "the node still opens on its own database" 0
finish
