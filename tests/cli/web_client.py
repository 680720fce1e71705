"""A small HTTP client for tests/cli/test_web.sh: one request per call.

    web_client.py PORT METHOD PATH [COOKIE] [FORM-BODY]

Prints the status, then each response header as "name: value", a blank
line and the body. Loopback only. WEB_SOURCE=127.0.N.M sends from that
loopback address (Linux answers all of 127.0.0.0/8 on lo), as a client on
another network would. WEB_LANG=... sends it as the Accept-Language header.
"""
import http.client
import os
import sys

port, method, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cookie = sys.argv[4] if len(sys.argv) > 4 else ""
body = sys.argv[5] if len(sys.argv) > 5 else None
headers = {}
if cookie:
    headers["Cookie"] = cookie
if os.environ.get("WEB_LANG"):
    headers["Accept-Language"] = os.environ["WEB_LANG"]
if body is not None:
    headers["Content-Type"] = "application/x-www-form-urlencoded"
source = os.environ.get("WEB_SOURCE")
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                  source_address=(source, 0) if source else None)
conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
resp = conn.getresponse()
print(resp.status)
for name, value in resp.getheaders():
    print(f"{name.lower()}: {value}")
print()
sys.stdout.write(resp.read().decode("utf-8", "replace"))
