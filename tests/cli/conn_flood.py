#!/usr/bin/env python3
"""Opens idle TCP connections to serve and holds them (issue 20.2).

    conn_flood.py PORT COUNT MODE STOPFILE

MODE "one": every connection from one /24, 127.0.0.2 to 127.0.0.254 in
turn (the rep's 127.0.0.1 is in it too: an office behind one NAT);
"many": from 200 /24s, 127.1.0.0/24 to 127.1.199.0/24, so that no
network's cap is reached and the global cap is what closes them.
Nothing is ever sent. The descriptor limit is raised to the hard one.

Prints "opened N failed F" once the connections are made (F: connects
that were refused or timed out), then holds them until STOPFILE exists,
and prints "open N closed C": how many the server still holds and how many
it closed (a readable socket that reads end-of-file or a reset).

The openers must not starve the other tests that run beside them (ctest
-j2) of local ports: a socket bound to (address, 0) takes its port at
bind() time, and Linux then keeps that port from every connect() that picks
its own, also through the minute the socket spends in TIME_WAIT: 40,000 such
sockets took the whole ephemeral range and a sync in test_srvops failed
with "Unable to connect". So the port is picked at connect() time
(IP_BIND_ADDRESS_NO_PORT: shared with other connections to other
addresses) and the sockets are closed with a reset (SO_LINGER 0: no
TIME_WAIT left behind).
"""
import errno
import os
import resource
import selectors
import socket
import struct
import sys
import time


IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # linux/in.h
LINGER_RESET = struct.pack("ii", 1, 0)


def source(mode, i):
    if mode == "one":
        return "127.0.0.%d" % (2 + i % 253)
    return "127.1.%d.%d" % (i % 200, 1 + (i // 200) % 250)


def main():
    port, count, mode, stopfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()  # epoll: select() stops at 1,024
    socks = []
    failed = 0
    in_a_row = 0
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            s.bind((source(mode, i), 0))
            s.settimeout(3)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
        except OSError as e:
            s.close()
            failed += 1
            in_a_row += 1
            if e.errno == errno.EMFILE or in_a_row >= 20:  # the server stopped accepting
                break
            continue
        in_a_row = 0
        socks.append(s)
        sel.register(s, selectors.EVENT_READ)
    print("opened %d failed %d" % (len(socks), failed), flush=True)
    closed = set()
    while not os.path.exists(stopfile):
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                closed.add(s)
    # What is left is still held by the server (a last look first).
    for key, _ in sel.select(timeout=0.5):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            closed.add(s)
    print("open %d closed %d" % (len(socks) - len(closed), len(closed)), flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
