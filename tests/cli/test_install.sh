#!/usr/bin/env bash
# 'cmake --install' into a DESTDIR (issue 22.1-2): the executables, the
# Chinese catalog where the installed client finds it, the man pages, the
# systemd units (their paths, their sandbox, systemd-analyze verify and
# security where systemd-analyze exists), the sysusers entry and the example
# settings; then the server unit's ExecStart command line, with the example
# settings, run as systemd would run it, answering GET /healthz.
#
#   bash tests/cli/test_install.sh BUILD-DIR PREFIX BINDIR SBINDIR LOCALEDIR MANDIR
#        DOCDIR SYSCONFDIR SYSTEM-UNITDIR USER-UNITDIR SYSUSERSDIR   (full paths)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
BUILD=${1:?usage: see the top of test_install.sh}
PREFIX=$2 BINDIR=$3 SBINDIR=$4 LOCALEDIR=$5 MANDIR=$6 DOCDIR=$7 SYSCONFDIR=$8
SYSUNITS=$9 USERUNITS=${10} SYSUSERS=${11}
CLIENT=$(dirname "${BASH_SOURCE[0]}")/web_client.py
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-install-XXXXXX")
ERRLOG=$WORK/all-stderr
R=$WORK/root
trap 'stop_server_now; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
unset FIELDSYNC_HOME FIELDSYNC_PASSPHRASE

# ---- the tree ----
runc env DESTDIR="$R" cmake --install "$BUILD"
expect "cmake --install into a DESTDIR" 0
FS=$R$BINDIR/fieldsync
FSS=$R$SBINDIR/fieldsync-server
SERVER_UNIT=$R$SYSUNITS/fieldsync-server.service
DAEMON_UNIT=$R$USERUNITS/fieldsync-daemon.service
for f in "$FS" "$FSS"; do
    if [ -x "$f" ]; then ok "executable: ${f#"$R"}"; else fail "executable: ${f#"$R"}"; fi
done
for f in "$LOCALEDIR/zh_CN/LC_MESSAGES/fieldsync.mo" "$MANDIR/man1/fieldsync.1.gz" \
    "$MANDIR/man8/fieldsync-server.8.gz" "$MANDIR/zh_CN/man1/fieldsync.1.gz" \
    "$MANDIR/man5/fieldsync.conf.5.gz" "$MANDIR/zh_CN/man8/fieldsync-server.8.gz" "$SYSUNITS/fieldsync-server.service" \
    "$USERUNITS/fieldsync-daemon.service" "$SYSUSERS/fieldsync.conf" \
    "$DOCDIR/examples/server.conf"; do
    if [ -f "$R$f" ]; then ok "installed: $f"; else fail "installed: $f"; fi
done
# Nothing outside the prefix but what Debian wants in /lib.
stray=$(cd "$R" && find . -type f | sed 's|^\.||' | grep -v "^$PREFIX/" | grep -v '^/lib/systemd/')
equal "no file outside $PREFIX" "$stray" ""
runc "$FS" --version
expect "the installed client runs" 0
runc "$FSS" --version
expect "the installed server runs" 0

# The installed client finds its catalog (i18n.c: <bin>/../share/locale, then
# the configured LOCALEDIR): its Chinese help is the build's.
runc "$FS" --lang zh --help
zh_installed=$OUT
runc "$BUILD/bin/fieldsync" --lang zh --help
equal "the installed client speaks Chinese as the build's does" "$zh_installed" "$OUT"
runc "$FS" --lang en --help
if [ "$zh_installed" != "$OUT" ]; then ok "and its Chinese is not English"; else
    fail "the installed client's --lang zh help is English: no catalog found"; fi

# ---- man pages ----
for page in "$MANDIR/man1/fieldsync.1.gz" "$MANDIR/man8/fieldsync-server.8.gz" \
    "$MANDIR/zh_CN/man1/fieldsync.1.gz" "$MANDIR/man5/fieldsync.conf.5.gz" \
    "$MANDIR/zh_CN/man8/fieldsync-server.8.gz"; do
    if ! gzip -t "$R$page" 2>/dev/null; then
        fail "man page gzipped: $page"
    elif command -v groff >/dev/null; then
        # -Tutf8 -Kutf8: as man(1) formats it on a terminal, Chinese included.
        warn=$(gzip -dc "$R$page" | groff -man -ww -z -Tutf8 -Kutf8 2>&1)
        equal "groff has no warning for $page" "$warn" ""
    else
        fail "groff is needed to format $page (scripts/test installs groff-base)"
    fi
done

# ---- systemd units ----
unit=$(<"$SERVER_UNIT")
contains "server unit: ExecStart is the installed server, with its settings file" "$unit" \
    "ExecStart=$SBINDIR/fieldsync-server serve --data /var/lib/fieldsync --config $SYSCONFDIR/fieldsync/server.conf"
contains "server unit: systemctl reload sends SIGHUP" "$unit" 'ExecReload=/bin/kill -HUP $MAINPID'
contains "server unit: settings from SYSCONFDIR" "$unit" "EnvironmentFile=$SYSCONFDIR/fieldsync/server.conf"
for d in User=fieldsync StateDirectory=fieldsync ProtectSystem=strict PrivateTmp=yes \
    NoNewPrivileges=yes MemoryDenyWriteExecute=yes LimitCORE=0 Restart=on-failure \
    KillSignal=SIGTERM TimeoutStopSec=30 RestartPreventExitStatus=2; do
    if grep -qx -- "$d" <<<"$unit"; then ok "server unit: $d"; else fail "server unit: $d"; fi
