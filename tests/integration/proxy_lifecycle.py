"""Limits, reload and graceful shutdown (run by proxy_lifecycle.sh)."""
import os
import signal
import threading

import psycopg

from proxy_helpers import (TMP, UPSTREAM, Proxy, admin, check, error_fields, fail, raw_connect,
                           read_until_close, scram_secret, startup_packet, users_file, wait_active)

# --- max_client_conn ----------------------------------------------------------
p = Proxy(["--auth", "trust"], env={"TETHER_PROXY_MAX_CLIENT_CONN": "2"})
a = p.connect()
b = p.connect()
try:
    psycopg.connect(p.dsn()).close()
    fail("third client should be refused")
except psycopg.OperationalError as e:
    check("too many clients" in str(e), f"53300 message: {e}")
    check(getattr(e, "sqlstate", None) in (None, "53300"), f"sqlstate {e.sqlstate}")
raw = raw_connect(p.port)
raw.sendall(startup_packet())
msgs = read_until_close(raw)
raw.close()
check(len(msgs) == 1 and msgs[0][0] == b"E" and error_fields(msgs[0][1]).get("C") == "53300"
      and error_fields(msgs[0][1]).get("S") == "FATAL", f"raw 53300: {msgs}")
p.wait_log("reason=max_client_conn")
check(a.execute("SELECT 1").fetchone()[0] == 1, "existing client unaffected")
b.close()
p.wait_log("reason=client_terminate")
with p.connect() as c:
    check(c.execute("SELECT 2").fetchone()[0] == 2, "a slot freed up")
a.close()
p.stop()

# --- SIGHUP reloads the users file ------------------------------------------
path = users_file([("alice", scram_secret("a-pw"))], name="reload-users.txt")
p = Proxy(["--auth", "scram", "--users", path])
alice = psycopg.connect(p.dsn("alice", "a-pw"), autocommit=True)
try:
    psycopg.connect(p.dsn("bob", "b-pw")).close()
    fail("bob is not a user yet")
except psycopg.OperationalError:
    pass
users_file([("alice", scram_secret("a-pw")), ("bob", scram_secret("b-pw"))], name="reload-users.txt")
p.signal(signal.SIGHUP)
p.wait_log("event=proxy.reload ")
with psycopg.connect(p.dsn("bob", "b-pw")) as c:
    check(c.execute("SELECT 'bob in'").fetchone()[0] == "bob in", "bob after reload")
with open(path, "w") as f:
    f.write('"broken\n')
p.signal(signal.SIGHUP)
p.wait_log("event=proxy.reload.fail")
with psycopg.connect(p.dsn("bob", "b-pw")) as c:
    check(c.execute("SELECT 1").fetchone()[0] == 1, "a bad users file keeps the old users")
check(alice.execute("SELECT 'alice'").fetchone()[0] == "alice", "sessions survive reloads")
alice.close()
p.stop()

# --- a reload that moves the upstream: old sessions keep their backend, and a
# cancel still reaches it ----------------------------------------------------------
ini = os.path.join(TMP, "reload.ini")
with open(ini, "w") as f:
    f.write(f"[proxy]\nupstream = {UPSTREAM}\nauth_type = trust\n")
p = Proxy([], env={"TETHER_CONFIG": ini}, upstream=None)
old = p.connect()
with open(ini, "w") as f:
    f.write("[proxy]\nupstream = postgres://postgres:x@127.0.0.1:1/nowhere?sslmode=disable\nauth_type = trust\n")
p.signal(signal.SIGHUP)
p.wait_log("event=proxy.reload ")
try:
    psycopg.connect(p.dsn()).close()
    fail("new sessions use the new (dead) upstream")
except psycopg.OperationalError as e:
    check("upstream connection failed" in str(e), f"dead upstream: {e}")
def cancel_when_running():
    wait_active("SELECT pg_sleep(30)")
    old.cancel()


threading.Thread(target=cancel_when_running).start()
try:
    old.execute("SELECT pg_sleep(30)")
    fail("cancel after reload should work")
except psycopg.errors.QueryCanceled:
    pass
check(old.execute("SELECT 'old session ok'").fetchone()[0] == "old session ok", "old session after reload")
old.close()
p.stop()

# --- SIGTERM drains -------------------------------------------------------------
p = Proxy(["--auth", "trust"], env={"TETHER_PROXY_SHUTDOWN_TIMEOUT": "60"})
setup = p.connect()
setup.execute("CREATE TABLE drained (v text)")
setup.close()
idle = p.connect()
with idle.cursor().copy("COPY drained (v) FROM STDIN") as cp:  # last message was CopyDone
    cp.write_row(("copied",))
busy = p.connect(autocommit=False)
busy.execute("INSERT INTO drained VALUES ('before')")
started = threading.Event()
result = {}


def run_busy():
    try:
        started.set()
        busy.execute("SELECT pg_sleep(2)")
        busy.execute("INSERT INTO drained VALUES ('after')")
        busy.commit()
        result["ok"] = True
    except Exception as e:  # reported below
        result["err"] = e


t = threading.Thread(target=run_busy)
t.start()
started.wait()
wait_active("SELECT pg_sleep(2)")  # the busy query runs before the signal
p.signal(signal.SIGTERM)
p.wait_log("event=proxy.drain ")
try:
    psycopg.connect(p.dsn(), connect_timeout=5).close()
    fail("new clients are refused while draining")
except psycopg.OperationalError:
    pass
try:
    idle.execute("SELECT 1")
    fail("idle client should have been closed")
except psycopg.OperationalError as e:
    check("administrator command" in str(e) or "closed" in str(e), f"idle close: {e}")
t.join(30)
check(result.get("ok") is True, f"busy transaction finished during drain: {result}")
check(p.proc.wait(30) == 0, "proxy exits 0 after draining")
with admin() as adm:
    rows = [r[0] for r in adm.execute("SELECT v FROM drained ORDER BY v")]
check(rows == ["after", "before", "copied"], f"drained transaction committed: {rows}")
check("reason=shutdown" in p.text() and "proxy.stopped" in p.text(), "drain logged")
p.stop()

# --- shutdown_timeout cuts a transaction that never ends -------------------
p = Proxy(["--auth", "trust"], env={"TETHER_PROXY_SHUTDOWN_TIMEOUT": "1"})
stuck = p.connect(autocommit=False)
stuck.execute("SELECT 1")  # open transaction, never committed
p.signal(signal.SIGTERM)
check(p.proc.wait(30) == 0, "proxy exits after shutdown_timeout")
check("reason=shutdown_timeout" in p.text(), "timeout close logged")
try:
    stuck.execute("SELECT 1")
    fail("stuck client should be disconnected")
except psycopg.OperationalError:
    pass
p.stop()
print("ok")
