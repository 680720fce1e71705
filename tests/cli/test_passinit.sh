#!/usr/bin/env bash
# The team's passphrase rule for a replica made before enrollment, and for
# a rule made stricter later (issue 20.7), over real processes:
#  - zhang runs `fieldsync init` with 13 characters (the built-in rule's)
#    and records a customer; north's rule is 16. `enroll` with no terminal
#    refuses before spending the code, naming north's rule and `passwd`
#    (in Chinese too); the replica still opens with its passphrase; on a
#    terminal it says so and asks for a new passphrase: a 13-character one
#    is refused (the code still unspent), a 16-character one re-wraps the
#    key file and enrolls with the same code; the customer kept; the old
#    passphrase no longer opens it;
#  - li (north) gives the new one in FIELDSYNC_NEW_PASSPHRASE: changed at
#    the key file's default cost (MODERATE when FIELDSYNC_TEST_KDF is not
#    set), enrolled;
#  - chen of south (no rule) enrolls an init-made replica with 13; wang
#    (north) enrolls through a running unlock agent (the passphrase's
#    remembered measure fits: nothing asked);
#  - north's rule raised to 20: after a sync, `status` says the passphrase
#    no longer meets it and to run passwd (in Chinese too), the replica
#    still works; a running daemon logs it once; after passwd to 20
#    characters, status no longer says it.
#
#   bash tests/cli/test_passinit.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_passinit.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_passinit.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-passinit-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
AGENT_HOME=
trap 'stop_daemon_now; [ -n "$AGENT_HOME" ] && "$FS" --home "$AGENT_HOME" lock >/dev/null 2>&1; stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='passinit server passphrase -- 3f9a'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

P13='Kx9#mQ2$vL7pw'        # 13 characters: the built-in rule's, not north's
P16='Kx9#mQ2$vL7pwZ4t'     # 16
P20='Kx9#mQ2$vL7pwZ4tR8yN' # 20
Z=$WORK/zhang
MARK=XQZPASSINIT

cost() { od -An -tu8 -j16 -N16 "$1/replica.key" | tr -s ' ' | sed 's/^ //'; }
MODERATE="3 268435456"

# tty_enroll HOME CODE ANSWER...: enroll on a terminal, typing the code
# and then each ANSWER at the next secret prompt; sets RC and TTY
tty_enroll() {
    local home=$1
    shift
    timeout 120 python3 - "$FS" "$home" "$URL" "$@" >"$WORK/tty" 2>&1 <<'PY'
import os, pty, sys, termios, time
fs, home, url = sys.argv[1:4]
answers = sys.argv[4:]
env = dict(os.environ)
env.pop("FIELDSYNC_PASSPHRASE", None)
env.pop("FIELDSYNC_NEW_PASSPHRASE", None)
pid, fd = pty.fork()
if pid == 0:
    os.execve(fs, [fs, "--home", home, "enroll", "--server", url], env)
seen, out = b"", b""
prompts = [b"Enrollment code", b"Passphrase for", b"New passphrase: ", b"Repeat the new passphrase: "]
deadline = time.time() + 90
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    out += chunk
    if answers and any(p in out for p in prompts):
        # a secret: typed once the prompt has turned the echo off
        while time.time() < deadline and termios.tcgetattr(fd)[3] & termios.ECHO:
            time.sleep(0.02)
        os.write(fd, answers.pop(0).encode() + b"\n")
        out = b""
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
PY
    RC=$?
    TTY=$(<"$WORK/tty")
}
no_devices() { # NAME USER: USER has no device enrolled
    runc "$FSS" device list --data "$S"
    if grep -qw "$2" <<<"$OUT"; then fail "$1" "$OUT"; else ok "$1"; fi
}

runc "$FSS" init --data "$S"
expect "server init" 0
add_users "zhang rep north" "li manager north" "wang rep north" "chen rep south"
runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 16
expect "north's rule: 16 characters" 0
start_server 0
URL="ws://127.0.0.1:$PORT"

