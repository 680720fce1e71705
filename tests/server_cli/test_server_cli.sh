#!/usr/bin/env bash
# End-to-end tests of the fieldsync-server command line: every command, its
# exit statuses (0 done, 1 runtime, 2 usage) and messages, the enrollment
# code's form, and finally a raw-byte scan of the data directory for the
# passphrase and the code's secret.
#
#   bash tests/server_cli/test_server_cli.sh path/to/fieldsync-server
#
# Needs bash, coreutils, grep, base64 and (optionally) setsid; prints one
# line per check and ends with "N passed, M failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SRV=${1:?usage: test_server_cli.sh path/to/fieldsync-server [VERSION]}
VERSION=${2:-} # the build's PROJECT_VERSION: --version must print it
if [ ! -x "$SRV" ]; then
    echo "test_server_cli.sh: $SRV is not an executable" >&2
    exit 2
fi
export LC_ALL=C

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-srv-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
D=$WORK/data
ERRLOG=$WORK/all-stderr

PASS='vermilion-otter server passphrase 42'
export FIELDSYNC_PASSPHRASE=$PASS


run() {
    runc "$SRV" "$@"
}

last_line() {
    printf '%s\n' "$1" | tail -n 1
}

# ---- version, help, usage ----

run --version
expect "--version exits 0" 0
if [[ $OUT =~ ^fieldsync-server\ [0-9]+\.[0-9]+ ]]; then ok "--version prints a version"; else
    fail "--version prints a version" "got: $OUT"; fi
V1=$OUT
run version
expect "version exits 0" 0
equal "version and --version agree" "$OUT" "$V1"
if [ -n "$VERSION" ]; then
    equal "--version prints the build's version" "$V1" "fieldsync-server $VERSION"
fi
for h in help --help; do
    run "$h"
    expect "$h exits 0" 0
    for c in init "user add" "user passwd" enroll-code "device list" "device revoke" \
        "audit verify" "audit show" serve version --data FIELDSYNC_PASSPHRASE \
        FIELDSYNC_USER_PASSWORD; do
        contains "$h lists $c" "$OUT" "$c"
    done
done
run
expect "no command: status 2" 2 "usage"
run frobnicate
expect "unknown command: status 2, named" 2 "frobnicate"
run user
expect "user without add: status 2" 2 "user add"
run device frob --data "$D"
expect "unknown device subcommand: status 2" 2 "device list"
run audit
expect "audit without subcommand: status 2" 2 "audit verify"

# ---- missing --data and other usage errors, before anything exists ----

for cmd in "init" "user add --name a --role rep --team t" "enroll-code --user a" \
    "device list" "device revoke --device abcdef" "audit verify" "audit show"; do
    # shellcheck disable=SC2086
    run $cmd
    expect "$cmd without --data: status 2, names --data" 2 "--data is required"
done
run init --data
expect "--data without a value: status 2" 2 "--data needs a value"
run init --data "$D" --frob
expect "unknown option: status 2, named" 2 "--frob"
run init --data "$D" --data "$D"
expect "option twice: status 2" 2 "given twice"
run device list --data "$D"
expect "a store that does not exist: status 2, names --data" 2 "--data"

# ---- init ----

if command -v setsid >/dev/null; then
    runc env -u FIELDSYNC_PASSPHRASE setsid -w "$SRV" init --data "$D" </dev/null
    expect "init without passphrase or terminal: status 1" 1 "FIELDSYNC_PASSPHRASE"
    if [ ! -e "$D/replica.key" ]; then ok "nothing created without a passphrase"; else
        fail "nothing created without a passphrase"; fi
else
    echo "skip no-terminal tests: setsid not found"
fi
runc env FIELDSYNC_PASSPHRASE= "$SRV" init --data "$D"
expect "empty passphrase: status 2" 2 "empty"

run init --data "$D"
expect "init: status 0" 0
FPR=$(last_line "$OUT")
if [[ $FPR =~ ^[0-9a-f]{64}$ ]]; then ok "init prints the key fingerprint last"; else
    fail "init prints the key fingerprint last" "got: $OUT"; fi
run init --data "$D"
expect "init twice: status 2" 2 "already holds a store"

# ---- wrong passphrase ----

