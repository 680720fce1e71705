#!/usr/bin/env bash
# A passphrase worth its name (issue 20.7), over real processes:
#  - the key file: a new one is Argon2id MODERATE (3 passes, 256 MiB) when
#    FIELDSYNC_TEST_KDF is not set; only a test build (cmake
#    -DFS_TEST_KDF=ON, which `--version` names) honours it, any other build
#    ignores it; an INTERACTIVE key file (as release 0.2.0 made) keeps
#    opening, and passwd re-wraps it at MODERATE;
#  - the team's rule: `fieldsync-server team set --passphrase-min-chars 16`
#    for team north; zhang's enroll refuses a 13-character passphrase before
#    it creates anything, naming the team's rule (in Chinese too), the code
#    still good; 16 characters enroll; a wrong code is refused before any
#    passphrase is asked; chen of team south (no rule of its own) enrolls
#    with 13; passwd holds the team's rule as the last sync brought it (20
#    after the server raised it and zhang synced).
# (The old client of release 0.2.0 enrolls with a team rule set:
# tests/cli/test_oldclient.sh; a server of protocol 7 is asked nothing:
# test_channel's policy_ask.)
#
#   bash tests/cli/test_passpolicy.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_passpolicy.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_passpolicy.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-passpolicy-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='passpolicy test passphrase -- 7e21'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

P13='Kx9#mQ2$vL7pw'        # 13 characters: the built-in rule's, not north's
P16='Kx9#mQ2$vL7pwZ4t'     # 16
P17='Kx9#mQ2$vL7pwZ4tR'    # 17
P20='Kx9#mQ2$vL7pwZ4tR8yN' # 20

# cost HOME: the Argon2id opslimit and memlimit its key file names
cost() { od -An -tu8 -j16 -N16 "$1/replica.key" | tr -s ' ' | sed 's/^ //'; }
MODERATE="3 268435456"
INTERACTIVE="2 67108864"
MINIMUM="1 8192"

# ---- the key file's cost ----
runc "$FS" --version
if grep -qF "(test build: honours FIELDSYNC_TEST_KDF)" <<<"$OUT"; then TESTBUILD=1; else TESTBUILD=0; fi
echo "     $OUT"
runc env -u FIELDSYNC_TEST_KDF "$FS" --home "$WORK/plain" init
expect "init without FIELDSYNC_TEST_KDF" 0
equal "makes a MODERATE key file" "$(cost "$WORK/plain")" "$MODERATE"
runc env FIELDSYNC_TEST_KDF=minimum "$FS" --home "$WORK/min" init
expect "init with FIELDSYNC_TEST_KDF=minimum" 0
runc env FIELDSYNC_TEST_KDF=interactive "$FS" --home "$WORK/old" init
expect "init with FIELDSYNC_TEST_KDF=interactive" 0
if [ "$TESTBUILD" = 1 ]; then
    equal "a test build honours minimum" "$(cost "$WORK/min")" "$MINIMUM"
    equal "and interactive (a key file as release 0.2.0 made)" "$(cost "$WORK/old")" "$INTERACTIVE"
    runc "$FS" --home "$WORK/old" whoami --set 王五
    expect "an INTERACTIVE key file opens" 0
    runc env -u FIELDSYNC_TEST_KDF FIELDSYNC_NEW_PASSPHRASE="$P20 new" "$FS" --home "$WORK/old" passwd
    expect "passwd on it" 0
    equal "re-wraps it at MODERATE" "$(cost "$WORK/old")" "$MODERATE"
    runc env FIELDSYNC_PASSPHRASE="$P20 new" "$FS" --home "$WORK/old" whoami
    expect "and it opens with the new passphrase" 0 ""
    contains "the replica untouched" "$OUT" "王五"
else
    # a build without FS_TEST_KDF (a package's) ignores the variable
    equal "this build ignores minimum" "$(cost "$WORK/min")" "$MODERATE"
    equal "and interactive" "$(cost "$WORK/old")" "$MODERATE"
fi

# ---- the team's rule ----
runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north" "chen rep south"
runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 11
expect "a rule below the built-in one: exit 2 naming the flag" 2 "--passphrase-min-chars: expected"
runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 16x
expect "not a number: exit 2" 2 "--passphrase-min-chars"
runc "$FSS" team set --data "$S" --team north --passphrase-min-words 3
expect "words below the built-in 4: exit 2" 2 "--passphrase-min-words"
LC_ALL= LANG=zh_CN.UTF-8 runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 200
expect "in Chinese too" 2 "应为 12 到 128 之间的字符数"
runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 16
expect "north's rule: 16 characters" 0
contains "team set shows it" "$OUT" "passphrases:   at least 16 characters, or 4 words"
runc "$FSS" team show --data "$S" --team north --json
contains "team show --json has it" "$OUT" '"passphrase_min_chars": 16, "passphrase_min_words": null'
runc "$FSS" audit show --data "$S"
contains "audited" "$OUT" "passphrase_min_chars"

start_server 0
URL="ws://127.0.0.1:$PORT"
code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$WORK/zhang" enroll --server "$URL" <<<"$code"
expect "zhang enrolls with 13 characters: refused, naming north's rule" 2 \
    "the new passphrase is too short for the rule of team north: use at least 16 characters, or 4 words"
