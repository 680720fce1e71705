# Assertions shared by the shell tests (source it; set WORK and ERRLOG
# before running commands). Each assertion prints "ok   NAME" or
# "FAIL NAME" with details; the script ends with
#   echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]

passed=0
failed=0

# The client's messages are matched in English: a language from the caller's
# shell must not change them (tests/cli/test_lang.sh sets its own).
unset LANGUAGE FIELDSYNC_LANG
# The tests read lists into variables and files: the client's consent to
# export (issue 20.4), which the team's policy still governs (a rep's is
# forbidden unless allow_exports lets it); tests/cli/test_export.sh unsets it.
export FIELDSYNC_EXPORT=1
# New key files at Argon2id's minimum cost, not MODERATE's 256 MiB and ~1 s
# (issue 20.7): the tests create hundreds. Honoured only by a binary built
# with -DFS_TEST_KDF=ON (scripts/test's builds; never a package);
# tests/cli/test_passpolicy.sh checks the cost of a key file made without it.
export FIELDSYNC_TEST_KDF=minimum

# rel_day WHEN: the UTC date WHEN from today, as YYYY-MM-DD ('3 days ago',
# '+2 days', 'next monday'). Test dates derive from it: the client refuses a
# visit time more than 30 days from now (issue 17.5), so a fixed date in a
# test breaks a month after it was written. A date kept fixed says why.
rel_day() { date -u -d "$1" +%F; }

# pin_clock HH:MM: from here on, every program this test runs sees the wall
# clock at today's HH:MM (local time) plus the seconds since the call: the
# time-shift shim (tests/timeshift.c) built into $WORK and preloaded, one
# shift for all (the server, the clients, date, python3). A test whose
# statuses depend on the day and the hour (due at 09:00, late by a day)
# otherwise fails when it runs across midnight or at an hour its dates did
# not foresee; pinned it reads the same at any time CI runs it.
pin_clock() {
    local src shim now target
    src=$(dirname "${BASH_SOURCE[0]}")/timeshift.c
    shim=$WORK/pin_clock.so
    if ! ${CC:-cc} -shared -fPIC -O1 -o "$shim" "$src" -ldl 2>"$WORK/pin_clock.err"; then
        fail "the time-shift shim builds" "$(cat "$WORK/pin_clock.err")"
        finish
    fi
    now=$(date +%s)
    target=$(date -d "today $1" +%s)
    export FS_TIMESHIFT=$((target - now))
    export LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}"
    # an ASan build's runtime need not come first for the shim's sake
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
    if [ "$(date +%H:%M)" != "$1" ]; then
        fail "the clock is pinned at $1" "date says $(date +%H:%M)"
        finish
    fi
}

ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    shift
    local line
    for line in "$@"; do
        echo "       $line"
    done
}

# runc CMD...: runs a command; sets RC, OUT (stdout), ERR (stderr), and
# appends its stderr to $ERRLOG (for scans of everything a program printed).
runc() {
    OUT=$("$@" 2>"$WORK/err")
    RC=$?
    ERR=$(<"$WORK/err")
    cat "$WORK/err" >>"$ERRLOG"
}

# expect NAME STATUS [TEXT]: the last run exited with STATUS and, if given,
# its stderr contains TEXT.
expect() {
    local name=$1 want=$2 text=${3-}
    if [ "$RC" -ne "$want" ]; then
        fail "$name" "exit status $RC, expected $want" "stderr: $ERR"
    elif [ -n "$text" ] && ! grep -qF -- "$text" <<<"$ERR"; then
        fail "$name" "stderr does not contain: $text" "stderr: $ERR"
    else
        ok "$name"
    fi
}

# contains NAME HAYSTACK NEEDLE: HAYSTACK holds NEEDLE byte for byte.
contains() {
    if grep -qF -- "$3" <<<"$2"; then
        ok "$1"
    else
        fail "$1" "missing: $3" "in: $(head -c 2000 <<<"$2")"
    fi
}

# ---- a fieldsync daemon in the background: set DAEMON_PID when starting it ----
DAEMON_PID=

# stop_daemon_now: SIGTERM to the daemon, if one runs, and wait for it.
stop_daemon_now() {
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
    fi
}

