#!/usr/bin/env python3
"""idle_clients.py HOST PORT USER DB N HOLD_FILE - opens N Postgres
connections (protocol 3 startup, trust auth, no TLS), waits for each one's
ReadyForQuery, prints how many got there, then keeps them open and idle until
HOLD_FILE disappears (or 120 s pass)."""
import os
import socket
import struct
import sys
import time

host, port, user, db, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
startup = struct.pack("!i", len(body) + 4) + body
socks, ok = [], 0
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(startup)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed")
            buf += chunk
            # walk complete messages looking for ReadyForQuery ('Z') or ErrorResponse ('E')
            pos, done = 0, None
            while len(buf) - pos >= 5:
                t = buf[pos:pos + 1]
                ln = struct.unpack("!i", buf[pos + 1:pos + 5])[0]
                if len(buf) - pos < 1 + ln:
                    break
                if t in (b"Z", b"E"):
                    done = t
                pos += 1 + ln
            if done:
                break
        if done == b"Z":
            ok += 1
            socks.append(s)
        else:
            print(f"client {i}: server refused: {buf[:200]!r}", file=sys.stderr)
            s.close()
            break
    except OSError as e:
        print(f"client {i}: {e}", file=sys.stderr)
        break
print(ok, flush=True)
deadline = time.time() + 120
while os.path.exists(hold) and time.time() < deadline:
    time.sleep(0.2)
