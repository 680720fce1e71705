#!/usr/bin/env bash
# Backup and restore of a running two-node PostgreSQL store (issue 21, the
# item left open), real processes on 127.0.0.1 only, on a throw-away
# cluster this test starts and stops (tests/pg/cluster.sh; PostgreSQL
# missing is a failure naming what to install, never a skip). What an
# operator does, and what each step proves:
#  1. two nodes (B a copy of A's stopped data directory); reps zhang (A
#     first) and wang (B first) and manager li (B) sync visits;
#  2. the backup, while both reps' daemons sync and record visits: a node
#     backup (`fieldsync-server backup` through A's control socket: the
#     identity and key the log is sealed with, and a cache) and then
#     `pg_dump -Fc` of the database; neither holds customer text (the dump
#     scanned for the markers, raw and hex-encoded; canaries written in the
#     clear and as bytea are found, so the scan can see);
#  3. after the backup point the reps record and sync more visits, li pulls
#     them; both nodes stop (the disaster: the database is lost);
#  4. the database dropped, made again and `pg_restore`d: node B, its cache
#     ahead of the restored log, refuses to serve and to run an admin
#     command, saying so ("diverged", "restored from a backup");
#  5. A is put back with `fieldsync-server restore --from` the node backup
#     (its cache behind the dump: it catches up from the log, and the feed
#     gets a new epoch, logged) and serves; the reps and li sync through A
#     (wang moves on to his second address): every visit recorded after the
#     backup point is sent again by the laptops, the log grows past B's old
#     position, and B, started again with its old cache, still refuses
#     (pgrestore21: before a node kept the tag of the entry at its
#     position, a log written again up to it was taken for its own);
#  6. B's store replaced by the node backup (a fresh node, its cache behind
#     the log) catches up and serves: li's second laptop, enrolled through
#     B, and li's laptop hold every visit the reps recorded, once, equal to
#     the reps' own; the reps hold nothing unsent; no customer text in any
#     log.
#
#   bash tests/cli/test_pgrestore.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

USAGE="usage: test_pgrestore.sh path/to/fieldsync path/to/fieldsync-server"
FS=${1:?$USAGE}
FSS=${2:?$USAGE}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-pgrestore-XXXXXX")
ERRLOG=$WORK/all-stderr
PG=$WORK/pg
NA=$WORK/nodeA NB=$WORK/nodeB NBK=$WORK/node-backup DUMP=$WORK/fs.dump
HZ=$WORK/zhang HW=$WORK/wang HL=$WORK/li HL2=$WORK/li2
PID_A= PID_B= ZD_PID= WD_PID=
MARK='cobaltfennel 恢复拜访'
MARK2='quernstile 备份客户'
START=$SECONDS

