#!/usr/bin/env bash
# Issue 19.3: attachments over real processes on 127.0.0.1 (a server, rep
# zhang's laptop, manager li's laptop, a loopback proxy that cuts the
# connection: tests/faultproxy.c).
#  - attach refuses a file over the 20 MiB limit before reading it, naming
#    the limit; the same file attached twice is stored once.
#  - a 5 MiB scan attached offline to a requirement request syncs through a
#    proxy that cuts the connection after ~2.6 MB: the first sync fails and
#    reports the bytes it sent, the second sends only the rest (resumed,
#    not restarted: fewer than 5 MiB, and together at least 5 MiB).
#  - li's laptop lists the attachment and `attachment get` writes the same
#    bytes (0600, never over an existing file).
#  - no 4 KiB window of the file's bytes is found in any file of the
#    laptops' homes or the server's data dir (WAL included): a scan in
#    python3 of every file.
#
#   bash tests/cli/test_attach.sh path/to/fieldsync path/to/fieldsync-server path/to/faultproxy
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

USAGE="usage: test_attach.sh fieldsync fieldsync-server faultproxy"
FS=${1:?$USAGE}
FSS=${2:?$USAGE}
PROXY=${3:?$USAGE}
export LC_ALL=C.UTF-8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-attach-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null; stop_server_now; for u in zhang li; do "$FS" --home "$WORK/$u" lock >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='attach test passphrase -- 7c1d'
unset FIELDSYNC_HOME FIELDSYNC_NEW_PASSPHRASE

run() { runc "$FS" "$@"; }
srv() { runc "$FSS" "$@"; }
# sent_bytes OUTPUT: the bytes the sync reported sent (0 when it said none)
sent_bytes() { sed -n 's/^attachments: \([0-9]*\) bytes sent.*/\1/p' <<<"$1" | head -n 1 | grep . || echo 0; }
recv_bytes() { sed -n 's/^attachments: .*, \([0-9]*\) bytes received.*/\1/p' <<<"$1" | head -n 1 | grep . || echo 0; }

srv init --data "$S"
expect "server init" 0
add_users "li manager north" "zhang rep north"
start_server 0
echo pass >"$WORK/mode"
CUT=2600000
"$PROXY" "$WORK/proxy.port" "$PORT" "$WORK/mode" 11 $CUT $CUT 100 2>"$WORK/proxy.log" &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
PPORT=$(cat "$WORK/proxy.port")
for u in zhang li; do
    enroll_device "$u" "$WORK/$u" "ws://127.0.0.1:$PPORT" --name "laptop-$u"
    run --home "$WORK/$u" unlock
    run --home "$WORK/$u" whoami --set "$u"
done

# ---- offline: a customer, a requirement request, its signed scan ----
run --home "$WORK/zhang" customer add --name "Attach Trading"
expect "zhang records a customer" 0
CID=$OUT
WHEN=$(date -d '-1 day' '+%Y-%m-%d 10:00')
run --home "$WORK/zhang" request add --customer "$CID" --description "two label printers" \
    --confirmed-at "$WHEN" --signed-document "scan to follow"
expect "zhang records a requirement request" 0
RID=$(tail -n 1 <<<"$OUT")

python3 -c 'import os,sys; open(sys.argv[1],"wb").write(os.urandom(5*1024*1024))' "$WORK/scan.pdf"
truncate -s 21M "$WORK/huge.pdf"
run --home "$WORK/zhang" attach "$RID" "$WORK/huge.pdf" --kind signed-requirement
expect "a file over the limit is refused, naming the limit" 2 "over the limit of 20 MiB per file"
run --home "$WORK/zhang" attachment list "$RID" --json
equal "nothing was attached" "$OUT" "[]"
run --home "$WORK/zhang" attach "$RID" "$WORK/scan.pdf" --kind nonsense
expect "an unknown kind is refused" 2 "--kind"
run --home "$WORK/zhang" attach "$RID" "$WORK/scan.pdf" --kind signed-requirement
expect "zhang attaches the 5 MiB scan offline" 0
AID=$OUT
run --home "$WORK/zhang" attach "$CID" "$WORK/scan.pdf" --kind other
expect "the same file attached to the customer too" 0
run --home "$WORK/zhang" attachment list "$RID" --json
contains "the request lists its scan" "$OUT" '"name":"scan.pdf"'
contains "the scan is held here" "$OUT" '"held":true'

# ---- the sync is cut mid-way, then resumed ----
echo cut >"$WORK/mode"
run --home "$WORK/zhang" sync
FIRST=$(sent_bytes "$OUT")
if [ "$RC" -ne 0 ] && [ "$FIRST" -gt 0 ] && [ "$FIRST" -lt $((5 * 1024 * 1024)) ]; then
    ok "the cut sync fails after sending $FIRST bytes of the scan"
else
    fail "the cut sync fails after sending part of the scan" "rc $RC, sent $FIRST" "$OUT" "$ERR"
fi
grep -q '^cut after' "$WORK/proxy.log" && ok "the proxy cut the connection" ||
    fail "the proxy cut the connection" "$(cat "$WORK/proxy.log")"
echo pass >"$WORK/mode"
run --home "$WORK/zhang" sync
expect "the next sync goes through" 0
SECOND=$(sent_bytes "$OUT")
echo "sent: $FIRST bytes, then $SECOND bytes (file: $((5 * 1024 * 1024)))"
if [ "$SECOND" -gt 0 ] && [ "$SECOND" -lt $((5 * 1024 * 1024)) ] &&
    [ $((FIRST + SECOND)) -ge $((5 * 1024 * 1024)) ]; then
    ok "resumed, not restarted: $SECOND bytes the second time"
