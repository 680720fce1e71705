"""Bad first websocket frames, for tests/cli/test_auditflood.sh.

    bad_frames.py PORT COUNT

COUNT connections, one after another, each opening the fieldsync websocket
on 127.0.0.1:PORT and sending one malformed first frame (bytes that are no
handshake message), then reading until the server closes it. Prints the
number of connections the server upgraded.
"""
import base64
import os
import socket
import struct
import sys

port, count = int(sys.argv[1]), int(sys.argv[2])
upgraded = 0
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Protocol: fieldsync.v1\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        more = s.recv(4096)
        if not more:
            break
        head += more
    if head.startswith(b"HTTP/1.1 101"):
        upgraded += 1
    payload = b"\xc1not a handshake message %d" % i
    mask = os.urandom(4)
    masked = bytes(b ^ mask[j % 4] for j, b in enumerate(payload))
    s.sendall(struct.pack("!BB", 0x82, 0x80 | len(payload)) + mask + masked)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
print(upgraded)
