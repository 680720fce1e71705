#!/usr/bin/env bash
# Issue 20.8: scripts/stress (and scripts/test --stress, which shares
# scripts/lib.sh's fs_stress_start/stop) runs tests with two CPU-bound
# processes beside them and stops exactly those by PID at the end: the
# command sees them busy (FS_STRESS_PIDS), its exit status passes through,
# and afterwards, or when the harness is interrupted, none is left.
#
#   bash tests/cli/test_stress.sh path/to/scripts
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
SCRIPTS=${1:?usage: test_stress.sh path/to/scripts}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-stress-XXXXXX")
ERRLOG=$WORK/all-stderr
trap 'rm -rf "$WORK"' EXIT

# The command: prints the PIDs, checks each burns CPU for a second, exits 3.
runc "$SCRIPTS/stress" bash -c '
    echo "pids $FS_STRESS_PIDS"
    declare -A t0
    for p in $FS_STRESS_PIDS; do t0[$p]=$(awk "{ print \$14 + \$15 }" /proc/$p/stat); done
    sleep 1.5
    for p in $FS_STRESS_PIDS; do
        echo "busy $p $(( $(awk "{ print \$14 + \$15 }" /proc/$p/stat) - t0[$p] ))"
    done
    exit 3'
equal "the command's exit status passes through" "$RC" 3
read -r -a PIDS <<<"$(grep '^pids ' <<<"$OUT" | cut -d' ' -f2-)"
equal "two processes beside the command" "${#PIDS[@]}" 2
TPS=$(getconf CLK_TCK)
busy=0
while read -r _ pid ticks; do
    # running, not sleeping: 1/20 of a CPU over 1.5 s holds on a loaded machine
    [ "$ticks" -ge $((TPS * 3 / 40)) ] && busy=$((busy + 1))
done < <(grep '^busy ' <<<"$OUT")
[ "$busy" -eq 2 ] || echo "$OUT"
equal "both burn CPU while the command runs" "$busy" 2
left=0
for p in "${PIDS[@]}"; do [ -e "/proc/$p" ] && left=$((left + 1)); done
equal "both are gone afterwards" "$left" 0
contains "the harness names what it stopped" "$OUT" "stopped PIDs ${PIDS[*]}"

# Interrupted: the command and the two are stopped at once.
"$SCRIPTS/stress" sleep 30 >"$WORK/int.out" 2>&1 &
H=$!
T0=$SECONDS
for ((i = 0; i < 100; i++)); do
    grep -q 'CPU-bound processes' "$WORK/int.out" && break
    sleep 0.1
done
read -r -a PIDS2 <<<"$(grep -oE 'PIDs [0-9 ]+' "$WORK/int.out" | head -n 1 | cut -d' ' -f2-)"
equal "interrupted: two had started" "${#PIDS2[@]}" 2
CHILD=$(pgrep -P "$H" -x sleep | head -n 1)
kill -TERM "$H"
wait "$H" 2>/dev/null
equal "interrupted: the harness says so (130)" "$?" 130
if [ $((SECONDS - T0)) -lt 20 ]; then ok "at once, not after the command's 30 s"
else fail "at once, not after the command's 30 s" "took $((SECONDS - T0)) s"; fi
left=0
for p in "${PIDS2[@]}" $CHILD; do [ -e "/proc/$p" ] && left=$((left + 1)); done
equal "interrupted: the two and the command are gone" "$left" 0
[ -n "$CHILD" ] && ok "the command was running ($CHILD)" || fail "the command was running"

runc "$SCRIPTS/stress"
expect "no command: usage, exit 2" 2 "usage: scripts/stress"
finish
