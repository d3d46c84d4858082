"""Hostile input closes only the offending connection (run by proxy_hostile.sh)."""
import os
import socket
import struct
import time

import psycopg

from proxy_helpers import (Proxy, admin, check, error_fields, fail, login_trust, make_cert, msg, raw_connect,
                           read_msg, read_until_close, startup_packet)

cert, key = make_cert()
p = Proxy(["--auth", "trust", "--tls-cert", cert, "--tls-key", key],
          env={"TETHER_PROXY_LOGIN_TIMEOUT": "2", "TETHER_PROXY_MAX_MESSAGE_SIZE": "65536"})
good = p.connect()
good.execute("CREATE TABLE IF NOT EXISTS k (n int)")
rounds = [0]


def good_still_works():
    rounds[0] += 1
    good.execute("INSERT INTO k VALUES (%s)", (rounds[0],))
    check(good.execute("SELECT count(*) FROM k").fetchone()[0] == rounds[0], "good client works")


def expect_error_close(s, sqlstate, reason):
    msgs = read_until_close(s)
    errs = [error_fields(b) for t, b in msgs if t == b"E"]
    check(errs and errs[-1].get("C") == sqlstate, f"{reason}: expected {sqlstate}, got {msgs}")
    s.close()
    p.wait_log("reason=" + reason)
    good_still_works()


# startup length too small / too large
s = raw_connect(p.port)
s.sendall(struct.pack("!I", 2) + b"junkjunk")
expect_error_close(s, "08P01", "bad_startup_length")
s = raw_connect(p.port)
s.sendall(struct.pack("!I", 1 << 30) + b"x" * 100)
expect_error_close(s, "08P01", "bad_startup_length")

# parameters not NUL-terminated
s = raw_connect(p.port)
body = struct.pack("!I", 196608) + b"user\0app"
s.sendall(struct.pack("!I", len(body) + 4) + body)
expect_error_close(s, "08P01", "unterminated_startup_parameters")

# protocol 2.0
s = raw_connect(p.port)
s.sendall(startup_packet(version=2 << 16))
expect_error_close(s, "0A000", "unsupported_protocol_version")

# truncated startup, then the client goes away
s = raw_connect(p.port)
s.sendall(startup_packet()[:10])
s.close()
p.wait_log("reason=client_eof_during_login")
good_still_works()

# slowloris: one byte every 0.5 s never finishes the startup packet
s = raw_connect(p.port, timeout=30)
pkt = startup_packet()
closed = False
for b in pkt[:-1]:
    try:
        s.sendall(bytes([b]))
    except OSError:
        closed = True
        break
    time.sleep(0.5)
    if "reason=login_timeout" in p.text():
        closed = True
        break
check(closed, "slowloris connection was cut by login_timeout")
s.close()
good_still_works()

# server messages larger than max_message_size stream through (never buffered whole)
check(len(good.execute("SELECT repeat('z', 300000)").fetchone()[0]) == 300000, "large row streams")

# after login: oversize message, bad length, unknown type
s = login_trust(p.port)
s.sendall(b"Q" + struct.pack("!I", 10_000_000) + b"SELECT 1")
expect_error_close(s, "08P01", "message_too_large")
s = login_trust(p.port)
s.sendall(b"Q" + struct.pack("!I", 2))
expect_error_close(s, "08P01", "bad_message_length")
s = login_trust(p.port)
s.sendall(msg(b"z", b"hello"))
expect_error_close(s, "08P01", "unknown_message_type")
# bytes smuggled after SSLRequest are refused before any TLS
s = raw_connect(p.port)
s.sendall(struct.pack("!II", 8, 80877103) + startup_packet())
check(s.recv(1) == b"", "closed without answering the SSLRequest")
p.wait_log("reason=data_after_ssl_request")
good_still_works()

# garbage instead of a TLS ClientHello ends only that connection
s = raw_connect(p.port)
s.sendall(struct.pack("!II", 8, 80877103))
check(s.recv(1) == b"S", "TLS offered")
s.sendall(b"\x16\x03\x01\x00\x05hello, not TLS" * 4)
read_until_close(s)
s.close()
p.wait_log("reason=tls_handshake_failed")
good_still_works()

# a TLS handshake that never starts is cut by login_timeout
s = raw_connect(p.port, timeout=30)
s.sendall(struct.pack("!II", 8, 80877103))
check(s.recv(1) == b"S", "TLS offered")
check(s.recv(1) == b"", "stalled TLS handshake closed")
s.close()
good_still_works()

# GSSENCRequest is refused with 'N' and the client may carry on in the clear
s = raw_connect(p.port)
s.sendall(struct.pack("!II", 8, 80877104))
check(s.recv(1) == b"N", "GSSENC refused")
s.sendall(startup_packet())
while True:
    t, b = read_msg(s)
    check(t is not None and t != b"E", "login after GSSENC refusal")
    if t == b"Z":
        break
s.sendall(msg(b"X"))
s.close()

# newer minor version and _pq_ options get NegotiateProtocolVersion
s = raw_connect(p.port)
s.sendall(startup_packet(version=(3 << 16) | 7, extra={"_pq_.frob": "on"}))
t, b = read_msg(s)
check(t == b"v", f"NegotiateProtocolVersion first, got {t}")
minor, n = struct.unpack("!II", b[:8])
check(minor == (3 << 16) and n == 1 and b[8:] == b"_pq_.frob\0", f"negotiate body {b}")
while t != b"Z":
    t, b = read_msg(s)
    check(t is not None and t != b"E", "login after negotiation")
