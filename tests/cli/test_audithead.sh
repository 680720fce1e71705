#!/usr/bin/env bash
# Issue 20 point 3 (finding 9): a cut audit tail is found. Real processes
# on 127.0.0.1. The server logs the audit chain's head at start (and hourly,
# and at stop); `audit head` prints it; `audit verify --expect-head` checks
# that the log still holds a head kept earlier. SIGKILL the server and
# delete its WAL: the last enrollment and revocation are gone, `audit
# verify` alone still finds a consistent (older) chain, and --expect-head
# with the head kept before says the log was cut.
#
#   bash tests/cli/test_audithead.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_audithead.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_audithead.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-audithead-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='audit head test passphrase -- 51c0'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
HEAD_RE='^[0-9]+:[0-9a-f]{64}$'

srv() { runc "$FSS" "$@"; }

srv init --data "$S"
expect "server init" 0
add_users "zhang rep north"
start_server 0
grep -qE "audit head at start: [0-9]+:[0-9a-f]{64}" "$WORK/serve.err"
RC=$? ERR=$(cat "$WORK/serve.err")
expect "serve logs the audit head at start" 0

enroll_device zhang "$WORK/zhang" "ws://127.0.0.1:$PORT"
srv audit head --data "$S"
expect "audit head while serving" 0
H1=$OUT
[[ "$H1" =~ $HEAD_RE ]]
RC=$? ERR="got: $H1"
expect "it prints SEQ:MAC" 0
srv audit verify --data "$S" --expect-head "$H1"
expect "verify against the head just kept" 0
contains "says the kept head is in the log" "$OUT" "is in the log"
contains "and prints the head" "$OUT" "head $H1"

# the last security events: a second laptop enrolled and revoked
enroll_device zhang "$WORK/zhang2" "ws://127.0.0.1:$PORT" --name zhang-second
FP=$("$FSS" device list --data "$S" --json | python3 -c '
import json, sys
print([d["fingerprint"] for d in json.load(sys.stdin) if d["name"] == "zhang-second"][0])')
srv device revoke --data "$S" --device "$FP" --discard-unsent
expect "the second laptop is revoked" 0
srv audit head --data "$S"
H2=$OUT
[ "${H2%%:*}" -gt "${H1%%:*}" ]
RC=$? ERR="$H1 then $H2"
expect "the head moved on" 0
srv audit verify --data "$S" --expect-head "$H1"
expect "an older head is still in a log that grew" 0
srv audit verify --data "$S" --expect-head "${H1%%:*}:$(printf '%064d' 0)"
expect "a head whose entry has another MAC: exit 1" 1 "audit log rewritten"

# the attack: kill the server, delete its WAL
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
SRV_PID=
wal=$(find "$S" -name '*-wal' | wc -l)
[ "$wal" -ge 1 ]
RC=$? ERR="no WAL in $S: $(ls -la "$S")"
expect "the store has a WAL to delete" 0
find "$S" -name '*-wal' -delete
find "$S" -name '*-shm' -delete
srv audit verify --data "$S"
expect "without a kept head the older chain still verifies (the finding)" 0
srv audit verify --data "$S" --expect-head "$H2"
expect "with the head kept before: exit 1" 1 "audit log cut"
srv audit verify --data "$S" --expect-head "$H1:00"
expect "a malformed head: exit 2, saying how it is written" 2 "SEQ:MAC"
srv audit show --data "$S" --expect-head "$H1"
expect "--expect-head only goes with verify" 2 "goes with audit verify"

# a clean stop logs the head that audit head then prints
start_server 0
stop_server
srv audit head --data "$S"
contains "serve logs the head at stop, the one audit head prints" "$(cat "$WORK/serve.log")" \
    "audit head at stop: $OUT"
finish
