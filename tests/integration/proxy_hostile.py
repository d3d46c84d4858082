"""Hostile input closes only the offending connection (run by proxy_hostile.sh)."""
import os
import socket
import struct
import time

import psycopg

from proxy_helpers import (Proxy, check, error_fields, fail, login_trust, make_cert, msg, raw_connect,
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
good.close()
p.stop()
print("ok")
