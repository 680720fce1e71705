#!/usr/bin/env bash
# The unlock agent: the passphrase once per working session, the key wiped
# after an idle timeout, reachable by the same user only.
#
#   bash tests/cli/test_agent.sh path/to/fieldsync path/to/agent_peer
#
# Commands that must not find a passphrase run under setsid, without a
# controlling terminal, so that run by hand they fail instead of prompting.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_agent.sh path/to/fieldsync path/to/agent_peer}
PEER=${2:?usage: test_agent.sh path/to/fieldsync path/to/agent_peer}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-agent-XXXXXX")
ERRLOG=$WORK/all-stderr
H=$WORK/rep
SOCK=$H/agent.sock
PASS='agent test passphrase -- 51e0'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE FIELDSYNC_PASSPHRASE
trap '"$FS" --home "$H" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

MARK='hazelgrove 钥匙代理客户'

run() { runc setsid -w "$FS" --home "$H" "$@"; }
runp() { FIELDSYNC_PASSPHRASE=$1 runc setsid -w "$FS" --home "$H" "${@:2}"; }
agent_pid() { grep -oE 'agent pid [0-9]+' <<<"$1" | grep -oE '[0-9]+$'; }
# A process that has exited may stay a zombie until init reaps it: not alive.
alive() {
    local st
    st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

runp "$PASS" init
expect "init" 0

# ---- without an agent, a command needs the passphrase ----
run customer list
expect "no agent, no passphrase: refused" 1 "no passphrase"

# ---- unlock checks the passphrase and leaves nothing behind when wrong ----
runp "wrong passphrase" unlock
expect "unlock with a wrong passphrase" 1 "wrong passphrase"
if [ -e "$SOCK" ]; then fail "no socket after a wrong passphrase" "$(ls -l "$SOCK")"
else ok "no socket after a wrong passphrase"; fi
runp "$PASS" unlock --idle 0s
expect "unlock --idle 0s refused" 2 "--idle:"
runp "$PASS" unlock --idle 25h
expect "unlock --idle 25h refused" 2 "--idle:"
runp "$PASS" unlock --idle soon
expect "unlock --idle soon refused" 2 "--idle:"

# ---- unlocked: commands run without the passphrase ----
runp "$PASS" unlock --idle 4s
expect "unlock" 0
PID=$(agent_pid "$OUT")
if [ -n "$PID" ] && alive "$PID"; then ok "the agent runs (pid $PID)"
else fail "the agent runs" "out: $OUT"; fi
equal "the socket is private (0600)" "$(stat -c %a "$SOCK")" 600
equal "in a private directory (0700)" "$(stat -c %a "$H")" 700
run customer add --name "$MARK"
expect "customer add without a passphrase" 0
run customer list --json
expect "customer list without a passphrase" 0
contains "and it reads the replica" "$OUT" "$MARK"
runp "$PASS" unlock
expect "a second unlock" 0
contains "a second unlock says so" "$OUT" "already unlocked"
run status --json
contains "status shows the agent" "$OUT" "\"pid\":$PID"

# ---- the raw protocol ----
equal "a status request" "$("$PEER" "$SOCK" S)" "reply 9 S"
equal "a key request gets 49 bytes" "$("$PEER" "$SOCK" K)" "reply 49 K"
equal "an unknown request gets X" "$("$PEER" "$SOCK" Z)" "reply 1 X"
if alive "$PID"; then ok "the agent survives an unknown request"
else fail "the agent survives an unknown request"; fi

# ---- activity keeps it; the daemon's requests do not ----
for i in 1 2 3 4 5 6; do run customer list; sleep 1; done
if alive "$PID"; then ok "commands every second keep the agent past its 4 s"
else fail "commands every second keep the agent past its 4 s"; fi
for i in $(seq 1 12); do "$PEER" "$SOCK" k >/dev/null; sleep 0.5; done
if alive "$PID"; then fail "the daemon's requests do not count as activity" "still alive after 6 s"
else ok "the daemon's requests do not count as activity"; fi

# ---- idle: the key is wiped, the socket removed ----
if [ -e "$SOCK" ]; then fail "the socket is gone with the agent"
else ok "the socket is gone with the agent"; fi
run customer list
expect "after the idle timeout the passphrase is needed again" 1 "no passphrase"

# ---- lock ----
runp "$PASS" unlock
expect "unlock again (default 15 min)" 0
contains "the default idle time is 15 min" "$OUT" "900s"
PID=$(agent_pid "$OUT")
run lock
expect "lock" 0
contains "lock says the key is wiped" "$OUT" "wiped the key"
sleep 0.3
if alive "$PID"; then fail "the agent exits on lock"; else ok "the agent exits on lock"; fi
run lock
expect "lock with no agent" 0
contains "lock with no agent says so" "$OUT" "not unlocked"

# ---- a replica wiped or created again: the agent's key no longer fits ----
runp "$PASS" unlock
PID=$(agent_pid "$OUT")
rm -f "$H/replica.db" "$H/replica.key"
runp "$PASS" init
expect "a new replica in the same place" 0
equal "the old agent refuses to hand out its key" "$("$PEER" "$SOCK" K)" "reply 1 X"
sleep 0.3
if alive "$PID"; then fail "and exits"; else ok "and exits"; fi

# ---- another user gets nothing ----
if [ "$(id -u)" -eq 0 ]; then
    runp "$PASS" unlock
    PID=$(agent_pid "$OUT")
    # Open the way on purpose, as a careless chmod would.
    chmod 711 "$H" "$WORK"
    chmod 666 "$SOCK"
    got=$("$PEER" --as 65534 "$SOCK" K)
    equal "another user connecting gets no answer" "$got" "closed 0"
    got=$("$PEER" --as 65534 "$SOCK" L)
    equal "nor can it lock" "$got" "closed 0"
    if alive "$PID"; then ok "the agent keeps running for its user"
    else fail "the agent keeps running for its user"; fi
    chmod 700 "$H"
    run lock
    expect "lock" 0
else
    echo "SKIP another user's connection: needs root to switch users (CI runs as root)"
fi

# ---- nothing of the customer in any message ----
hits=$(grep -laF -e "hazelgrove" -e "钥匙代理客户" "$ERRLOG" 2>/dev/null)
equal "no marker in any message" "$hits" ""

finish
