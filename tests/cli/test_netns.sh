#!/usr/bin/env bash
# A real network path (issue 7): the server in one network namespace, the
# laptops in another, joined by a veth pair on a private /30 that exists
# only between the two namespaces this test makes. The link gets netem
# latency, jitter and loss where the kernel has sch_netem; where it does
# not, the test says so and shapes the link with tbf (a 512 kbit/s line
# with a deep queue) instead. A rep's daemon syncs 300 visits over it while
# the link goes down for 4 s in the middle; every visit reaches the manager
# once, with no command typed. Needs root (ip netns); elsewhere it says so
# and exits 77 (ctest shows the test as skipped).
#
#   bash tests/cli/test_netns.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
FS=${1:?usage: test_netns.sh fieldsync fieldsync-server}
FSS=${2:?usage: test_netns.sh fieldsync fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-netns-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
HZ=$WORK/zhang
HL=$WORK/li
NS_SRV=fs-srv-$$
NS_DEV=fs-dev-$$
SRV_IP=10.231.$(($$ % 250)).1
DEV_IP=10.231.$(($$ % 250)).2
SRV_PID=
DAEMON_PID=
cleanup() {
    stop_daemon_now
    stop_server_now
    "$FS" --home "$HZ" lock >/dev/null 2>&1
    ip netns del "$NS_SRV" 2>/dev/null
    ip netns del "$NS_DEV" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='netns test passphrase -- 0c7d'
unset FIELDSYNC_HOME
MARK='gorsemere 网络客户'

if ! command -v ip >/dev/null || ! ip netns add "$NS_SRV" 2>"$WORK/ns.err" ||
    ! ip netns add "$NS_DEV" 2>>"$WORK/ns.err"; then
    echo "SKIP: cannot make network namespaces here ($(head -n 1 "$WORK/ns.err" 2>/dev/null)); this test needs root and iproute2"
    exit 77
fi
# nsenter execs the command itself (ip netns exec forks): $! is its PID.
in_srv() { nsenter --net="/run/netns/$NS_SRV" "$@"; }
in_dev() { nsenter --net="/run/netns/$NS_DEV" "$@"; }
ip link add fsv-s$$ type veth peer name fsv-d$$
ip link set fsv-s$$ netns "$NS_SRV"
ip link set fsv-d$$ netns "$NS_DEV"
in_srv ip addr add "$SRV_IP/30" dev fsv-s$$
in_dev ip addr add "$DEV_IP/30" dev fsv-d$$
in_srv ip link set fsv-s$$ up
in_dev ip link set fsv-d$$ up
in_srv ip link set lo up
in_dev ip link set lo up

# shape DEV QDISC...: the same discipline on both ends of the link.
shaped=
if in_srv tc qdisc add dev fsv-s$$ root netem delay 40ms 10ms loss 2% 2>"$WORK/tc.err" &&
    in_dev tc qdisc add dev fsv-d$$ root netem delay 40ms 10ms loss 2% 2>>"$WORK/tc.err"; then
    shaped="netem: 40 ms +- 10 ms each way, 2 % loss"
else
    echo "SKIP netem: $(head -n 1 "$WORK/tc.err") (no sch_netem in this kernel); shaping with tbf instead"
    in_srv tc qdisc del dev fsv-s$$ root 2>/dev/null
    if in_srv tc qdisc add dev fsv-s$$ root tbf rate 512kbit burst 8kb latency 2s 2>>"$WORK/tc.err" &&
        in_dev tc qdisc add dev fsv-d$$ root tbf rate 512kbit burst 8kb latency 2s 2>>"$WORK/tc.err"; then
        shaped="tbf: 512 kbit/s each way"
    else
        echo "SKIP tbf too: $(tail -n 1 "$WORK/tc.err"); the link runs unshaped"
        shaped="unshaped"
    fi
fi
echo "link: $shaped"

run() { runc in_dev "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
n_visits() { in_dev "$FS" --home "$1" visit list --json | grep -oF '"recorded_at":' | wc -l; }

srv init --data "$S"
srv user add --data "$S" --name li --role manager --team north
srv user add --data "$S" --name zhang --role rep --team north
allow_exports north # the test reads lists into variables (issue 20.4)
nsenter --net="/run/netns/$NS_SRV" "$FSS" serve --data "$S" --listen "$SRV_IP:0" --insecure-http >"$WORK/serve.out" 2>"$WORK/serve.err" &
SRV_PID=$!
line=$(first_line "$WORK/serve.out" "$SRV_PID")
if [[ "$line" =~ ^listening\ on\ ${SRV_IP//./\\.}:([0-9]+)$ ]]; then
    PORT=${BASH_REMATCH[1]}
    ok "serve listens on $SRV_IP:$PORT in its own namespace"
else
    fail "serve listens in its own namespace" "got: $line" "$(cat "$WORK/serve.err")"
    finish
fi
code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
run --home "$HZ" enroll --server "ws://$SRV_IP:$PORT" --code "$code"
expect "zhang enrolls across the link" 0
code=$("$FSS" enroll-code --data "$S" --user li | tail -n 1)
run --home "$HL" enroll --server "ws://$SRV_IP:$PORT" --code "$code"
expect "li enrolls across the link" 0
run --home "$HZ" unlock
C=$(in_dev "$FS" --home "$HZ" customer add --name "$MARK" --owner zhang)

# ---- 300 visits recorded while the daemon syncs, the link down in the middle ----
nsenter --net="/run/netns/$NS_DEV" "$FS" --home "$HZ" daemon --interval 1 >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
DAEMON_PID=$!
WANT=300
for i in $(seq 1 "$WANT"); do
    in_dev "$FS" --home "$HZ" visit add --customer "$C" --time "2023-10-10 14:00" --confirm --place "site $i" \
        --purpose "over the link" --notes "$MARK $i $(head -c 600 /dev/urandom | base64 -w0)" \
        >/dev/null 2>>"$ERRLOG"
    if [ "$i" = 150 ]; then
        in_dev ip link set fsv-d$$ down
        sleep 4
        in_dev ip link set fsv-d$$ up
    fi
done
equal "the rep recorded every visit" "$(n_visits "$HZ")" "$WANT"
got=
t0=$(date +%s)
for _ in $(seq 1 240); do
    in_dev "$FS" --home "$HL" sync >/dev/null 2>>"$WORK/li-sync.err"
    if [ "$(n_visits "$HL")" -eq "$WANT" ]; then got=1; break; fi
    sleep 0.5
done
if [ -n "$got" ]; then ok "every visit reached the manager by the daemon alone ($(($(date +%s) - t0)) s after the last was recorded)"
else fail "every visit reached the manager by the daemon alone" "manager has $(n_visits "$HL")" "$(tail -5 "$WORK/daemon.err")"; fi
ids=$(in_dev "$FS" --home "$HL" visit list --json | grep -oE '"id":"[0-9a-f]{32}","customer"' | sort | uniq -d | wc -l)
equal "none of them twice" "$ids" 0
run --home "$HZ" visit list --json
ZV=$OUT
run --home "$HL" visit list --json
equal "the manager's visits equal the rep's" "$OUT" "$ZV"
stop_daemon_now
stop_server

hits=$(grep -rlaF -e gorsemere -e 网络客户 "$S" "$HZ" "$HL" "$WORK/serve.log" "$WORK/daemon.out" \
    "$WORK/daemon.err" "$WORK/li-sync.err" 2>/dev/null)
equal "no marker in any file or log" "$hits" ""
finish
