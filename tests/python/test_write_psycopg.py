"""test_write_psycopg.py - psycopg 3 writing Stripe customers through
`tether proxy --source stripe` (extended protocol with bound parameters,
server-side prepared statements, pipeline mode, and the simple protocol):
the seed scenario (update email, invalid email -> an error the client can
catch with its SQLSTATE and DETAIL, read-after-write on the same
connection), INSERT ... RETURNING the API's id, DELETE, and transactions."""
import json
import os
import subprocess
import tempfile
import unittest
import urllib.request

import psycopg
from psycopg import errors

HERE = os.path.dirname(os.path.abspath(__file__))
ENV_SH = os.path.join(HERE, "..", "integration", "write_tools", "env.sh")
WORK = tempfile.mkdtemp(prefix="tether-write-psycopg.")
ENV = {}


def setUpModule():
    out = subprocess.run([ENV_SH, "start", WORK], check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        k, v = line.split("=", 1)
        ENV[k] = v


def tearDownModule():
    subprocess.run([ENV_SH, "stop", WORK], check=False)
    subprocess.run(["rm", "-rf", WORK], check=False)


def connect(**kw):
    return psycopg.connect(host="127.0.0.1", port=ENV["PX_PORT"], user="postgres",
                           password="postgres", dbname=os.environ["PGDATABASE"],
                           sslmode="disable", connect_timeout=10, **kw)


def api(path, method="GET"):
    req = urllib.request.Request(ENV["EMU_URL"] + path, method=method)
    req.add_header("Authorization", "Bearer sk_test_tether")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


class WritePsycopgTest(unittest.TestCase):
    def customer_ids(self, conn, n):
        return [r[0] for r in conn.execute(
            "SELECT id FROM stripe.customer ORDER BY id LIMIT %s", (n,)).fetchall()]

    def test_seed_scenario_bound_parameters(self):
        with connect(autocommit=True) as c:
            cid = self.customer_ids(c, 1)[0]
            cur = c.execute("UPDATE stripe.customer SET email = %s WHERE id = %s",
                            ("py-new@email.com", cid))
            self.assertEqual(cur.rowcount, 1)
            self.assertEqual(api(f"/v1/customers/{cid}")["email"], "py-new@email.com")
            # read-after-write on the same connection
            self.assertEqual(c.execute("SELECT email FROM stripe.customer WHERE id = %s",
                                       (cid,)).fetchone()[0], "py-new@email.com")
            with self.assertRaises(errors.InvalidParameterValue) as ctx:
                c.execute("UPDATE stripe.customer SET email = %s WHERE id = %s", ("new@", cid))
            e = ctx.exception
            self.assertEqual(e.sqlstate, "22023")
            self.assertEqual(e.diag.message_primary,
                             f"Error updating customer {cid}: Invalid email address: new@")
            self.assertIn("code email_invalid", e.diag.message_detail)
            self.assertIn("param email", e.diag.message_detail)
            self.assertEqual(c.execute("SELECT email FROM stripe.customer WHERE id = %s",
                                       (cid,)).fetchone()[0], "py-new@email.com")
            self.assertEqual(api(f"/v1/customers/{cid}")["email"], "py-new@email.com")

    def test_simple_protocol(self):
        with connect(autocommit=True) as c:
            cid = self.customer_ids(c, 2)[1]
            cur = psycopg.ClientCursor(c)
            cur.execute("UPDATE stripe.customer SET name = %s WHERE id = %s", ("Simple", cid))
            self.assertEqual(cur.rowcount, 1)
            self.assertEqual(api(f"/v1/customers/{cid}")["name"], "Simple")

    def test_insert_returning_and_delete(self):
        with connect(autocommit=True) as c:
            row = c.execute("INSERT INTO stripe.customer (email, name, metadata) VALUES (%s, %s, %s)"
                            " RETURNING id, created, email",
                            ("py-made@example.com", "Py", json.dumps({"user_id": "u_py"}))).fetchone()
            nid, created, email = row
            self.assertTrue(nid.startswith("cus_"))
            self.assertIsNotNone(created)
            self.assertEqual(email, "py-made@example.com")
            obj = api(f"/v1/customers/{nid}")
            self.assertEqual(obj["metadata"], {"user_id": "u_py"})
            self.assertEqual(int(created.timestamp()), obj["created"])
            cur = c.execute("DELETE FROM stripe.customer WHERE id = %s", (nid,))
            self.assertEqual(cur.rowcount, 1)
            self.assertTrue(api(f"/v1/customers/{nid}").get("deleted"))
            self.assertIsNone(c.execute("SELECT id FROM stripe.customer WHERE id = %s",
                                        (nid,)).fetchone())

    def test_prepared_named_statement(self):
        with connect(autocommit=True) as c:
            ids = self.customer_ids(c, 3)
            for i in range(7):  # psycopg prepares server-side after 5 runs
                c.execute("UPDATE stripe.customer SET name = %s WHERE id = %s",
                          (f"prep{i}", ids[i % 3]), prepare=True)
            self.assertEqual(api(f"/v1/customers/{ids[0]}")["name"], "prep6")
            self.assertEqual(c.execute("SELECT name FROM stripe.customer WHERE id = %s",
                                       (ids[1],)).fetchone()[0], "prep4")

    def test_pipeline(self):
        with connect(autocommit=True) as c:
            ids = self.customer_ids(c, 3)
            with c.pipeline():
                c.execute("UPDATE stripe.customer SET name = %s WHERE id = %s", ("pipe-a", ids[0]))
                c.execute("SELECT count(*) FROM stripe.customer")
                c.execute("UPDATE stripe.customer SET name = %s WHERE id = %s", ("pipe-b", ids[1]))
                cur = c.execute("SELECT name FROM stripe.customer WHERE id = %s", (ids[1],))
            self.assertEqual(cur.fetchone()[0], "pipe-b")
            self.assertEqual(api(f"/v1/customers/{ids[0]}")["name"], "pipe-a")

    def test_transaction_block(self):
        with connect() as c:
            cid = self.customer_ids(c, 1)[0]
            notices = []
            c.add_notice_handler(lambda d: notices.append(d.message_primary))
            c.execute("UPDATE stripe.customer SET name = %s WHERE id = %s", ("tx-kept", cid))
            c.rollback()
            self.assertTrue(any("stays even if this transaction rolls back" in n for n in notices))
            self.assertEqual(api(f"/v1/customers/{cid}")["name"], "tx-kept")
            with self.assertRaises(errors.InvalidParameterValue):
                c.execute("UPDATE stripe.customer SET email = %s WHERE id = %s", ("bad@", cid))
            self.assertEqual(c.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
            with self.assertRaises(errors.InFailedSqlTransaction):
                c.execute("SELECT 1")
            c.rollback()
            self.assertEqual(c.execute("SELECT name FROM stripe.customer WHERE id = %s",
                                       (cid,)).fetchone()[0], "tx-kept")


if __name__ == "__main__":
    unittest.main()
