#!/usr/bin/env bash
# Admin commands while serve runs, through DATA/control.sock: user add,
# enroll-code, device list, audit verify answer from the running server; a
# wrong passphrase, garbage and another user get nothing; a device revoked
# while its daemon is connected is cut off, told to wipe, and wipes within
# seconds; after serve stops the commands open the store themselves again.
#
#   bash tests/cli/test_control.sh path/to/fieldsync path/to/fieldsync-server path/to/agent_peer
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_control.sh fieldsync fieldsync-server agent_peer}
FSS=${2:?usage: test_control.sh fieldsync fieldsync-server agent_peer}
PEER=${3:?usage: test_control.sh fieldsync fieldsync-server agent_peer}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-control-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
HZ=$WORK/zhang
DAEMON_PID=
trap 'stop_daemon_now; stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='control test passphrase -- 0c9a'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
MARK='tamarisk 控制台客户'

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }

srv init --data "$S"
expect "server init" 0
srv user add --data "$S" --name zhang --role rep --team north
expect "add rep zhang (no server running)" 0

srv user add --data "$S" --name li --role manager --team north
expect "add manager li" 0
FIELDSYNC_USER_PASSWORD='li dashboard pw 1' runc "$FSS" user passwd --data "$S" --name li
expect "user passwd on the stopped store" 0
contains "user passwd says so" "$OUT" "password set for li"
FIELDSYNC_USER_PASSWORD='zhang dashboard pw' runc "$FSS" user passwd --data "$S" --name zhang
expect "a rep gets no dashboard password" 2 "only managers and admins"
runc "$FSS" user passwd --data "$S" --name li --typed-password 'sneaky pw 123'
expect "--typed-password is not an option on the command line" 2 "unknown option"

start_server 0
equal "serve makes a private control socket" "$(stat -c %a "$S/control.sock")" 600

# ---- the admin commands answer while serve runs ----
srv user add --data "$S" --name wang --role rep --team north
expect "user add while serving" 0
contains "user add prints its result" "$OUT" "added user wang"
srv enroll-code --data "$S" --user zhang
expect "enroll-code while serving" 0
ZCODE=$(tail -n 1 <<<"$OUT")
contains "the code is a code" "$ZCODE" "FS1-"
run --home "$HZ" enroll --server "ws://127.0.0.1:$PORT" --code "$ZCODE" --name zhang-laptop
expect "zhang enrolls with the code made while serving" 0
run --home "$HZ" customer add --name "$MARK"
expect "zhang records a customer" 0
run --home "$HZ" sync
expect "zhang syncs" 0
srv device list --data "$S" --json
expect "device list while serving" 0
contains "device list shows zhang's laptop" "$OUT" '"name":"zhang-laptop"'
FP=$(grep -oE '"fingerprint":"[0-9a-f]+' <<<"$OUT" | head -n 1 | cut -d'"' -f4)
# the table lines up by display width with a Chinese device name (issue 17.8)
srv enroll-code --data "$S" --user wang
run --home "$WORK/wang" enroll --server "ws://127.0.0.1:$PORT" --name 王工的笔记本电脑 <<<"$(tail -n 1 <<<"$OUT")"
expect "wang enrolls a laptop with a Chinese name" 0
srv device list --data "$S"
cols=$(python3 -c '
import re, sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
for line in sys.stdin.read().splitlines():
    m = re.search(r"FINGERPRINT|[0-9a-f]{32}", line)
    print(width(line[:m.start()]) if m else "none")
' <<<"$OUT" | sort -u | tr "\n" " ")
equal "device list: the fingerprint column starts at one display column on every line" "$cols" "42 "
contains "device list: the Chinese device name is shown" "$OUT" "王工的笔记本电脑"
srv audit verify --data "$S"
expect "audit verify while serving" 0
contains "audit verify reports the chain" "$OUT" "chain intact"
srv user add --data "$S" --name wang --role rep --team north
expect "an error from the hosted command comes back" 2 "exists already"
srv device revoke --data "$S"
expect "a usage error from the hosted command comes back" 2 "--device"
FIELDSYNC_USER_PASSWORD='li dashboard pw 2' runc "$FSS" user passwd --data "$S" --name li
expect "user passwd through the running server" 0
contains "it answers from the server" "$OUT" "password set for li"
FIELDSYNC_USER_PASSWORD='short' runc "$FSS" user passwd --data "$S" --name li
expect "a short password is refused through the server too" 2 "a password is 8 to 1024 bytes"
srv device --help --data "$S"
expect "--help is answered without the server" 0

# ---- refusals ----
FIELDSYNC_PASSPHRASE='not the passphrase' runc "$FSS" device list --data "$S"
expect "a wrong passphrase is refused" 1 "wrong passphrase"
lacks_out=$(grep -c "zhang-laptop" <<<"$OUT")
equal "and prints no data" "$lacks_out" 0
got=$("$PEER" "$S/control.sock" Z)
equal "garbage gets the connection closed" "$got" "closed 0"
srv device list --data "$S"
expect "serve still answers after garbage" 0
if [ "$(id -u)" -eq 0 ]; then
    chmod 711 "$S" "$WORK"
    chmod 666 "$S/control.sock"
    got=$("$PEER" --as 65534 "$S/control.sock" Z)
    equal "another user gets the connection closed" "$got" "closed 0"
    chmod 700 "$S"
    chmod 600 "$S/control.sock"
else
    echo "SKIP another user's connection: needs root to switch users (CI runs as root)"
fi

# ---- revoke while the device's daemon is connected ----
"$FS" --home "$HZ" daemon --interval 3600 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
sleep 1.5
srv device revoke --data "$S" --device "${FP:0:12}"
expect "device revoke while serving" 0
wiped=
for i in $(seq 1 100); do
    if [ ! -e "$HZ/replica.db" ]; then wiped=$i; break; fi
    sleep 0.1
done
if [ -n "$wiped" ]; then ok "the connected daemon wiped its replica within 10 s (${wiped}00 ms)"
else fail "the connected daemon wiped its replica within 10 s" "$(cat "$WORK/daemon.out" "$WORK/daemon.err")"; fi
wait "$DAEMON_PID"
DAEMON_PID=
contains "the daemon says why" "$(cat "$WORK/daemon.out")" "revoked"
srv audit show --data "$S"
contains "the revocation is audited" "$OUT" "revoke"

# ---- serve stops: the socket goes, commands open the store again ----
stop_server
if [ -e "$S/control.sock" ]; then fail "the control socket is removed on stop"
else ok "the control socket is removed on stop"; fi
srv device list --data "$S"
expect "device list on the stopped server's store" 0
contains "it shows the revocation" "$OUT" "revoked"
contains "the serve log names the commands" "$(cat "$WORK/serve.log")" "control: device done"
contains "the serve log names the refusal" "$(cat "$WORK/serve.log")" "refused: wrong passphrase"

hits=$(grep -rlaF -e tamarisk -e 控制台客户 -e "$FIELDSYNC_PASSPHRASE" -e "li dashboard pw" "$S" "$WORK/serve.log" "$ERRLOG" \
    "$WORK/daemon.out" "$WORK/daemon.err" 2>/dev/null)
equal "no marker or passphrase in any file or log" "$hits" ""

finish
