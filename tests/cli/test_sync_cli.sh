#!/usr/bin/env bash
# End to end, with real processes on 127.0.0.1 only: fieldsync-server serve,
# two devices enrolling with one-time codes, a rep recording visits while the
# server is down, a failed sync that keeps them, a sync once it is back, and
# the manager's device receiving the same visits byte for byte. Then bad
# inputs to enroll and sync, and a raw-byte scan of every file of both
# replicas and the server store for the text the test wrote.
#
#   bash tests/cli/test_sync_cli.sh path/to/fieldsync path/to/fieldsync-server
#
# Prints one line per check and ends with "N passed, M failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_sync_cli.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_sync_cli.sh path/to/fieldsync path/to/fieldsync-server}
for exe in "$FS" "$FSS"; do
    if [ ! -x "$exe" ]; then
        echo "test_sync_cli.sh: $exe is not an executable" >&2
        exit 2
    fi
done
export LC_ALL=C.UTF-8

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-sync-cli-XXXXXX")
ERRLOG=$WORK/all-stderr # every client and admin stderr, scanned at the end
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

S=$WORK/server      # the server's store
HZ=$WORK/zhang      # zhang's device (rep, team north)
HL=$WORK/li         # li's device (manager, team north)
HX=$WORK/unenrolled # a replica that never enrolls

export FIELDSYNC_PASSPHRASE='sync test passphrase -- 7f3a'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

# Text recorded on zhang's device; none of it may appear in any file.
CUST='Vermillionfjord Instruments 青岚'
NOTE_PREFIX='wants quokkabristle pilot, 审批流程'
COMMIT_PREFIX='send zanderwhelk case study'
MARKERS=("Vermillionfjord" "青岚" "quokkabristle" "审批流程" "zanderwhelk")


run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }

n_visits() { # HOME
    run --home "$1" visit list --json
    grep -oF '"recorded_at":' <<<"$OUT" | wc -l
}
# The "notes" fields of a home's visits, sorted, one per line, as JSON text.
notes_of() {
    run --home "$1" visit list --json
    grep -oE '"notes":"([^"\\]|\\.)*"' <<<"$OUT" | sort
}

# ---- the server's store, users and codes ----
srv init --data "$S"
expect "server init" 0
srv user add --data "$S" --name li --role manager --team north
expect "user add li (manager, north)" 0
srv user add --data "$S" --name zhang --role rep --team north
expect "user add zhang (rep, north)" 0
allow_exports north # the test reads lists into variables (issue 20.4)
srv enroll-code --data "$S" --user zhang
expect "enroll-code for zhang" 0
CODE_Z=$(tail -n 1 <<<"$OUT")
srv enroll-code --data "$S" --user li
expect "enroll-code for li" 0
CODE_L=$(tail -n 1 <<<"$OUT")
[[ "$CODE_Z" =~ ^FS1-[A-Za-z0-9_-]{64}$ ]] && ok "zhang's code has the FS1- form" ||
    fail "zhang's code has the FS1- form" "got: $CODE_Z"

# ---- bad inputs (no server needed) ----
for bad in "http://127.0.0.1:9" "wss://127.0.0.1" "ws://127.0.0.1" "ws://:9" \
    "ws://127.0.0.1:0" "ws://127.0.0.1:65536" "ws://127.0.0.1:9x" "ws://127.0.0.1:-1" \
    "ws://host name:9" "ws://127.0.0.1:9/path" "127.0.0.1:9"; do
    run --home "$HX" enroll --server "$bad" --code "$CODE_Z"
    expect "enroll --server '$bad': status 2, names --server" 2 "--server"
done
run --home "$HX" enroll --code "$CODE_Z"
expect "enroll without --server: status 2" 2 "--server is required"
run --home "$HX" enroll --server ws://127.0.0.1:9 </dev/null
expect "enroll without a code on the command line or standard input: status 2" 2 \
    "no enrollment code: type it at the prompt, give it on standard input"
BADCODE="${CODE_Z:0:60}"
for bad in "$BADCODE" "FS2-${CODE_Z:4}" "${CODE_Z}A" "${CODE_Z:0:67}!" "not-a-code"; do
    run --home "$HX" enroll --server ws://127.0.0.1:9 --code "$bad"
    expect "enroll with a malformed --code: status 2, names --code" 2 "--code"
    lacks "a malformed --code is not echoed" "$ERR" "${bad:4:20}"
done
[ ! -e "$HX" ] && ok "bad input creates no replica" || fail "bad input creates no replica"

run --home "$HX" init
expect "init an unenrolled replica" 0
run --home "$HX" sync
expect "sync when not enrolled: status 1" 1 "not enrolled: run fieldsync enroll"
run --home "$HX" status
expect "status when not enrolled: status 0" 0
contains "status says not enrolled" "$OUT" "not enrolled"
contains "status: oldest pending none" "$OUT" "none"
run --home "$HX" status --json
contains "status --json: server null" "$OUT" '"server":null'
run --home "$HX" sync --bogus
expect "sync --bogus: status 2" 2 "unknown option --bogus"

