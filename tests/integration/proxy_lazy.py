"""Lazy upstream connections (run by proxy_lazy.sh)."""
import os
import struct
import subprocess

import psycopg

ADMIN_OTHER_DB = f"postgres://postgres:postgres@127.0.0.1:{os.environ['PGPORT']}/postgres"

from proxy_helpers import (PGDATABASE, TETHER, UPSTREAM, Proxy, admin, check, error_fields, fail,
                           msg, raw_connect, read_msg, read_until_close, startup_packet)


def backends(app):
    with admin() as a:
        return a.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                         "AND application_name = %s", (app,)).fetchone()[0]


def raw_login(port, extra):
    """Raw trust login; returns (socket, {messages by type}, pid, key)."""
    s = raw_connect(port)
    s.sendall(startup_packet("app", extra=extra))
    seen, params = [], {}
    pid = key = None
    while True:
        t, b = read_msg(s)
        check(t is not None, "proxy closed during login")
        seen.append(t)
        if t == b"E":
            fail(f"login error {error_fields(b)}")
        if t == b"S":
            k, v = b.split(b"\0")[:2]
            params[k.decode()] = v.decode()
        if t == b"K":
            pid, key = struct.unpack("!ii", b)
        if t == b"Z":
            check(b == b"I", "ReadyForQuery idle")
            return s, params, pid, key


def simple_query(s, sql):
    """Sends a simple query; returns the list of (type, body) up to ReadyForQuery."""
    s.sendall(msg(b"Q", sql.encode() + b"\0"))
    out = []
    while True:
        t, b = read_msg(s)
        check(t is not None, f"closed during {sql!r}")
        out.append((t, b))
        if t == b"Z":
            return out


# --- lazy (the default) ---------------------------------------------------
p = Proxy(["--auth", "trust"])
app = "lazy_idle"
# The first client with these startup parameters logs in eagerly and fills the cache.
first = p.connect(application_name=app)
check(first.execute("SHOW application_name").fetchone()[0] == app, "first client works")
version = first.info.parameter_status("server_version")
first.close()

idle = [p.connect(application_name=app) for _ in range(20)]
check(backends(app) == 0, f"20 idle lazy clients hold no backend ({backends(app)})")
check(idle[0].info.parameter_status("server_version") == version,
      "cached ParameterStatus given to lazy clients")
check(idle[0].info.parameter_status("application_name") == app, "application_name reported")
check(idle[0].info.backend_pid > 0, "proxy BackendKeyData")

# The first query connects, with the client's startup parameters.
check(idle[0].execute("SHOW application_name").fetchone()[0] == app, "application_name reached server")
check(backends(app) == 1, "one backend after one client's first query")
for c in idle:
    c.close()

# options and other startup parameters reach the server on the lazy login.
opts = "-c statement_timeout=4321"
psycopg.connect(p.dsn(application_name="lazy_opts", options=opts.replace(" ", "\\ ")),
                autocommit=True).close()
c = psycopg.connect(p.dsn(application_name="lazy_opts", options=opts.replace(" ", "\\ ")),
                    autocommit=True)
check(backends("lazy_opts") == 0, "second lazy_opts client is lazy")
check(c.execute("SHOW statement_timeout").fetchone()[0] == "4321ms", "options reached the server")
c.close()

# Raw: DateStyle as a startup parameter; a server-side change after the cache was
# filled is reported to the lazy client as a ParameterStatus on its first query.
extra = {"application_name": "lazy_raw", "DateStyle": "German"}
s, params, _, _ = raw_login(p.port, extra)  # eager, fills the cache
check(params.get("DateStyle", "").startswith("German"), f"DateStyle from server: {params}")
s.sendall(msg(b"X"))
s.close()
with admin() as a:
    a.execute(f'ALTER DATABASE "{PGDATABASE}" SET IntervalStyle = iso_8601')