s.sendall(msg(b"Q", b"SELECT 1\0"))
types = []
while True:
    t, b = read_msg(s)
    types.append(t)
    if t == b"Z":
        break
check(types == [b"T", b"D", b"C", b"Z"], f"query after negotiation {types}")
s.close()

# a crowd of garbage connections at once
socks = []
for i in range(40):
    s = raw_connect(p.port)
    s.sendall(os.urandom(64))
    socks.append(s)
good_still_works()
for s in socks:
    read_until_close(s)
    s.close()
good_still_works()

# TLS still works for a real client after all that
with psycopg.connect(p.dsn(sslmode="require")) as c:
    check(c.pgconn.ssl_in_use and c.execute("SELECT 1").fetchone()[0] == 1, "TLS client")

# a slow reader does not make the proxy buffer its whole result
def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


for tls in (False, True):
    s = login_trust(p.port, tls=tls)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    base = rss_kb(p.proc.pid)
    rows = 40000
    s.sendall(msg(b"Q", f"SELECT repeat('x', 2500) FROM generate_series(1, {rows})\0".encode()))  # ~100 MB
    time.sleep(2)  # not reading: the proxy must stop reading upstream instead of buffering
    grown = rss_kb(p.proc.pid) - base
    check(grown < 48 * 1024, f"proxy memory grew {grown} kB for a stalled 100 MB result (tls={tls})")
    good_still_works()
    n = 0
    while True:
        t, b = read_msg(s)
        check(t is not None, "result stream cut")
        if t == b"D":
            n += 1
        if t == b"Z":
            break
    check(n == rows, f"all {rows} rows arrive after the stall ({n}, tls={tls})")
    s.close()
# a client flooding COPY data at an upstream that is not reading: the proxy
# stops reading the client instead of buffering
import threading
good.execute("CREATE TABLE sink (v text)")
for tls in (False, True):
    locker = admin()
    locker.autocommit = False
    locker.execute("LOCK TABLE sink IN ACCESS EXCLUSIVE MODE")  # COPY will wait for this
    s = login_trust(p.port, tls=tls)
    s.sendall(msg(b"Q", b"COPY sink FROM STDIN\0"))
    chunk = msg(b"d", (b"x" * 9999) + b"\n")
    n_chunks = 10000  # ~100 MB
    sent = {}


    def flood():
        try:
            for i in range(n_chunks):
                s.sendall(chunk)
            s.sendall(msg(b"c"))
            sent["ok"] = True
        except OSError as e:
            sent["err"] = e


    base = rss_kb(p.proc.pid)
    t = threading.Thread(target=flood)
    t.start()
    time.sleep(2)
    grown = rss_kb(p.proc.pid) - base
    check(grown < 48 * 1024, f"proxy memory grew {grown} kB while the upstream was not reading (tls={tls})")
    check(t.is_alive(), "the flooding client is held back")
    good_still_works()
    locker.commit()
    locker.close()
    t.join(60)
    check(sent.get("ok"), f"flood finished once the upstream read again: {sent}")
    types = []
    while True:
        ty, b = read_msg(s)
        check(ty is not None, "COPY result")
        types.append(ty)
        if ty == b"C":
            check(b == f"COPY {n_chunks}\0".encode(), f"copied rows {b}")
        if ty == b"Z":
            break
    check(b"C" in types, f"COPY completed {types}")
    s.close()
good.close()
p.stop()

# an upstream that never answers: the client gets 08006 after login_timeout
import threading
mute = socket.socket()
mute.bind(("127.0.0.1", 0))
mute.listen(8)
q = Proxy(["--auth", "trust"], upstream=f"postgres://u:p@127.0.0.1:{mute.getsockname()[1]}/d?sslmode=disable",
          env={"TETHER_PROXY_LOGIN_TIMEOUT": "1"})
try:
    psycopg.connect(q.dsn(), connect_timeout=20).close()
    fail("mute upstream should fail the login")
except psycopg.OperationalError as e:
    check("login timed out" in str(e), f"mute upstream: {e}")
q.stop()

# an upstream that answers garbage
def garbage_server(sock):
    while True:
        try:
            c, _ = sock.accept()
        except OSError:
            return
        c.recv(1000)
        c.sendall(b"\x01\x00\x00\x00\x02garbage")
        time.sleep(0.2)
        c.close()


junk = socket.socket()
junk.bind(("127.0.0.1", 0))
junk.listen(8)
threading.Thread(target=garbage_server, args=(junk,), daemon=True).start()
q = Proxy(["--auth", "trust"], upstream=f"postgres://u:p@127.0.0.1:{junk.getsockname()[1]}/d?sslmode=disable")
try:
    psycopg.connect(q.dsn()).close()
    fail("garbage upstream should fail the login")
except psycopg.OperationalError as e:
    check("upstream connection failed" in str(e), f"garbage upstream: {e}")
q.wait_log("reason=unknown_message_type")
q.stop()
mute.close()
junk.close()
print("ok")