stop_pid() { # PID: SIGTERM and wait
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    stop_pid "$ZD_PID"
    stop_pid "$WD_PID"
    stop_pid "$PID_A"
    stop_pid "$PID_B"
    for h in "$HZ" "$HW" "$HL" "$HL2"; do "$FS" --home "$h" lock >/dev/null 2>&1; done
    bash "$ROOT/tests/pg/cluster.sh" stop "$PG" >/dev/null 2>&1
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='pg restore test passphrase -- 21d7'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
psql_q() { # SQL: one value from the store's database
    "$PGBIN/psql" -X -A -t -q "$URL" -c "$1" 2>>"$ERRLOG"
}
# notes HOME: the notes of every visit the replica lists, sorted, one a line
notes() {
    "$FS" --home "$1" visit list --json |
        python3 -c 'import json,sys; print("\n".join(sorted(v["notes"] for v in json.load(sys.stdin))))'
}
# visit HOME CID TAG: a visit whose notes are "$MARK TAG"; RECORDED gets TAG
RECORDED=()
visit() {
    run --home "$1" visit add --customer "$2" --time "$(rel_day '2 days ago') 10:00" \
        --place office --purpose "call $3" --notes "$MARK $3"
    expect "visit $3 recorded" 0
    [ "$RC" -eq 0 ] && RECORDED+=("$MARK $3")
}
sync_ok() { # NAME HOME
    run --home "$2" sync
    expect "$1 syncs" 0
    SYNC_OUT=$OUT
}

# refused_node NAME DIR PORT: serve on DIR must exit non-zero within 60 s
# without listening, saying its store diverged; sets REFUSAL.
refused_node() {
    local name=$1 dir=$2 port=$3 pid status i
    : >"$WORK/$name.out"
    : >"$WORK/$name.refused"
    "$FSS" serve --data "$dir" --listen "127.0.0.1:$port" >"$WORK/$name.out" \
        2>"$WORK/$name.refused" &
    pid=$!
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "node $name refuses to serve" "still running: $(head -n 1 "$WORK/$name.out")"
        stop_pid "$pid"
        return
    fi
    wait "$pid"
    status=$?
    REFUSAL=$(cat "$WORK/$name.refused")
    cat "$WORK/$name.refused" >>"$WORK/$name.err"
    [ "$status" -ne 0 ] && ok "node $name refuses to serve (exit $status)" ||
        fail "node $name refuses to serve" "exit 0" "$(cat "$WORK/$name.out")"
    lacks "node $name never listened" "$(cat "$WORK/$name.out")" "listening on"
    contains "node $name says its store diverged from the log" "$REFUSAL" "diverged from the PostgreSQL log"
    contains "node $name names a restore as the likely cause" "$REFUSAL" "restored from a backup"
    echo "node $name: $(tail -n 1 <<<"$REFUSAL")"
}

# ---- 1. the cluster, two nodes, three laptops ----
if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_dump" ] || [ ! -x "$PGBIN/pg_restore" ]; then
    fail "PostgreSQL 15 is installed" "install it: apt-get install postgresql libpq-dev"
    finish
fi
if ! URL=$(bash "$ROOT/tests/pg/cluster.sh" start "$PG" 2>"$WORK/cluster.err"); then
    fail "a throw-away PostgreSQL cluster starts" "$(cat "$WORK/cluster.err")"
    finish
fi
ok "a throw-away PostgreSQL cluster on 127.0.0.1"
ADMIN_URL=${URL%/*}/postgres
srv init --data "$NA" --store "$URL"
expect "node A: init --store postgresql://..." 0
S=$NA
add_users "li manager north" "zhang rep north" "wang rep north"
allow_exports north
cp -a "$NA" "$NB"
ok "node B is a copy of A's data directory, taken while A is stopped"
PA=$(free_port)
PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done
A=ws://127.0.0.1:$PA B=ws://127.0.0.1:$PB
start_node A "$NA" "$PA"
start_node B "$NB" "$PB"
code() { "$FSS" enroll-code --data "$NA" --user "$1" | tail -n 1; }
run --home "$HZ" enroll --server "$A" --server "$B" --name zhang-laptop <<<"$(code zhang)"
expect "zhang enrolls, A first" 0
run --home "$HW" enroll --server "$B" --server "$A" --name wang-laptop <<<"$(code wang)"
expect "wang enrolls, B first" 0
run --home "$HL" enroll --server "$B" --server "$A" --name li-laptop <<<"$(code li)"
expect "li enrolls, B first" 0

run --home "$HZ" customer add --name "$MARK2 Zhang Co." --owner zhang
expect "zhang records a customer" 0
CZ=$(tail -n 1 <<<"$OUT")
run --home "$HW" customer add --name "$MARK2 Wang Ltd." --owner wang
expect "wang records a customer" 0
CW=$(tail -n 1 <<<"$OUT")
for i in 1 2 3; do visit "$HZ" "$CZ" "z$i"; done
for i in 1 2; do visit "$HW" "$CW" "w$i"; done
sync_ok "zhang (through A)" "$HZ"
contains "zhang syncs with A" "$SYNC_OUT" "with the server at $A"
sync_ok "wang (through B)" "$HW"
contains "wang syncs with B" "$SYNC_OUT" "with the server at $B"
sync_ok "li (through B)" "$HL"

# ---- 2. the backup, while the reps' daemons sync ----
"$FS" --home "$HZ" daemon --interval 1 >"$WORK/zhang-daemon.out" 2>"$WORK/zhang-daemon.err" &
ZD_PID=$!
"$FS" --home "$HW" daemon --interval 1 >"$WORK/wang-daemon.out" 2>"$WORK/wang-daemon.err" &
WD_PID=$!
visit "$HZ" "$CZ" z4
visit "$HW" "$CW" w3
# canaries in the clear, so the dump's scan is shown to see text and bytea
psql_q "CREATE TABLE scan_canary(t text, b bytea);
        INSERT INTO scan_canary VALUES('plainyarrow canary', convert_to('hexmoraine canary', 'UTF8'))" >/dev/null
srv backup --data "$NA" --out "$NBK"
expect "the node backup, through A's control socket while serving" 0
contains "backup names the feed head" "$OUT" "feed head"
visit "$HZ" "$CZ" z5 # while the dump is taken, the daemons syncing
BK_HEAD=$(psql_q "SELECT coalesce(max(seq), 0) FROM fs_log")
if PGOPTIONS= "$PGBIN/pg_dump" -Fc -Z0 -f "$DUMP" "$URL" 2>"$WORK/pg_dump.err"; then
    ok "pg_dump -Fc of the database while both nodes serve"
else
    fail "pg_dump -Fc of the database while both nodes serve" "$(cat "$WORK/pg_dump.err")"
fi
visit "$HW" "$CW" w4
# the log is sealed: no marker in the dump, raw or as bytea's hex
hexof() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
DUMPHEX=$WORK/dump.hex
od -An -tx1 -v "$DUMP" | tr -d ' \n' >"$DUMPHEX"
grep -qaF "plainyarrow canary" "$DUMP" && ok "the scan finds a canary written as text" ||
    fail "the scan finds a canary written as text"
grep -qaF "$(hexof 'hexmoraine canary')" "$DUMP" && ok "the scan finds a canary written as bytea (hex)" ||
    fail "the scan finds a canary written as bytea (hex)"
for m in cobaltfennel 恢复拜访 quernstile 备份客户 "Zhang Co." "Wang Ltd."; do
    if grep -qaF -- "$m" "$DUMP" || grep -qaF -- "$(hexof "$m")" "$DUMP"; then
        fail "no customer text in the dump: $m"
    else
        ok "no customer text in the dump: $m"
    fi
done
for f in "$NBK"/*; do
    if grep -qaF cobaltfennel "$f" || grep -qaF quernstile "$f"; then
        fail "no customer text in the node backup: ${f##*/}"
    else
        ok "no customer text in the node backup: ${f##*/}"
    fi
done
rm -f "$DUMPHEX"
psql_q "DROP TABLE scan_canary" >/dev/null

# ---- 3. after the backup point ----
for i in 6 7; do visit "$HZ" "$CZ" "z$i"; done
for i in 5 6; do visit "$HW" "$CW" "w$i"; done
wait_synced() { # HOME NAME: the laptop holds nothing unsent (its daemon syncs)
    local i pending=
    for ((i = 0; i < 300; i++)); do
        pending=$("$FS" --home "$1" status --json 2>>"$ERRLOG" |
            python3 -c 'import json,sys; print(json.load(sys.stdin).get("pending"))' 2>/dev/null)
        [ "$pending" = 0 ] && break
        sleep 0.1
    done
    equal "$2's daemon sent everything" "$pending" 0
}
wait_synced "$HZ" zhang
wait_synced "$HW" wang
stop_pid "$ZD_PID"
ZD_PID=
stop_pid "$WD_PID"
WD_PID=
sync_ok "li (pulls the visits after the backup point)" "$HL"
equal "li holds every visit before the disaster" "$(notes "$HL")" \
    "$(printf '%s\n' "${RECORDED[@]}" | sort)"
# A stops first: B, stopping, catches up under the write lock (its last
# write), so its position is the log's head once both are stopped
stop_pid "$PID_A"
PID_A=
stop_pid "$PID_B"
PID_B=
END_HEAD=$(psql_q "SELECT coalesce(max(seq), 0) FROM fs_log")
DUMP_HEAD=$(PGOPTIONS= "$PGBIN/pg_restore" -f - -a -t fs_log "$DUMP" 2>>"$ERRLOG" |
    awk '/^COPY public.fs_log/{on=1; next} /^\\\./{on=0} on{print $1}' | sort -n | tail -n 1)
echo "log head: $BK_HEAD before the dump, $DUMP_HEAD in the dump, $END_HEAD at the disaster"
[ "${DUMP_HEAD:-0}" -lt "$END_HEAD" ] && ok "the log grew past the dump ($DUMP_HEAD < $END_HEAD)" ||
    fail "the log grew past the dump" "dump $DUMP_HEAD, end $END_HEAD"

# ---- 4. the database lost and restored from the dump ----
"$PGBIN/psql" -X -q "$ADMIN_URL" -c "DROP DATABASE fieldsync" 2>>"$ERRLOG" &&
    "$PGBIN/psql" -X -q "$ADMIN_URL" -c "CREATE DATABASE fieldsync" 2>>"$ERRLOG"
equal "the database dropped and made again, empty" "$(psql_q "SELECT to_regclass('fs_log') IS NULL")" t
if "$PGBIN/pg_restore" --no-owner -d "$URL" "$DUMP" 2>"$WORK/pg_restore.err"; then
    ok "pg_restore of the dump"
else
    fail "pg_restore of the dump" "$(cat "$WORK/pg_restore.err")"
fi
equal "the restored log: entries 1 to $DUMP_HEAD, none missing" \
    "$(psql_q "SELECT count(*) || ' ' || max(seq) FROM fs_log")" "$DUMP_HEAD $DUMP_HEAD"
refused_node B "$NB" "$PB"
contains "B: the log ends before its position" "$REFUSAL" "the log ends before"
srv device list --data "$NB" --json
[ "$RC" -ne 0 ] && ok "an admin command on B is refused too (exit $RC)" ||
    fail "an admin command on B is refused too" "$OUT"
contains "and says why" "$ERR" "diverged"

# ---- 5. A put back from the node backup; the laptops send again ----
srv restore --data "$NA" --from "$NBK"
expect "restore of node A from the node backup" 0
contains "restore gives the feed a new epoch" "$OUT" "new epoch"
equal "the restore is in the log (the epoch reaches every node)" \
    "$([ "$(psql_q "SELECT max(seq) FROM fs_log")" -gt "$DUMP_HEAD" ] && echo yes)" yes
start_node A "$NA" "$PA"
# the restored log written again up to B's position exactly, one entry at a
# time (a user added through A's control socket), before any laptop syncs:
# B's position is then in the log, holding another entry (pgrestore21:
# before the tag, B took it for its own, applied nothing and served)
for ((i = 0; i < 200; i++)); do
    [ "$(psql_q "SELECT max(seq) FROM fs_log")" -lt "$END_HEAD" ] || break
    srv user add --data "$NA" --name "fill$i" --role rep --team north
    [ "$RC" -eq 0 ] || { fail "user add fill$i through A" "$ERR"; break; }
done
equal "the restored log is written again up to B's position, no further" \
    "$(psql_q "SELECT max(seq) FROM fs_log")" "$END_HEAD"
refused_node B "$NB" "$PB"
contains "B: the log holds another entry at its position" "$REFUSAL" "another entry at this node's position"
sync_ok "zhang (after the restore)" "$HZ"
contains "zhang says it re-synced" "$SYNC_OUT" "re-synced:"
sync_ok "wang (after the restore; B refuses)" "$HW"
contains "wang moves on to A" "$SYNC_OUT" "with the server at $A"
sync_ok "li (after the restore)" "$HL"
for h in "$HZ" "$HW" "$HL" "$HZ" "$HW"; do sync_ok "${h##*/} (again)" "$h"; done
for h in "$HZ" "$HW"; do # each recorded visits the dump does not hold
    run --home "$h" status
    contains "${h##*/}'s status says it re-synced" "$OUT" "re-synced:"
    contains "${h##*/}'s status says it sent changes again" "$OUT" "sent again:"
done
equal "li holds every visit after the restore" "$(notes "$HL")" \
    "$(printf '%s\n' "${RECORDED[@]}" | sort)"
# the log written past B's old position (the laptops' pushes and the
# server's own writes): more syncs until it is
for ((i = 0; i < 20; i++)); do
    [ "$(psql_q "SELECT max(seq) FROM fs_log")" -gt "$END_HEAD" ] && break
    visit "$HZ" "$CZ" "za$i"
    sync_ok "zhang (after the restore, $i)" "$HZ"
done
NOW_HEAD=$(psql_q "SELECT max(seq) FROM fs_log")
[ "$NOW_HEAD" -gt "$END_HEAD" ] && ok "the restored log is written past B's old position ($NOW_HEAD > $END_HEAD)" ||
    fail "the restored log is written past B's old position" "$NOW_HEAD <= $END_HEAD"
refused_node B "$NB" "$PB"

# ---- 6. B replaced by the node backup: a fresh node catches up ----
mkdir "$NB/pre-restore-by-hand" && mv "$NB"/replica.* "$NB/pre-restore-by-hand/"
cp "$NBK"/replica.* "$NB/"
ok "B's store replaced by the node backup's (its old files kept aside)"
start_node B "$NB" "$PB"
run --home "$HL2" enroll --server "$B" --name li-second <<<"$(code li)"
expect "li's second laptop enrolls through B" 0
for h in "$HZ" "$HW" "$HL" "$HL2"; do sync_ok "${h##*/} (final)" "$h"; done
WANT=$(printf '%s\n' "${RECORDED[@]}" | sort)
equal "li's second laptop (from B, a fresh node) holds every visit the reps recorded" \
    "$(notes "$HL2")" "$WANT"
equal "li's laptop holds every visit the reps recorded, once" "$(notes "$HL")" "$WANT"
equal "zhang and wang together hold the same" "$( (notes "$HZ"; notes "$HW") | sort)" "$WANT"
run --home "$HL" visit list --json
LIST=$OUT
run --home "$HL2" visit list --json
equal "li's two laptops hold the same visits, field for field" "$OUT" "$LIST"
for h in "$HZ" "$HW"; do
    run --home "$h" status --json
    contains "${h##*/} holds nothing unsent" "$OUT" '"pending":0,'
done
srv device list --data "$NA" --json
DEVA=$OUT
srv device list --data "$NB" --json
equal "A's and B's device lists agree" "$OUT" "$DEVA"
srv audit verify --data "$NB"
expect "the audit log verifies on B" 0

stop_pid "$PID_A"
PID_A=
stop_pid "$PID_B"
PID_B=
for m in cobaltfennel quernstile 恢复拜访 备份客户; do
    lacks "no customer text in the nodes' logs: $m" "$(cat "$WORK/A.err" "$WORK/B.err")" "$m"
    lacks "no customer text in any command's stderr: $m" "$(cat "$ERRLOG")" "$m"
done
echo "runtime: $((SECONDS - START)) s"
finish
