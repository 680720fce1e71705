#!/usr/bin/env bash
# Issue 23 (and issue 25 point 5): a laptop's wrong clock never strands a
# record or splits the truth. Real processes on 127.0.0.1: a server, rep
# zhang, manager li, and li's second laptop "li2" (a fresh replica that holds
# what the server sends: the server's view). zhang's clock is moved with a
# time-shift shim the test builds (tests/timeshift.c, LD_PRELOAD, shifting
# only the wall clock of the zhang process, by FS_TIMESHIFT seconds).
#  1. zhang's clock a day ahead: his edit of a customer's industry is
#     accepted (not refused "clock too far ahead");
#  2. li (right clock, later) changes the same field; after both sync,
#     zhang, li and the server's view hold li's value;
#  3. zhang's clock back to the right time: his new visit and edit are
#     accepted and reach li; status names the offset while it is off;
#  5. wang set up his laptop with its clock a day ahead and recorded before
#     his first sync: the server accepts his writes with its own clock
#     (restamped, told in the ACK, audited), li's later edit wins on every
#     replica, and wang's next edits are accepted;
#  4. (issue 25.5) zhang's clock 10 minutes behind: he receives li's
#     changes (no "stamped ... ahead of this machine's clock").
#
#   bash tests/cli/test_clock.sh path/to/fieldsync path/to/fieldsync-server
# (FS_SHOW=1 prints what each output showed, for a report.)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_clock.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_clock.sh path/to/fieldsync path/to/fieldsync-server}
SHIM_SRC=$(dirname "${BASH_SOURCE[0]}")/../timeshift.c
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-clock-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; for u in zhang li li2 wang; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='clock test passphrase -- 7e2a'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE FS_TIMESHIFT
# an ASan build's runtime need not come first for the shim's sake
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

DAY=86400
SHIM=$WORK/timeshift.so # put before any LD_PRELOAD given (faketime -f +60d runs the test)
${CC:-cc} -shared -fPIC -O1 -o "$SHIM" "$SHIM_SRC" -ldl 2>"$WORK/cc.err"
if [ $? -ne 0 ]; then
    fail "the time-shift shim builds" "$(cat "$WORK/cc.err")"
    finish
fi
# the shim moves the clock as asked (date runs under it)
got=$(LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT=$DAY date -u +%s)
now=$(date -u +%s)
if [ $((got - now)) -ge $((DAY - 60)) ] && [ $((got - now)) -le $((DAY + 60)) ]; then
    ok "the shim moves the wall clock a day ahead"
else
    fail "the shim moves the wall clock a day ahead" "shifted $got, now $now"
fi

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
# z SHIFT ARGS...: zhang's fieldsync with his clock SHIFT seconds off
z() {
    local shift=$1
    shift
    runc env LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT="$shift" "$FS" --home "$WORK/zhang" "$@"
}
li() { run --home "$WORK/li" "$@"; }
li2() { run --home "$WORK/li2" "$@"; }
show() { # TITLE TEXT: printed with FS_SHOW=1
    [ -n "${FS_SHOW-}" ] && printf -- '--- %s\n%s\n' "$1" "$2"
    return 0
}
# field HOME-FN ID FIELD: the customer's field as the replica holds it
field() {
    local fn=$1 id=$2 name=$3 list
    if [ "$fn" = z ]; then z 0 customer list --json; else "$fn" customer list --json; fi
    list=$OUT
    python3 - "$list" "$id" "$name" <<'PY'
import json, sys
rows = [c for c in json.loads(sys.argv[1]) if c.get("id") == sys.argv[2]]
print(rows[0].get(sys.argv[3]) if rows else "(missing)")
PY
}
json_field() { # JSON KEY
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2"
}

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north" "wang rep north"
allow_exports north # the test reads lists into variables (issue 20.4)
start_server 0
enroll_device zhang "$WORK/zhang" "ws://127.0.0.1:$PORT" --name zhang-laptop
enroll_device li "$WORK/li" "ws://127.0.0.1:$PORT" --name li-laptop
enroll_device li "$WORK/li2" "ws://127.0.0.1:$PORT" --name li-second-laptop
for u in zhang li li2; do
    run --home "$WORK/$u" whoami --set "$u"
