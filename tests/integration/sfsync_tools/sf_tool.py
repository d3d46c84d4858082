#!/usr/bin/python3
"""sf_tool.py - helpers for the Salesforce sync integration tests (Debian's
/usr/bin/python3 with psycopg 3), talking to `tether emulate salesforce`:

  mutate  --api URL --ops N [--seed S]
      random creates/updates/deletes of Accounts, Contacts and Invoice__c
      through the REST API (retrying 5xx/403 REQUEST_LIMIT_EXCEEDED/broken
      bodies like a client would)
  check   --api URL --dsn DSN [--schema salesforce] [--timeout SECS] [--objects A,B]
      waits until every live record in the emulator equals its row in
      Postgres (every column from describe, typed) and no extra rows exist;
      prints the differences and exits 1 if they remain
  types   --api URL --dsn DSN [--schema salesforce]
      checks every column's Postgres type against describe (DESIGN.md sec. 2)
  faults  --api URL key=value ...   sets the emulator's injected faults
"""
import argparse
import datetime
import decimal
import http.client
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common_tools"))
from converge import wait_converged  # noqa: E402

VERSION = "v59.0"
CLIENT_ID, CLIENT_SECRET = "tether-sf-client", "tether-sf-secret"
USER, PASSWORD = "admin@tether.example", "tether-sf-password"
OBJECTS = ["Account", "Contact", "Lead", "Opportunity", "User", "Invoice__c"]
TYPES = {
    "datetime": "timestamp with time zone", "date": "date", "double": "numeric",
    "currency": "numeric", "percent": "numeric", "int": "bigint", "long": "bigint",
    "boolean": "boolean", "address": "jsonb", "location": "jsonb",
}


def snake(name):
    out = []
    for i, c in enumerate(name):
        if c.isupper():
            prev = name[i - 1] if i else ""
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if i and prev != "_" and (prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower())):
                out.append("_")
            out.append(c.lower())
        else:
            out.append(c if (c.isalnum() or c == "_") else "_")
    return "".join(out)


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.token = None

    def login(self):
        body = urllib.parse.urlencode({"grant_type": "password", "client_id": CLIENT_ID,
                                       "client_secret": CLIENT_SECRET, "username": USER,
                                       "password": PASSWORD}).encode()
        for _ in range(30):
            try:
                with urllib.request.urlopen(self.base + "/services/oauth2/token", body, timeout=10) as r:
                    self.token = json.loads(r.read())["access_token"]
                    return
            except (urllib.error.URLError, http.client.HTTPException, ValueError, OSError):
                time.sleep(0.2)
        raise RuntimeError("login failed")

    def call(self, method, path, body=None, tries=60):
        if not self.token:
            self.login()
        url = path if path.startswith("http") else self.base + (path if path.startswith("/services") else f"/services/data/{VERSION}{path}")
        data = json.dumps(body).encode() if body is not None else None
        last = None
        for attempt in range(tries):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Authorization", "Bearer " + self.token)
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    raw = r.read()
                    return r.status, (json.loads(raw) if raw else None)
            except urllib.error.HTTPError as e:
                try:
                    raw = e.read()
                except (http.client.HTTPException, OSError):
                    raw = b""  # the emulator truncated the error body: retry
                try:
                    j = json.loads(raw)
                except ValueError:
                    j = None
                code = j[0].get("errorCode") if isinstance(j, list) and j else None
                if e.code == 401:
                    self.login()
                    last = e.code
                elif e.code >= 500 or code == "REQUEST_LIMIT_EXCEEDED" or j is None:
                    last = (e.code, code)
                else:
                    return e.code, j
            except (urllib.error.URLError, http.client.HTTPException, ValueError, ConnectionError, TimeoutError, OSError) as e:
                last = e
            time.sleep(min(0.05 * (attempt + 1), 0.5))
        raise RuntimeError(f"{method} {path}: gave up after {tries} attempts: {last}")

    def describe(self, obj):
        st, d = self.call("GET", f"/sobjects/{obj}/describe")
        if st != 200:
            raise RuntimeError(f"describe {obj}: {st} {d}")
        return d

    def query_all(self, soql):
        # a locator evicted by other clients' queries (INVALID_QUERY_LOCATOR): start over
        for _ in range(10):
            st, page = self.call("GET", "/query?" + urllib.parse.urlencode({"q": soql}))
            out = []
            while st == 200:
                out.extend(page["records"])
                if page.get("done", True) or not page.get("nextRecordsUrl"):
                    return out
                st, page = self.call("GET", page["nextRecordsUrl"])
            code = page[0].get("errorCode") if isinstance(page, list) and page else None
            if code != "INVALID_QUERY_LOCATOR":
                raise RuntimeError(f"query: {st} {page}")
        raise RuntimeError("query: locators kept being evicted")