runc env FIELDSYNC_PASSPHRASE='not the passphrase' "$SRV" device list --data "$D"
expect "wrong passphrase: status 1" 1 "wrong passphrase"
runc env FIELDSYNC_PASSPHRASE='not the passphrase' "$SRV" audit verify --data "$D"
expect "wrong passphrase (audit): status 1" 1 "wrong passphrase"

# ---- user add ----

run user add --data "$D" --name zhang --role rep --team north
expect "user add rep: status 0" 0
contains "user add confirms" "$OUT" "zhang"
run user add --data "$D" --name li --role manager --team north
expect "user add manager: status 0" 0
run user add --data "$D" --name root --role admin --team hq
expect "user add admin: status 0" 0
run user add --data "$D" --name wang --role boss --team north
expect "unknown role: status 2, names --role" 2 "--role"
run user add --data "$D" --name zhang --role rep --team south
expect "duplicate user: status 2, names --name" 2 "--name"
run user add --data "$D" --name wang --role rep
expect "missing --team: status 2" 2 "--team is required"
run user add --data "$D" --name "$(printf 'bad\001name')" --role rep --team north
expect "control character in name: status 2" 2 "--name"
run user add --data "$D" --name "$(head -c 65 /dev/zero | tr '\0' x)" --role rep --team north
expect "name over 64 bytes: status 2" 2 "--name"

# ---- enroll-code ----

