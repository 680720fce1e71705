#!/usr/bin/env bash
# The Debian package on this machine (issue 22.1): the .deb scripts/package
# built is installed with apt-get (which also brings any library it lacks),
# the service is started as systemd starts it (systemctl where systemd runs
# the machine; else the unit's own ExecStart line as its user, with its
# settings file and umask), a rep's laptop and the manager's enroll against
# it with the installed client, a visit recorded in Chinese reaches the
# manager, and the package is purged again, leaving the machine as it was.
#
#   bash tests/deb/test_deb.sh path/to/fieldsync_VERSION_ARCH.deb
#
# Needs root (or sudo without a password): it installs a system package,
# adds the fieldsync system user and writes /etc/fieldsync and
# /var/lib/fieldsync. It refuses, as a failure, to run on a machine where
# fieldsync is installed or has data already. scripts/test runs it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
DEB=${1:?usage: test_deb.sh path/to/fieldsync.deb}
DEB=$(realpath "$DEB")
CLIENT=$(dirname "${BASH_SOURCE[0]}")/../cli/web_client.py
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-deb-XXXXXX")
chmod 0755 "$WORK" # the fieldsync user reads nothing here, but may cd through
ERRLOG=$WORK/all-stderr
UNIT=/lib/systemd/system/fieldsync-server.service
CONF=/etc/fieldsync/server.conf
DATA=/var/lib/fieldsync
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
SYSTEMD=0
[ -d /run/systemd/system ] && SYSTEMD=1

