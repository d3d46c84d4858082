"""proxy_helpers.py - shared helpers for the proxy integration tests
(tests/integration/proxy_*.py, each started by its proxy_*.sh wrapper).

Starts `tether proxy` on a free port against the test cluster, makes a
self-signed certificate, computes SCRAM/MD5 secrets for users files, and
offers raw-socket helpers for speaking (or abusing) the wire protocol.
Everything started here is stopped by Proxy.stop() / the atexit hook.
"""
import atexit
import base64
import hashlib
import hmac
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import psycopg

TETHER = os.environ["TETHER_BIN"]
PGPORT = int(os.environ["PGPORT"])
PGDATABASE = os.environ["PGDATABASE"]
ADMIN_URL = os.environ["TETHER_TEST_DATABASE_URL"]
UPSTREAM = f"postgres://postgres:postgres@127.0.0.1:{PGPORT}/{PGDATABASE}"

_procs = []
TMP = tempfile.mkdtemp(prefix="tether-proxy-test.")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs=20):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    fail(f"nothing listening on {port}")


class Proxy:
    def __init__(self, args, env=None, upstream=UPSTREAM):
        self.port = free_port()
        self.logpath = os.path.join(TMP, f"proxy-{self.port}.log")
        e = dict(os.environ)
        e.pop("TETHER_CONFIG", None)
        e.update(env or {})
        self.log = open(self.logpath, "wb")
        cmd = [TETHER, "proxy", "--listen", f"127.0.0.1:{self.port}"]
        if upstream is not None:  # None: the upstream comes from the config file
            cmd += ["--upstream", upstream]
        cmd += args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        _procs.append(self)
        end = time.time() + 20
        while time.time() < end:
            if self.proc.poll() is not None:
                fail(f"proxy exited early ({self.proc.returncode}): {self.text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        fail("proxy did not start listening")

    def text(self):
        self.log.flush()
        with open(self.logpath, "r", errors="replace") as f:
            return f.read()

    def dsn(self, user="app", password=None, sslmode="disable", **kw):
        d = f"host=127.0.0.1 port={self.port} user={user} dbname={PGDATABASE} sslmode={sslmode}"
        if password is not None:
            d += f" password={password}"
        for k, v in kw.items():
            d += f" {k}={v}"
        return d

    def connect(self, autocommit=True, **kw):
        return psycopg.connect(self.dsn(**kw), autocommit=autocommit)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_log(self, needle, secs=20):
        end = time.time() + secs
        while time.time() < end:
            if needle in self.text():
                return
            time.sleep(0.05)
        fail(f"log never showed {needle!r}:\n{self.text()}")

    def stop(self):
        """Stops the proxy (SIGINT drain); fails the test unless it exits 0
        (under ASan that includes leak reports)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail(f"proxy did not stop on SIGINT:\n{self.text()}")
        if self.proc.returncode != 0:
            fail(f"proxy exited {self.proc.returncode}:\n{self.text()}")
        self.log.close()


@atexit.register
def _cleanup():
    for p in _procs:
        try:
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
        except Exception:
            pass
    if os.environ.get("PROXY_TEST_KEEP") is None:
        subprocess.run(["rm", "-rf", TMP])


def make_cert():
    cert = os.path.join(TMP, "proxy.crt")
    key = os.path.join(TMP, "proxy.key")
    subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def scram_secret(password, iterations=4096):
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    sk = hmac.new(salted, b"Server Key", "sha256").digest()
    b = lambda x: base64.b64encode(x).decode()
    return f"SCRAM-SHA-256${iterations}:{b(salt)}${b(hashlib.sha256(ck).digest())}:{b(sk)}"


def md5_secret(password, user):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def users_file(entries, name="users.txt"):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write("; proxy users\n")
        for u, s in entries:
            f.write('"%s" "%s"\n' % (u.replace('"', '""'), s.replace('"', '""')))
    return path


def admin():
    return psycopg.connect(ADMIN_URL, autocommit=True)


def wait_active(query_prefix, secs=20):
    """Waits until a backend is running a query starting with QUERY_PREFIX."""
    with admin() as a:
        end = time.time() + secs
        while time.time() < end:
            n = a.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                          "AND datname = current_database() AND query LIKE %s",
                          (query_prefix + "%",)).fetchone()[0]
            if n:
                return
            time.sleep(0.05)
    fail(f"no backend ran {query_prefix!r}")


# --- raw wire protocol ---------------------------------------------------

def startup_packet(user="app", database=None, extra=None, version=196608):
    params = {"user": user, "database": database or PGDATABASE}
    params.update(extra or {})
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def raw_connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_msg(s):
    """Returns (type, body) or (None, None) on EOF."""
    head = _recv_exact(s, 5)
    if head is None:
        return None, None
    t, n = head[:1], struct.unpack("!I", head[1:])[0]
    body = _recv_exact(s, n - 4)
    return t, body


def _recv_exact(s, n):
    b = b""
    while len(b) < n:
        try:
            c = s.recv(n - len(b))
        except (ConnectionResetError, socket.timeout):
            return None
        if not c:
            return None
        b += c
    return b


def error_fields(body):
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode()
    return out


def read_until_close(s):
    """Reads messages until EOF; returns the list of (type, body)."""
    out = []
    while True:
        t, b = read_msg(s)
        if t is None:
            return out
        out.append((t, b))


def login_trust(port, user="app", tls=False):
    """Raw login through a trust proxy (over TLS when TLS); returns the socket
    after ReadyForQuery."""
    s = raw_connect(port)
    if tls:
        import ssl
        s.sendall(struct.pack("!II", 8, 80877103))
        check(s.recv(1) == b"S", "TLS offered")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    s.sendall(startup_packet(user))
    while True:
        t, b = read_msg(s)
        check(t is not None, "proxy closed during login")
        if t == b"E":
            fail(f"login error {error_fields(b)}")
        if t == b"Z":
            return s
