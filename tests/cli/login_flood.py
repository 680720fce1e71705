"""The login flood of issue 20.1, for tests/cli/test_loginflood.sh.

    login_flood.py PORT THREADS STOPFILE

THREADS threads each post dashboard logins in a loop (a wrong password for
a name no one has, with a valid CSRF pair, so each one reaches the password
check) until STOPFILE exists, then the counts of answers by status are
printed as "STATUS COUNT" lines, then "seconds S" (how long the threads
ran), and "started" is printed once every thread has had a first answer. Each thread sends from a new loopback network
(127.A.B.C: Linux answers all of 127.0.0.0/8 on lo) every 10 logins, so the
per-network limit (20 failures per /24) does not stop the flood before the
password check, as a botnet's would not be.
"""
import collections
import http.client
import os
import re
import sys
import threading
import time

port, nthreads, stopfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
counts = collections.Counter()
lock = threading.Lock()
first = threading.Barrier(nthreads + 1)


def connect(src):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60,
                                      source_address=(src, 0))


def flood(k):
    net = 0
    waited = False
    while not os.path.exists(stopfile):
        net += 1
        src = "127.%d.%d.%d" % (10 + k, net % 250 + 1, net // 250 % 250 + 1)  # a new /24
        try:
            c = connect(src)
            c.request("GET", "/login")
            r = c.getresponse()
            page = r.read().decode()
            cookie = r.getheader("set-cookie").split(";")[0]
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)', page).group(1)
            for i in range(10):
                if os.path.exists(stopfile):
                    break
                body = "name=nobody%d_%d&password=wrong+password+%d&csrf=%s" % (k, i, i, csrf)
                c.request("POST", "/login", body=body.encode(),
                          headers={"Cookie": cookie,
                                   "Content-Type": "application/x-www-form-urlencoded"})
                r = c.getresponse()
                r.read()
                with lock:
                    counts[r.status] += 1
                if not waited:
                    waited = True
                    first.wait()
            c.close()
        except (OSError, http.client.HTTPException, AttributeError):
            with lock:
                counts["error"] += 1
    if not waited:
        first.wait()


threads = [threading.Thread(target=flood, args=(k,), daemon=True) for k in range(nthreads)]
t0 = time.monotonic()
for t in threads:
    t.start()
first.wait()
print("started", flush=True)
for t in threads:
    t.join()
for status, n in sorted(counts.items(), key=str):
    print(status, n, flush=True)
print("seconds %.2f" % (time.monotonic() - t0), flush=True)