else
    fail "resumed, not restarted" "first $FIRST, second $SECOND" "$OUT"
fi
contains "the sync says the file is complete" "$OUT" "(1 files complete)"
run --home "$WORK/zhang" sync
expect "a third sync" 0
equal "the third sync sends no chunk" "$(sent_bytes "$OUT")" 0

# ---- the manager gets it ----
run --home "$WORK/li" sync
expect "li syncs" 0
equal "li receives the scan's bytes once" "$(recv_bytes "$OUT")" $((5 * 1024 * 1024))
run --home "$WORK/li" attachment list "$RID" --json
contains "li lists the request's scan" "$OUT" '"kind":"signed-requirement"'
contains "li holds its bytes" "$OUT" '"held":true'
run --home "$WORK/li" attachment get "${AID:0:8}" --out "$WORK/got.pdf"
expect "li writes the scan out" 0
cmp -s "$WORK/scan.pdf" "$WORK/got.pdf" && ok "the same bytes" || fail "the same bytes"
equal "written 0600" "$(stat -c %a "$WORK/got.pdf")" 600
run --home "$WORK/li" attachment get "${AID:0:8}" --out "$WORK/got.pdf"
expect "an existing file is not overwritten" 2 "not overwritten"

# ---- the dashboard: the customer's page lists the files, li downloads one ----
LI_PW='li dashboard password 9d2'
FIELDSYNC_USER_PASSWORD=$LI_PW runc "$FSS" user passwd --data "$S" --name li
expect "li gets a dashboard password" 0
python3 - "$PORT" "$LI_PW" "$CID" "$WORK/scan.pdf" "$WORK/zhang.cookie" <<'PY' >"$WORK/web.out" 2>&1
import hashlib, http.client, re, sys
port, pw, cid, scan = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def req(method, path, cookie="", body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Cookie": cookie} if cookie else {}
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body.encode() if body else None, headers=h)
    r = c.getresponse()
    return r.status, r.getheaders(), r.read()
def cookie(headers, name):
    for k, v in headers:
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";")[0]
    return ""
st, hd, body = req("GET", "/login")
pre = cookie(hd, "fs_login")
csrf = re.search(rb'name="csrf" value="([0-9a-f]+)', body).group(1).decode()
st, hd, body = req("POST", "/login", pre, "name=li&password=%s&csrf=%s" % (pw.replace(" ", "+"), csrf))
sess = cookie(hd, "fs_session")
print("login", st, bool(sess))
st, hd, page = req("GET", "/customer?id=" + cid, sess)
links = re.findall(rb'href="/attachment\?id=([0-9a-f]{32})"', page)
print("customer page", st, "links", len(links), "scan.pdf" in page.decode("utf-8", "replace"))
st, hd, data = req("GET", "/attachment?id=" + links[0].decode(), sess)
want = open(scan, "rb").read()
print("download", st, len(data), "same" if data == want else "different")
st, hd, data = req("GET", "/attachment?id=" + links[0].decode())
print("without a session", st)
PY
cat "$WORK/web.out"
contains "li logs in to the dashboard" "$(cat "$WORK/web.out")" "login 303 True"
contains "the customer's page links both attachments" "$(cat "$WORK/web.out")" "customer page 200 links 2 True"
contains "li downloads the scan, the same bytes" "$(cat "$WORK/web.out")" "download 200 5242880 same"
contains "no session, no file" "$(cat "$WORK/web.out")" "without a session 303"

# ---- no plaintext anywhere (the server still running: its WAL too) ----
python3 - "$WORK/scan.pdf" "$WORK/zhang" "$WORK/li" "$S" <<'PY' >"$WORK/scan.out" 2>&1
import os, sys
# A 4 KiB window of the file found in a data file holds at every offset
# aligned to 32 in that file a 32-byte piece of the file: index those
# pieces of every data file, then look up every 32-byte piece of the file
# (each offset), and confirm a hit by comparing 4 KiB.
W, K = 4096, 32
secret = open(sys.argv[1], "rb").read()
index, files = {}, []
for top in sys.argv[2:]:
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            data = open(p, "rb").read()
            files.append((p, len(data)))
            for q in range(0, len(data) - K + 1, K):
                index.setdefault(data[q:q + K], (p, q))
found = []
for o in range(0, len(secret) - K + 1):
    hit = index.get(secret[o:o + K])
    if hit is None:
        continue
    p, q = hit
    data = open(p, "rb").read()
    # align the hit to a full window of the file, if there is one
    start, end = q - o, q - o + len(secret)
    for w in range(max(0, -start), len(secret) - W + 1, K):
        if data[start + w:start + w + W] == secret[w:w + W]:
            found.append((p, start + w))
            break
    if found:
        break
print("scanned %d files, %d bytes" % (len(files), sum(n for _, n in files)))
for p, _ in files:
    print("  " + p)
if found:
    print("PLAINTEXT FOUND: %s at %d" % found[0])
    sys.exit(1)
PY
SCAN_RC=$?
stop_server_now
cat "$WORK/scan.out"
grep -q -- '-wal' "$WORK/scan.out" && ok "the scan covered a WAL" || ok "no WAL left to scan (checkpointed)"
[ "$SCAN_RC" -eq 0 ] && ok "no 4 KiB window of the scan in any file of the laptops or the server" ||
    fail "no 4 KiB window of the scan in any file" "$(cat "$WORK/scan.out")"
finish
