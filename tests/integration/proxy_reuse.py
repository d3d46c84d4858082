"""Server connection reuse (run by proxy_reuse.sh)."""
import os
import signal
import struct
import subprocess
import time

import psycopg

from proxy_helpers import (TETHER, UPSTREAM, Proxy, admin, check, fail, msg, raw_connect,
                           read_msg, read_until_close, startup_packet, wait_active)


def backends(app):
    with admin() as a:
        return a.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                         "AND application_name = %s", (app,)).fetchone()[0]


def wait_backends(app, n, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if backends(app) == n:
            return
        time.sleep(0.05)
    fail(f"{app}: {backends(app)} backends, expected {n}")


def wait_count(proxy, needle, n, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if proxy.text().count(needle) == n:
            return
        time.sleep(0.05)
    fail(f"{needle!r} logged {proxy.text().count(needle)} times, expected {n}")


def server_pid(c):
    return c.execute("SELECT pg_backend_pid()").fetchone()[0]


p = Proxy(["--auth", "trust"], env={"TETHER_PROXY_SERVER_IDLE_TIMEOUT": "600"})
app = "reuse_a"
first = p.connect(application_name=app)  # eager: fills the ParameterStatus cache
pid1 = server_pid(first)
# Session state that must not reach the next client.
first.execute("SET work_mem = '77MB'")
first.execute("PREPARE reuse_q AS SELECT 1")
first.execute("CREATE TEMP TABLE reuse_tmp (a int)")
first.execute("LISTEN reuse_chan")
first.execute("SELECT pg_advisory_lock(4242)")
first.execute("SET application_name = 'changed_by_client'")
first.close()
wait_count(p, "proxy.pool.ready", 1)
wait_backends(app, 1)  # kept, reset back to its startup application_name

second = p.connect(application_name=app)
check(backends(app) == 1, "still one backend while the second client is idle")
check(server_pid(second) == pid1, "second client got the first client's backend")
check(second.execute("SHOW work_mem").fetchone()[0] != "77MB", "SET was reset")
check(second.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0,
      "prepared statements dropped")
check(second.execute("SELECT count(*) FROM pg_class WHERE relname = 'reuse_tmp'").fetchone()[0] == 0,
      "temporary table dropped")
check(second.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0] == 0, "UNLISTEN")
check(second.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0] == 0,
      "advisory lock released")
check(second.execute("SHOW application_name").fetchone()[0] == app, "application_name back to startup value")
check("reused=1" in p.text(), "log says reused")

# Cancel reaches the reused backend.
second.execute("SELECT 1")
import threading
err = []
def run_sleep():
    try:
        second.execute("SELECT pg_sleep(30)")
    except psycopg.errors.QueryCanceled:
        err.append("canceled")
    except Exception as e:
        err.append(repr(e))
t = threading.Thread(target=run_sleep)
t.start()
wait_active("SELECT pg_sleep(30)")
second.cancel()
t.join(20)
check(err == ["canceled"], f"cancel on a reused upstream: {err}")
second.close()
wait_count(p, "proxy.pool.ready", 2)
wait_backends(app, 1)

# Different startup parameters do not share a backend.
other = p.connect(application_name="reuse_b")
other.execute("SELECT 1")
check(backends("reuse_b") == 1 and backends(app) == 1, "other parameters: own backend")
other.close()
wait_count(p, "proxy.pool.ready", 3)

# A client leaving inside a transaction: its backend is closed, not kept.
inside = p.connect(application_name=app, autocommit=False)
pid_in = server_pid(inside)  # takes the pooled backend, opens a transaction
check(pid_in == pid1, "pooled backend reused again")
inside.pgconn.finish()  # Terminate while in a transaction
wait_backends(app, 0)
check(p.text().count("proxy.pool.ready") == 3 and "pool_reset_failed" not in p.text(),
      "in-transaction upstream not pooled")

# A client vanishing without Terminate while idle: kept.
s = raw_connect(p.port)
s.sendall(startup_packet("app", extra={"application_name": app}))
while read_msg(s)[0] != b"Z":
    pass
s.sendall(msg(b"Q", b"SELECT 1\0"))
while read_msg(s)[0] != b"Z":
    pass
s.close()
wait_count(p, "proxy.pool.ready", 4)
wait_backends(app, 1)

# A pooled backend that dies is dropped; the next client logs in afresh.
with admin() as a:
    a.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (app,))
p.wait_log("reason=pool_server_")
c = p.connect(application_name=app)
check(c.execute("SELECT 42").fetchone()[0] == 42, "fresh login after the pooled backend died")
c.close()
wait_count(p, "proxy.pool.ready", 5)
wait_backends(app, 1)

# Reload empties the pool (the upstream may have changed).
p.signal(signal.SIGHUP)
p.wait_log("reason=reload")
wait_backends(app, 0)

# Drain closes pooled backends and exits 0.
c = p.connect(application_name=app)
c.execute("SELECT 1")
c.close()
wait_backends(app, 1)
p.stop()
wait_backends(app, 0)

# Plain-TCP upstream (the relay's direct reads) and the idle timeout: a pooled
# backend is closed after server_idle_timeout seconds.
q = Proxy(["--auth", "trust"], env={"TETHER_PROXY_SERVER_IDLE_TIMEOUT": "3"},
          upstream=UPSTREAM + "?sslmode=disable")
pids = []
for i in range(3):
    c = q.connect(application_name="reuse_t")
    pids.append(server_pid(c))
    c.execute("SELECT generate_series(1, 50000)").fetchall()  # a reply larger than one read
    c.close()
    if i < 2:
        wait_count(q, "proxy.pool.ready", i + 1)
check(pids[0] == pids[1] == pids[2], f"plain upstream reused: {pids}")
q.wait_log("reason=pool_idle_timeout")
wait_backends("reuse_t", 0)
q.stop()

# Off (the default): a leaving client's backend goes with it.
r = Proxy(["--auth", "trust"])
for _ in range(2):
    c = r.connect(application_name="reuse_off")
    c.execute("SELECT 1")
    c.close()
wait_backends("reuse_off", 0)
check("proxy.pool.ready" not in r.text(), "no pooling by default")
r.stop()

# Out of range refuses to start.
e = dict(os.environ, TETHER_PROXY_SERVER_IDLE_TIMEOUT="-1")
e.pop("TETHER_CONFIG", None)
res = subprocess.run([TETHER, "proxy", "--listen", "127.0.0.1:1", "--upstream", UPSTREAM, "--auth", "trust"],
                     env=e, capture_output=True, text=True, timeout=20)
check(res.returncode != 0 and "server_idle_timeout" in (res.stdout + res.stderr), f"bad value: {res}")
print("proxy_reuse: ok")