installed_here=0
cleanup() {
    if [ "$SYSTEMD" -eq 1 ]; then
        $sudo systemctl stop fieldsync-server 2>/dev/null
    else
        stop_server_now
    fi
    if [ "$installed_here" -eq 1 ]; then
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq fieldsync >/dev/null 2>&1
        $sudo rm -rf "$DATA" /etc/fieldsync
        $sudo userdel fieldsync 2>/dev/null
        $sudo groupdel fieldsync 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset FIELDSYNC_HOME FIELDSYNC_PASSPHRASE

if [ -n "$sudo" ] && ! sudo -n true 2>/dev/null; then
    fail "test_deb needs root or sudo without a password (it installs the package)"
    finish
fi
if dpkg-query -W -f='${Status}' fieldsync 2>/dev/null | grep -q "installed" || [ -e "$DATA" ] ||
    [ -e "$CONF" ]; then
    fail "fieldsync is installed on this machine, or $DATA or $CONF exists: test_deb would" \
        "replace a real installation; run it on a machine without one"
    finish
fi

# ---- install ----
runc $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$DEB"
expect "apt-get install the .deb" 0
installed_here=1
equal "dpkg: fieldsync is installed" "$(dpkg-query -W -f='${Status}' fieldsync 2>/dev/null)" \
    "install ok installed"
files=$(dpkg -L fieldsync)
for f in /usr/bin/fieldsync /usr/sbin/fieldsync-server "$UNIT" \
    /usr/lib/systemd/user/fieldsync-daemon.service /usr/lib/sysusers.d/fieldsync.conf \
    /usr/share/locale/zh_CN/LC_MESSAGES/fieldsync.mo /usr/share/locale/zh_TW/LC_MESSAGES/fieldsync.mo \
    /usr/share/man/man1/fieldsync.1.gz \
    /usr/share/man/zh_CN/man1/fieldsync.1.gz /usr/share/man/man8/fieldsync-server.8.gz \
    /usr/share/man/man5/fieldsync.conf.5.gz; do
    if grep -qxF "$f" <<<"$files" && [ -f "$f" ]; then ok "installed: $f"; else fail "installed: $f"; fi
done
FS=/usr/bin/fieldsync
FSS=/usr/sbin/fieldsync-server
if id fieldsync >/dev/null 2>&1; then ok "postinst made the fieldsync system user"
else fail "postinst made the fieldsync system user"; fi
equal "its shell is no login" "$(getent passwd fieldsync | cut -d: -f7)" "/usr/sbin/nologin"
runc env LANG=zh_CN.UTF-8 LC_ALL= "$FS" --help
contains "the installed client finds the installed Chinese catalog" "$OUT" "用法"
# The package's client is no test build: FIELDSYNC_TEST_KDF (tests/lib.sh
# sets it to minimum) is ignored, a new key file is Argon2id MODERATE
# (issue 20.7: opslimit 3, memlimit 256 MiB in its header).
runc "$FS" --version
if grep -qF "test build" <<<"$OUT"; then
    fail "the installed client is no test build" "$OUT"
else
    ok "the installed client is no test build"
fi
runc env FIELDSYNC_TEST_KDF=minimum FIELDSYNC_PASSPHRASE='deb key file cost -- 20e7' "$FS" \
    --home "$WORK/kdf" init
expect "init with FIELDSYNC_TEST_KDF=minimum set" 0
equal "makes a MODERATE key file all the same" \
    "$(od -An -tu8 -j16 -N16 "$WORK/kdf/replica.key" | tr -s ' ' | sed 's/^ //')" "3 268435456"

# ---- set up as the man page says: settings, then the store ----
PASS='deb test passphrase -- 7c2a'
$sudo install -d -m 0755 /etc/fieldsync
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|^FIELDSYNC_LISTEN=.*|FIELDSYNC_LISTEN=127.0.0.1:$PORT|" \
    -e "s|^FIELDSYNC_PASSPHRASE=.*|FIELDSYNC_PASSPHRASE=$PASS|" \
    /usr/share/doc/fieldsync/examples/server.conf >"$WORK/server.conf"
runc $sudo install -m 0640 -o root -g fieldsync "$WORK/server.conf" "$CONF"
expect "the settings file in place, root:fieldsync 0640" 0
# StateDirectory=fieldsync, StateDirectoryMode=0700: what systemd makes
$sudo install -d -m 0700 -o fieldsync -g fieldsync "$DATA"
as_fieldsync() { $sudo runuser -u fieldsync -- env FIELDSYNC_PASSPHRASE="$PASS" "$@"; }
runc as_fieldsync "$FSS" init --data "$DATA"
expect "init the store as the fieldsync user" 0

# ---- start it ----
if [ "$SYSTEMD" -eq 1 ]; then
    runc $sudo systemctl start fieldsync-server
    expect "systemctl start fieldsync-server" 0
else
    # as systemd would: the unit's ExecStart, its EnvironmentFile's
    # variables, its user and umask ($VAR split on spaces)
    (
        set -a
        eval "$(grep -E '^[A-Z_]+=' "$WORK/server.conf" | sed -E 's/^([A-Z_]+)=(.*)$/\1='"'"'\2'"'"'/')"
        set +a
        line=$(grep '^ExecStart=' "$UNIT" | cut -d= -f2-)
        # shellcheck disable=SC2206
        args=(${line//\$FIELDSYNC_SERVE_OPTIONS/$FIELDSYNC_SERVE_OPTIONS})
        umask "$(grep '^UMask=' "$UNIT" | cut -d= -f2)"
        # setpriv execs (runuser would stay as a parent): the PID is serve's,
        # as systemd's MainPID is
        u=$(grep '^User=' "$UNIT" | cut -d= -f2)
        exec $sudo env FIELDSYNC_PASSPHRASE="$FIELDSYNC_PASSPHRASE" \
            setpriv --reuid="$u" --regid="$u" --init-groups "${args[@]}"
    ) >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SRV_PID=$!
    ok "started the unit's ExecStart as User=fieldsync (no systemd on this machine)"
fi
up=0
for ((i = 0; i < 100; i++)); do
    all=$(python3 "$CLIENT" "$PORT" GET /healthz 2>/dev/null)
    if [ "$(head -n 1 <<<"$all")" = 200 ]; then up=1; break; fi
    sleep 0.1
done
if [ "$up" -eq 1 ]; then ok "the service answers GET /healthz on 127.0.0.1:$PORT"
else fail "the service answers GET /healthz on 127.0.0.1:$PORT" "$(cat "$WORK/serve.err" 2>/dev/null)"; finish; fi

# ---- a rep and a manager sync against it ----
runc as_fieldsync "$FSS" user add --data "$DATA" --name li --role manager --team north
expect "user add li (through the running service)" 0
runc as_fieldsync "$FSS" user add --data "$DATA" --name zhang --role rep --team north
expect "user add zhang" 0
export FIELDSYNC_PASSPHRASE='deb test laptop passphrase -- 91d0'
for who in zhang li; do
    code=$(as_fieldsync "$FSS" enroll-code --data "$DATA" --user "$who" | tail -n 1)
    runc "$FS" --home "$WORK/$who" enroll --server "ws://127.0.0.1:$PORT" --name "$who-laptop" <<<"$code"
    expect "$who's laptop enrolls with the installed client" 0
done
runc "$FS" --home "$WORK/zhang" customer add --name 杭州恒通仪器 --owner zhang
expect "zhang records a customer" 0
runc "$FS" --home "$WORK/zhang" visit add --customer 恒通 --time "$(date '+%Y-%m-%d') 10:00" \
    --place 会议室 --purpose 演示 --notes "deb安装测试 样机演示顺利"
expect "zhang records a visit, the customer named in Chinese" 0
runc "$FS" --home "$WORK/zhang" sync
expect "zhang syncs" 0
runc "$FS" --home "$WORK/li" sync
expect "li syncs" 0
runc "$FS" --home "$WORK/li" visit list --json
contains "the visit reached li's laptop through the installed service" "$OUT" "deb安装测试"
runc as_fieldsync "$FSS" status --data "$DATA"
contains "status: the service serves" "$OUT" "serving:        yes"
# nothing of the customer in what the service wrote
if $sudo grep -rqF "deb安装测试" "$DATA" 2>/dev/null; then
    fail "no customer text in $DATA"
else ok "no customer text in $DATA"; fi

# ---- stop ----
if [ "$SYSTEMD" -eq 1 ]; then
    runc $sudo systemctl stop fieldsync-server
    expect "systemctl stop fieldsync-server" 0
else
    kill -TERM "$SRV_PID"
    wait "$SRV_PID"
    equal "serve exits 0 on SIGTERM, as systemd stops it" "$?" 0
    SRV_PID=
fi
runc $sudo env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq fieldsync
expect "apt-get purge fieldsync" 0
if [ ! -e /usr/bin/fieldsync ] && [ ! -e "$UNIT" ]; then ok "purged: the files are gone"
else fail "purged: the files are gone"; fi
finish
