#!/usr/bin/env bash
# TLS on serve's port (issue 18 point 4), real processes on 127.0.0.1 only,
# with a certificate made here by openssl: the dashboard over https (curl
# --cacert) with HSTS and Secure __Host- cookies, plain http refused on
# that port, devices enrolling and syncing over wss:// (the server's key
# still pinned inside the channel), a device that does not trust the
# certificate refused; serve refuses a listen reachable from other
# machines without TLS, half a TLS configuration, and files that do not
# load.
#
#   bash tests/cli/test_tls.sh path/to/fieldsync path/to/fieldsync-server
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS=${1:?usage: test_tls.sh path/to/fieldsync path/to/fieldsync-server}
FSS=${2:?usage: test_tls.sh path/to/fieldsync path/to/fieldsync-server}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-tls-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'stop_server_now; for h in zhang li; do "$FS" --home "$WORK/$h" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='tls test passphrase -- 3c9d'
unset FIELDSYNC_HOME SSL_CERT_FILE
MARK='tlsfinch 加密客户'
srv() { runc "$FSS" "$@"; }
for tool in openssl curl; do
    if ! command -v "$tool" >/dev/null; then
        fail "$tool is installed" "scripts/test installs it with apt-get"
        finish
    fi
done

# A certificate for 127.0.0.1 (and localhost), valid two days.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>>"$ERRLOG"
equal "openssl made a certificate" "$?" 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$WORK/other-key.pem" -out "$WORK/other.pem" -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" 2>>"$ERRLOG"

srv init --data "$S"
add_users "li manager north" "zhang rep north"
LI_PW='li tls password 1'
FIELDSYNC_USER_PASSWORD=$LI_PW srv user passwd --data "$S" --name li

# ---- what serve refuses ----
srv serve --data "$S" --listen "0.0.0.0:0"
expect "a listen reachable from other machines without TLS: refused" 2 "--tls-cert"
contains "and it says what crosses in clear otherwise" "$ERR" "--insecure-http"
srv serve --data "$S" --listen "127.0.0.1:0" --tls-cert "$WORK/cert.pem"
expect "a certificate without its key: refused" 2 "--tls-key"
srv serve --data "$S" --listen "127.0.0.1:0" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/other-key.pem"
expect "a key that is not the certificate's: refused" 2 "cannot load the certificate"
srv serve --data "$S" --listen "127.0.0.1:0" --tls-cert "$WORK/nothing.pem" --tls-key "$WORK/key.pem"
expect "a certificate file that is not there: refused" 2 "cannot load"

# ---- https ----
start_server 0 --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
contains "serve says it speaks TLS" "$(head -n 1 "$WORK/serve.out")" "(TLS)"
HEAD=$(curl -sS -D - -o "$WORK/login.html" --cacert "$WORK/cert.pem" \
    "https://127.0.0.1:$PORT/login" 2>>"$ERRLOG")
contains "curl --cacert fetches the login page over https" "$(head -n 1 <<<"$HEAD")" " 200"
contains "the page is the dashboard's" "$(cat "$WORK/login.html")" "fieldsync — managers"
contains "with Strict-Transport-Security" "$HEAD" "strict-transport-security: max-age=31536000"
contains "the login cookie is __Host- and Secure" "$(grep -i '^set-cookie' <<<"$HEAD")" \
    "__Host-fs_login="
contains "Secure" "$(grep -i '^set-cookie' <<<"$HEAD")" "; Secure"
HEADZ=$(curl -sS -D - -o "$WORK/login-zh.html" --cacert "$WORK/cert.pem" \
    "https://127.0.0.1:$PORT/login?lang=zh" 2>>"$ERRLOG")
contains "the language chosen over https: in Chinese" "$(cat "$WORK/login-zh.html")" '<html lang="zh-CN">'
contains "kept in a __Host- Secure cookie" "$(grep -i '^set-cookie: __Host-fs_lang=' <<<"$HEADZ")" \
    "__Host-fs_lang=zh; Secure; HttpOnly; SameSite=Strict; Path=/"
curl -sS -o /dev/null "https://127.0.0.1:$PORT/login" 2>>"$ERRLOG"
if [ $? -ne 0 ]; then ok "a client that does not trust the certificate is refused"
else fail "a client that does not trust the certificate is refused" "curl succeeded"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/login" 2>>"$ERRLOG")
if [ "$code" != "200" ]; then ok "plain http on the TLS port gets no page (got '$code')"
else fail "plain http on the TLS port gets no page" "http 200"; fi

# a manager logs in over https: the session cookie is __Host- and Secure
csrf=$(grep -oE 'name="csrf" value="[0-9a-f]+' "$WORK/login.html" | cut -d'"' -f4)
pre=$(grep -i '^set-cookie: __Host-fs_login=' <<<"$HEAD" | cut -d' ' -f2 | cut -d';' -f1 | tr -d '\r')
HEAD=$(curl -sS -D - -o /dev/null --cacert "$WORK/cert.pem" -H "Cookie: $pre" \
    --data-urlencode "name=li" --data-urlencode "password=$LI_PW" --data-urlencode "csrf=$csrf" \
    "https://127.0.0.1:$PORT/login" 2>>"$ERRLOG")
contains "li logs in over https" "$(head -n 1 <<<"$HEAD")" " 303"
contains "the session cookie is __Host- and Secure" "$(grep -i '^set-cookie: __Host-fs_session' <<<"$HEAD")" \
    "; Secure; HttpOnly; SameSite=Strict; Path=/"

# ---- wss:// ----
URL="wss://127.0.0.1:$PORT"
code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
runc "$FS" --home "$WORK/zhang" enroll --server "$URL" --code "$code"
expect "a device that does not trust the certificate cannot enroll" 1
code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
SSL_CERT_FILE=$WORK/cert.pem runc "$FS" --home "$WORK/zhang2" enroll --server "$URL" --code "$code"
expect "zhang enrolls over wss:// (the CA given by SSL_CERT_FILE)" 0
code=$("$FSS" enroll-code --data "$S" --user li | tail -n 1)
SSL_CERT_FILE=$WORK/cert.pem runc "$FS" --home "$WORK/li" enroll --server "$URL" --code "$code"
expect "li enrolls over wss://" 0
C=$("$FS" --home "$WORK/zhang2" customer add --name "$MARK")
runc "$FS" --home "$WORK/zhang2" visit add --customer "$C" --time "$(rel_day '3 days ago') 10:00" --place p \
    --purpose p --notes "$MARK notes"
SSL_CERT_FILE=$WORK/cert.pem runc "$FS" --home "$WORK/zhang2" sync
expect "zhang syncs over wss://" 0
SSL_CERT_FILE=$WORK/cert.pem runc "$FS" --home "$WORK/li" sync
expect "li syncs over wss://" 0
runc "$FS" --home "$WORK/li" visit list --json
contains "li holds zhang's visit" "$OUT" "$MARK notes"
SSL_CERT_FILE=$WORK/other.pem runc "$FS" --home "$WORK/li" sync
expect "a certificate the device does not trust: the sync fails" 1
runc "$FS" --home "$WORK/li" status
contains "status names the wss:// server" "$OUT" "wss://127.0.0.1:$PORT"
stop_server
hits=$(grep -rlaF -e tlsfinch -e 加密客户 "$S" "$WORK/serve.log" "$ERRLOG" 2>/dev/null)
equal "no customer text in the store, the server's log or any message" "$hits" ""
finish