# ---- zhang: init with 13, then enroll into north ----
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$Z" init
expect "zhang's init with 13 characters (the built-in rule)" 0
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$Z" whoami --set zhang
expect "zhang names the device" 0
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$Z" customer add --name "$MARK 华信" --owner zhang
expect "zhang records a customer before enrolling" 0
code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$Z" enroll --server "$URL" <<<"$code"
expect "enroll with no terminal: refused (exit 2), naming north's rule" 2 \
    "the passphrase of the replica in $Z is too short for the rule of team north: use at least 16 characters, or 4 words"
contains "and telling to run passwd first" "$ERR" "Run 'fieldsync --home $Z passwd' first"
contains "and that the code was not used" "$ERR" "the enrollment code was not used"
LC_ALL= LANG=zh_CN.UTF-8 runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --lang zh --home "$Z" \
    enroll --server "$URL" <<<"$code"
expect "in Chinese: the team and its rule" 2 "团队 north"
contains "with passwd and the unused code" "$ERR" "passwd"
contains "in Chinese words" "$ERR" "注册码没有用掉"
no_devices "no device enrolled by the refusals" zhang
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$Z" customer list
expect "the replica still opens with its passphrase" 0
contains "its customer there" "$OUT" "$MARK"

# on a terminal: told, a new passphrase asked for; a short one refused
tty_enroll "$Z" "$code" "$P13" "$P13" "$P13"
equal "on a terminal, a new one of 13 characters: refused (exit 2)" "$RC" 2
contains "the terminal says the passphrase falls short" "$TTY" \
    "The passphrase of the replica in $Z is too short for the rule of team north"
contains "the rule said before the new one is asked" "$TTY" \
    "The rule of team north: at least 16 characters, or 4 words."
contains "the code not used" "$TTY" "the enrollment code was not used"
no_devices "still no device" zhang
tty_enroll "$Z" "$code" "$P13" "$P16" "$P16"
equal "a new one of 16 characters: enrolled with the same code" "$RC" 0
contains "the passphrase changed" "$TTY" "passphrase changed for the replica in $Z"
contains "as zhang of north" "$TTY" "this device's user: zhang (team north"
if grep -qF -e "$P13" -e "$P16" <<<"$TTY"; then fail "no passphrase echoed"; else ok "no passphrase echoed"; fi
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$Z" customer list
expect "the old passphrase no longer opens it" 1
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$Z" customer list
expect "the new one does" 0
contains "the customer kept" "$OUT" "$MARK"
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$Z" sync
expect "zhang syncs" 0
runc "$FSS" device list --data "$S"
contains "zhang's device enrolled" "$OUT" "zhang"

# ---- li: the new passphrase from FIELDSYNC_NEW_PASSPHRASE ----
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$WORK/li" init
expect "li's init with 13" 0
code=$("$FSS" enroll-code --data "$S" --user li | tail -n 1)
runc env -u FIELDSYNC_TEST_KDF FIELDSYNC_PASSPHRASE="$P13" FIELDSYNC_NEW_PASSPHRASE="$P16" \
    "$FS" --home "$WORK/li" enroll --server "$URL" <<<"$code"
expect "li enrolls, the new passphrase from FIELDSYNC_NEW_PASSPHRASE" 0
contains "changed" "$OUT" "passphrase changed for the replica in $WORK/li"
equal "the key file at the default cost, as passwd makes it (MODERATE)" "$(cost "$WORK/li")" "$MODERATE"
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$WORK/li" whoami
contains "li opens with the new one, as li" "$OUT" "li"

# ---- chen of south (no rule): 13 is enough; wang through the agent ----
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$WORK/chen" init
expect "chen's init with 13" 0
code=$("$FSS" enroll-code --data "$S" --user chen | tail -n 1)
runc env FIELDSYNC_PASSPHRASE="$P13" "$FS" --home "$WORK/chen" enroll --server "$URL" <<<"$code"
expect "chen of south enrolls an init-made replica with 13, nothing asked" 0
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$WORK/wang" init
expect "wang's init with 16" 0
runc env FIELDSYNC_PASSPHRASE="$P16" "$FS" --home "$WORK/wang" unlock --idle 5m
expect "wang unlocks (the agent holds the key)" 0
AGENT_HOME=$WORK/wang
code=$("$FSS" enroll-code --data "$S" --user wang | tail -n 1)
runc env -u FIELDSYNC_PASSPHRASE "$FS" --home "$WORK/wang" enroll --server "$URL" <<<"$code"
expect "wang enrolls through the agent (16 remembered: fits north)" 0
"$FS" --home "$WORK/wang" lock >/dev/null 2>&1
AGENT_HOME=

