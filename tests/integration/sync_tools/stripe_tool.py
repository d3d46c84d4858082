#!/usr/bin/python3
"""stripe_tool.py - helpers for the sync integration tests (run with Debian's
/usr/bin/python3, which has psycopg 3):

  mutate  --api URL --ops N [--seed S]
      random creates/updates/deletes through the Stripe emulator (retrying
      429/5xx/broken bodies like a client would, with Idempotency-Key)
  check   --api URL --dsn DSN [--schema stripe] [--timeout SECS]
      waits until every object in the emulator equals its row in Postgres and
      no extra rows exist; prints the differences and exits 1 if they remain
  faults  --api URL rate_429=0.1 ...   sets the emulator's injected faults
"""
import argparse
import datetime
import http.client
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common_tools"))
from converge import wait_converged  # noqa: E402

KEY = "sk_test_tether"

# collection -> list path (children come from their parents)
LISTS = {
    "customer": "/v1/customers",
    "product": "/v1/products",
    "price": "/v1/prices",
    "subscription": "/v1/subscriptions?status=all",
    "invoice": "/v1/invoices",
    "charge": "/v1/charges",
    "payment_intent": "/v1/payment_intents",
}
CHILDREN = {"subscription_item": ("subscription", "items"), "invoice_line_item": ("invoice", "lines")}
# a parent embeds its first 10 children; the rest come from these lists
CHILD_LISTS = {"subscription_item": lambda pid: f"/v1/subscription_items?subscription={pid}",
               "invoice_line_item": lambda pid: f"/v1/invoices/{pid}/lines"}


def call(api, method, path, params=None, idem=None, tries=30):
    body = urllib.parse.urlencode(params or {}).encode() if method == "POST" else None
    url = api + path
    if method == "GET" and params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
    last = None
    for attempt in range(tries):
        req = urllib.request.Request(url, data=body, method=method)
        req.add_header("Authorization", "Bearer " + KEY)
        if idem:
            req.add_header("Idempotency-Key", idem)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                data = r.read()
                return r.status, json.loads(data)
        except urllib.error.HTTPError as e:
            try:
                data = e.read()
            except (http.client.HTTPException, OSError):
                data = None  # the emulator truncated the error body: retry
            if e.code == 429 or e.code >= 500 or data is None:
                last = e.code
            else:
                try:
                    return e.code, json.loads(data)
                except ValueError:
                    last = e.code
        except (urllib.error.URLError, http.client.HTTPException, ValueError, ConnectionError, TimeoutError, OSError) as e:
            last = e
        time.sleep(min(0.05 * (attempt + 1), 0.5))
    raise RuntimeError(f"{method} {path}: gave up after {tries} attempts: {last}")


def list_all(api, path):
    out, after = [], None
    while True:
        params = {"limit": "100"}
        if after:
            params["starting_after"] = after
        st, page = call(api, "GET", path, params)
        if st != 200:
            raise RuntimeError(f"list {path}: {st} {page}")
        out.extend(page["data"])
        if not page.get("has_more") or not page["data"]:
            return out
        after = page["data"][-1]["id"]


def mutate(args):
    rnd = random.Random(args.seed)
    api = args.api
    made = {"customer": [], "product": [], "price": [], "subscription": []}
    for o in list_all(api, "/v1/customers")[:50]:
        made["customer"].append(o["id"])
    for o in list_all(api, "/v1/prices"):
        if o.get("recurring"):
            made["price"].append(o["id"])
    for o in list_all(api, "/v1/subscriptions?status=all")[:30]:
        made["subscription"].append(o["id"])
    n_ok = 0
    for i in range(args.ops):
        idem = f"mut-{args.seed}-{i}"
        op = rnd.random()
        if op < 0.25 or not made["customer"]:
            st, o = call(api, "POST", "/v1/customers", {
                "email": f"user{i}@example.com", "name": f"User {i}",
                "metadata[user_id]": f"user_{rnd.randrange(1000)}"}, idem)
            if st == 200:
                made["customer"].append(o["id"])
        elif op < 0.5:
            cid = rnd.choice(made["customer"])
            call(api, "POST", f"/v1/customers/{cid}", {
                "name": f"Renamed {i}", "metadata[tier]": rnd.choice(["gold", "silver"])}, idem)
        elif op < 0.6:
            cid = made["customer"].pop(rnd.randrange(len(made["customer"])))
            call(api, "DELETE", f"/v1/customers/{cid}")
        elif op < 0.7:
            st, p = call(api, "POST", "/v1/products", {"name": f"Product {i}"}, idem)
            if st == 200:
                st, pr = call(api, "POST", "/v1/prices", {
                    "product": p["id"], "unit_amount": str(100 + i), "currency": "usd",
                    "recurring[interval]": "month"}, idem + "-price")
                if st == 200:
                    made["price"].append(pr["id"])
        elif op < 0.85 and made["price"]:
            cid = rnd.choice(made["customer"])
            st, s = call(api, "POST", "/v1/subscriptions", {
                "customer": cid, "items[0][price]": rnd.choice(made["price"])}, idem)
            if st == 200:
                made["subscription"].append(s["id"])
        elif op < 0.95 and made["subscription"]:
            sid = rnd.choice(made["subscription"])
            call(api, "POST", f"/v1/subscriptions/{sid}", {"metadata[step]": str(i)}, idem)
        elif made["subscription"]:
            sid = made["subscription"].pop(rnd.randrange(len(made["subscription"])))
            call(api, "DELETE", f"/v1/subscriptions/{sid}")
        n_ok += 1
    print(f"mutate: {n_ok} operations")