done

z 0 status
contains "enrolled (READY gave the server's time), a right clock agrees" "$OUT" \
    "clock:           agrees with the server's"
z 0 customer add --name "Brackenlow 华南物流" --industry logistics
expect "zhang records a customer" 0
CID=$OUT
z 0 sync
expect "zhang syncs" 0
li sync
expect "li syncs" 0

# ---- 1. a day ahead: accepted, not refused ----
z $DAY customer edit --customer "$CID" --industry from-future-rep
expect "zhang (a day ahead) edits the industry" 0
z $DAY sync
expect "zhang (a day ahead) syncs" 0
show "zhang a day ahead: sync" "$ERR$OUT"
z $DAY status --json
equal "nothing of zhang's was refused" "$(json_field "$OUT" refused_count)" 0
equal "nothing of zhang's is pending" "$(json_field "$OUT" pending)" 0
off=$(json_field "$OUT" clock_offset_ms)
if [ "$off" != null ] && [ "$off" -le $((-(DAY - 120) * 1000)) ] &&
    [ "$off" -ge $((-(DAY + 120) * 1000)) ]; then
    ok "status --json: clock_offset_ms is minus a day ($off)"
else
    fail "status --json: clock_offset_ms is minus a day" "got $off"
fi
z $DAY status
contains "status names the offset" "$OUT" "this laptop's clock is 1 day ahead of the server's"
z $DAY today
contains "today says it too, before the list" "$OUT" "clock: this laptop's clock is 1 day ahead of the server's"
# and the manager sees it: the server keeps the laptop's own clock as its
# PULL said it (device list --json; the dashboard's devices table)
off=$("$FSS" device list --data "$S" --json | python3 -c '
import json, sys
ds = [d for d in json.load(sys.stdin) if d["user"] == "zhang"]
print(ds[0]["clock_offset_ms"] if ds else "none")')
if [ "$off" != None ] && [ "$off" != none ] && [ "$off" -ge $(((DAY - 120) * 1000)) ] &&
    [ "$off" -le $(((DAY + 120) * 1000)) ]; then
    ok "the server knows zhang's laptop is a day ahead (device list: $off ms)"
else
    fail "the server knows zhang's laptop is a day ahead" "device list clock_offset_ms: $off"
fi
show "zhang a day ahead: status" "$OUT"
li sync
expect "li syncs" 0
equal "li has zhang's edit" "$(field li "$CID" industry)" from-future-rep

# ---- 2. li's later edit wins everywhere ----
li customer edit --customer "$CID" --industry manager-fix
expect "li edits the industry" 0
li sync
expect "li syncs his edit" 0
z $DAY sync
expect "zhang (still a day ahead) syncs" 0
li2 sync
expect "the server's view syncs" 0
equal "zhang holds li's value" "$(field z "$CID" industry)" manager-fix
equal "li holds li's value" "$(field li "$CID" industry)" manager-fix
equal "the server holds li's value" "$(field li2 "$CID" industry)" manager-fix

# ---- 3. the clock back to normal: the next visit is accepted ----
z 0 status
contains "the clock back to normal: status says it agrees" "$OUT" "agrees with the server's"
z 0 today
equal "and today no longer mentions the clock" "$(grep -c '^clock:' <<<"$OUT")" 0
z 0 visit add --customer "$CID" --time "$(rel_day yesterday) 10:00" --place site --purpose follow-up \
    --notes "after the clock was fixed"
expect "zhang (right clock) records a visit" 0
z 0 customer edit --customer "$CID" --industry after-fix
expect "zhang (right clock) edits the industry" 0
z 0 sync
expect "zhang (right clock) syncs" 0
z 0 status --json
equal "nothing refused after the clock came back" "$(json_field "$OUT" refused_count)" 0
equal "nothing pending after the clock came back" "$(json_field "$OUT" pending)" 0
li sync
expect "li syncs" 0
li2 sync
expect "the server's view syncs" 0
converged "$WORK/zhang" "$WORK/li" 1
equal "li has zhang's new edit" "$(field li "$CID" industry)" after-fix
equal "the server has zhang's new edit" "$(field li2 "$CID" industry)" after-fix
z 0 customer list --json
ZC=$OUT
li customer list --json
equal "zhang's and li's customers are equal" "$OUT" "$ZC"

# ---- 5. a laptop set up with its clock a day ahead, records made before
# it ever met the server: the server gives them its clock (restamped) ----
w() {
    local shift=$1
    shift
    runc env LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" FS_TIMESHIFT="$shift" "$FS" --home "$WORK/wang" "$@"
}
w $DAY init
expect "wang (a day ahead) creates his replica" 0
w $DAY whoami --set wang
w $DAY customer add --name "Wang's customer" --industry ahead-1
expect "wang (a day ahead, never synced) records a customer" 0
WID=$OUT
w $DAY customer edit --customer "$WID" --industry ahead-2
expect "wang edits it" 0
code=$("$FSS" enroll-code --data "$S" --user wang | tail -n 1)
w $DAY enroll --server "ws://127.0.0.1:$PORT" --code "$code" --name wang-laptop
expect "wang (a day ahead) enrolls" 0
w $DAY sync
expect "wang (a day ahead) syncs his records" 0
w $DAY status --json
equal "nothing of wang's was refused" "$(json_field "$OUT" refused_count)" 0
equal "nothing of wang's is pending" "$(json_field "$OUT" pending)" 0
li sync
expect "li syncs" 0
equal "li has wang's customer as wang last wrote it" "$(field li "$WID" industry)" ahead-2
li customer edit --customer "$WID" --industry li-fixed
expect "li (later, right clock) edits wang's customer" 0
li sync
expect "li syncs" 0
w $DAY sync
expect "wang (a day ahead) syncs again" 0
w 0 customer list --json
WL=$(python3 -c 'import json,sys; print([c["industry"] for c in json.loads(sys.argv[1]) if c["id"]==sys.argv[2]][0])' "$OUT" "$WID")
equal "wang's laptop takes li's later edit (his versions carry the server's clock)" "$WL" li-fixed
li2 sync
equal "the server holds li's edit" "$(field li2 "$WID" industry)" li-fixed
w $DAY customer edit --customer "$WID" --industry wang-after
expect "wang (still a day ahead, now corrected) edits again" 0
w $DAY sync
expect "wang syncs" 0
li sync
equal "li has wang's newest edit" "$(field li "$WID" industry)" wang-after
w 0 conflict list --json
WC=$OUT
show "wang's conflicts" "$WC"
srv audit show --data "$S"
contains "the audit names the restamped writes" "$OUT" "restamped_write"
show "audit" "$(grep restamped <<<"$OUT")"

# ---- 4. (issue 25.5) ten minutes behind: zhang still receives ----
li customer edit --customer "$CID" --industry from-li-again
expect "li edits once more" 0
li visit add --customer "$CID" --time "$(rel_day yesterday) 15:00" --place phone --purpose follow-up \
    --notes "li's call"
expect "li records a visit" 0
li sync
expect "li syncs" 0
z -600 sync
expect "zhang (10 minutes behind) syncs" 0
show "zhang 10 minutes behind: sync" "$ERR$OUT"
equal "zhang (10 minutes behind) has li's edit" "$(field z "$CID" industry)" from-li-again
converged "$WORK/li" "$WORK/zhang" 2
z -600 status
contains "status names the 10 minutes" "$OUT" "this laptop's clock is 10 min behind the server's"

grep -F "Brackenlow" "$WORK/serve.err" "$WORK/serve.out" >/dev/null 2>&1 &&
    fail "no customer text in the server's logs" || ok "no customer text in the server's logs"
stop_server_now
finish