run enroll-code --data "$D" --user nobody
expect "enroll-code for an unknown user: status 2, names --user" 2 "--user"
run enroll-code --data "$D" --user zhang --ttl-hours 0
expect "--ttl-hours 0: status 2" 2 "--ttl-hours"
run enroll-code --data "$D" --user zhang --ttl-hours 1x
expect "--ttl-hours 1x: status 2" 2 "--ttl-hours"
run enroll-code --data "$D" --user zhang --ttl-hours 100000
expect "--ttl-hours too large: status 2" 2 "--ttl-hours"
run enroll-code --data "$D" --user zhang --ttl-hours 2
expect "enroll-code --ttl-hours 2: status 0" 0
run enroll-code --data "$D" --user zhang
expect "enroll-code: status 0" 0
CODE=$(last_line "$OUT")
if [[ $CODE =~ ^FS1-[A-Za-z0-9_-]{64}$ ]]; then ok "the code is FS1- and 64 base64url characters"
else fail "the code is FS1- and 64 base64url characters" "got: $CODE"; fi
# The code carries the server key: its first 32 bytes are the fingerprint.
B64=${CODE#FS1-}
STD=$(tr -- '-_' '+/' <<<"$B64")
KEYHEX=$(base64 -d <<<"$STD" 2>/dev/null | head -c 32 | od -An -tx1 | tr -d ' \n')
if [ "$KEYHEX" = "$FPR" ]; then ok "the code pins the server key"; else
    fail "the code pins the server key" "key $KEYHEX" "fingerprint $FPR"; fi
SECRET_B64=$(base64 -d <<<"$STD" 2>/dev/null | tail -c 16 | base64 | tr '+/' '-_' | tr -d '=\n')
run enroll-code --data "$D" --user zhang
CODE2=$(last_line "$OUT")
if [ "$CODE2" != "$CODE" ]; then ok "each code is new"; else fail "each code is new"; fi

# ---- device list / revoke ----

run device list --data "$D"
expect "device list (empty): status 0" 0
contains "device list says there are none" "$OUT" "no devices"
run device list --data "$D" --json
expect "device list --json (empty): status 0" 0
if [ "$OUT" = "[]" ]; then ok "device list --json prints []"; else
    fail "device list --json prints []" "got: $OUT"; fi
run device list --data "$D" --json=yes
expect "--json takes no value: status 2" 2 "--json"
run device revoke --data "$D" --device abcdef012345
expect "revoke an unknown device: status 2, names --device" 2 "--device"
run device revoke --data "$D" --device abc
expect "revoke with a short prefix: status 2" 2 "--device"
run device revoke --data "$D" --device zzzzzzzz
expect "revoke with a non-hex prefix: status 2" 2 "--device"
run device revoke --data "$D"
expect "revoke without --device: status 2" 2 "--device is required"

# ---- audit ----

run audit verify --data "$D"
expect "audit verify: status 0" 0
if [[ $OUT =~ ^[0-9]+\ entries,\ chain\ intact\;\ head\ [0-9]+:[0-9a-f]{64}$ ]]; then ok "audit verify: N entries, chain intact; head SEQ:MAC"
else fail "audit verify: N entries, chain intact; head SEQ:MAC" "got: $OUT"; fi
run audit show --data "$D"
expect "audit show: status 0" 0

# ---- passphrase from the terminal ----
# A pseudo-terminal (python3's pty module) answers the prompts: init asks
# twice, the answers are not echoed, differing answers are refused.

# tty_run ANSWER1 [ANSWER2] -- ARGS...: runs the server on a pty without
# FIELDSYNC_PASSPHRASE, typing each answer after each prompt; sets RC and
# TTY (everything the terminal showed).
tty_run() {
    local answers=()
    while [ "$1" != "--" ]; do
        answers+=("$1")
        shift
    done
    shift
    TTY=$(env -u FIELDSYNC_PASSPHRASE python3 - "$SRV" "${#answers[@]}" "${answers[@]}" "$@" <<'PY'
import os, pty, sys, time
srv, n = sys.argv[1], int(sys.argv[2])
answers, args = sys.argv[3:3 + n], sys.argv[3 + n:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(srv, [srv] + args)
seen, out = 0, b""
deadline = time.time() + 60
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    while seen < len(answers) and out.count(b"assphrase: ") > seen:
        time.sleep(0.1)  # let the prompt's tcsetattr settle before typing
        os.write(fd, answers[seen].encode() + b"\n")
        seen += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
PY
)
    RC=$?
}

if command -v python3 >/dev/null; then
    TTYPASS='pty-typed passphrase quokka'
    tty_run "$TTYPASS" "$TTYPASS" -- init --data "$WORK/tty"
    if [ "$RC" -eq 0 ] && grep -q "Repeat" <<<"$TTY"; then ok "init on a terminal asks twice"
    else fail "init on a terminal asks twice" "status $RC" "terminal: $TTY"; fi
    if grep -qF -- "$TTYPASS" <<<"$TTY"; then fail "the typed passphrase is not echoed"
    else ok "the typed passphrase is not echoed"; fi
    tty_run "$TTYPASS" -- device list --data "$WORK/tty"
    if [ "$RC" -eq 0 ] && grep -q "no devices" <<<"$TTY"; then ok "a typed passphrase opens the store"
    else fail "a typed passphrase opens the store" "status $RC" "terminal: $TTY"; fi
    tty_run "one passphrase" "another passphrase" -- init --data "$WORK/tty2"
    if [ "$RC" -eq 2 ] && grep -q "differ" <<<"$TTY" && [ ! -e "$WORK/tty2/replica.key" ]; then
        ok "init refuses two different passphrases"
    else fail "init refuses two different passphrases" "status $RC" "terminal: $TTY"; fi
    tty_run "wrong passphrase typed" -- audit verify --data "$WORK/tty"
    if [ "$RC" -eq 1 ] && grep -q "wrong passphrase" <<<"$TTY"; then ok "a wrong typed passphrase: status 1"
    else fail "a wrong typed passphrase: status 1" "status $RC" "terminal: $TTY"; fi
else
    echo "skip terminal prompt tests: python3 not found"
fi
if command -v setsid >/dev/null; then
    runc env -u FIELDSYNC_PASSPHRASE setsid -w "$SRV" device list --data "$D" </dev/null
    expect "no passphrase and no terminal: status 1" 1 "FIELDSYNC_PASSPHRASE"
fi

# ---- nothing secret at rest or on stderr ----

leak=0
while IFS= read -r -d '' f; do
    for needle in "$PASS" "${TTYPASS:-$PASS}" "$CODE" "$B64" "$SECRET_B64" "${CODE2#FS1-}"; do
        if grep -qaF -- "$needle" "$f"; then
            leak=1
            fail "no secret in $f" "found: ${needle:0:8}..."
        fi
    done
done < <(find "$D" "$WORK/tty" -type f -print0 2>/dev/null)
if [ "$leak" -eq 0 ]; then ok "no passphrase or code in any file under the data dir"; fi
if [ -n "$(find "$D" -type f)" ]; then ok "the scan looked at files"; else
    fail "the scan looked at files"; fi
if grep -qaF -- "$PASS" "$ERRLOG" || grep -qaF -- "$B64" "$ERRLOG"; then
    fail "no passphrase or code on stderr"
else
    ok "no passphrase or code on stderr"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
