#!/usr/bin/env bash
# No plaintext export (issue 20 point 4), over real processes:
#  - the finding: a rep's `visit list --json > file` is refused (exit 2, why
#    and what to do, in Chinese too), and so is --export while the team's
#    policy forbids it (a rep's default); one record still goes to a file;
#  - a manager's export (default: sealed) waits for the company's export
#    key, then is sealed: no customer text in the file, which opens with
#    `fieldsync-server export open` into the same visits (0600); a cut or
#    altered file does not open;
#  - `team set --export-rep plaintext`: the rep's export is plaintext;
#  - every export is in the device's audit (`fieldsync exports`) and, after
#    the next sync (protocol 7), in the server's: who, kind, how many,
#    mode; never a value.
#
#   bash tests/cli/test_export.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_export.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_export.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-export-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='export test passphrase -- 9c1e'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE FIELDSYNC_EXPORT

Z=$WORK/zhang
L=$WORK/li
MARK=XQZMARKER
day=$(date -d '-1 day' '+%Y-%m-%d')

# exp HOME OUTFILE ARGS...: fieldsync with stdout to OUTFILE (a file, not a
# terminal); sets RC and ERR
exp() {
    local home=$1 out=$2
    shift 2
    "$FS" --home "$home" "$@" >"$out" 2>"$WORK/err"
    RC=$?
    ERR=$(<"$WORK/err")
    cat "$WORK/err" >>"$ERRLOG"
}

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north"
start_server 0
enroll_device zhang "$Z" "ws://127.0.0.1:$PORT" --name zhang-laptop
enroll_device li "$L" "ws://127.0.0.1:$PORT" --name li-laptop

C=$("$FS" --home "$Z" customer add --name "$MARK 华信" --owner zhang)
for i in 1 2; do
    runc "$FS" --home "$Z" visit add --customer "${C:0:8}" --time "$day 1$i:00" --place "$MARK place" \
        --purpose "$MARK purpose $i" --notes "$MARK notes $i 价格"
    expect "zhang records visit $i" 0
done
runc "$FS" --home "$Z" sync
expect "zhang syncs" 0
runc "$FS" --home "$L" sync
expect "li syncs" 0

# ---- the finding: visit list --json > file on a rep's laptop ----
exp "$Z" "$WORK/visits.json" visit list --json
expect "a rep's visit list --json > file: refused, exit 2" 2 \
    "refusing to write 2 records' customer data to a file or pipe"
contains "the refusal says what to do" "$ERR" "add --export if your team's policy allows"
equal "nothing written" "$(wc -c <"$WORK/visits.json")" 0
OUT=$("$FS" --home "$Z" visit list 2>"$WORK/err" | cat; exit "${PIPESTATUS[0]}")
RC=$?
ERR=$(<"$WORK/err")
expect "the table into a pipe: refused too" 2 "refusing to write 2 records"
case "$OUT" in *"$MARK"*) fail "no customer text in the pipe" "$OUT" ;; *) ok "no customer text in the pipe" ;; esac
LC_ALL= LANG=zh_CN.UTF-8 exp "$Z" "$WORK/visits.json" visit list --json
expect "refused in Chinese" 2 "拒绝把 2 条记录的客户资料写入文件或管道"
exp "$Z" "$WORK/visits.json" visit list --json --export
expect "a rep's --export: forbidden by the team's default" 2 "your team's policy forbids exports"
exp "$Z" "$WORK/c.json" customer list --json
expect "one record to a file is not an export" 0
contains "the one customer" "$(cat "$WORK/c.json")" "$MARK"

# ---- a manager: sealed, once the company has an export key ----
exp "$L" "$WORK/li.sealed" visit list --json --export
expect "sealed needs the export key: none yet" 2 "fieldsync-server export-key"
runc "$FSS" export-key --data "$S"
expect "export-key (through the running serve)" 0 ""
contains "export-key says the key reaches the teams" "$OUT" "reaches the devices of 1 team(s)"
equal "the secret half is 0600" "$(stat -c %a "$S/export.key")" 600
runc "$FSS" export-key --data "$S"
expect "a second export-key is refused, the key kept" 2 "exists already"
runc "$FS" --home "$L" sync
expect "li syncs (the export key comes)" 0
exp "$L" "$WORK/li.sealed" visit list --json --export
expect "the manager's export: sealed" 0 "sealed to the company's export key"
equal "the file starts with the sealed magic" "$(head -c 8 "$WORK/li.sealed")" "FSEXPRT1"
if grep -aq "$MARK" "$WORK/li.sealed" || grep -aq '价格' "$WORK/li.sealed"; then
    fail "no customer text in the sealed file"
