#!/usr/bin/env bash
# Issue 20.7, the other direction of tests/cli/test_oldclient.sh: this
# build's client enrolls with and syncs against the server of the published
# release (34f102e, protocol 6). Its enroll asks a server of protocol 8 for
# the team's passphrase rule first (POLICY_ASK); the old server chooses an
# older version, is asked nothing, and the built-in rule applies:
#  - zhang enrolls a new replica with a 13-character passphrase;
#  - li's 11-character one is refused by the built-in rule before anything
#    is made, and the same code then enrolls li (nothing spent it);
#  - zhang's visit reaches li through the old server; the old server's
#    audit holds the two enrollments and no refusal.
# scripts/old-client builds the old server once (`server` target) and
# caches it beside the old client (FS_OLD_CLIENT_DIR overrides the cache).
#
#   bash tests/cli/test_oldserver.sh path/to/fieldsync CACHE
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OLD_COMMIT=34f102e # the published release: protocol 6, schema 5

FS=${1:?usage: test_oldserver.sh path/to/fieldsync CACHE}
CACHE=${FS_OLD_CLIENT_DIR:-${2:?usage: test_oldserver.sh path/to/fieldsync CACHE}}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-oldserver-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='old server test passphrase -- 20e7'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

started=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! FSS=$("$ROOT/scripts/old-client" "$OLD_COMMIT" "$CACHE" server 2>"$WORK/old-build.err" |
    tail -n 1) || [ ! -x "$FSS" ]; then
    fail "the old server ($OLD_COMMIT) is built" "$(cat "$WORK/old-build.err")"
    finish
fi
ok "the old server of $OLD_COMMIT: $FSS ($(($(date +%s) - started)) s to find or build)"

runc "$FSS" init --data "$S"
expect "old server init" 0
add_users "zhang rep north" "li manager north"
start_server 0
URL="ws://127.0.0.1:$PORT"

code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
runc env FIELDSYNC_PASSPHRASE='Kx9#mQ2$vL7pw' "$FS" --home "$WORK/zhang" enroll --server "$URL" \
    <<<"$code"
expect "zhang enrolls with the old server, 13 characters (the built-in rule)" 0
contains "as zhang of north" "$OUT" "this device's user: zhang (team north"
code=$("$FSS" enroll-code --data "$S" --user li | tail -n 1)
runc env FIELDSYNC_PASSPHRASE='abcdefghijk' "$FS" --home "$WORK/li" enroll --server "$URL" <<<"$code"
expect "li's 11 characters: refused by the built-in rule" 2 \
    "too short: use at least 12 characters, or 4 words"
equal "nothing created" "$(ls -A "$WORK/li" 2>/dev/null | wc -l)" 0
runc "$FS" --home "$WORK/li" enroll --server "$URL" <<<"$code"
expect "the same code enrolls li" 0

z() { runc env FIELDSYNC_PASSPHRASE='Kx9#mQ2$vL7pw' "$FS" --home "$WORK/zhang" "$@"; }
z customer add --name "老服务器客户 华信" --industry 机械
expect "zhang: a customer" 0
CID=$OUT
z visit add --customer "$CID" --time "$(date -d '-1 days' '+%Y-%m-%d 10:00')" --place 办公室 \
    --purpose 报价 --notes "oldserver visit 谈了报价"
expect "zhang: a visit" 0
z sync
expect "zhang syncs with the old server" 0
runc "$FS" --home "$WORK/li" sync
expect "li syncs" 0
runc "$FS" --home "$WORK/li" visit list
contains "li holds zhang's visit" "$OUT" "老服务器客户 华信"
stop_server
runc "$FSS" audit show --data "$S"
expect "the old server's audit" 0
equal "two enrollments" "$(grep -c ' enroll ' <<<"$OUT")" 2
if grep -qE "refus|auth_failed" <<<"$OUT"; then
    fail "no refusal in the old server's audit" "$OUT"
else
    ok "no refusal in the old server's audit"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
