# Assertions shared by the shell tests (source it; set WORK and ERRLOG
# before running commands). Each assertion prints "ok   NAME" or
# "FAIL NAME" with details; the script ends with
#   echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]

passed=0
failed=0

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
