"""Protocol features relayed through the proxy (run by proxy_protocol.sh)."""
import socket
import struct
import threading
import time

import psycopg
from psycopg import errors, pq

from proxy_helpers import Proxy, admin, check, fail, wait_active

p = Proxy(["--auth", "trust"])
conn = p.connect()
cur = conn.cursor()

# --- simple and extended query, transaction status --------------------------
cur.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
check(conn.info.transaction_status == pq.TransactionStatus.IDLE, "idle after autocommit DDL")
conn.autocommit = False
cur.execute("INSERT INTO t VALUES (%s, %s)", (1, "one"))  # extended protocol (Parse/Bind/Execute)
check(conn.info.transaction_status == pq.TransactionStatus.INTRANS, "in transaction")
try:
    cur.execute("SELECT 1/0")
    fail("division by zero should fail")
except errors.DivisionByZero:
    pass
check(conn.info.transaction_status == pq.TransactionStatus.INERROR, "failed transaction status")
conn.rollback()
conn.autocommit = True
cur.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
cur.execute("SELECT v FROM t WHERE id = %s", (2,), prepare=True)
cur.execute("SELECT v FROM t WHERE id = %s", (2,), prepare=True)  # named prepared statement reuse
check(cur.fetchone()[0] == "two", "prepared statement")
cur.execute("SELECT 1; SELECT 2")  # multi-statement simple query
check(cur.fetchone()[0] == 1, "first result of multi-statement")

# --- pipelining ---------------------------------------------------------------
with conn.pipeline():
    curs = [conn.execute("SELECT %s::int * 2", (i,)) for i in range(200)]
vals = [c.fetchone()[0] for c in curs]
check(vals == [i * 2 for i in range(200)], "pipelined results in order")
try:
    with conn.pipeline():
        conn.execute("SELECT 1")
        conn.execute("SELECT nope")
        conn.execute("SELECT 3")
    fail("pipeline error expected")
except errors.UndefinedColumn:
    pass
check(conn.execute("SELECT 'after pipeline error'").fetchone()[0] == "after pipeline error",
      "session usable after pipeline error")

# --- large values stream through -----------------------------------------
big = conn.execute("SELECT repeat('x', 5000000)").fetchone()[0]
check(len(big) == 5000000, "5 MB value")
n = conn.execute("SELECT count(*) FROM (SELECT g, repeat('y', 100) FROM generate_series(1, 200000) g) s").fetchone()[0]
check(n == 200000, "count")
rows = conn.execute("SELECT g, repeat('y', 100) FROM generate_series(1, 100000) g").fetchall()
check(len(rows) == 100000 and rows[-1][0] == 100000, "100k rows streamed")

# --- COPY IN / OUT ----------------------------------------------------------
with cur.copy("COPY t (id, v) FROM STDIN") as cp:
    for i in range(10, 5010):
        cp.write_row((i, f"row {i}"))
check(conn.execute("SELECT count(*) FROM t").fetchone()[0] == 5002, "COPY IN rows")
out = b""
with cur.copy("COPY (SELECT id, v FROM t ORDER BY id) TO STDOUT") as cp:
    for chunk in cp:
        out += bytes(chunk)
check(out.count(b"\n") == 5002 and b"4999\trow 4999\n" in out, "COPY OUT data")
try:
    with cur.copy("COPY t (id, v) FROM STDIN") as cp:
        cp.write_row((1, "duplicate"))
    fail("COPY with duplicate key should fail")
except errors.UniqueViolation:
    pass
check(conn.execute("SELECT 1").fetchone()[0] == 1, "usable after COPY error")

# --- errors and notices with every field --------------------------------------
notices = []
conn.add_notice_handler(lambda d: notices.append(
    (d.message_primary, d.message_detail, d.message_hint, d.severity, d.sqlstate)))