# A server that is not there: enrolling fails with the transport's message.
# It creates li's replica, which the later enrollment reuses.
run --home "$HL" enroll --server ws://127.0.0.1:9 --code "$CODE_L" --name "li's phone"
expect "enroll with no server there: status 1" 1 "cannot reach the server"
lacks "the failed enroll does not echo the code" "$ERR" "${CODE_L:4}"
contains "--code warns that other users can read it" "$ERR" "warning: --code puts the code where other users"

# ---- zhang enrolls ----
start_server 0
P=$PORT
run --home "$HZ" enroll --server "ws://127.0.0.1:$P" --name "zhang's laptop" <<<"  $CODE_Z  "
expect "zhang enrolls with the code on standard input: status 0" 0
lacks "no warning when the code is off the command line" "$ERR" "warning"
contains "enroll confirms host, port and key" "$OUT" "enrolled with the server at 127.0.0.1:$P (key "
lacks "enroll does not print the code" "$OUT$ERR" "${CODE_Z:4}"
run --home "$WORK/thief" enroll --server "ws://127.0.0.1:$P" --code "$CODE_Z"
expect "a used code is refused: status 1" 1 "the server refused the enrollment code"
run --home "$HZ" enroll --server "ws://127.0.0.1:$P" --code "$CODE_L"
expect "enrolling an enrolled replica again: status 1" 1 "already enrolled"
run --home "$HZ" status --json
contains "status shows the server URL" "$OUT" "\"server\":\"ws://127.0.0.1:$P\""
stop_server

# ---- offline work ----
run --home "$HZ" customer add --name "$CUST" --industry survey
expect "zhang adds a customer offline" 0
CID=$(tail -n 1 <<<"$OUT")
for i in 1 2 3 4 5; do # dates from today (rel_day): 30-day rule on visit times
    run --home "$HZ" visit add --customer "$CID" --time "$(rel_day "$((16 - i)) days ago") 10:0$i" --place "office $i" \
        --purpose "demo $i" --notes "$NOTE_PREFIX #$i" --commit "$COMMIT_PREFIX $i|$(rel_day "$((6 - i)) days ago")"
    expect "zhang records visit $i with a commitment offline" 0
done
equal "zhang has 5 visits" "$(n_visits "$HZ")" 5
run --home "$HZ" status --json
lacks "status: pending is not 0 before sync" "$OUT" '"pending":0,'
lacks "status: oldest pending is set" "$OUT" '"oldest_pending_ms":null'
run --home "$HZ" status
contains "status text: pending line" "$OUT" "pending changes:"
lacks "status text: oldest pending is not none" "$OUT" "oldest pending:  none"
contains "status text: never synced" "$OUT" "last sync:       never"

run --home "$HZ" sync
expect "sync with the server down: status 1" 1 "cannot reach the server"
contains "sync failure says the changes are kept" "$ERR" "local changes are kept"
contains "the library's detail in parentheses" "$ERR" "cannot reach the server at 127.0.0.1:$P ("
LANG=zh_CN.UTF-8 LC_ALL= runc "$FS" --home "$HZ" sync
expect "in Chinese: the server down, said in Chinese" 1 "无法连接服务器 127.0.0.1:$P（"
contains "and the changes kept" "$ERR" "本地修改已保留"
run --home "$HZ" status --json
contains "a failed sync is not a last sync" "$OUT" '"last_sync_ms":null'
equal "the 5 visits stay after the failed sync" "$(n_visits "$HZ")" 5
NOTES_Z=$(notes_of "$HZ")
equal "zhang's notes are all there" "$(grep -c quokkabristle <<<"$NOTES_Z")" 5

# ---- the server is back, on the same port ----
start_server "$P"
equal "serve came back on the same port" "$PORT" "$P"
run --home "$HZ" sync
expect "zhang syncs: status 0" 0
contains "sync prints a summary" "$OUT" "in sync: "
contains "sync sent the changes" "$OUT" "changes sent, cursor "
lacks "sync sent more than 0 changes" "$OUT" "in sync: 0 changes sent"
run --home "$HZ" status --json
expect "status --json after sync" 0
contains "status --json: pending 0" "$OUT" '"pending":0'
contains "status --json: oldest pending null" "$OUT" '"oldest_pending_ms":null'
contains "status --json: no refusals" "$OUT" '"refused":[]'
run --home "$HZ" status
contains "status text: oldest pending none" "$OUT" "oldest pending:  none"
contains "status text: last sync just now" "$OUT" "last sync:       under a minute ago"
run --home "$HZ" status --json
if grep -qE '"last_sync_ms":[1-9][0-9]{11,}' <<<"$OUT"; then ok "status --json: last_sync_ms is a time"
else fail "status --json: last_sync_ms is a time" "$OUT"; fi
run --home "$HZ" sync
expect "a second sync: status 0" 0
contains "a second sync sends nothing" "$OUT" "in sync: 0 changes sent"

