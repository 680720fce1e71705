#!/usr/bin/env bash
# A hostile client (issue 7): rep zhang's enrolled device, driven by
# tests/hostile.c instead of fieldsync, signs in to a running serve on
# 127.0.0.1 and tries to read and write other scopes (rep wang's and
# another team's customers), hand customers on, forge writers and device
# keys, send clocks a month ahead, oversized and malformed batches, frames
# replayed from this and an earlier session, and a flood. Meanwhile wang's
# daemon keeps syncing his new visits and the manager li keeps receiving
# them. Afterwards: every attempt refused or closed with its reason, nothing
# out of scope came back, each kind of attempt is in the audit log and the
# chain verifies, the server ran throughout, no customer text in any file
# or log. Quick mode: every attack again and again for 6 s; FS_LONG=1: for
# 120 s, floods of 20,000 frames.
#
#   bash tests/cli/test_hostile.sh path/to/fieldsync path/to/fieldsync-server path/to/hostile
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
FS=${1:?usage: test_hostile.sh fieldsync fieldsync-server hostile}
FSS=${2:?usage: test_hostile.sh fieldsync fieldsync-server hostile}
HOSTILE=${3:?usage: test_hostile.sh fieldsync fieldsync-server hostile}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-hostile-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
HOSTILE_PID=
cleanup() {
    [ -n "$HOSTILE_PID" ] && kill "$HOSTILE_PID" 2>/dev/null && wait "$HOSTILE_PID" 2>/dev/null
    stop_daemon_now
    stop_server_now
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='hostile test passphrase -- 9c04'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE
SECONDS_=6 FLOOD=3000
[ "${FS_LONG:-0}" = 1 ] && SECONDS_=120 FLOOD=20000
MARK_W='brackenvale 王氏客户'
MARK_C='oxtermoor 南区客户'

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { "$FS" --home "$WORK/$1" visit list --json 2>>"$ERRLOG" | grep -oF '"recorded_at":' | wc -l; }

srv init --data "$S"
add_users "li manager north" "zhang rep north" "wang rep north" "chen manager south"
allow_exports north south # the test reads lists into variables (issue 20.4)
start_server 0
for u in li zhang wang chen; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PORT"
done

# ---- data on several devices: zhang's own, wang's and chen's (out of zhang's scope) ----
run --home "$WORK/zhang" customer add --name "zhang's own customer"
expect "zhang records a customer" 0
OWN=$OUT
run --home "$WORK/zhang" visit add --customer "$OWN" --time "2026-03-02 10:00" --confirm --place office \
    --purpose intro --notes "first call"
expect "zhang records a visit" 0
FOREIGN=()
for i in 1 2; do
    run --home "$WORK/wang" customer add --name "$MARK_W $i" --key-account
    expect "wang records customer $i" 0
    FOREIGN+=(--foreign "$OUT")
    run --home "$WORK/wang" visit add --customer "$OUT" --time "2026-03-0$i 11:00" --confirm \
        --place "$MARK_W site" --purpose "visit $i" --notes "$MARK_W notes $i"
    expect "wang records a visit to customer $i" 0
done
run --home "$WORK/chen" customer add --name "$MARK_C"
expect "chen (another team's manager) records a customer" 0
FOREIGN+=(--foreign "$OUT")
for u in zhang wang chen li; do
    run --home "$WORK/$u" sync
    expect "$u syncs" 0
done
# The control below needs a write to zhang's own row from another device
# (the server does not send a device its own writes back): li's note.
run --home "$WORK/li" customer edit --customer "$OWN" --industry "manager's note"
expect "li edits zhang's customer" 0
run --home "$WORK/li" sync
expect "li syncs the edit" 0
before=$(n_visits li)
equal "li holds zhang's and wang's visits" "$before" 3

# ---- the attack, while wang's daemon syncs and li keeps pulling ----
"$FS" --home "$WORK/wang" daemon --interval 1 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
"$HOSTILE" --home "$WORK/zhang" --user zhang --own "$OWN" --give-to wang "${FOREIGN[@]}" \
    --marker brackenvale --marker 王氏客户 --marker oxtermoor --marker 南区客户 \
    --seconds "$SECONDS_" --flood "$FLOOD" >"$WORK/hostile.out" 2>"$WORK/hostile.err" &
HOSTILE_PID=$!
added=0 during=0 seen=$before
while kill -0 "$HOSTILE_PID" 2>/dev/null || [ "$added" -lt 2 ]; do
    added=$((added + 1))
    "$FS" --home "$WORK/wang" visit add --customer "${FOREIGN[1]}" --time "2026-03-05 09:00" --confirm \
        --place p --purpose "honest $added" --notes "during the attack" >/dev/null 2>>"$ERRLOG"
    "$FS" --home "$WORK/li" sync >/dev/null 2>>"$ERRLOG"
    now=$(n_visits li)
    if [ "$now" -gt "$seen" ] && kill -0 "$HOSTILE_PID" 2>/dev/null; then during=$((during + 1)); fi
    seen=$now
    [ "$added" -ge 400 ] && break
    sleep 0.3
done
wait "$HOSTILE_PID"
RC=$?
HOSTILE_PID=
cat "$WORK/hostile.out"
ERR=$(<"$WORK/hostile.err")
cat "$WORK/hostile.err" >>"$ERRLOG"
expect "every attempt refused or closed with its reason, nothing out of scope came back" 0
if [ "$during" -ge 1 ]; then ok "wang's visits reached li while the attack went on ($during times)"
else fail "wang's visits reached li while the attack went on" "added $added, li holds $seen"; fi
kill -0 "$SRV_PID" 2>/dev/null
equal "serve still runs" "$?" 0

# After the attack: the last visits too, by the daemon alone.
want=$((before + added))
got=
for _ in $(seq 1 60); do
    "$FS" --home "$WORK/li" sync >/dev/null 2>>"$ERRLOG"
    [ "$(n_visits li)" -eq "$want" ] && got=1 && break
    sleep 0.25
done
equal "every visit wang recorded reached li" "$(n_visits li)" "$want"
equal "zhang's device holds none of them" "$(n_visits zhang)" 1

# ---- the audit log, through the running serve ----
srv audit verify --data "$S"
expect "audit verify while serving" 0
contains "the chain verifies" "$OUT" "chain intact"
srv audit show --data "$S"
expect "audit show while serving" 0
AUDIT=$OUT
audited() { # NAME KIND DETAIL: an entry of KIND whose detail holds DETAIL
    if grep -E "  $2 " <<<"$AUDIT" | grep -qF -- "$3"; then ok "audited: $1"
    else fail "audited: $1" "no $2 entry with: $3"; fi
}
audited "writes outside the scope" refused_write "reason11="
audited "a forged writer" refused_write "reason12="
audited "a clock far ahead (accepted with the server's clock)" restamped_write "restamped=1 "
audited "an unknown device key" auth_failed "reason=5 "
audited "a forged signature" auth_failed "reason=4 "
audited "an earlier session's AUTH replayed" auth_failed "reason=7 "
audited "oversized batches" session_refused "reason=8 "
audited "a frame over 16 MiB" session_refused "a frame over "
audited "malformed messages" session_refused "reason=1 "
audited "an unknown message type" session_refused "reason=2 "
audited "messages out of turn" session_refused "reason=9 "
audited "replayed frames" session_refused "reason=7 "
audited "the flood" session_refused "reason=17 "
bad=$(awk '($4 == "refused_write" || $4 == "session_refused") && $5 != "zhang"' <<<"$AUDIT")
equal "every refusal after a handshake is zhang's, none the honest devices'" "$bad" ""

stop_daemon_now
stop_server
equal "no sanitizer report in serve's logs" "$(grep -c 'runtime error\|Sanitizer' "$WORK/serve.log")" 0
srv audit verify --data "$S"
expect "audit verify after stopping" 0
hits=$(grep -rlaF -e brackenvale -e 王氏客户 -e oxtermoor -e 南区客户 "$WORK" 2>/dev/null)
equal "no customer text in any file or log" "$hits" ""
finish
