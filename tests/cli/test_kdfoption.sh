#!/usr/bin/env bash
# The test-only key file cost (issue 20.7) cannot reach a package: CMake
# refuses FS_TEST_KDF beside FS_DEB (the configuration scripts/package
# makes), and scripts/package turns it off explicitly, so a build tree
# configured with it once still ships a binary that ignores
# FIELDSYNC_TEST_KDF. (tests/deb/test_deb.sh checks the installed client;
# tests/cli/test_passpolicy.sh what a build does with the variable.)
#
#   bash tests/cli/test_kdfoption.sh SOURCE-DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
SRC=${1:?usage: test_kdfoption.sh SOURCE-DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-kdfoption-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'rm -rf "$WORK"' EXIT

runc cmake -S "$SRC" -B "$WORK/deb" -DFS_DEB=ON -DFS_TEST_KDF=ON
if [ "$RC" -ne 0 ] && grep -qF "FS_TEST_KDF is for test builds" <<<"$ERR"; then
    ok "a package configuration with FS_TEST_KDF is refused"
else
    fail "a package configuration with FS_TEST_KDF is refused" "exit $RC" "$(tail -n 5 <<<"$ERR")"
fi
line=$(grep -E '^cmake -S .*-DFS_DEB=ON' "$SRC/scripts/package")
contains "scripts/package configures with FS_TEST_KDF off" "$line" "-DFS_TEST_KDF=OFF"
if grep -qE 'FS_TEST_KDF=ON' "$SRC/scripts/package"; then
    fail "scripts/package never turns it on"
else
    ok "scripts/package never turns it on"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