else
    ok "no customer text in the sealed file"
fi
runc "$FSS" export open "$WORK/li.sealed" --out "$WORK/li.json" --data "$S"
expect "export open on the server" 0
equal "the opened file is 0600" "$(stat -c %a "$WORK/li.json")" 600
got=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(len(v), sorted(x["notes"] for x in v))' "$WORK/li.json")
equal "it holds the two visits, notes and all" "$got" "2 ['$MARK notes 1 价格', '$MARK notes 2 价格']"
runc "$FSS" export open "$WORK/li.sealed" --out "$WORK/li.json" --data "$S"
expect "export open never overwrites" 2 "it must not exist"
head -c -5 "$WORK/li.sealed" >"$WORK/cut.sealed"
runc "$FSS" export open "$WORK/cut.sealed" --out "$WORK/cut.json" --data "$S"
expect "a cut file does not open" 2 "cut short or modified"
[ -e "$WORK/cut.json" ] && fail "nothing left of a cut file" || ok "nothing left of a cut file"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[150]^=1; open(sys.argv[2],"wb").write(b)' \
    "$WORK/li.sealed" "$WORK/bad.sealed"
runc "$FSS" export open "$WORK/bad.sealed" --out "$WORK/bad.json" --data "$S"
expect "an altered file does not open" 2 "cut short or modified"

# ---- the team allows plaintext for reps ----
runc "$FSS" team set --data "$S" --team north --export-rep bogus
expect "a bad mode: exit 2 naming the flag" 2 "--export-rep: expected forbidden, sealed or plaintext"
runc "$FSS" team set --data "$S" --team north --export-rep plaintext
expect "team set --export-rep plaintext" 0
contains "team show says it" "$OUT" "exports: reps plaintext, managers sealed (default); export key known"
runc "$FS" --home "$Z" sync
expect "zhang syncs (the policy comes)" 0
exp "$Z" "$WORK/zhang.json" visit list --json
expect "still refused without --export" 2 "refusing to write 2 records"
exp "$Z" "$WORK/zhang.json" visit list --json --export
expect "the rep's export: plaintext, as the team allows" 0 "as plaintext"
got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/zhang.json")
equal "two visits in it" "$got" 2

# ---- audited on the device, then on the server ----
runc "$FS" --home "$Z" exports
expect "zhang's exports" 0
contains "the device's audit: who, kind, how many, mode" "$OUT" "zhang  visit  2  plaintext  not yet told the server"
runc "$FS" --home "$Z" sync
expect "zhang syncs (the export is told)" 0
runc "$FS" --home "$L" sync
expect "li syncs (the export is told)" 0
runc "$FS" --home "$Z" exports
contains "told the server" "$OUT" "zhang  visit  2  plaintext  told the server"
runc "$FSS" audit show --data "$S"
expect "audit show" 0
n=$(grep -c 'export .*kind=visit records=2 mode=' <<<"$OUT")
equal "two exports audited on the server" "$n" 2
contains "the rep's, plaintext" "$OUT" "zhang"
grep 'export ' <<<"$OUT" | grep -q 'li .*mode=sealed' && ok "the manager's, sealed" ||
    fail "the manager's, sealed" "$OUT"
runc "$FS" --home "$Z" sync
runc "$FSS" audit show --data "$S"
equal "told once, not at every sync" "$(grep -c 'export .*kind=visit' <<<"$OUT")" 2
runc "$FSS" audit verify --data "$S"
expect "the audit chain verifies" 0
if grep -q "$MARK" <<<"$OUT" || grep -rqa "$MARK" "$WORK/serve.out" "$WORK/serve.err" "$ERRLOG"; then
    fail "no customer text in the audit, logs or messages"
else
    ok "no customer text in the audit, logs or messages"
fi
stop_server
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
