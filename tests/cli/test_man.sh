#!/usr/bin/env bash
# The man pages cover --help (issue 22.3): every command, option and
# environment variable that 'fieldsync --help' and 'fieldsync-server --help'
# list is in fieldsync(1) and fieldsync-server(8) (the Chinese pages too), and
# what 'fieldsync --lang zh --help' lists in the Chinese fieldsync(1)
# (tests/cli/man_coverage.py); every key of serve's settings file is in
# fieldsync.conf(5).
#
#   bash tests/cli/test_man.sh path/to/fieldsync path/to/fieldsync-server MAN-DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
FS=${1:?usage: test_man.sh path/to/fieldsync path/to/fieldsync-server MAN-DIR}
FSS=${2:?usage: test_man.sh path/to/fieldsync path/to/fieldsync-server MAN-DIR}
MAN=${3:?usage: test_man.sh path/to/fieldsync path/to/fieldsync-server MAN-DIR}
COVER=$(dirname "${BASH_SOURCE[0]}")/man_coverage.py
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-man-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'rm -rf "$WORK"' EXIT

# check NAME PROGRAM PAGE [--lang L]
check() {
    local name=$1 prog=$2 page=$3
    shift 3
    runc "$prog" "$@" --help
    expect "$name: --help" 0
    printf '%s\n' "$OUT" >"$WORK/help"
    if [ ! -f "$page" ]; then
        fail "$name: no page $page"
        return
    fi
    runc python3 "$COVER" "$WORK/help" "$page"
    grep '^FAIL' <<<"$OUT"
    if [ "$RC" -eq 0 ]; then
        ok "$name: $(grep '^ok' <<<"$OUT" | cut -c6-)"
    else
        fail "$name: the page misses what --help lists" "$(tail -n 1 <<<"$OUT")"
    fi
}

check "fieldsync(1)" "$FS" "$MAN/fieldsync.1" --lang en
check "fieldsync-server(8)" "$FSS" "$MAN/fieldsync-server.8"
check "fieldsync(1) in Chinese" "$FS" "$MAN/zh_CN/fieldsync.1" --lang zh
check "fieldsync-server(8) in Chinese" "$FSS" "$MAN/zh_CN/fieldsync-server.8"

# fieldsync.conf(5) has every key 'serve --config' accepts: the error for an
# unknown key lists them.
printf 'FIELDSYNC_NO_SUCH_KEY=1\n' >"$WORK/bad.conf"
runc "$FSS" serve --config "$WORK/bad.conf"
expect "serve --config: an unknown key is refused" 2 "unknown setting FIELDSYNC_NO_SUCH_KEY"
keys=$(grep -oE 'FIELDSYNC_[A-Z_]+' <<<"$ERR" | grep -v NO_SUCH_KEY | sort -u)
equal "the error lists the 8 keys serve knows" "$(wc -l <<<"$keys")" 8
page=$(sed 's/\\-/-/g' "$MAN/fieldsync.conf.5")
missing=
for k in $keys; do
    grep -qF -- "$k" <<<"$page" || missing="$missing $k"
done
equal "fieldsync.conf(5) describes every key" "$missing" ""
finish
