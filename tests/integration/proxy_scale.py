"""Many connections on one loop (run by proxy_scale.sh)."""
import subprocess
import sys
import threading

if len(sys.argv) == 4 and sys.argv[1] == "hold":
    # Child process: opens N connections that stop mid-login (psycopg in the
    # parent uses select(), which cannot take descriptors above 1024).
    import socket, struct
    port, n = int(sys.argv[2]), int(sys.argv[3])
    body = struct.pack("!I", 196608) + b"user\0app\0\0"
    pkt = struct.pack("!I", len(body) + 4) + body
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(pkt)
        socks.append(s)
    ok = 0
    for s in socks:
        b = b""
        while len(b) < 9:
            c = s.recv(9 - len(b))
            if not c:
                break
            b += c
        ok += b[:1] == b"R" and b[5:9] == b"\0\0\0\x0a"
    print(ok, flush=True)
    sys.stdin.read()
    sys.exit(0)

import psycopg

from proxy_helpers import Proxy, check, scram_secret, users_file


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


users = users_file([("app", scram_secret("app-pw"))])
p = Proxy(["--auth", "scram", "--users", users], env={"TETHER_PROXY_LOGIN_TIMEOUT": "120"})
base = rss_kb(p.proc.pid)
N = 2000
holder = subprocess.Popen([sys.executable, __file__, "hold", str(p.port), str(N)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
got = int(holder.stdout.readline() or 0)
check(got == N, f"{got} of {N} connections got AuthenticationSASL")
per_conn = (rss_kb(p.proc.pid) - base) / N
check(per_conn < 64, f"{per_conn:.1f} kB per connection mid-login")
print(f"{per_conn:.1f} kB per connection mid-login")

errors = []


def worker(k):
    try:
        with psycopg.connect(p.dsn("app", "app-pw"), autocommit=True) as c:
            for j in range(50):
                v = c.execute("SELECT %s::int + %s::int", (k, j)).fetchone()[0]
                if v != k + j:
                    errors.append(f"worker {k}: {v}")
    except Exception as e:
        errors.append(f"worker {k}: {e}")


threads = [threading.Thread(target=worker, args=(k,)) for k in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(not errors, f"workers: {errors[:3]}")
holder.stdin.close()
holder.wait(30)
p.wait_log("reason=client_eof_during_login")
p.stop()
print("ok")