conn.execute("""DO $$ BEGIN RAISE NOTICE 'hello %', 42 USING DETAIL = 'the detail', HINT = 'the hint'; END $$""")
check(len(notices) == 1, f"one notice: {notices}")
check(notices[0] == ("hello 42", "the detail", "the hint", "NOTICE", "00000"), f"notice fields {notices}")
try:
    conn.execute("""DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '22023', DETAIL = 'd1',
                    HINT = 'h1', SCHEMA = 's1', TABLE = 't1', COLUMN = 'c1', CONSTRAINT = 'k1',
                    DATATYPE = 'dt1'; END $$""")
    fail("exception expected")
except psycopg.Error as e:
    x = e.diag
    check(x.sqlstate == "22023" and x.message_primary == "boom" and x.message_detail == "d1"
          and x.message_hint == "h1" and x.schema_name == "s1" and x.table_name == "t1"
          and x.column_name == "c1" and x.constraint_name == "k1" and x.datatype_name == "dt1"
          and x.context is not None and x.severity == "ERROR" and x.source_function is not None,
          "error fields")
try:
    conn.execute("SELECT * FROM t WHERE")
except errors.SyntaxError as e:
    check(e.diag.statement_position is not None, "syntax error position")

# --- ParameterStatus ----------------------------------------------------------
conn.execute("SET application_name = 'via-proxy'")
check(conn.info.parameter_status("application_name") == "via-proxy", "ParameterStatus relayed")
check(conn.info.parameter_status("server_version") is not None, "startup ParameterStatus")
c2 = psycopg.connect(p.dsn(application_name="startup-app"), autocommit=True)
check(c2.execute("SHOW application_name").fetchone()[0] == "startup-app", "startup params forwarded")

# --- LISTEN / NOTIFY ----------------------------------------------------------
c2.execute("LISTEN chan")
conn.execute("NOTIFY chan, 'payload-1'")
got = []
c2.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
for _ in range(100):
    c2.execute("SELECT 1")
    if got:
        break
    time.sleep(0.1)
check(got == [("chan", "payload-1")], f"notification {got}")

# --- cancel a pg_sleep ------------------------------------------------------
def cancel_soon():
    wait_active("SELECT pg_sleep(30)")
    c2.cancel()
other = {}


def other_sleeper():  # a second session sleeping at the same time must not be cancelled
    try:
        other["v"] = conn.execute("SELECT pg_sleep(1.5), 'other done'").fetchone()[1]
    except Exception as e:
        other["err"] = e


t2 = threading.Thread(target=other_sleeper)
t2.start()
t = threading.Thread(target=cancel_soon)
t.start()
t0 = time.time()
try:
    c2.execute("SELECT pg_sleep(30)")
    fail("pg_sleep should have been cancelled")
except errors.QueryCanceled:
    pass
t.join()
t2.join()
check(other.get("v") == "other done", f"only the right backend was cancelled: {other}")
check(time.time() - t0 < 25, "cancel took effect")
check(c2.execute("SELECT 'still here'").fetchone()[0] == "still here", "session survives cancel")
p.wait_log("event=proxy.cancel ")
# a bogus cancel key does nothing
s = socket.create_connection(("127.0.0.1", p.port))
s.sendall(struct.pack("!IIII", 16, 80877102, 12345, 678))
check(s.recv(10) == b"", "cancel connection closed")
s.close()
p.wait_log("proxy.cancel.unknown")

# --- server-side disconnect -------------------------------------------------
pid = c2.execute("SELECT pg_backend_pid()").fetchone()[0]
with admin() as a:
    a.execute("SELECT pg_terminate_backend(%s)", (pid,))
try:
    c2.execute("SELECT 1")
    fail("terminated backend should fail")
except psycopg.OperationalError as e:
    check("terminating connection due to administrator command" in str(e) or "closed" in str(e),
          f"server FATAL relayed: {e}")
p.wait_log("reason=server_closed")
check(conn.execute("SELECT 'other session fine'").fetchone()[0] == "other session fine",
      "other sessions unaffected")
c2.close()
conn.close()
p.stop()
print("ok")
