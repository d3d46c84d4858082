"""Authentication through the proxy, both sides (run by proxy_auth.sh)."""
import os
import subprocess

import psycopg

from proxy_helpers import (PGDATABASE, TMP, Proxy, admin, check, fail, make_cert, md5_secret,
                           scram_secret, users_file)


def must_fail(dsn, needle):
    try:
        psycopg.connect(dsn).close()
    except psycopg.OperationalError as e:
        check(needle in str(e), f"expected {needle!r} in {e}")
        return
    fail(f"connection should have failed: {dsn}")


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


cert, key = make_cert()
# a secret exactly as Postgres stores it
with admin() as a:
    a.execute("DROP ROLE IF EXISTS proxy_auth_pgsecret")
    a.execute("CREATE ROLE proxy_auth_pgsecret PASSWORD 'pg-pw'")
    pg_secret = a.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'proxy_auth_pgsecret'").fetchone()[0]
    a.execute("DROP ROLE proxy_auth_pgsecret")
check(pg_secret.startswith("SCRAM-SHA-256$"), "postgres made a SCRAM secret")
users = users_file([("alice", scram_secret("alice-pw")), ("bob", md5_secret("bob-pw", "bob")),
                    ("carol", "carol-pw"), ('we"ird', "q-pw"), ("pguser", pg_secret)])

# --- SCRAM clients, TLS offered -------------------------------------------
p = Proxy(["--auth", "scram", "--users", users, "--tls-cert", cert, "--tls-key", key])
with psycopg.connect(p.dsn("alice", "alice-pw", sslmode="require")) as c:
    check(c.pgconn.ssl_in_use, "sslmode=require client should be on TLS")
    check(one(c, "select 41 + 1") == 42, "query over TLS")
with psycopg.connect(p.dsn("alice", "alice-pw", sslmode="disable")) as c:
    check(not c.pgconn.ssl_in_use, "sslmode=disable client should not be on TLS")
with psycopg.connect(p.dsn("carol", "carol-pw", sslmode="prefer")) as c:
    check(one(c, "select 1") == 1, "plaintext secret with SCRAM")
with psycopg.connect(p.dsn("pguser", "pg-pw")) as c:
    check(one(c, "select 1") == 1, "secret copied from pg_authid")
with psycopg.connect(p.dsn('we"ird', "q-pw")) as c:
    check(one(c, "select 1") == 1, "quoted user name")
must_fail(p.dsn("alice", "wrong", sslmode="require"), 'password authentication failed for user "alice"')
# channel binding: SCRAM-SHA-256-PLUS with tls-server-end-point on TLS (libpq
# refuses to finish unless the server proved the binding)
for user, pw in (("alice", "alice-pw"), ("carol", "carol-pw"), ("pguser", "pg-pw")):
    with psycopg.connect(p.dsn(user, pw, sslmode="require", channel_binding="require")) as c:
        check(one(c, "select 1") == 1, f"channel_binding=require over TLS ({user})")
with psycopg.connect(p.dsn("alice", "alice-pw", sslmode="require", channel_binding="disable")) as c:
    check(one(c, "select 1") == 1, "plain SCRAM over TLS when the client does not bind")
must_fail(p.dsn("alice", "wrong", sslmode="require", channel_binding="require"),
          'password authentication failed for user "alice"')
must_fail(p.dsn("nobody", "x", sslmode="require", channel_binding="require"), "password authentication failed")
must_fail(p.dsn("alice", "alice-pw", sslmode="disable", channel_binding="require"), "channel binding")
must_fail(p.dsn("bob", "bob-pw"), "password authentication failed")  # md5 secret cannot do SCRAM
must_fail(p.dsn("nobody", "x"), "password authentication failed")
check("event=proxy.users.unusable count=1" in p.text(), "the md5 entry is flagged as unusable with scram")
p.wait_log("reason=auth_failed")
check("alice-pw" not in p.text() and "postgres:postgres" not in p.text(), "no secrets in the log")
p.stop()

# --- MD5 clients ------------------------------------------------------------
p = Proxy(["--auth", "md5", "--users", users])
with psycopg.connect(p.dsn("bob", "bob-pw")) as c:
    check(one(c, "select current_user") == "postgres", "md5 login reaches upstream as the proxy's user")
with psycopg.connect(p.dsn("carol", "carol-pw")) as c:
    check(one(c, "select 1") == 1, "plaintext secret with md5")
must_fail(p.dsn("bob", "nope"), "password authentication failed")
must_fail(p.dsn("alice", "alice-pw"), "password authentication failed")  # SCRAM secret cannot do md5
p.stop()