# ---- li enrolls (reusing the replica the failed attempt created) ----
run --home "$HL" enroll --server "ws://127.0.0.1:$P" --code "$CODE_L" --name "li's phone"
expect "li enrolls: status 0" 0
run --home "$HL" sync
expect "li syncs: status 0" 0
equal "li sees the 5 visits" "$(n_visits "$HL")" 5
NOTES_L=$(notes_of "$HL")
equal "the notes on li's device equal zhang's byte for byte" "$NOTES_L" "$NOTES_Z"
run --home "$HL" visit list --json
equal "li sees the 5 commitments" "$(grep -oF "$COMMIT_PREFIX" <<<"$OUT" | wc -l)" 5
stop_server


# ---- the same field edited on two devices offline ----
# zhang (rep) and li (manager) both change the customer's industry while the
# server is down; li's edit is the newer. After everyone syncs, both devices
# hold li's value and both show zhang's as the conflict's losing value.
run --home "$HZ" customer edit --customer "${CID:0:10}" --industry "zanderwhelk logistics"
expect "zhang edits the industry offline" 0
sleep 0.05
run --home "$HL" customer edit --customer "${CID:0:10}" --industry "retail"
expect "li edits the same field offline, later" 0
run --home "$HZ" customer edit --customer "${CID:0:10}"
expect "customer edit with nothing to change: status 2" 2 "nothing to change"
run --home "$HZ" customer edit --customer "${CID:0:10}" --key-account perhaps
expect "customer edit --key-account perhaps: status 2" 2 "--key-account takes yes or no"
start_server "$P"
for h in "$HZ" "$HL" "$HZ"; do
    run --home "$h" sync
    expect "sync after the offline edits ($(basename "$h"))" 0
done
for h in "$HZ" "$HL"; do
    who=$(basename "$h")
    run --home "$h" customer list --json
    contains "$who holds the newer industry" "$OUT" '"industry":"retail"'
    lacks "$who does not hold the older one as the value" "$OUT" '"industry":"zanderwhelk logistics"'
    run --home "$h" conflict list --json
    expect "$who: conflict list --json" 0
    contains "$who shows the conflict on customer.industry" "$OUT" '"table":"customer","column":"industry"'
    contains "$who's conflict keeps li's value" "$OUT" '"kept":"retail"'
    contains "$who's conflict holds zhang's losing value" "$OUT" '"lost":"zanderwhelk logistics"'
    run --home "$h" conflict list
    contains "$who: conflict list text names both values" "$OUT" 'kept "retail", lost "zanderwhelk logistics"'
    run --home "$h" status --json
    lacks "$who: status counts the open conflict" "$OUT" '"open_conflicts":0'
done
stop_server


for m in "${MARKERS[@]}"; do
    hits=$(grep -rlaF -- "$m" "$HZ" "$HL" "$S" 2>/dev/null)
    if [ -z "$hits" ]; then
        ok "no file of either home or the store holds '$m'"
    else
        fail "no file of either home or the store holds '$m'" "found in: $hits"
    fi
done

# ---- revoked: the next sync is refused and wipes the device ----
srv device list --data "$S" --json
FP=$(grep -oE '"user":"li"[^}]*"fingerprint":"[0-9a-f]+"|"fingerprint":"[0-9a-f]+"[^}]*"user":"li"' <<<"$OUT" |
    grep -oE '"fingerprint":"[0-9a-f]+"' | grep -oE '[0-9a-f]{16,}' | head -n 1)
if [ -n "$FP" ]; then ok "li's device is listed"; else fail "li's device is listed" "$OUT"; fi
srv device revoke --data "$S" --device "${FP:0:12}"
expect "li's device is revoked" 0
start_server "$P"
run --home "$HL" sync
expect "a revoked device's sync fails" 1 "revoked"
contains "and says it wiped the replica" "$ERR" "wiped"
if [ ! -e "$HL/replica.key" ] && [ ! -e "$HL/replica.db" ]; then ok "li's replica is gone"
else fail "li's replica is gone" "$(ls -la "$HL")"; fi
run --home "$HZ" sync
expect "zhang still syncs" 0
stop_server

# ---- after all of it: nothing readable in the server's logs, nor at rest ----
if [ -s "$WORK/serve.log" ]; then ok "the server's logs were kept"
else fail "the server's logs were kept" "$WORK/serve.log is empty"; fi
for m in "${MARKERS[@]}"; do
    hits=$(grep -rlaF -- "$m" "$WORK/serve.log" "$ERRLOG" "$HZ" "$S" 2>/dev/null)
    if [ -z "$hits" ]; then
        ok "no log, zhang's home or the store holds '$m' at the end"
    else
        fail "no log, zhang's home or the store holds '$m' at the end" "found in: $hits"
    fi
done
finish
