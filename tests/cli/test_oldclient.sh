#!/usr/bin/env bash
# Issue 19.1: a laptop still on the published release keeps syncing with the
# newer server, and its replica survives the upgrade. Real processes on
# 127.0.0.1: this build's server, manager li on this build's client, rep zhang
# on the client of the published release.
#
# The old client is built from commit OLD_COMMIT below: 34f102e, the release
# published as protocol 6 / schema 5 and the commit issue 19 started from (so
# it is what the laptops in the field run). scripts/old-client builds it once
# from this clone (`git archive`, only the fieldsync_cli target, normal build:
# never sanitized, the ASan build shares it) and caches it under the build
# directory; a later run finds it there. A commit missing from the clone (a
# shallow clone) FAILS the test: it never passes without its old client.
#  - zhang (old client) enrolls with the new server, records a customer and
#    visits offline (the server down), syncs; li (new client) receives them;
#  - li edits one of zhang's visits; zhang's old client receives the edit,
#    and the team's calendar set on the server (the newest table it knows);
#  - what this build's schema has that the old client's does not (schema 6:
#    a `visit_plan`, which li writes for zhang's customer) the old client
#    never receives: its decoder would refuse the whole batch, so each of its
#    syncs succeeding after li wrote it is the proof; the plan arrives once
#    zhang's laptop runs this build (the upgrade resets its cursor);
#  - zhang records more offline (a visit, an edit) with the old client; this
#    build's client then opens the same replica (upgraded in one transaction
#    if its schema is older): the pending changes are there, still pending,
#    and they reach li at the next sync.
#
#   bash tests/cli/test_oldclient.sh path/to/fieldsync path/to/fieldsync-server CACHE
# CACHE: where the old client is kept (ctest: BUILD/old-client; FS_OLD_CLIENT_DIR,
# set by scripts/test, overrides it so both builds share one binary).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# FS_OLD_COMMIT picks another published release: 2f80264 is release 0.2.0
# (protocol 7, schema 6), which knows visit plans, so it receives li's;
# 2814925 is release 0.3.0 (protocol 8, schema 6).
OLD_COMMIT=${FS_OLD_COMMIT:-34f102e} # the published release: protocol 6, schema 5 (see above)
# OLD_KEY: the Argon2id limits (ops, bytes) of the key files it makes:
# INTERACTIVE before 0.3.0; 0.3.0 makes MODERATE ones, or the test cost when
# FIELDSYNC_TEST_KDF is set (scripts/old-client builds it with FS_TEST_KDF)
case $OLD_COMMIT in
34f102e) OLD_SCHEMA=5 OLD_KEY="2 67108864" ;;
2f80264) OLD_SCHEMA=6 OLD_KEY="2 67108864" ;;
2814925) OLD_SCHEMA=6 OLD_KEY="3 268435456"; [ -n "${FIELDSYNC_TEST_KDF-}" ] && OLD_KEY="1 8192" ;;
*) echo "test_oldclient: no schema known for $OLD_COMMIT" >&2; exit 2 ;;
esac
NEW_SCHEMA=$(sed -n 's/^#define FS_SCHEMA_VERSION \([0-9]*\)u.*/\1/p' \
    "$(dirname "${BASH_SOURCE[0]}")/../../include/fieldsync/schema.h")

FS=${1:?usage: test_oldclient.sh path/to/fieldsync path/to/fieldsync-server CACHE}
FSS=${2:?usage: test_oldclient.sh path/to/fieldsync path/to/fieldsync-server CACHE}
CACHE=${FS_OLD_CLIENT_DIR:-${3:?usage: test_oldclient.sh path/to/fieldsync path/to/fieldsync-server CACHE}}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-oldclient-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='old client test passphrase -- 19a1'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE


# ---- the old client, built once ----
started=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! OLD=$("$ROOT/scripts/old-client" "$OLD_COMMIT" "$CACHE" 2>"$WORK/old-build.err" | tail -n 1) ||
    [ ! -x "$OLD" ]; then
    fail "the old client ($OLD_COMMIT) is built" "$(cat "$WORK/old-build.err")"
    finish
fi
ok "the old client of $OLD_COMMIT: $OLD ($(($(date +%s) - started)) s to find or build)"
echo "     old: $("$OLD" --version | head -n 1)"
echo "     new: $("$FS" --version | head -n 1)"

old() { runc "$OLD" --home "$WORK/zhang" "$@"; }
new_z() { runc "$FS" --home "$WORK/zhang" "$@"; }
li() { runc "$FS" --home "$WORK/li" "$@"; }
srv() { runc "$FSS" "$@"; }

# visit times derived from today: the client refuses one 30 days away
T1=$(date -d '-2 days' '+%Y-%m-%d 10:00')
T2=$(date -d '-1 days' '+%Y-%m-%d 15:30')
T3=$(date '+%Y-%m-%d 09:00')

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
srv team set --data "$S" --team north --tz Asia/Shanghai --hours 09:00-18:00
expect "north's calendar set on the server" 0
srv team set --data "$S" --team north --export plaintext # lists read into variables (20.4)
expect "north may export" 0
# a passphrase rule for north (issue 20.7): a setting the old client does
# not know reaches it as a team_setting row; li's new client is told it
# before its enroll asks for a passphrase (34 characters: enough)
srv team set --data "$S" --team north --passphrase-min-chars 20
expect "north's passphrase rule: 20 characters" 0
start_server 0
URL="ws://127.0.0.1:$PORT"

# ---- the old client inits and enrolls with the new server ----
old init
expect "the old client inits its replica" 0
# its key file has the Argon2id limits its release gives (OLD_KEY above)
equal "the old client's key file has its release's limits ($OLD_KEY)" \
    "$(od -An -tu8 -j16 -N16 "$WORK/zhang/replica.key" | tr -s ' ' | sed 's/^ //')" "$OLD_KEY"