done
if grep -qx 'CapabilityBoundingSet=' <<<"$unit" && ! grep -q '^AmbientCapabilities=.' <<<"$unit"; then
    ok "server unit: no capabilities"
else
    fail "server unit: no capabilities"
fi
contains "daemon unit: ExecStart is the installed client" "$(<"$DAEMON_UNIT")" "ExecStart=$BINDIR/fieldsync daemon"
contains "sysusers: the fieldsync system user" "$(<"$R$SYSUSERS/fieldsync.conf")" "u fieldsync - "

if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart exists: check copies that name the DESTDIR's.
    mkdir -p "$WORK/units"
    sed "s|$SBINDIR/|$R$SBINDIR/|" "$SERVER_UNIT" >"$WORK/units/fieldsync-server.service"
    sed "s|$BINDIR/|$R$BINDIR/|" "$DAEMON_UNIT" >"$WORK/units/fieldsync-daemon.service"
    runc systemd-analyze verify --man=no "$WORK/units/fieldsync-server.service"
    expect "systemd-analyze verify fieldsync-server.service" 0
    mkdir -m 0700 "$WORK/xdg"
    runc env XDG_RUNTIME_DIR="$WORK/xdg" systemd-analyze --user verify --man=no \
        "$WORK/units/fieldsync-daemon.service"
    expect "systemd-analyze --user verify fieldsync-daemon.service" 0
    runc systemd-analyze security --offline=yes "$WORK/units/fieldsync-server.service"
    score=$(grep -o 'Overall exposure level.*' <<<"$OUT")
    echo "     systemd-analyze security: $score"
    # --threshold counts tenths: 20 is an exposure of 2.0 ("OK" is below 4);
    # the unit reaches 1.2 (a listening socket on the host's network is what
    # it is for).
    runc systemd-analyze security --offline=yes --threshold=20 "$WORK/units/fieldsync-server.service"
    expect "systemd-analyze security: exposure at most 2.0 ($score)" 0
else
    fail "systemd-analyze is needed to verify the units (scripts/test installs systemd)"
fi

# ---- the unit's command line, as systemd runs it ----
# The example settings, with a free loopback port and a test passphrase;
# ${VAR} is one argument, $VAR is split on spaces (systemd.service(5)).
export FIELDSYNC_PASSPHRASE='install test passphrase -- 5e1f'
S=$WORK/data
runc "$FSS" init --data "$S"
expect "init a store with the installed server" 0
# The example settings file as /etc/fieldsync/server.conf: root's, group
# readable only, as the example says.
sed -e 's|^FIELDSYNC_LISTEN=.*|FIELDSYNC_LISTEN=127.0.0.1:0|' \
    -e "s|^FIELDSYNC_PASSPHRASE=.*|FIELDSYNC_PASSPHRASE=$FIELDSYNC_PASSPHRASE|" \
    "$R$DOCDIR/examples/server.conf" >"$WORK/server.conf"
chmod 0640 "$WORK/server.conf"
conf=$(<"$WORK/server.conf")
(
    set -a
    eval "$(grep -E '^[A-Z_]+=' <<<"$conf" | sed -E 's/^([A-Z_]+)=(.*)$/\1='"'"'\2'"'"'/')"
    set +a
    line=$(grep '^ExecStart=' "$SERVER_UNIT" | cut -d= -f2-)
    line=${line//\/var\/lib\/fieldsync/$S}
    line=${line//$SYSCONFDIR\/fieldsync\/server.conf/$WORK/server.conf}
    # shellcheck disable=SC2206 # split as systemd splits $VAR
    args=(${line//\$FIELDSYNC_SERVE_OPTIONS/$FIELDSYNC_SERVE_OPTIONS})
    exec "${args[@]/#$SBINDIR/$R$SBINDIR}"
) >"$WORK/serve.out" 2>"$WORK/serve.err" &
SRV_PID=$!
line=$(first_line "$WORK/serve.out" "$SRV_PID")
if [[ "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
    PORT=${BASH_REMATCH[1]}
    ok "the unit's ExecStart with the example settings serves on 127.0.0.1:$PORT"
    all=$(python3 "$CLIENT" "$PORT" GET /healthz)
    equal "GET /healthz: 200" "$(head -n 1 <<<"$all")" 200
    equal "GET /healthz: ok" "$(sed -n '/^$/,$p' <<<"$all" | tail -n 1)" "ok"
    # systemctl reload: the unit's ExecReload, with serve's PID as $MAINPID
    reload=$(grep '^ExecReload=' "$SERVER_UNIT" | cut -d= -f2-)
    ${reload//\$MAINPID/$SRV_PID}
    for ((i = 0; i < 100; i++)); do
        grep -q "reload: done" "$WORK/serve.err" && break
        sleep 0.1
    done
    contains "ExecReload makes serve read its settings again" "$(cat "$WORK/serve.err")" "reload: done"
    runc "$FSS" status --data "$S"
    expect "status through the serving unit: exit 0" 0
    contains "status says it serves" "$OUT" "serving:        yes"
    kill -TERM "$SRV_PID"
    wait "$SRV_PID"
    equal "serve exits 0 on SIGTERM, as systemd stops it" "$?" 0
    SRV_PID=
else
    fail "the unit's ExecStart with the example settings serves" "first line: $line" \
        "$(cat "$WORK/serve.err")"
fi
finish