def rand_text(rng, n=8):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def mutate(args):
    api = Api(args.api)
    rng = random.Random(args.seed)
    live = {o: [r["Id"] for r in api.query_all(f"SELECT Id FROM {o}")] for o in ("Account", "Contact", "Invoice__c")}
    for i in range(args.ops):
        obj = rng.choice(["Account", "Contact", "Contact", "Invoice__c"])
        op = rng.random()
        ids = live[obj]
        if op < 0.35 or not ids:
            if obj == "Account":
                body = {"Name": "Acme " + rand_text(rng), "AnnualRevenue": rng.randint(1, 10**7),
                        "NumberOfEmployees": rng.randint(1, 5000)}
            elif obj == "Contact":
                body = {"LastName": rand_text(rng).title(), "FirstName": rand_text(rng, 5).title(),
                        "Email": rand_text(rng) + "@example.com", "Region__c": rng.choice(["AMER", "EMEA", "APAC"])}
                if live["Account"]:
                    body["AccountId"] = rng.choice(live["Account"])
            else:
                body = {"Name": "INV-" + rand_text(rng, 6), "Amount__c": round(rng.uniform(1, 9999), 2),
                        "Status__c": rng.choice(["Draft", "Sent", "Paid"]), "Due_Date__c": "2026-12-%02d" % rng.randint(1, 28)}
                if live["Account"]:
                    body["Account__c"] = rng.choice(live["Account"])
            st, r = api.call("POST", f"/sobjects/{obj}", body)
            if st != 201:
                raise RuntimeError(f"create {obj}: {st} {r}")
            ids.append(r["id"])
        elif op < 0.8:
            rid = rng.choice(ids)
            if obj == "Account":
                body = {"Name": "Acme " + rand_text(rng), "Industry": rng.choice(["Energy", "Retail", None])}
            elif obj == "Contact":
                body = {"Title": rand_text(rng), "Phone": "+1 555 %04d" % rng.randint(0, 9999),
                        "MailingCity": rng.choice(["Paris", "Oslo", "Lima"])}
            else:
                body = {"Status__c": rng.choice(["Sent", "Paid", "Void"]), "Paid__c": rng.random() < 0.5,
                        "Paid_At__c": "2026-11-%02dT10:00:00.000+0000" % rng.randint(1, 26)}
            st, r = api.call("PATCH", f"/sobjects/{obj}/{rid}", body)
            if st not in (204, 404):
                raise RuntimeError(f"update {obj}: {st} {r}")
        else:
            rid = ids.pop(rng.randrange(len(ids)))
            st, r = api.call("DELETE", f"/sobjects/{obj}/{rid}")
            if st not in (204, 404):
                raise RuntimeError(f"delete {obj}: {st} {r}")
    print(f"mutate: {args.ops} operations done")


def norm(v, sftype):
    """The emulator's JSON value in the form Postgres returns it (as text)."""
    if v is None:
        return None
    if sftype == "datetime":
        return datetime.datetime.strptime(v.replace("+0000", "+00:00"), "%Y-%m-%dT%H:%M:%S.%f%z")
    if sftype in ("double", "currency", "percent"):
        return decimal.Decimal(str(v))
    if sftype in ("int", "long"):
        return int(v)
    if sftype in ("address", "location"):
        return v
    if sftype == "date":
        return datetime.date.fromisoformat(v)
    if sftype == "boolean":
        return bool(v)
    return v if isinstance(v, str) else json.dumps(v)