s, params, _, _ = raw_login(p.port, extra)  # lazy
check(params.get("IntervalStyle") == "postgres", f"cached IntervalStyle: {params}")
check(params.get("DateStyle", "").startswith("German"), "cached DateStyle")
out = simple_query(s, "SHOW DateStyle")
statuses = {b.split(b"\0")[0].decode(): b.split(b"\0")[1].decode() for t, b in out if t == b"S"}
check(statuses.get("IntervalStyle") == "iso_8601", f"changed parameter relayed: {statuses}")
check("DateStyle" not in statuses, f"unchanged parameters not repeated: {statuses}")
rows = [b for t, b in out if t == b"D"]
check(len(rows) == 1 and b"German" in rows[0], "DateStyle reached the server")
s.sendall(msg(b"X"))
s.close()
with admin() as a:
    a.execute(f'ALTER DATABASE "{PGDATABASE}" RESET IntervalStyle')

# Terminate before any query: no upstream is ever opened.
s, _, _, _ = raw_login(p.port, extra)
s.sendall(msg(b"X"))
check(read_until_close(s) == [], "closed quietly after Terminate")
s.close()

# Cancel before the upstream exists is harmless; the session then works.
s, _, pid, key = raw_login(p.port, extra)
c2 = raw_connect(p.port)
c2.sendall(struct.pack("!IIii", 16, 80877102, pid, key))
check(read_until_close(c2) == [], "cancel connection closed")
c2.close()
p.wait_log("proxy.cancel.skip")
out = simple_query(s, "SELECT 'after cancel'")
check(any(t == b"D" and b"after cancel" in b for t, b in out), f"query after early cancel: {out}")
s.sendall(msg(b"X"))
s.close()

# Upstream login fails after the lazy startup: the server's own error reaches the client.
lazyfail = p.connect(application_name=app)  # cached: lazy
with psycopg.connect(ADMIN_OTHER_DB, autocommit=True) as a:
    a.execute(f'ALTER DATABASE "{PGDATABASE}" ALLOW_CONNECTIONS false')
try:
    try:
        lazyfail.execute("SELECT 1")
        fail("query should fail: database not accepting connections")
    except psycopg.OperationalError as e:
        check("not currently accepting connections" in str(e), f"server's error relayed: {e}")
finally:
    with psycopg.connect(ADMIN_OTHER_DB, autocommit=True) as a:
        a.execute(f'ALTER DATABASE "{PGDATABASE}" ALLOW_CONNECTIONS true')
lazyfail.close()
p.wait_log("reason=upstream_login_error")

# Malformed first message on a lazy session: 08P01, no backend.
s, _, _, _ = raw_login(p.port, extra)
s.sendall(b"Q\x00\x00\x00\x01")
got = read_until_close(s)
check(got and got[0][0] == b"E" and error_fields(got[0][1]).get("C") == "08P01",
      f"bad length on lazy session: {got}")
s.close()

# Idle lazy clients are let go by a drain (stop() checks exit status 0).
held = [p.connect(application_name=app) for _ in range(5)]
p.stop()
for c in held:
    c.close()

# --- lazy_connect = off: every client holds a backend from login on --------
q = Proxy(["--auth", "trust"], env={"TETHER_PROXY_LAZY_CONNECT": "off"})
eager = [q.connect(application_name="eager_idle") for _ in range(2)]
eager += [q.connect(application_name="eager_idle") for _ in range(3)]
check(backends("eager_idle") == 5, "lazy_connect=off: one backend per idle client")
check(eager[4].execute("SHOW application_name").fetchone()[0] == "eager_idle", "eager query")
for c in eager:
    c.close()
q.stop()

# A bad value refuses to start.
e = dict(os.environ, TETHER_PROXY_LAZY_CONNECT="sometimes")
e.pop("TETHER_CONFIG", None)
r = subprocess.run([TETHER, "proxy", "--listen", "127.0.0.1:1", "--upstream", UPSTREAM, "--auth", "trust"], env=e,
                   capture_output=True, text=True, timeout=20)
check(r.returncode != 0 and "lazy_connect" in (r.stdout + r.stderr), f"bad lazy_connect: {r}")
print("proxy_lazy: ok")