equal "nothing created" "$(ls -A "$WORK/zhang" 2>/dev/null | wc -l)" 0
LC_ALL= LANG=zh_CN.UTF-8 runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --lang zh --home "$WORK/zhang" \
    enroll --server "$URL" <<<"$code"
expect "in Chinese: the team and its rule" 2 "团队 north"
contains "with the numbers" "$ERR" "16"
runc "$FSS" device list --data "$S"
contains "no device enrolled by the refusals" "$OUT" "no devices enrolled"
# on a terminal the rule is said before the prompt (the code and the
# passphrase typed; the 13 characters refused all the same)
timeout 120 python3 - "$FS" "$WORK/zhang" "$URL" "$code" "$P13" >"$WORK/tty" 2>&1 <<'PY'
import os, pty, sys, termios, time
fs, home, url, code, pw = sys.argv[1:6]
env = dict(os.environ)
env.pop("FIELDSYNC_PASSPHRASE", None)
pid, fd = pty.fork()
if pid == 0:
    os.execve(fs, [fs, "--home", home, "enroll", "--server", url], env)
seen, out = b"", b""  # all of it; what came since the last answer
answers = [(b"Enrollment code", code), (b"New passphrase: ", pw), (b"Repeat the passphrase: ", pw)]
deadline = time.time() + 60
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    out += chunk
    if answers and answers[0][0] in out:
        # every answer here is a secret: typed once the prompt has turned
        # the echo off (its TCSAFLUSH drops what came before)
        while time.time() < deadline and termios.tcgetattr(fd)[3] & termios.ECHO:
            time.sleep(0.02)
        os.write(fd, answers.pop(0)[1].encode() + b"\n")
        out = b""
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
PY
RC=$?
TTY=$(<"$WORK/tty")
equal "on a terminal: refused (exit 2)" "$RC" 2
contains "the rule said before the prompt" "$TTY" \
    "The rule of team north: at least 16 characters, or 4 words."
if grep -qF -- "$P13" <<<"$TTY"; then fail "the passphrase not echoed"; else ok "the passphrase not echoed"; fi
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$WORK/zhang" enroll --server "$URL" <<<"$code"
expect "16 characters: enrolled, with the same code (asking spent nothing)" 0
contains "as zhang of north" "$OUT" "this device's user: zhang (team north"
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$WORK/zhang2" enroll --server "$URL" <<<"$code"
expect "the spent code: refused before any passphrase" 1 "the server refused the enrollment code"
equal "nothing created for it" "$(ls -A "$WORK/zhang2" 2>/dev/null | wc -l)" 0
if command -v setsid >/dev/null; then
    code=$("$FSS" enroll-code --data "$S" --user li | tail -n 1)
    bad="${code:0:10}$([ "${code:10:1}" = A ] && echo B || echo A)${code:11}"
    runc env -u FIELDSYNC_PASSPHRASE setsid -w "$FS" --home "$WORK/li" enroll --server "$URL" \
        --code "$bad" </dev/null
    expect "a wrong code, no terminal, no passphrase: refused for the code" 1 \
        "the server refused the enrollment code"
fi
enroll_device chen "$WORK/chen" "$URL" # FIELDSYNC_PASSPHRASE: 34 characters
code=$("$FSS" enroll-code --data "$S" --user chen | tail -n 1)
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$WORK/chen2" enroll --server "$URL" <<<"$code"
expect "chen of south (no rule of its own) enrolls with 13" 0

# ---- passwd: the team's rule as the last sync brought it ----
ZP=$P16 # zhang's passphrase
z() { runc env FIELDSYNC_PASSPHRASE="$ZP" "$FS" --home "$WORK/zhang" "$@"; }
FIELDSYNC_NEW_PASSPHRASE=$P13 z passwd
expect "passwd to 13 characters: refused, naming north's rule" 2 \
    "too short for the rule of team north: use at least 16 characters, or 4 words"
runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 20 # through serve
expect "north's rule raised to 20 on the running server" 0
FIELDSYNC_NEW_PASSPHRASE=$P17 z passwd
expect "before a sync, 17 passes the rule zhang knows (16)" 0
ZP=$P17
z sync
expect "zhang syncs" 0
FIELDSYNC_NEW_PASSPHRASE="${P17}x" z passwd
expect "after it, 18 is refused: the rule is 20" 2 "use at least 20 characters"
FIELDSYNC_NEW_PASSPHRASE='blue kettle windy pier' z passwd
expect "4 words pass it (north sets no words)" 0
ZP='blue kettle windy pier'
runc env -u FIELDSYNC_TEST_KDF FIELDSYNC_NEW_PASSPHRASE="$P20" FIELDSYNC_PASSPHRASE="$ZP" \
    "$FS" --home "$WORK/zhang" passwd
expect "20 characters: changed" 0
equal "at MODERATE (FIELDSYNC_TEST_KDF unset)" "$(cost "$WORK/zhang")" "$MODERATE"
ZP=$P20
z sync
expect "and zhang syncs with it" 0
runc env FIELDSYNC_NEW_PASSPHRASE="$P13" "$FS" --home "$WORK/chen" passwd
expect "chen of south: 13 is enough" 0
stop_server

if grep -qF -e "$P13" -e "$P17" -e "$P20" "$ERRLOG" "$WORK/serve.log"; then
    fail "no passphrase in any message or log"
else
    ok "no passphrase in any message or log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
