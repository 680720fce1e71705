#!/usr/bin/env bash
# Full disks (issue 7): the rep's laptop, the manager's laptop and the
# server each keep their data on a small tmpfs of their own, filled up with
# a filler file until a write fails, then given their space back.
#   - client: recording fails with "disk full", every visit recorded before
#     is still there, and recording works again once space returns;
#   - client pulling: a sync into a full disk fails clearly, the replica is
#     unchanged, and the next sync after space returns brings everything;
#   - server: a push to a server with a full disk is refused with a clear
#     error, serve keeps running, the rep's visits stay pending on the
#     laptop, and they all arrive, once each, when the server has space.
# Needs root (mount -t tmpfs); elsewhere it says so and exits 77 (ctest
# shows the test as skipped).
#
#   bash tests/cli/test_fulldisk.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
FS=${1:?usage: test_fulldisk.sh fieldsync fieldsync-server}
FSS=${2:?usage: test_fulldisk.sh fieldsync fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-fulldisk-XXXXXX")
ERRLOG=$WORK/all-stderr
CDISK=$WORK/laptop
SDISK=$WORK/serverdisk
S=$SDISK/server
HZ=$CDISK/zhang
HL=$CDISK/li
cleanup() {
    stop_server_now
    umount "$CDISK" 2>/dev/null
    umount "$SDISK" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='fulldisk test passphrase -- 83c1'
unset FIELDSYNC_HOME
MARK='spindrel 满盘客户'

mkdir -p "$CDISK" "$SDISK"
if ! mount -t tmpfs -o size=24m,mode=0700 tmpfs "$CDISK" 2>"$WORK/mount.err" ||
    ! mount -t tmpfs -o size=24m,mode=0700 tmpfs "$SDISK" 2>>"$WORK/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here ($(head -n 1 "$WORK/mount.err")); the full-disk test needs root"
    exit 77
fi

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { "$FS" --home "$1" visit list --json | grep -oF '"recorded_at":' | wc -l; }
pending() { "$FS" --home "$1" status --json | grep -oE '"pending":[0-9]+' | cut -d: -f2; }

# fill DISK KB: a filler file takes all of DISK's space but KB kilobytes.
fill() {
    local avail
    rm -f "$1/filler"
    avail=$(df --output=avail -k "$1" | tail -n 1)
    if [ "$avail" -gt "$2" ]; then
        dd if=/dev/zero of="$1/filler" bs=1k count=$((avail - $2)) status=none 2>/dev/null
    fi
}
free_space() { rm -f "$1/filler"; }

# visit_add HOME N: a visit with 3 KB of notes (random, so nothing compresses).
visit_add() {
    "$FS" --home "$1" visit add --customer "$C" --time "2023-10-10 14:00" --confirm --place "site" \
        --purpose "full disk $2" --notes "$MARK $2 $(head -c 2200 /dev/urandom | base64 -w0)"
}

srv init --data "$S"
add_users "li manager north" "zhang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
enroll_device zhang "$HZ" "ws://127.0.0.1:$PORT"
enroll_device li "$HL" "ws://127.0.0.1:$PORT"
run --home "$HZ" unlock
run --home "$HL" unlock
C=$("$FS" --home "$HZ" customer add --name "$MARK" --owner zhang)

# ---- the rep's laptop fills up while recording ----
fill "$CDISK" 300
made=0
for i in $(seq 1 400); do
    runc visit_add "$HZ" "$i"
    [ "$RC" -ne 0 ] && break
    made=$((made + 1))
done
if [ "$RC" -ne 0 ] && grep -qF "disk full" <<<"$ERR"; then ok "recording on a full disk fails with 'disk full' (after $made visits)"
else fail "recording on a full disk fails with 'disk full'" "rc $RC after $made visits" "stderr: $ERR"; fi
if [ "$made" -gt 0 ]; then ok "visits were recorded before the disk filled ($made)"
else fail "visits were recorded before the disk filled" "none"; fi
# An export on a full disk cannot be recorded, so it is refused (issue
# 20.4: none goes unaudited); the list still reads on a terminal.
runc "$FS" --home "$HZ" visit list --json
expect "an export on a full disk is refused: it could not be recorded" 1 "disk full"
pty_run "(no prompt)" "" "$FS" --home "$HZ" visit list --json
equal "every visit recorded before is still there" "$(grep -oF '"recorded_at":' <<<"$TTY" | wc -l)" "$made"
run --home "$HZ" status
expect "status works on a full disk" 0
free_space "$CDISK"
runc visit_add "$HZ" after
expect "recording works again once space returns" 0
made=$((made + 1))
equal "the rep holds every visit" "$(n_visits "$HZ")" "$made"
run --home "$HZ" sync
expect "zhang syncs" 0

# ---- the manager's laptop is full when the visits come in ----
fill "$CDISK" 150
run --home "$HL" sync
if [ "$RC" -ne 0 ] && grep -qF "disk full" <<<"$ERR"; then ok "a sync into a full disk fails with 'disk full'"
else fail "a sync into a full disk fails with 'disk full'" "rc $RC" "stderr: $ERR"; fi
got=$(n_visits "$HL")
if [ "$got" -lt "$made" ]; then ok "the manager's replica still opens ($got of $made visits so far)"
else fail "the sync really was cut short by the full disk" "got all $got"; fi
free_space "$CDISK"
run --home "$HL" sync
expect "the manager syncs once space returns" 0
equal "the manager holds every visit" "$(n_visits "$HL")" "$made"

# ---- the server's disk fills up ----
fill "$SDISK" 200
for i in $(seq 1 60); do runc visit_add "$HZ" "server $i"; done
made=$((made + 60))
run --home "$HZ" sync
if [ "$RC" -ne 0 ]; then ok "a push to a server with a full disk is refused"
else fail "a push to a server with a full disk is refused" "sync exit 0"; fi
contains "the rep is told why" "$ERR" "disk"
if kill -0 "$SRV_PID" 2>/dev/null; then ok "serve keeps running with a full disk"
else fail "serve keeps running with a full disk" "$(tail -5 "$WORK/serve.err")"; fi
contains "serve's log says the disk is full" "$(cat "$WORK/serve.err")" "disk full"
p=$(pending "$HZ")
if [ "${p:-0}" -gt 0 ]; then ok "the visits stay pending on the rep's laptop ($p changes)"
else fail "the visits stay pending on the rep's laptop" "pending: ${p:-?}"; fi
free_space "$SDISK"
run --home "$HZ" sync
expect "the rep's sync goes through once the server has space" 0
equal "nothing pending on the rep's laptop" "$(pending "$HZ")" 0
run --home "$HL" sync
expect "li syncs" 0
converged "$HZ" "$HL" "$made"
stop_server
srv audit verify --data "$S"
expect "the server's audit chain verifies" 0
"$FS" --home "$HZ" lock >/dev/null 2>&1
"$FS" --home "$HL" lock >/dev/null 2>&1

# ---- nothing readable anywhere ----
leaks=$(grep -rlaF "spindrel" "$WORK" 2>/dev/null | grep -v "/all-stderr$" || true)
equal "no marker in any file or log" "$leaks" ""
if grep -qF "spindrel" "$ERRLOG"; then fail "no marker in any error message" "$(grep -F spindrel "$ERRLOG" | head -3)"
else ok "no marker in any error message"; fi
finish