# ---- a fieldsync-server serve for end-to-end tests ----
# Set FSS (the fieldsync-server binary), S (its data dir) and WORK; SRV_PID is
# the running server's PID or empty.
SRV_PID=

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

equal() {
    if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "got:      $2" "expected: $3"; fi
}

stop_server_now() {
    if [ -n "$SRV_PID" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
        SRV_PID=
    fi
}

# first_line FILE PID [TENTHS]: prints FILE's first line once it is written,
# or what it holds when PID ended or TENTHS tenths of a second (100) passed.
first_line() {
    local l= i
    for ((i = 0; i < ${3:-100}; i++)); do
        l=$(head -n 1 "$1")
        [ -n "$l" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$l" ] || l=$(head -n 1 "$1") # written as it ended
    printf '%s' "$l"
}

# start_server PORT [SERVE-OPTIONS...]: runs serve in the background on
# 127.0.0.1:PORT (0: any) and sets SRV_PID and PORT from its first line. Fails the whole test, loudly,
# if serve does not exist or does not come up.
start_server() {
    local want=$1 line
    : >"$WORK/serve.out"
    "$FSS" serve --data "$S" --listen "127.0.0.1:$want" "${@:2}" >"$WORK/serve.out" \
        2>"$WORK/serve.err" &
    SRV_PID=$!
    line=$(first_line "$WORK/serve.out" "$SRV_PID")
    if [ -z "$line" ] && ! kill -0 "$SRV_PID" 2>/dev/null; then
        wait "$SRV_PID" 2>/dev/null
        SRV_PID=
        if grep -qi "unknown command" "$WORK/serve.err"; then
            fail "serve not available" "$(cat "$WORK/serve.err")"
        else
            fail "serve did not start on port $want" "$(cat "$WORK/serve.err")"
        fi
        finish
    fi
    if [[ ! "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)(\ \(TLS\))?$ ]]; then
        fail "serve prints 'listening on HOST:PORT' first" "got: $line" "$(cat "$WORK/serve.err")"
        finish
    fi
    PORT=${BASH_REMATCH[1]}
    ok "serve listening on 127.0.0.1:$PORT"
}

# lacks NAME TEXT NEEDLE: ok when TEXT does not hold NEEDLE.
lacks() {
    if grep -qF -- "$3" <<<"$2"; then fail "$1" "unexpectedly present: $3"; else ok "$1"; fi
}

# free_port: a TCP port on 127.0.0.1 free right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_node NAME DIR PORT: serve DIR on 127.0.0.1:PORT (one of several
# nodes, each on its own port); sets PID_<NAME>. Fails the whole test if it
# does not come up.
start_node() {
    local name=$1 dir=$2 port=$3 pid line
    : >"$WORK/$name.out"
    "$FSS" serve --data "$dir" --listen "127.0.0.1:$port" >"$WORK/$name.out" \
        2>>"$WORK/$name.err" &
    pid=$!
    line=$(first_line "$WORK/$name.out" "$pid" 300)
    if [ "$line" != "listening on 127.0.0.1:$port" ]; then
        fail "node $name serves on 127.0.0.1:$port" "got: $line" "$(tail -n 5 "$WORK/$name.err")"
        finish
    fi
    ok "node $name serves on 127.0.0.1:$port"
    printf -v "PID_$name" '%s' "$pid"
}

# add_users "NAME ROLE TEAM"...: adds each user to the store in $S.
add_users() {
    local u
    for u in "$@"; do
        set -- $u
        runc "$FSS" user add --data "$S" --name "$1" --role "$2" --team "$3"
        expect "add $2 $1 ($3)" 0
    done
}

# allow_exports TEAM...: the team's reps and managers may export as
# plaintext (issue 20.4), for tests that read a rep's lists into files.
allow_exports() {
    local t
    for t in "$@"; do
        runc "$FSS" team set --data "$S" --team "$t" --export plaintext
        expect "team $t may export (for the test's reads)" 0
    done
}

# enroll_device USER HOME URL [ENROLL-OPTIONS...]: an enrollment code for
# USER from the store in $S, redeemed by the replica in HOME against URL.
enroll_device() {
    local code
    code=$("$FSS" enroll-code --data "$S" --user "$1" | tail -n 1)
    runc "$FS" --home "$2" enroll --server "$3" "${@:4}" <<<"$code" # off the command line
    expect "$1 enrolls" 0
}

# converged REP MANAGER WANT: the manager's replica (home MANAGER) holds WANT
# visits, none twice, and lists exactly the visits of the rep's (home REP).
converged() {
    local got ids rep
    got=$("$FS" --home "$2" visit list --json | grep -oF '"recorded_at":' | wc -l)
    equal "the manager holds every visit" "$got" "$3"
    ids=$("$FS" --home "$2" visit list --json | grep -oE '"id":"[0-9a-f]{32}","customer"' |
        sort | uniq -d | wc -l)
    equal "none of them twice" "$ids" 0
    runc "$FS" --home "$1" visit list --json
    rep=$OUT
    runc "$FS" --home "$2" visit list --json
    equal "the manager's visits equal the rep's" "$OUT" "$rep"
}

# stop_server: SIGTERM by PID; serve must exit 0. Every run's output is kept
# in $WORK/serve.log, so a test can scan all of the server's logs.
stop_server() {
    local status
    kill -TERM "$SRV_PID"
    wait "$SRV_PID"
    status=$?
    SRV_PID=
    cat "$WORK/serve.out" "$WORK/serve.err" >>"$WORK/serve.log"
    equal "serve exits 0 on SIGTERM" "$status" 0
}


# pty_run PROMPT ANSWER PROGRAM ARGS...: runs PROGRAM on a pseudo-terminal,
# typing ANSWER at PROMPT (pty_dialog, below); sets RC and TTY (everything
# the terminal showed). Needs python3.
pty_run() {
    local dialog
    dialog=$(printf '%s\t%s' "$1" "$2")
    shift 2
    DIALOG=$dialog pty_dialog "$@"
}

# pty_dialog PROGRAM ARGS...: runs PROGRAM on a pseudo-terminal and answers
# its prompts in order from $DIALOG, one "PROMPT<TAB>ANSWER" per line: each
# answer is typed once its PROMPT shows after the previous one. A prompt
# whose Enter means something ("Enter to skip", "Enter when done", "Enter
# for no/today/now", "Enter keeps it", in either language) and is not the
# next one listed gets an empty line. With DIALOG_CMDLINE=FILE, what
# /proc/PID/cmdline holds while the program waits at its first prompt is
# written to FILE (NULs as spaces): what any user of the machine sees. Sets RC (99 when killed
# after 60 s, as a program waiting for an answer never given would be) and
# TTY (everything the terminal showed). Needs python3.
pty_dialog() {
    TTY=$(python3 - "$@" <<'PY'
import os, pty, select, signal, sys, time
prog, args = sys.argv[1], sys.argv[2:]
pairs = [l.split("\t", 1) for l in os.environ.get("DIALOG", "").split("\n") if "\t" in l]
skips = [s.encode() for s in ("(Enter to skip): ", "(Enter when done): ", "Enter for no): ",
                               "(Enter for today): ", "(Enter for now): ", "(Enter keeps it): ",
                               "- clears it): ", "回车跳过）：", "填完直接回车）：", "回车为否）：",
                               "回车为今天）：", "回车为现在）：", "回车保留）：", "清空）：")]
pid, fd = pty.fork()
if pid == 0:
    os.execv(prog, [prog] + args)
out, pos, killed = b"", 0, False
deadline = time.time() + 60
while True:
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        killed = True
        break
    r, _, _ = select.select([fd], [], [], 0.5)
    if not r:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    # Answered only while the program waits: its output ends in a prompt.
    if not (out.endswith(b": ") or out.endswith("：".encode())):
        continue
    at = out.find(pairs[0][0].encode(), pos) if pairs else -1
    if at >= 0 and os.environ.get("DIALOG_CMDLINE") and pos == 0:
        with open("/proc/%d/cmdline" % pid, "rb") as c, open(os.environ["DIALOG_CMDLINE"], "wb") as f:
            f.write(c.read().replace(b"\0", b" "))
    if at >= 0:
        os.write(fd, pairs.pop(0)[1].encode() + b"\n")
        pos = len(out)
    elif any(out.endswith(s) for s in skips):
        os.write(fd, b"\n")
        pos = len(out)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(99 if killed or not os.WIFEXITED(status) else os.WEXITSTATUS(status))
PY
)
    RC=$?
}