# ---- a rule made stricter later ----
zs() { runc env FIELDSYNC_PASSPHRASE="$ZP" "$FS" --home "$Z" "$@"; }
ZP=$P16
zs status
expect "status" 0
case "$OUT" in *"passphrase:"*) fail "nothing said while it fits" "$OUT" ;; *) ok "nothing said while it fits" ;; esac
runc "$FSS" team set --data "$S" --team north --passphrase-min-chars 20 # through serve
expect "north's rule raised to 20 on the running server" 0
zs status
case "$OUT" in *"passphrase:"*) fail "not before the rule arrives" "$OUT" ;; *) ok "not before the rule arrives" ;; esac
zs sync
expect "zhang syncs (the rule arrives)" 0
zs status
expect "status after it" 0
contains "status says the passphrase no longer meets the rule" "$OUT" \
    "passphrase:      no longer meets the team's rule: it is too short for the rule of team north: use at least 20 characters, or 4 words. Run 'fieldsync --home $Z passwd' to choose a new one"
zs status --json
equal "status --json: passphrase_below_team_rule" \
    "$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["passphrase_below_team_rule"])' <<<"$OUT")" True
LC_ALL= LANG=zh_CN.UTF-8 runc env FIELDSYNC_PASSPHRASE="$ZP" "$FS" --lang zh --home "$Z" status
contains "in Chinese" "$OUT" "已不符合团队的规则"
contains "with the rule's numbers" "$OUT" "20"
zs customer list
expect "no lockout: the replica still works" 0
contains "its customer" "$OUT" "$MARK"
# the daemon: said once in its log
: >"$WORK/daemon.out"
env FIELDSYNC_PASSPHRASE="$ZP" "$FS" --home "$Z" daemon --interval 1 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for ((i = 0; i < 150; i++)); do
    grep -q "no longer meets" "$WORK/daemon.out" && break
    sleep 0.2
done
rounds=$(grep -c "in sync: [0-9]* changes sent" "$WORK/daemon.out")
zs customer add --name "$MARK second" --owner zhang # a change: another round
for ((i = 0; i < 150; i++)); do
    [ "$(grep -c "in sync: [0-9]* changes sent" "$WORK/daemon.out")" -gt "$rounds" ] && break
    sleep 0.2
done
sleep 3 # a few more rounds
stop_daemon_now
cat "$WORK/daemon.err" >>"$ERRLOG"
equal "the daemon's log says it once" "$(grep -c "this device's passphrase no longer meets the team's rule" "$WORK/daemon.out")" 1
contains "naming passwd" "$(cat "$WORK/daemon.out")" "Run 'fieldsync --home $Z passwd' to choose a new one (syncing goes on)"
[ "$(grep -c "in sync: [0-9]* changes sent" "$WORK/daemon.out")" -gt "$rounds" ] &&
    ok "and it went on syncing (a change sent after it)" || fail "and it went on syncing" "$(cat "$WORK/daemon.out")"
runc env FIELDSYNC_PASSPHRASE="$ZP" FIELDSYNC_NEW_PASSPHRASE="$P20" "$FS" --home "$Z" passwd
expect "passwd to 20 characters" 0
ZP=$P20
zs status
case "$OUT" in *"passphrase:"*) fail "status no longer says it" "$OUT" ;; *) ok "status no longer says it" ;; esac
zs status --json
equal "nor status --json" \
    "$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["passphrase_below_team_rule"])' <<<"$OUT")" False
stop_server

if grep -qF -e "$P13" -e "$P16" -e "$P20" "$ERRLOG" "$WORK/serve.log" "$WORK/daemon.out"; then
    fail "no passphrase in any message or log"
else
    ok "no passphrase in any message or log"
fi
finish
