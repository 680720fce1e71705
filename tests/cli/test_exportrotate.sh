#!/usr/bin/env bash
# The export key's rotation (issue 20 point 4), over real processes:
#  - `export-key --rotate` with no key yet: refused, naming export-key;
#  - li (a manager) seals an export to key 1; `export-key --rotate` through
#    the running serve makes key 2 (audited: kind, operator, the new key's
#    fingerprint; no secret half in the audit or any log); the key file
#    stays 0600, holds both generations, no temporary file is left;
#  - li seals again BEFORE syncing (still key 1), then syncs and seals a
#    third time (key 2): all three open with `export open`;
#  - `export-key --list` shows both, the new one current;
#  - a bad fingerprint, an unknown one, the current one, and a retire
#    without --yes are refused (exit 2) and nothing changes; a corrupt key
#    file gets a clear error from export open, --list and --rotate (which
#    leaves it as it was); in Chinese too;
#  - `--retire FP1 --yes` drops key 1 (audited): the key-1 exports no
#    longer open, the key-2 one still does;
#  - with serve stopped, --rotate works on the store itself (audited).
#
#   bash tests/cli/test_exportrotate.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_exportrotate.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_exportrotate.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-exportrotate-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='exportrotate test passphrase -- 4b7d'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE FIELDSYNC_EXPORT

Z=$WORK/zhang
L=$WORK/li
MARK=XQZROTATE
day=$(rel_day '1 day ago')

# seal NAME: li's visit list sealed into $WORK/NAME.sealed
seal() {
    "$FS" --home "$L" visit list --json --export >"$WORK/$1.sealed" 2>"$WORK/err"
    RC=$?
    ERR=$(<"$WORK/err")
    cat "$WORK/err" >>"$ERRLOG"
}
# opens NAME: export open of $WORK/NAME.sealed holds the two visits
opens() {
    rm -f "$WORK/$1.json"
    runc "$FSS" export open "$WORK/$1.sealed" --out "$WORK/$1.json" --data "$S"
    expect "$1 opens" 0
    got=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(len(v), sorted(x["notes"] for x in v))' "$WORK/$1.json" 2>&1)
    equal "$1 holds the two visits" "$got" "2 ['$MARK notes 1', '$MARK notes 2']"
}
# fp_of STATE: the fingerprint export-key --list shows with STATE
fp_of() { "$FSS" export-key --list --data "$S" | awk -v s="$1" '$0 ~ s {print $1}'; }

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north" "wang manager south"
start_server 0
enroll_device zhang "$Z" "ws://127.0.0.1:$PORT" --name zhang-laptop
enroll_device li "$L" "ws://127.0.0.1:$PORT" --name li-laptop
C=$("$FS" --home "$Z" customer add --name "$MARK 华信" --owner zhang)
for i in 1 2; do
    runc "$FS" --home "$Z" visit add --customer "${C:0:8}" --time "$day 1$i:00" --place "$MARK place" \
        --purpose "$MARK purpose $i" --notes "$MARK notes $i"
    expect "zhang records visit $i" 0
done
runc "$FS" --home "$Z" sync
expect "zhang syncs" 0

# ---- no key yet ----
runc "$FSS" export-key --rotate --data "$S"
expect "--rotate without a key: exit 2, naming export-key" 2 "no export key to replace"
[ -e "$S/export.key" ] && fail "nothing made by the refusal" || ok "nothing made by the refusal"
runc "$FSS" export-key --list --data "$S"
expect "--list without a key: exit 2" 2 "no export key in"

# ---- key 1 ----
runc "$FSS" export-key --data "$S"
expect "export-key (key 1, through the running serve)" 0
runc "$FS" --home "$L" sync
expect "li syncs (key 1 comes)" 0
seal one
expect "li seals an export to key 1" 0 "sealed to the company's export key"
FP1=$(fp_of current)
[[ "$FP1" =~ ^[0-9a-f]{16}$ ]] && ok "--list: one key, current ($FP1)" || fail "--list shows key 1" "$FP1"

# ---- rotate (through the running serve) ----
runc "$FSS" export-key --rotate --data "$S"
expect "export-key --rotate" 0
contains "it says the devices get it at their next sync" "$OUT" "reaches the devices of 2 team(s) at their next sync"
equal "the key file stays 0600" "$(stat -c %a "$S/export.key")" 600
equal "it holds every generation (the format after a rotation)" "$(head -c 8 "$S/export.key")" "FSEXPKY2"
[ -e "$S/export.key.new" ] && fail "no temporary key file left" || ok "no temporary key file left"
FP2=$(fp_of current)
[[ "$FP2" =~ ^[0-9a-f]{16}$ && "$FP2" != "$FP1" ]] && ok "--list: a new current key ($FP2)" ||
    fail "a new current key" "$FP2"