# --- trust ------------------------------------------------------------------
p = Proxy(["--auth", "trust"])
with psycopg.connect(p.dsn("anyone")) as c:
    check(one(c, "select 1") == 1, "trust")
    check(one(c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True,
          "default upstream sslmode=prefer uses TLS to a TLS server")
p.stop()
# scram without a users file is refused at start
r = subprocess.run([os.environ["TETHER_BIN"], "proxy", "--listen", "127.0.0.1:1", "--upstream",
                    "postgres://u:p@127.0.0.1:1/d", "--auth", "scram"], capture_output=True, text=True)
check(r.returncode == 1 and "needs a users file" in r.stderr, f"scram without users: {r.stderr}")

# --- upstream TLS modes -----------------------------------------------------
p = Proxy(["--auth", "trust"], env={"TETHER_PROXY_UPSTREAM_SSLMODE": "require"})
with psycopg.connect(p.dsn()) as c:
    check(one(c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True, "upstream require")
p.stop()
p = Proxy(["--auth", "trust"], env={"TETHER_PROXY_UPSTREAM_SSLMODE": "disable"})
with psycopg.connect(p.dsn()) as c:
    check(one(c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is False, "upstream disable")
p.stop()

# --- upstream certificate verification ------------------------------------
crt = os.path.join(os.environ["TETHER_TEST_PG_DATADIR"], "server.crt")  # self-signed, CN=localhost
base = f"postgres://postgres:postgres@%s:{os.environ['PGPORT']}/{PGDATABASE}?sslmode=%s"
p = Proxy(["--auth", "trust"], upstream=(base % ("localhost", "verify-full")) + f"&sslrootcert={crt}")
with psycopg.connect(p.dsn()) as c:
    check(one(c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True, "verify-full ok")
p.stop()
p = Proxy(["--auth", "trust"], upstream=(base % ("127.0.0.1", "verify-ca")) + f"&sslrootcert={crt}")
with psycopg.connect(p.dsn()) as c:
    check(one(c, "select 1") == 1, "verify-ca ignores the host name")
p.stop()
p = Proxy(["--auth", "trust"], upstream=(base % ("127.0.0.1", "verify-full")) + f"&sslrootcert={crt}")
must_fail(p.dsn(), "upstream connection failed")  # name mismatch
p.wait_log("reason=upstream_tls_failed")
p.stop()
p = Proxy(["--auth", "trust"], upstream=base % ("localhost", "verify-full"))
must_fail(p.dsn(), "certificate verify failed")  # not signed by a system CA
p.stop()

# --- sslmode=prefer falls back to plain when the upstream's TLS is broken ----
import socket
import threading

from proxy_helpers import PGPORT


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def broken_tls_front(lsock):
    """Says 'S' to SSLRequest, then speaks garbage instead of TLS; plain
    startups are piped to the real server."""
    while True:
        try:
            c, _ = lsock.accept()
        except OSError:
            return
        head = c.recv(8)
        if head == bytes.fromhex("0000000804d2162f"):
            c.sendall(b"S")
            c.recv(4096)  # the client hello
            c.sendall(b"this is not a TLS server hello" * 4)
            c.close()
            continue
        up = socket.create_connection(("127.0.0.1", PGPORT))
        up.sendall(head)
        threading.Thread(target=pipe, args=(c, up), daemon=True).start()
        threading.Thread(target=pipe, args=(up, c), daemon=True).start()


front = socket.socket()
front.bind(("127.0.0.1", 0))
front.listen(16)
threading.Thread(target=broken_tls_front, args=(front,), daemon=True).start()
fport = front.getsockname()[1]
p = Proxy(["--auth", "trust"], upstream=f"postgres://postgres:postgres@127.0.0.1:{fport}/{PGDATABASE}?sslmode=prefer")
with psycopg.connect(p.dsn()) as c:
    check(one(c, "select 'fell back'") == "fell back", "prefer retries without TLS")
p.wait_log("event=proxy.upstream.tls_fallback")
p.stop()
p = Proxy(["--auth", "trust"], upstream=f"postgres://postgres:postgres@127.0.0.1:{fport}/{PGDATABASE}?sslmode=require")
must_fail(p.dsn(), "upstream connection failed")
p.wait_log("reason=upstream_tls_failed")
p.stop()
front.close()

# --- upstream MD5 and cleartext on a private cluster --------------------
state = os.path.join(TMP, "pgstate")
src = os.environ["TETHER_SOURCE_DIR"]
subprocess.run(["bash", f"{src}/tests/harness/pg.sh", "start", state], check=True, capture_output=True)
try:
    env = {}
    for line in open(os.path.join(state, "env")):
        if line.startswith("export "):
            k, v = line[7:].strip().split("=", 1)
            env[k] = v
    port = env["PGPORT"]
    datadir = env["TETHER_TEST_PG_DATADIR"]
    adm = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres password=postgres dbname=postgres",
                          autocommit=True)
    adm.execute("SET password_encryption = 'md5'")
    adm.execute("CREATE ROLE md5user LOGIN PASSWORD 'md5-pw'")
    adm.execute("SET password_encryption = 'scram-sha-256'")
    adm.execute("CREATE ROLE clearuser LOGIN PASSWORD 'clear-pw'")
    hba = os.path.join(datadir, "pg_hba.conf")
    old = open(hba).read()
    with open(hba, "w") as f:
        f.write("host all md5user 127.0.0.1/32 md5\nhost all clearuser 127.0.0.1/32 password\n" + old)
    adm.execute("SELECT pg_reload_conf()")
    for user, pw, method in (("md5user", "md5-pw", "md5"), ("clearuser", "clear-pw", "password")):
        for mode in ("disable", "require"):
            up = f"postgres://{user}:{pw}@127.0.0.1:{port}/postgres?sslmode={mode}"
            p = Proxy(["--auth", "trust"], upstream=up)
            with psycopg.connect(p.dsn("x", dbname="postgres")) as c:
                check(one(c, "select current_user") == user, f"upstream {method} as {user}")
                check(one(c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is (mode == "require"),
                      f"upstream sslmode={mode}")
            p.stop()
    # wrong upstream password: the upstream's FATAL reaches the client intact
    p = Proxy(["--auth", "trust"], upstream=f"postgres://md5user:bad@127.0.0.1:{port}/postgres")
    try:
        psycopg.connect(p.dsn("x")).close()
        fail("bad upstream password should fail")
    except psycopg.OperationalError as e:
        check("password authentication failed" in str(e), f"upstream error passed through: {e}")
    p.wait_log("reason=upstream_auth_failed")
    p.stop()
    adm.close()
finally:
    subprocess.run(["bash", f"{src}/tests/harness/pg.sh", "stop", state], capture_output=True)
print("ok")
