#!/usr/bin/env bash
# Operating the server (issue 22): serve's settings file (--config, the
# environment file systemd reads) with its errors named by file, line and
# key and never a value; SIGHUP applying a new lease and loading a renewed
# TLS certificate (checked as a client sees it) while a bad pair or a bad
# file leaves what runs; `status` through the running server and on the
# store alone (exit 3); backups recorded in the audit log and shown by
# status. Real processes on 127.0.0.1 only.
#
#   bash tests/cli/test_srvops.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_srvops.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_srvops.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-srvops-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
SRV_PID=
trap 'stop_server_now; "$FS" --home "$WORK/zhang" lock >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='srvops test passphrase -- 81c4'
unset FIELDSYNC_HOME SSL_CERT_FILE
srv() { runc "$FSS" "$@"; }
for tool in openssl python3; do
    if ! command -v "$tool" >/dev/null; then
        fail "$tool is installed" "scripts/test installs it with apt-get"
        finish
    fi
done

mkcert() { # NAME: NAME.pem and NAME-key.pem for 127.0.0.1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$WORK/$1-key.pem" -out "$WORK/$1.pem" -subj "/CN=127.0.0.1 $1" \
        -addext "subjectAltName=IP:127.0.0.1" 2>>"$ERRLOG"
}
fpr() { openssl x509 -noout -fingerprint -sha256 2>/dev/null; }
# The certificate the server shows a client now.
served_fpr() {
    python3 -c 'import ssl,sys; print(ssl.get_server_certificate(("127.0.0.1", int(sys.argv[1]))))' \
        "$PORT" 2>>"$ERRLOG" | fpr
}
mkcert a && mkcert b
cp "$WORK/a.pem" "$WORK/tls.pem" && cp "$WORK/a-key.pem" "$WORK/tls-key.pem"
FPR_A=$(fpr <"$WORK/a.pem")
FPR_B=$(fpr <"$WORK/b.pem")

srv init --data "$S"
expect "init" 0
add_users "zhang rep north"

# ---- the settings file's errors ----
SECRET='a passphrase nobody may see 5d0e'
conf() { # FILE LINES...: a settings file, mode 0640
    local f=$1
    shift
    printf '%s\n' "$@" >"$f"
    chmod 0640 "$f"
}
conf "$WORK/typo.conf" "# settings" "FIELDSYNC_PASSPHRASE=$SECRET" "FIELDSYNC_DATA=$S" \
    "FIELDSYNC_LISTN=127.0.0.1:0"
srv serve --config "$WORK/typo.conf"
expect "an unknown key: exit 2, naming file and line" 2 "$WORK/typo.conf:4: unknown setting FIELDSYNC_LISTN"
if grep -qF "$SECRET" <<<"$ERR$OUT"; then fail "the passphrase is not echoed" "$ERR"
else ok "the passphrase is not echoed"; fi
conf "$WORK/noeq.conf" "FIELDSYNC_DATA=$S" "listen on 127.0.0.1:0"
srv serve --config "$WORK/noeq.conf"
expect "a line that is not KEY=value: exit 2" 2 "noeq.conf:2: expected KEY=value"
conf "$WORK/twice.conf" "FIELDSYNC_LISTEN=127.0.0.1:0" "FIELDSYNC_DATA=$S" "FIELDSYNC_LISTEN=127.0.0.1:1"
srv serve --config "$WORK/twice.conf"
expect "a key set twice: exit 2" 2 "twice.conf:3: FIELDSYNC_LISTEN is set twice (first on line 1)"
conf "$WORK/open.conf" "FIELDSYNC_DATA=$S" "FIELDSYNC_LISTEN=127.0.0.1:0" "FIELDSYNC_PASSPHRASE=$SECRET"
chmod 0644 "$WORK/open.conf"
srv serve --config "$WORK/open.conf"
expect "a passphrase every user can read: refused" 2 "every user of this machine can read it"
conf "$WORK/insec.conf" "FIELDSYNC_DATA=$S" "FIELDSYNC_LISTEN=127.0.0.1:0" "FIELDSYNC_INSECURE_HTTP=maybe"
srv serve --config "$WORK/insec.conf"
expect "FIELDSYNC_INSECURE_HTTP neither yes nor no: refused" 2 "insec.conf:3: FIELDSYNC_INSECURE_HTTP is yes or no"
conf "$WORK/lease.conf" "FIELDSYNC_DATA=$S" "FIELDSYNC_LISTEN=127.0.0.1:0" "FIELDSYNC_LEASE=7 weeks"
srv serve --config "$WORK/lease.conf"
expect "a bad lease is named by its key" 2 "FIELDSYNC_LEASE:"
srv serve --config "$WORK/none.conf"
expect "a settings file that is not there" 2 "--config: cannot open"
if grep -qF "$SECRET" "$ERRLOG"; then fail "no error printed the passphrase"
else ok "no error printed the passphrase"; fi