FS_SAVED=$FS
FS=$OLD enroll_device zhang "$WORK/zhang" "$URL" --name zhang-old-laptop
FS=$FS_SAVED
enroll_device li "$WORK/li" "$URL" --name li-laptop
old whoami --set zhang
li whoami --set li

# ---- offline: the server is down while zhang records ----
stop_server
old customer add --name "老客户 华信机电" --industry 机械
expect "old client: a customer" 0
CID=$OUT
old visit add --customer "$CID" --time "$T1" --place 客户办公室 --purpose 报价 \
    --notes "oldclient visit one 谈了报价"
expect "old client: a visit offline" 0
V1=$OUT
old visit add --customer "$CID" --time "$T2" --place 工厂 --purpose 验收 \
    --notes "oldclient visit two 看了生产线"
expect "old client: a second visit offline" 0
V2=$OUT
old sync
expect "old client: sync while the server is down fails, changes kept" 1 "cannot reach the server"

start_server "$PORT"
old sync
expect "old client syncs with the new server" 0
lacks "nothing refused" "$ERR$OUT" "refused"
li sync
expect "li (new client) syncs" 0
li visit list --json
contains "li sees the old client's first visit" "$OUT" "oldclient visit one 谈了报价"
contains "li sees the old client's second visit" "$OUT" "oldclient visit two 看了生产线"
contains "li sees it as zhang's visit" "$OUT" "\"id\":\"$V1\""

# ---- the old client keeps receiving its own and its team's records ----
li visit edit "${V1:0:8}" --notes "oldclient visit one 谈了报价; li: 下周再跟进"
expect "li edits zhang's visit" 0
# schema 6, which the old client's schema 5 has not
li visit plan --customer "${CID:0:8}" --time "$(date -d '+2 days' '+%Y-%m-%d 10:00')" \
    --place 客户办公室 --purpose "oldclient plan 演示" --route "地铁10号线"
expect "li plans a visit to zhang's customer (schema 6)" 0
PLAN=$OUT
li sync
expect "li syncs the edit" 0
old sync
expect "the old client syncs after li's writes (nothing it cannot decode came)" 0
old visit show "${V1:0:8}" --json
contains "the old client holds li's edit of its visit" "$OUT" "li: 下周再跟进"
old calendar
contains "the old client holds its team's calendar" "$OUT" "in use:        the team's (north), set on the server"
if [ "$OLD_SCHEMA" -ge 6 ]; then
    old visit plan list --json
    contains "the old client (schema $OLD_SCHEMA) holds li's visit plan" "$OUT" "\"id\":\"$PLAN\""
fi
old sync
expect "and syncs again" 0

# ---- offline again: recorded with the old client, then upgraded ----
stop_server
old visit add --customer "$CID" --time "$T3" --place 客户办公室 --purpose 回访 \
    --notes "oldclient visit three, recorded before the upgrade"
expect "old client: a third visit offline" 0
V3=$OUT
old visit edit "${V2:0:8}" --place "工厂二号车间"
expect "old client: an edit offline" 0
old status --json
PENDING_OLD=$(grep -oE '"pending":[0-9]+' <<<"$OUT")
[ -n "$PENDING_OLD" ] && [ "$PENDING_OLD" != '"pending":0' ] &&
    ok "the old client has changes pending ($PENDING_OLD)" ||
    fail "the old client has changes pending" "$OUT"

# this build's client opens the same replica: upgraded, nothing pending lost
new_z status --json
expect "the new client opens the old client's replica" 0
equal "its key file, as it was ($OLD_KEY)" \
    "$(od -An -tu8 -j16 -N16 "$WORK/zhang/replica.key" | tr -s ' ' | sed 's/^ //')" "$OLD_KEY"
equal "the same changes pending after the upgrade" "$(grep -oE '"pending":[0-9]+' <<<"$OUT")" \
    "$PENDING_OLD"
new_z visit list --json
contains "the visit recorded before the upgrade is there" "$OUT" "oldclient visit three"
contains "the edit recorded before the upgrade is there" "$OUT" "工厂二号车间"
contains "li's edit is there" "$OUT" "li: 下周再跟进"
new_z check
expect "the upgraded replica checks clean" 0

start_server "$PORT"
new_z sync
expect "zhang's upgraded laptop syncs" 0
new_z status --json
contains "nothing pending after the sync" "$OUT" '"pending":0'
li sync
expect "li syncs" 0
li visit list --json
contains "li receives the visit recorded before the upgrade" "$OUT" "\"id\":\"$V3\""
contains "li receives the edit recorded before the upgrade" "$OUT" "工厂二号车间"
new_z visit plan list --json
contains "the upgraded laptop now holds li's visit plan (held back before)" "$OUT" "\"id\":\"$PLAN\""
# the old client cannot open the upgraded replica (it says "malformed" only:
# the release's words), and leaves it as it is; of the same schema, it
# still opens it
old visit list
if [ "$OLD_SCHEMA" -lt "$NEW_SCHEMA" ]; then
    expect "the old client refuses the upgraded replica" 1 "opening the replica"
else
    expect "the old client of the same schema still opens the replica" 0
fi
new_z check
expect "the upgraded replica is untouched by the old client's attempt" 0

stop_server
grep -qF -- 'oldclient visit' "$WORK/serve.log" "$ERRLOG" &&
    fail "no customer text in the logs or messages" ||
    ok "no customer text in the logs or messages"
echo "     $(($(date +%s) - started)) s in all"
finish