runc "$FSS" export-key --list --data "$S"
contains "--list: key 1 kept" "$OUT" "$FP1"
equal "--list: a header and two keys" "$(wc -l <<<"$OUT")" 3
contains "the new key in the rotation's words" "$(
    "$FSS" audit show --data "$S" | grep export_key_rotate
)" "$FP2"
runc "$FSS" audit show --data "$S"
n=$(grep -c 'export_key_rotate' <<<"$OUT")
equal "the rotation audited once" "$n" 1
contains "by the operator, replacing key 1" "$(grep export_key_rotate <<<"$OUT")" "operator"
contains "naming the key it replaces" "$(grep export_key_rotate <<<"$OUT")" "$FP1"
# no secret half anywhere: the key file's secret halves in hex, searched in
# the audit and every log and stderr
SKS=$(python3 - "$S/export.key" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
n = int.from_bytes(b[8:12], "big")
for i in range(n):
    e = b[12 + 72 * i: 12 + 72 * (i + 1)]
    print(e[40:72].hex())
PY
)
equal "two secret halves in the key file" "$(wc -l <<<"$SKS")" 2
leak=0
for sk in $SKS; do
    grep -qi "$sk" <<<"$OUT" && leak=1
    grep -qi "$sk" "$ERRLOG" "$WORK/serve.out" "$WORK/serve.err" && leak=1
    grep -qi "${sk:0:16}" <<<"$OUT" && leak=1
done
equal "no secret half in the audit or any log" "$leak" 0

# ---- a device that seals before its next sync still uses key 1 ----
seal two
expect "li seals before syncing (key 1 still)" 0
runc "$FS" --home "$L" sync
expect "li syncs (key 2 comes)" 0
seal three
expect "li seals after the sync (key 2)" 0
opens one
opens two
opens three

# ---- refusals: nothing changes ----
cp "$S/export.key" "$WORK/key.before"
runc "$FSS" export-key --retire 'zz;rm' --data "$S"
expect "a bad fingerprint: exit 2" 2 "is not a fingerprint"
runc "$FSS" export-key --retire 0123456789abcdef --data "$S"
expect "an unknown fingerprint: exit 2" 2 "no export key has the fingerprint 0123456789abcdef"
runc "$FSS" export-key --retire "$FP2" --data "$S"
expect "the current key cannot be retired" 2 "is the current export key"
runc "$FSS" export-key --retire "$FP1" --data "$S"
expect "retire without --yes: exit 2, saying what would be lost" 2 "repeat with --yes"
runc "$FSS" export-key --rotate --list --data "$S"
expect "--rotate and --list together: exit 2" 2 "give one of"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" export-key --retire 0123456789abcdef --data "$S"
expect "in Chinese: no such fingerprint" 2 "没有指纹为 0123456789abcdef 的导出密钥"
cmp -s "$S/export.key" "$WORK/key.before" && ok "the key file untouched by the refusals" ||
    fail "the key file untouched by the refusals"

# ---- a corrupt key file ----
mkdir -p "$WORK/bad"
head -c 100 "$S/export.key" >"$WORK/bad/export.key"
runc "$FSS" export open "$WORK/one.sealed" --out "$WORK/bad.json" --data "$WORK/bad"
expect "export open with a cut key file: exit 1, a clear error" 1 "is not an export key (damaged or cut short)"
[ -e "$WORK/bad.json" ] && fail "nothing written from it" || ok "nothing written from it"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" export open "$WORK/one.sealed" --out "$WORK/bad.json" --data "$WORK/bad"
expect "in Chinese" 1 "不是导出密钥"
cp "$WORK/bad/export.key" "$S/export.key"
runc "$FSS" export-key --rotate --data "$S"
expect "--rotate on a cut key file: exit 1, a clear error" 1 "is not an export key (damaged or cut short)"
cmp -s "$S/export.key" "$WORK/bad/export.key" && ok "the cut file left as it was (nothing added)" ||
    fail "the cut file left as it was"
runc "$FSS" export-key --list --data "$S"
expect "--list on it: exit 1" 1 "damaged or cut short"
cp "$WORK/key.before" "$S/export.key"
chmod 600 "$S/export.key"

# ---- retire key 1 ----
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" export-key --retire "$FP1" --yes --data "$S"
expect "--retire FP1 --yes (said in Chinese)" 0
contains "in Chinese" "$OUT" "已删除"
equal "the key file stays 0600" "$(stat -c %a "$S/export.key")" 600
runc "$FSS" export-key --list --data "$S"
equal "--list: one key left" "$(wc -l <<<"$OUT")" 2
contains "key 2, current" "$OUT" "$FP2"
runc "$FSS" audit show --data "$S"
contains "the retirement audited" "$(grep export_key_retire <<<"$OUT")" "$FP1"
rm -f "$WORK/one.json"
runc "$FSS" export open "$WORK/one.sealed" --out "$WORK/one.json" --data "$S"
expect "a key-1 export no longer opens" 2 "was not sealed to the export key kept in"
[ -e "$WORK/one.json" ] && fail "nothing written from it" || ok "nothing written from it"
opens three
runc "$FSS" audit verify --data "$S"
expect "the audit chain intact" 0

stop_server

# ---- without a running serve: on the store itself ----
runc "$FSS" export-key --rotate --data "$S"
expect "--rotate with no serve running (the store opened directly)" 0
FP3=$(fp_of current)
[[ "$FP3" =~ ^[0-9a-f]{16}$ && "$FP3" != "$FP2" ]] && ok "a third key, current ($FP3)" ||
    fail "a third key" "$FP3"
equal "the key file stays 0600" "$(stat -c %a "$S/export.key")" 600
opens three
runc "$FSS" audit show --data "$S"
equal "both rotations audited" "$(grep -c export_key_rotate <<<"$OUT")" 2
runc "$FSS" audit verify --data "$S"
expect "the chain still intact" 0
finish