# ---- status on the store alone ----
srv status --data "$S"
equal "status with nothing serving: exit 3" "$RC" 3
contains "and it says so" "$OUT" "serving:        NO"
contains "it counts the devices" "$OUT" "devices:        0 enrolled, 0 revoked"
contains "no backup yet" "$OUT" "last backup:    NONE"

# ---- serve from the settings file, TLS, a lease of 7d ----
CONF=$WORK/server.conf
conf "$CONF" "# as /etc/fieldsync/server.conf" "FIELDSYNC_DATA=\"$S\"" "FIELDSYNC_LISTEN=127.0.0.1:0" \
    "FIELDSYNC_LEASE=7d" "FIELDSYNC_TLS_CERT=$WORK/tls.pem" "FIELDSYNC_TLS_KEY='$WORK/tls-key.pem'" \
    "FIELDSYNC_PASSPHRASE=$FIELDSYNC_PASSPHRASE" "FIELDSYNC_SERVE_OPTIONS="
# serve_conf [OPTION...]: serve --config "$CONF" in the background (SRV_PID);
# line: its first line, once written, or empty when it ended or 10 s passed
serve_conf() {
    : >"$WORK/serve.out"
    "$FSS" serve --config "$CONF" "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SRV_PID=$!
    line=$(first_line "$WORK/serve.out" "$SRV_PID")
}
serve_conf
if [[ "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)\ \(TLS\)$ ]]; then
    PORT=${BASH_REMATCH[1]}
    ok "serve --config serves TLS on 127.0.0.1:$PORT"
else
    fail "serve --config starts" "first line: $line" "$(cat "$WORK/serve.err")"
    finish
fi
equal "a client sees certificate a" "$(served_fpr)" "$FPR_A"

# a device over wss://, given the certificate to trust
export SSL_CERT_FILE=$WORK/tls.pem
enroll_device zhang "$WORK/zhang" "wss://127.0.0.1:$PORT"
runc "$FS" --home "$WORK/zhang" customer add --name "运维测试客户"
expect "zhang adds a customer" 0
runc "$FS" --home "$WORK/zhang" sync
expect "zhang syncs over wss://" 0
lease_days() {
    local st now end
    st=$("$FS" --home "$WORK/zhang" status --json)
    end=$(grep -oE '"lease_expires_ms": ?[0-9]+' <<<"$st" | grep -oE '[0-9]+$')
    now=$(date +%s%3N)
    echo $(((end - now + 43200000) / 86400000))
}
equal "the lease granted is 7 days" "$(lease_days)" 7

srv status --data "$S"
equal "status through the running server: exit 0" "$RC" 0
contains "serving" "$OUT" "serving:        yes"
contains "one device enrolled" "$OUT" "devices:        1 enrolled, 0 revoked"
contains "seen" "$OUT" "not seen:       0 for over a day, 0 never"
srv backup --data "$S" --out "$WORK/backup1"
expect "a backup while serving" 0
srv status --data "$S" --json
expect "status --json" 0
python3 - "$OUT" <<'EOF' >"$WORK/json.check" 2>&1
import json, sys
s = json.loads(sys.argv[1])
assert s["serving"] is True, s
assert s["devices"]["enrolled"] == 1, s
assert s["last_backup"] is not None and 0 <= s["last_backup"]["age_s"] < 600, s
assert s["store_bytes"]["total"] >= s["store_bytes"]["replica.db"] > 0, s
assert s["refused_writes"] == {"last_hour": 0, "last_day": 0}, s
print("ok")
EOF
equal "status --json: serving, the device, the backup, the sizes" "$(cat "$WORK/json.check")" ok
srv audit show --data "$S"
contains "the backup is in the audit log" "$OUT" "backup1"

# ---- SIGHUP: a renewed certificate, a new lease ----
waitlog() { # TEXT: the serve log gets TEXT within 30 s
    local i
    for ((i = 0; i < 300; i++)); do
        grep -qF -- "$1" "$WORK/serve.err" && return 0
        sleep 0.1
    done
    return 1
}
hup() { # the number of "reload: done" lines grows
    local before
    before=$(grep -c "reload: done" "$WORK/serve.err")
    kill -HUP "$SRV_PID"
    for ((i = 0; i < 300; i++)); do
        [ "$(grep -c "reload: done" "$WORK/serve.err")" -gt "$before" ] && return 0
        sleep 0.1
    done
    return 1
}
cp "$WORK/b.pem" "$WORK/tls.pem" && cp "$WORK/b-key.pem" "$WORK/tls-key.pem"
sed -i 's/^FIELDSYNC_LEASE=.*/FIELDSYNC_LEASE=2d/' "$CONF"
if hup; then ok "SIGHUP reloads"; else fail "SIGHUP reloads" "$(cat "$WORK/serve.err")"; fi
kill -0 "$SRV_PID" 2>/dev/null && ok "serve runs on after SIGHUP" || fail "serve runs on after SIGHUP"
equal "a client now sees certificate b" "$(served_fpr)" "$FPR_B"
contains "the log says the lease changed" "$(cat "$WORK/serve.err")" "devices are now granted a lease of 2d"
export SSL_CERT_FILE=$WORK/b.pem
runc "$FS" --home "$WORK/zhang" sync
expect "zhang syncs with the renewed certificate" 0
equal "and is granted the new lease: 2 days" "$(lease_days)" 2

# a key that does not belong to the certificate: the old pair stays
cp "$WORK/a-key.pem" "$WORK/tls-key.pem"
sed -i 's/^FIELDSYNC_LISTEN=.*/FIELDSYNC_LISTEN=127.0.0.1:1/' "$CONF"
hup
contains "a pair that does not load is refused in the log" "$(cat "$WORK/serve.err")" "the old pair stays"
contains "a new listen waits for the next start" "$(cat "$WORK/serve.err")" "FIELDSYNC_LISTEN changed: it takes effect at the next start"
equal "certificate b still served" "$(served_fpr)" "$FPR_B"
runc "$FS" --home "$WORK/zhang" sync
expect "zhang still syncs" 0

# a settings file broken while serving: nothing changes
echo "FIELDSYNC_LEASEE=1d" >>"$CONF"
hup
contains "a broken settings file is not applied" "$(cat "$WORK/serve.err")" "not applied (see above): the running settings stay"
contains "and the log names the line" "$(cat "$WORK/serve.err")" "server.conf:9: unknown setting FIELDSYNC_LEASEE"
kill -0 "$SRV_PID" 2>/dev/null && ok "serve runs on after a bad file" || fail "serve runs on after a bad file"
if grep -qF "$FIELDSYNC_PASSPHRASE" "$WORK/serve.err" "$WORK/serve.out"; then
    fail "the log never holds the passphrase"
else ok "the log never holds the passphrase"; fi
stop_server

# ---- command-line options win over the file ----
sed -i -e '$d' -e "s/^FIELDSYNC_LISTEN=.*/FIELDSYNC_LISTEN=127.0.0.1:$PORT/" "$CONF"
cp "$WORK/b-key.pem" "$WORK/tls-key.pem"
# The port was free a moment ago, but another test's connection may take it
# as its own local port meanwhile (the kernel picks those from the same
# range): a start refused "already in use" is tried again, for up to 30 s.
for ((try = 0; try < 30; try++)); do
    serve_conf --lease 3d
    [ -n "$line" ] && break
    wait "$SRV_PID" 2>/dev/null
    grep -qF "already in use" "$WORK/serve.err" || break
    sleep 1
done
equal "serve --config listens on the same port" "$line" "listening on 127.0.0.1:$PORT (TLS)"
[ -n "$line" ] || { cat "$WORK/serve.err"; ss -ltnp; }
runc "$FS" --home "$WORK/zhang" sync
expect "zhang syncs with serve --config --lease 3d" 0; [ "$RC" = 0 ] || { cat "$WORK/serve.err"; ss -ltnp; }
equal "--lease on the command line wins over FIELDSYNC_LEASE" "$(lease_days)" 3
stop_server
finish
