#!/usr/bin/env python3
"""idle_clients.py HOST PORT USER DB N HOLD_FILE - opens N Postgres
connections (protocol 3 startup, trust auth, no TLS): one, then batches of 250 (all
startups of a batch sent, then every answer read), waits for each one's
ReadyForQuery, prints how many got there, then keeps them open and idle until
HOLD_FILE disappears (or 300 s pass). Needs `ulimit -n` above N."""
import os
import selectors
import socket
import struct
import sys
import time

host, port, user, db, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
BATCH = 250
body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
startup = struct.pack("!i", len(body) + 4) + body


def outcome(buf):
    """b'Z' (ready), b'E' (refused) or None (need more)."""
    pos = 0
    while len(buf) - pos >= 5:
        t = buf[pos:pos + 1]
        ln = struct.unpack("!i", buf[pos + 1:pos + 5])[0]
        if len(buf) - pos < 1 + ln:
            break
        if t in (b"Z", b"E"):
            return t
        pos += 1 + ln
    return None


socks, ok, failed = [], 0, False
while ok < n and not failed:
    batch = []
    # The first client alone: a lazy proxy learns the server's parameters from it.
    for i in range(min(BATCH if ok else 1, n - ok)):
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(startup)
            batch.append(s)
        except OSError as e:
            print(f"client {ok + i}: {e}", file=sys.stderr)
            failed = True
            break
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in batch:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    deadline = time.time() + 60
    while bufs and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            res = outcome(bufs[s] + chunk) if chunk else b"E"
            if res is None:
                bufs[s] += chunk
                continue
            sel.unregister(s)
            if res == b"Z":
                ok += 1
                socks.append(s)
            else:
                print(f"client refused or closed: {(bufs[s] + chunk)[:200]!r}", file=sys.stderr)
                s.close()
                failed = True
            del bufs[s]
    for s in bufs:
        s.close()
    if bufs:
        print(f"{len(bufs)} clients got no answer in 60 s", file=sys.stderr)
        failed = True
    sel.close()
print(ok, flush=True)
deadline = time.time() + 300
while os.path.exists(hold) and time.time() < deadline:
    time.sleep(0.2)
