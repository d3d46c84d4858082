"""test_proxy_psycopg.py - psycopg 3 (Debian's python3-psycopg) through
`tether proxy` against the real test cluster: SCRAM, trust and TLS logins,
simple and extended protocol, server-side prepared statements, transaction
status, errors with all fields, notices, COPY in/out, LISTEN/NOTIFY across two
connections, cancel of pg_sleep, and pipeline mode.
TETHER_TEST_DIRECT=1 runs the same checks against Postgres itself."""
import os
import subprocess
import tempfile
import threading
import time
import unittest

import psycopg
from psycopg import pq, sql

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY_SH = os.path.join(HERE, "..", "harness", "proxy.sh")
DIRECT = os.environ.get("TETHER_TEST_DIRECT") == "1"
WORK = tempfile.mkdtemp(prefix="tether-psycopg.")
PROXIES = {}


def start_proxy(name, *args):
    PROXIES[name] = None  # stopped in tearDownModule even if start fails half-way
    out = subprocess.run([PROXY_SH, "start", os.path.join(WORK, name), *args],
                         check=True, capture_output=True, text=True)
    PROXIES[name] = out.stdout.strip()
    return PROXIES[name]


def setUpModule():
    try:
        start_proxy("scram", "--auth", "scram")
        start_proxy("trust", "--auth", "trust")
        start_proxy("tls", "--auth", "scram", "--tls")
    except BaseException:
        tearDownModule()  # unittest skips it when setUpModule fails
        raise


def tearDownModule():
    for name in PROXIES:
        subprocess.run([PROXY_SH, "stop", os.path.join(WORK, name)], check=False)
    subprocess.run(["rm", "-rf", WORK], check=False)


def connect(name="scram", **kw):
    params = dict(host="127.0.0.1", port=PROXIES[name], user="postgres",
                  password="postgres", dbname=os.environ["PGDATABASE"],
                  sslmode="disable", connect_timeout=10)
    params.update(kw)
    return psycopg.connect(**params)


