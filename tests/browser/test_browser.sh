#!/usr/bin/env bash
# The dashboard in headless Chromium (Debian's /usr/bin/chromium) driven by
# playwright-core from npm (tests/browser/package.json, installed by
# scripts/test). Screenshots go to ARTIFACTS.
#
#   bash tests/browser/test_browser.sh path/to/fieldsync path/to/fieldsync-server ARTIFACTS
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib.sh"
source "$HERE/../cli/web_fixture.sh"
FS=${1:?usage: test_browser.sh fieldsync fieldsync-server ARTIFACTS}
FSS=${2:?usage: test_browser.sh fieldsync fieldsync-server ARTIFACTS}
ARTIFACTS=${3:?usage: test_browser.sh fieldsync fieldsync-server ARTIFACTS}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-browser-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='browser test passphrase -- 31c8'
unset FIELDSYNC_HOME
srv() { runc "$FSS" "$@"; }

# Not skipped when something is missing: a clear failure naming it.
if [ ! -x /usr/bin/chromium ]; then
    fail "Debian's chromium is installed" "run scripts/test: it installs chromium with apt-get"
    finish
fi
if ! command -v node >/dev/null || [ ! -d "$HERE/node_modules/playwright-core" ] ||
    [ ! -d "$HERE/node_modules/axe-core" ]; then
    fail "node, playwright-core and axe-core are installed" \
        "run scripts/test: it installs nodejs and npm with apt-get, playwright-core and axe-core with npm"
    finish
fi

web_fixture
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png
out=$(node "$HERE/dashboard.js" "$PORT" "$ARTIFACTS" li "$LI_PW" zhang wang root "$ROOT_PW" 2>&1)
status=$?
echo "$out"
equal "the browser run passes" "$status" 0
runc "$FS" --home "$WORK/zhang" sync
runc "$FS" --home "$WORK/zhang" plan show "$PLAN_ID" --json
contains "the rep's device holds the approval made in the browser" "$OUT" '"status":"approved","submitted_at"'
runc "$FS" --home "$WORK/zhang" spotcheck list --json
contains "and the spot-check" "$OUT" '"accurate":false,"comment":"checked in the browser"'
for shot in login overview rep rep-after-actions rep-refused \
    zh-login zh-overview zh-rep zh-customer zh-visit zh-plan zh-bad-week zh-search zh-admin zh-audit; do
    if [ -s "$ARTIFACTS/$shot.png" ]; then ok "screenshot $shot.png saved"
    else fail "screenshot $shot.png saved" "in $ARTIFACTS"; fi
done
stop_server
finish