def diff_once(api, conn, schema, objects):
    """-> (differences between the API's records and the rows, records compared)"""
    diffs = []
    compared = 0
    for obj in objects:
        d = api.describe(obj)
        fields = [(f["name"], f["type"]) for f in d["fields"] if f["type"] != "base64" and f["name"] != "Id"]
        table = snake(obj)
        recs = api.query_all("SELECT Id," + ",".join(n for n, _ in fields) + f" FROM {obj}")
        cols = [snake(n) for n, _ in fields]
        with conn.cursor() as cur:
            try:
                cur.execute(f'SELECT id, {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{schema}"."{table}"')
            except Exception as e:  # table not there yet
                conn.rollback()
                diffs.append(f"{table}: {e}".strip())
                continue
            rows = {r[0]: r[1:] for r in cur.fetchall()}
        conn.rollback()
        seen = set()
        for rec in recs:
            rid = rec["Id"]
            seen.add(rid)
            row = rows.get(rid)
            if row is None:
                diffs.append(f"{table} {rid}: missing")
                continue
            for (name, t), got in zip(fields, row):
                want = norm(rec.get(name), t)
                if want != got:
                    diffs.append(f"{table} {rid}.{snake(name)}: want {want!r} got {got!r}")
                    break
        for rid in rows:
            if rid not in seen:
                diffs.append(f"{table} {rid}: extra row")
        compared += len(recs)
    return diffs, compared


def check(args):
    import psycopg
    api = Api(args.api)
    objects = args.objects.split(",") if args.objects else OBJECTS
    with psycopg.connect(args.dsn) as conn:
        return wait_converged(lambda: diff_once(api, conn, args.schema, objects), args.timeout)


def types(args):
    import psycopg
    api = Api(args.api)
    bad = 0
    with psycopg.connect(args.dsn) as conn, conn.cursor() as cur:
        for obj in OBJECTS:
            d = api.describe(obj)
            cur.execute("SELECT column_name, data_type FROM information_schema.columns"
                        " WHERE table_schema = %s AND table_name = %s", (args.schema, snake(obj)))
            have = dict(cur.fetchall())
            if not have:
                print(f"types: no table {args.schema}.{snake(obj)}", file=sys.stderr)
                bad += 1
                continue
            for f in d["fields"]:
                if f["type"] == "base64":
                    continue
                col = "id" if f["name"] == "Id" else snake(f["name"])
                want = TYPES.get(f["type"], "text")
                if have.get(col) != want:
                    print(f"types: {snake(obj)}.{col} ({f['type']}): want {want}, got {have.get(col)}", file=sys.stderr)
                    bad += 1
    print(f"types: {bad} mismatches")
    return 1 if bad else 0


def faults(args):
    body = {}
    for kv in args.settings:
        k, v = kv.split("=", 1)
        body[k] = json.loads(v)
    req = urllib.request.Request(args.api.rstrip("/") + "/_emulator/faults", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mutate")
    m.add_argument("--api", required=True)
    m.add_argument("--ops", type=int, default=100)
    m.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("--api", required=True)
    c.add_argument("--dsn", required=True)
    c.add_argument("--schema", default="salesforce")
    c.add_argument("--timeout", type=float, default=60)
    c.add_argument("--objects", default="")
    t = sub.add_parser("types")
    t.add_argument("--api", required=True)
    t.add_argument("--dsn", required=True)
    t.add_argument("--schema", default="salesforce")
    f = sub.add_parser("faults")
    f.add_argument("--api", required=True)
    f.add_argument("settings", nargs="*")
    a = p.parse_args()
    if a.cmd == "mutate":
        mutate(a)
        return 0
    return {"check": check, "types": types, "faults": faults}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
