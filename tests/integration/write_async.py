"""write_async.py - the checks of write_async.sh (which starts the two
emulators, the syncs and the proxy, and sets the slow emulator's latency).
Order is asserted from events, never from durations: a client that must
finish first finishes while the slow write is still running (its thread
alive, its result not in)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psycopg

LOG = os.environ["WT_PROXY_LOG"]
PX_URL = os.environ["PX_URL"]
DB_URL = os.environ["DB_URL"]
EMU_URL = os.environ["EMU_URL"]
SLOW_URL = os.environ["SLOW_URL"]
LOG = os.environ["WT_PROXY_LOG"]
WORKERS = int(os.environ.get("TETHER_WRITE_WORKERS", "4"))


def fail(msg):
    with open(LOG, encoding="utf-8", errors="replace") as f:
        tail = [line for line in f if "writethrough" in line or "cancel" in line][-25:]
    print("--- proxy log (write-through lines)\n" + "".join(tail), file=sys.stderr)
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def db(sql, *args):
    with psycopg.connect(DB_URL, autocommit=True) as c:
        return c.execute(sql, args).fetchall()


def api(base, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer sk_test_tether"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def log_count(event):
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if f"event={event}" in line)


def wait_log(event, n, what, secs=60):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if log_count(event) >= n:
            return
        time.sleep(0.05)
    fail(f"{what}: {event} logged {log_count(event)} times, want {n}")


class Slow(threading.Thread):
    """Runs one statement through the proxy on its own connection; records the outcome."""

    def __init__(self, sql, args, order, name):
        super().__init__(daemon=True)
        self.sql, self.args, self.order, self.name = sql, args, order, name
        self.result = None
        self.error = None

    def run(self):
        try:
            with psycopg.connect(PX_URL, autocommit=True) as c:
                cur = c.execute(self.sql, self.args)
                self.result = cur.statusmessage
        except Exception as e:  # reported by the checks below
            self.error = e
        self.order.append(self.name)


def start_slow(sql, args, order, name):
    """Starts a write on the slow source and returns once a worker has taken it."""
    n = log_count("writethrough.job_start")
    t = Slow(sql, args, order, name)
    t.start()
    wait_log("writethrough.job_start", n + 1, f"{name} did not reach a worker")
    return t


slow_ids = [r[0] for r in db("SELECT id FROM stripe_slow.customer ORDER BY id")]
fast_ids = [r[0] for r in db("SELECT id FROM stripe.customer ORDER BY id")]
if len(slow_ids) < 5 or len(fast_ids) < 2:
    fail(f"not enough customers: slow={len(slow_ids)} fast={len(fast_ids)}")

# 1. A's write waits on the slow API; B reads, C writes, D logs in meanwhile.
order = []
a = start_slow("UPDATE stripe_slow.customer SET name = %s WHERE id = %s", ("slow-A", slow_ids[0]),
               order, "A")
with psycopg.connect(PX_URL, autocommit=True) as b:
    n = b.execute("SELECT count(*) FROM stripe.customer").fetchone()[0]
    if n < 2:
        fail(f"B read {n} rows")
order.append("B")
with psycopg.connect(PX_URL, autocommit=True) as c:
    cur = c.execute("UPDATE stripe.customer SET name = %s WHERE id = %s RETURNING name",
                    ("fast-C", fast_ids[0]))
    if cur.statusmessage != "UPDATE 1" or cur.fetchone()[0] != "fast-C":
        fail(f"C's write: {cur.statusmessage}")
order.append("C")
with psycopg.connect(PX_URL, autocommit=True) as d:
    d.execute("SELECT 1").fetchone()
order.append("D")
if not a.is_alive() or order[:3] != ["B", "C", "D"]:
    fail(f"B, C and D did not finish while A waited on the API: order={order}")
a.join(60)
if a.error or a.result != "UPDATE 1":
    fail(f"A: result={a.result} error={a.error}")
if order != ["B", "C", "D", "A"]:
    fail(f"order {order}")
if db("SELECT name FROM stripe_slow.customer WHERE id = %s", slow_ids[0])[0][0] != "slow-A":
    fail("A's write is not in the table")
if api(EMU_URL, f"/v1/customers/{fast_ids[0]}")["name"] != "fast-C":
    fail("C's write is not at the API")
if api(SLOW_URL, f"/v1/customers/{slow_ids[0]}")["name"] != "slow-A":
    fail("A's write is not at the API")
print("ok: B, C, D served while A waited on the API")

# 2. A pipelining client: the messages after its write are held, then answered in order.
with psycopg.connect(PX_URL, autocommit=True) as p:
    with p.pipeline():
        c1 = p.execute("UPDATE stripe_slow.customer SET name = %s WHERE id = %s", ("pipe-1", slow_ids[1]))
        c2 = p.execute("SELECT name FROM stripe_slow.customer WHERE id = %s", (slow_ids[1],))
        c3 = p.execute("SELECT count(*) FROM stripe.customer")
    if c1.statusmessage != "UPDATE 1" or c2.fetchone()[0] != "pipe-1" or c3.fetchone()[0] < 2:
        fail("pipelined answers out of order")
print("ok: pipelined messages held and answered in order")

# 3. Ctrl-C (psql sends a CancelRequest) while the write waits on the API: the
#    API call is not taken back, so the client gets its real outcome.
audit_before = db("SELECT count(*) FROM _tether.write_audit WHERE result = 'applied'")[0][0]
n = log_count("writethrough.job_start")
ncancel = log_count("proxy.cancel")
psql = subprocess.Popen(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", PX_URL, "-c",
                         f"UPDATE stripe_slow.customer SET name = 'cancel-E' WHERE id = '{slow_ids[2]}'"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wait_log("writethrough.job_start", n + 1, "E did not reach a worker")
time.sleep(0.2)  # psql must be waiting for the answer to turn SIGINT into a cancel
psql.send_signal(signal.SIGINT)
wait_log("proxy.cancel", ncancel + 1, "the CancelRequest did not reach the proxy")
out, err = psql.communicate(timeout=60)
# (psql exits 1 after a Ctrl-C even when the statement succeeded)
if "UPDATE 1" not in out or "ERROR" in err:
    fail(f"E after Ctrl-C: rc={psql.returncode} out={out!r} err={err!r}")
if db("SELECT name FROM stripe_slow.customer WHERE id = %s", slow_ids[2])[0][0] != "cancel-E":
    fail("E's write is not in the table")
if api(SLOW_URL, f"/v1/customers/{slow_ids[2]}")["name"] != "cancel-E":
    fail("E's write is not at the API")
print("ok: Ctrl-C during the wait: the write completes and is answered")

# 4. The client disconnects during the wait: the write still lands and is audited.
n = log_count("writethrough.job_start")
norphan = log_count("writethrough.job_orphaned")
psql = subprocess.Popen(["psql", "-X", "-d", PX_URL, "-c",
                         f"UPDATE stripe_slow.customer SET name = 'gone-F' WHERE id = '{slow_ids[3]}'"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait_log("writethrough.job_start", n + 1, "F did not reach a worker")
psql.kill()
psql.wait()
wait_log("writethrough.client_gone", 1, "the proxy did not see F leave")
# the proxy keeps serving while F's write is still out
with psycopg.connect(PX_URL, autocommit=True) as g:
    g.execute("SELECT 1").fetchone()
wait_log("writethrough.job_orphaned", norphan + 1, "F's write did not finish")
if db("SELECT name FROM stripe_slow.customer WHERE id = %s", slow_ids[3])[0][0] != "gone-F":
    fail("F's write is not in the table")
if api(SLOW_URL, f"/v1/customers/{slow_ids[3]}")["name"] != "gone-F":
    fail("F's write is not at the API")
rows = db("SELECT object_id, fields->>'name' FROM _tether.write_audit WHERE result = 'applied' "
          "ORDER BY id")
if len(rows) != audit_before + 2 or [r[1] for r in rows[-2:]] != ["cancel-E", "gone-F"]:
    fail(f"audit after E and F: {rows[-3:]}")
print("ok: disconnect during the wait: the write lands in the table and the audit log")

# 5. Two sessions writing the same object: the second waits for the first's
#    write-back, so the API and the table end with the same (second) value.
order = []
h = start_slow("UPDATE stripe_slow.customer SET name = %s WHERE id = %s", ("same-1", slow_ids[0]),
               order, "H1")
h2 = start_slow("UPDATE stripe_slow.customer SET name = %s WHERE id = %s", ("same-2", slow_ids[0]),
                order, "H2")
h.join(60)
h2.join(60)
if h.error or h2.error or order != ["H1", "H2"]:
    fail(f"same object: order={order} errors={h.error} {h2.error}")
if db("SELECT name FROM stripe_slow.customer WHERE id = %s", slow_ids[0])[0][0] != "same-2" or \
        api(SLOW_URL, f"/v1/customers/{slow_ids[0]}")["name"] != "same-2":
    fail("same object: the table and the API disagree")
print("ok: writes of one object from two sessions applied in order")

# 6. Every worker busy: a write waits in the queue; a cancel then drops it
#    (57014, nothing sent to the API), the running ones complete.
order = []
busy = []
queued_id = slow_ids[WORKERS]
name_before = api(SLOW_URL, f"/v1/customers/{queued_id}")["name"]  # (slow too: before the writes)
audit_before = db("SELECT count(*) FROM _tether.write_audit")[0][0]
q = psycopg.connect(PX_URL, autocommit=True)
for k in range(WORKERS):
    busy.append(start_slow("UPDATE stripe_slow.customer SET name = %s WHERE id = %s",
                           (f"busy-{k}", slow_ids[k]), order, f"W{k}"))
nq = log_count("writethrough.job_queued")
res = {}


def run_queued():
    try:
        q.execute("UPDATE stripe_slow.customer SET name = 'queued-Q' WHERE id = %s", (queued_id,))
        res["ok"] = True
    except psycopg.errors.QueryCanceled as e:
        res["canceled"] = str(e)
    except Exception as e:
        res["other"] = repr(e)


tq = threading.Thread(target=run_queued, daemon=True)
tq.start()
wait_log("writethrough.job_queued", nq + 1, "Q was not queued")
q.cancel()
tq.join(60)
q.close()
if "canceled" not in res:
    fail(f"queued write after cancel: {res}")
for t in busy:
    t.join(60)
    if t.error or t.result != "UPDATE 1":
        fail(f"busy write: {t.result} {t.error}")
if api(SLOW_URL, f"/v1/customers/{queued_id}")["name"] != name_before:
    fail("the canceled write reached the API")
if db("SELECT count(*) FROM stripe_slow.customer WHERE name = 'queued-Q'")[0][0] != 0:
    fail("the canceled write is in the table")
if db("SELECT count(*) FROM _tether.write_audit")[0][0] != audit_before + WORKERS:
    fail("audit rows after the queued cancel")
print("ok: a write canceled while queued is never sent; the running ones complete")