class ProxyPsycopgTest(unittest.TestCase):
    def test_logins(self):
        with connect("scram") as c:
            self.assertEqual(c.execute("SELECT 1").fetchone(), (1,))
        with connect("trust", password="" if not DIRECT else "postgres") as c:
            self.assertEqual(c.execute("SELECT 2").fetchone(), (2,))
        with connect("tls", sslmode="require") as c:
            self.assertEqual(c.execute("SELECT 3").fetchone(), (3,))
            self.assertTrue(c.pgconn.ssl_in_use)
        if not DIRECT:
            with self.assertRaises(psycopg.OperationalError) as ctx:
                connect("scram", password="wrong")
            self.assertIn("password authentication failed", str(ctx.exception))

    def test_queries_params_prepared(self):
        with connect() as c:
            c.execute("CREATE TABLE IF NOT EXISTS t_params (id int PRIMARY KEY, v text, n numeric)")
            c.execute("TRUNCATE t_params")
            with c.cursor() as cur:
                cur.executemany("INSERT INTO t_params VALUES (%s, %s, %s)",
                                [(i, f"v{i}", i * 1.5) for i in range(50)])
                # Extended protocol with parameters, then forced server-side
                # prepared statements (Parse once, Bind/Execute many).
                for i in range(10):
                    cur.execute("SELECT v, n FROM t_params WHERE id = %s", (i,), prepare=True)
                    self.assertEqual(cur.fetchone()[0], f"v{i}")
                cur.execute("SELECT count(*) FROM pg_prepared_statements")
                self.assertGreaterEqual(cur.fetchone()[0], 1)
                cur.execute("SELECT %s::text || %s::text, %s::int[], %s::bytea",
                            ("a'b", None, [1, 2, 3], b"\x00\xff"))
                self.assertEqual(cur.fetchone(), (None, [1, 2, 3], b"\x00\xff"))

    def test_binary_and_simple(self):
        with connect() as c:
            cur = c.cursor(binary=True)
            cur.execute("SELECT %s::int8, %s::text", (2 ** 40, "x" * 10000))
            self.assertEqual(cur.fetchone(), (2 ** 40, "x" * 10000))
            # Simple protocol: several statements in one string.
            c.execute("SELECT 1; SELECT 2", prepare=False)
            cur = psycopg.ClientCursor(c)
            cur.execute("SELECT %s || 'x'", ("y",))
            self.assertEqual(cur.fetchone(), ("yx",))

    def test_transaction_status(self):
        with connect(autocommit=True) as c:
            self.assertEqual(c.info.transaction_status, pq.TransactionStatus.IDLE)
            c.execute("BEGIN")
            self.assertEqual(c.info.transaction_status, pq.TransactionStatus.INTRANS)
            with self.assertRaises(psycopg.errors.DivisionByZero):
                c.execute("SELECT 1/0")
            self.assertEqual(c.info.transaction_status, pq.TransactionStatus.INERROR)
            with self.assertRaises(psycopg.errors.InFailedSqlTransaction):
                c.execute("SELECT 1")
            c.execute("ROLLBACK")
            self.assertEqual(c.info.transaction_status, pq.TransactionStatus.IDLE)
            self.assertEqual(c.execute("SELECT 5").fetchone(), (5,))

    def test_errors_all_fields(self):
        with connect(autocommit=True) as c:
            with self.assertRaises(psycopg.Error) as ctx:
                c.execute("DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'P0099', "
                          "DETAIL = 'the detail', HINT = 'the hint', SCHEMA = 's1', TABLE = 't1', "
                          "COLUMN = 'c1', CONSTRAINT = 'k1', DATATYPE = 'd1'; END $$")
            d = ctx.exception.diag
            self.assertEqual(d.sqlstate, "P0099")
            self.assertEqual(d.message_primary, "custom failure")
            self.assertEqual(d.message_detail, "the detail")
            self.assertEqual(d.message_hint, "the hint")
            self.assertEqual((d.schema_name, d.table_name, d.column_name, d.constraint_name,
                              d.datatype_name), ("s1", "t1", "c1", "k1", "d1"))
            self.assertEqual(d.severity, "ERROR")
            self.assertEqual(d.severity_nonlocalized, "ERROR")
            self.assertIn("PL/pgSQL", d.context)
            self.assertTrue(d.source_file and d.source_line and d.source_function)
            with self.assertRaises(psycopg.errors.UndefinedColumn) as ctx:
                c.execute("SELECT nosuchcolumn FROM pg_class", prepare=False)
            self.assertEqual(ctx.exception.diag.statement_position, "8")
            c.execute("CREATE TABLE IF NOT EXISTS t_err (id int PRIMARY KEY)")
            c.execute("INSERT INTO t_err VALUES (1) ON CONFLICT DO NOTHING")
            with self.assertRaises(psycopg.errors.UniqueViolation) as ctx:
                c.execute("INSERT INTO t_err VALUES (%s)", (1,))
            self.assertEqual(ctx.exception.diag.message_detail, "Key (id)=(1) already exists.")
            self.assertEqual(ctx.exception.diag.constraint_name, "t_err_pkey")
            self.assertEqual(c.execute("SELECT 1").fetchone(), (1,))

    def test_notice(self):
        with connect(autocommit=True) as c:
            notices = []
            # The Diagnostic is only valid inside the handler: copy its fields.
            c.add_notice_handler(lambda d: notices.append(
                (d.severity, d.sqlstate, d.message_primary, d.message_hint)))
            c.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42 USING HINT = 'nh'; END $$")
            self.assertEqual(notices, [("NOTICE", "00000", "hello 42", "nh")])

    def test_copy(self):
        with connect(autocommit=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS t_copy (id int, name text)")
            c.execute("TRUNCATE t_copy")
            rows = [(i, f"name {i}\twith tab") for i in range(20000)]
            with c.cursor() as cur:
                with cur.copy("COPY t_copy (id, name) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
                self.assertEqual(cur.execute("SELECT count(*) FROM t_copy").fetchone(), (20000,))
                out = []
                with cur.copy("COPY (SELECT id, name FROM t_copy ORDER BY id) TO STDOUT") as cp:
                    cp.set_types(["int4", "text"])
                    for r in cp.rows():
                        out.append(r)
                self.assertEqual(out, rows)
                # A failing COPY FROM is reported and the session stays usable.
                with self.assertRaises(psycopg.errors.InvalidTextRepresentation):
                    with cur.copy("COPY t_copy (id) FROM STDIN") as cp:
                        cp.write(b"1\nnot-a-number\n")
                self.assertEqual(cur.execute("SELECT 7").fetchone(), (7,))

    def test_listen_notify(self):
        with connect(autocommit=True) as listener, connect(autocommit=True) as sender:
            listener.execute("LISTEN tether_py")
            sender.execute("SELECT pg_notify('tether_py', 'payload-1')")
            sender.execute("NOTIFY tether_py, 'payload-2'")
            got = []
            listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
            # Notifications arrive with the listener's next round trip.
            for _ in range(50):
                listener.execute("SELECT 1")
                if len(got) >= 2:
                    break
                time.sleep(0.1)
            self.assertEqual(got, [("tether_py", "payload-1"), ("tether_py", "payload-2")])

    def cancel_sleep(self, **kw):
        with connect(autocommit=True, **kw) as c:
            timer = threading.Timer(1.0, c.cancel)
            timer.start()
            start = time.monotonic()
            with self.assertRaises(psycopg.errors.QueryCanceled):
                c.execute("SELECT pg_sleep(30)")
            timer.join()
            self.assertLess(time.monotonic() - start, 25, "cancel did not stop pg_sleep(30)")
            self.assertEqual(c.execute("SELECT 1").fetchone(), (1,))

    def test_cancel(self):
        self.cancel_sleep()

    def test_cancel_tls(self):
        with connect("tls", sslmode="require", autocommit=True) as c:
            timer = threading.Timer(1.0, c.cancel)
            timer.start()
            with self.assertRaises(psycopg.errors.QueryCanceled):
                c.execute("SELECT pg_sleep(30)")
            timer.join()

    def test_pipeline(self):
        with connect(autocommit=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS t_pipe (id int PRIMARY KEY, v text)")
            c.execute("TRUNCATE t_pipe")
            with c.pipeline() as p:
                curs = []
                for i in range(100):
                    c.execute("INSERT INTO t_pipe VALUES (%s, %s)", (i, f"v{i}"))
                for i in range(0, 100, 10):
                    curs.append(c.execute("SELECT v FROM t_pipe WHERE id = %s", (i,)))
                p.sync()
                self.assertEqual([cur.fetchone()[0] for cur in curs],
                                 [f"v{i}" for i in range(0, 100, 10)])
            # An error inside a pipeline aborts the rest up to the next Sync.
            with self.assertRaises(psycopg.errors.UniqueViolation):
                with c.pipeline():
                    c.execute("INSERT INTO t_pipe VALUES (%s, 'dup')", (1,))
                    c.execute("INSERT INTO t_pipe VALUES (%s, 'never')", (1000,))
            self.assertEqual(c.execute("SELECT count(*) FROM t_pipe WHERE id = 1000").fetchone(), (0,))
            self.assertEqual(c.execute("SELECT count(*) FROM t_pipe").fetchone(), (100,))


if __name__ == "__main__":
    unittest.main(verbosity=2)