def norm_ts(v):
    if v is None:
        return None
    if isinstance(v, str):
        return int(datetime.datetime.fromisoformat(v).timestamp())
    return v


def compare_row(coll, obj, row, cols, diffs):
    for col, typ in cols.items():
        if col in ("id", "_version", "_synced_at"):
            continue
        if col in obj:
            want = obj[col]
        elif col.endswith("_id") and col[:-3] in obj:
            want = obj[col[:-3]]
            if isinstance(want, dict):
                want = want.get("id")
        else:
            continue  # e.g. the parent column of a child
        got = row.get(col)
        if typ == "timestamp with time zone":
            got = norm_ts(got)
        if typ == "numeric" and want is not None and got is not None:
            want, got = float(want), float(got)
        if typ == "text" and want is not None and not isinstance(want, str):
            want = json.dumps(want, separators=(",", ":"))
            got = json.dumps(json.loads(got), separators=(",", ":")) if got else got
        if want != got:
            diffs.append(f"{coll} {obj['id']}.{col}: api={want!r} db={got!r}")
            return


def snapshot_api(api, only=None):
    snap = {}
    for coll, path in LISTS.items():
        if only and coll not in only:
            continue
        snap[coll] = {o["id"]: o for o in list_all(api, path)}
    for child, (parent, field) in CHILDREN.items():
        if parent not in snap:
            continue
        snap[child] = {}
        for p in snap[parent].values():
            lst = p.get(field) or {}
            data = list_all(api, CHILD_LISTS[child](p["id"])) if lst.get("has_more") else lst.get("data", [])
            for c in data:
                snap[child][c["id"]] = c
    return snap


def differences(api, dsn, schema, only=None):
    import psycopg
    snap = snapshot_api(api, only)
    diffs = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for coll, objs in snap.items():
            cols = dict(conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s", (schema, coll)).fetchall())
            if not cols:
                diffs.append(f"table {schema}.{coll} missing")
                continue
            rows = {r[0]["id"]: r[0] for r in conn.execute(
                f'SELECT to_jsonb(t) FROM "{schema}"."{coll}" t').fetchall()}
            for oid, obj in objs.items():
                if oid not in rows:
                    diffs.append(f"{coll} {oid}: missing in db")
                else:
                    compare_row(coll, obj, rows[oid], cols, diffs)
            for oid in rows:
                if oid not in objs:
                    diffs.append(f"{coll} {oid}: extra row in db")
    return diffs, sum(len(v) for v in snap.values())


def check(args):
    only = args.only.split(",") if args.only else None
    return wait_converged(lambda: differences(args.api, args.dsn, args.schema, only), args.timeout)


def bigsub(args):
    """Creates a subscription with ARGS.items items (each on its own new
    recurring price) for a new customer; prints its id."""
    st, prod = call(args.api, "POST", "/v1/products", {"name": "Many items"})
    st, cus = call(args.api, "POST", "/v1/customers", {"email": "many@example.com"})
    params = {"customer": cus["id"]}
    for i in range(args.items):
        st, price = call(args.api, "POST", "/v1/prices", {
            "product": prod["id"], "currency": "usd", "unit_amount": str(100 + i),
            "recurring[interval]": "month"})
        if st != 200:
            raise RuntimeError(f"price: {st} {price}")
        params[f"items[{i}][price]"] = price["id"]
    st, sub = call(args.api, "POST", "/v1/subscriptions", params)
    if st != 200:
        raise RuntimeError(f"subscription: {st} {sub}")
    print(sub["id"])
    return 0


def faults(args):
    params = dict(kv.split("=", 1) for kv in args.settings)
    st, body = call(args.api, "POST", "/_emulator/faults", params)
    print(f"faults: {st} {body}")
    return 0 if st == 200 else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mutate")
    m.add_argument("--api", required=True)
    m.add_argument("--ops", type=int, default=100)
    m.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("--api", required=True)
    c.add_argument("--dsn", required=True)
    c.add_argument("--schema", default="stripe")
    c.add_argument("--timeout", type=float, default=90)
    c.add_argument("--only", help="comma list of collections to compare (default all)")
    f = sub.add_parser("faults")
    f.add_argument("--api", required=True)
    f.add_argument("settings", nargs="*")
    b = sub.add_parser("bigsub")
    b.add_argument("--api", required=True)
    b.add_argument("--items", type=int, default=15)
    args = ap.parse_args()
    if args.cmd == "mutate":
        return mutate(args) or 0
    if args.cmd == "check":
        return check(args)
    if args.cmd == "bigsub":
        return bigsub(args)
    return faults(args)


if __name__ == "__main__":
    sys.exit(main())
