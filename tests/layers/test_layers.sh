#!/usr/bin/env bash
# The include check (scripts/check-layers): the tree passes, and a planted
# file whose include crosses a forbidden arrow makes it fail, naming the file.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
fails=0 passes=0
ok() { echo "ok   $1"; passes=$((passes + 1)); }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

if python3 "$root/scripts/check-layers" --root "$root"; then ok "the tree keeps its arrows"; else bad "the tree keeps its arrows"; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in core proto sync net server client include; do cp -r "$root/$d" "$tmp/"; done
plant() { # plant FILE INCLUDE: expect a failure that names FILE
    printf '#include "%s"\n' "$2" >"$tmp/$1"
    out=$(python3 "$root/scripts/check-layers" --root "$tmp" 2>&1)
    rc=$?
    if [ $rc -eq 1 ] && grep -q "$1:1: .*$2" <<<"$out"; then ok "$1 including $2 is refused"
    else bad "$1 including $2 is refused (exit $rc: $out)"; fi
    rm -f "$tmp/$1"
}
plant core/planted.c fieldsync/sync.h
plant core/planted.c fieldsync/msg.h
plant proto/planted.c fieldsync/store.h
plant sync/planted.c store/store_sqlite.h
plant net/planted.c fieldsync/store.h
plant server/planted.c ../client/cli.h
plant client/planted.c ../server/srv.h
plant client/planted.c store/audit.h
printf '#include "fieldsync/error.h"\n' >"$tmp/include/fieldsync/planted.h"
out=$(python3 "$root/scripts/check-layers" --root "$tmp" 2>&1)
if [ $? -eq 1 ] && grep -q "planted.h: a public header with no folder" <<<"$out"; then ok "a public header with no folder is refused"
else bad "a public header with no folder is refused"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
