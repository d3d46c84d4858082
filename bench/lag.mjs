// lag.mjs - real-time lag probe: changes customers through the Stripe
// emulator's API one at a time and times how long until each change is
// visible in Postgres. A trigger added to the bench database's
// stripe.customer NOTIFYs on every insert/update; a NOTIFY is delivered
// only after its transaction commits, so its arrival is the moment the row
// is visible to other sessions. Lag = NOTIFY arrival - start of the API call
// (conservative: it includes the API call itself, reported separately).
// Prints one `key=value` line. Usage:
//   node lag.mjs DATABASE_URL EMULATOR_PORT CHANGES [JITTER_MS] [TIMEOUT_MS]
// Changes are 5 + random(JITTER_MS) ms apart (default 20), so that they land
// at random points of a polling interval when JITTER_MS is that interval.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pg = require('pg');
const [dbUrl, port, changesArg, jitterArg, timeoutArg] = process.argv.slice(2);
if (!dbUrl || !port) {
  console.error('usage: node lag.mjs DATABASE_URL EMULATOR_PORT CHANGES [JITTER_MS] [TIMEOUT_MS]');
  process.exit(2);
}
const changes = Number(changesArg ?? 200);
const jitterMs = Number(jitterArg ?? 20);
const timeoutMs = Number(timeoutArg ?? 10000);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: Number(port), path, method: 'POST', agent,
      headers: { Authorization: 'Bearer sk_test_tether', 'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const db = new pg.Client({ connectionString: dbUrl });
await db.connect();
await db.query(`CREATE OR REPLACE FUNCTION public.bench_lag_notify() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN PERFORM pg_notify('bench_lag', NEW.id || ' ' || coalesce(NEW.metadata ->> 'lag_seq', '')); RETURN NEW; END $$`);
await db.query('DROP TRIGGER IF EXISTS bench_lag ON stripe.customer');
await db.query(`CREATE TRIGGER bench_lag AFTER INSERT OR UPDATE ON stripe.customer
  FOR EACH ROW EXECUTE FUNCTION public.bench_lag_notify()`);
const ids = (await db.query('SELECT id FROM stripe.customer ORDER BY id LIMIT 100')).rows.map((r) => r.id);
if (ids.length === 0) throw new Error('no customers synced');

let waiting = null; // {key, resolve}
db.on('notification', (n) => {
  if (waiting && n.payload === waiting.key) {
    const w = waiting;
    waiting = null;
    w.resolve(performance.now());
  }
});
await db.query('LISTEN bench_lag');

const lags = [], apis = [];
let missed = 0;
const run = `${process.pid}`;
for (let i = 0; i < changes; i++) {
  const id = ids[i % ids.length];
  const seq = `${run}-${i}`;
  const seen = new Promise((resolve) => { waiting = { key: `${id} ${seq}`, resolve }; });
  const t0 = performance.now();
  await post(`/v1/customers/${id}`, `metadata[lag_seq]=${seq}`);
  const tApi = performance.now();
  const t1 = await Promise.race([seen, sleep(timeoutMs).then(() => null)]);
  if (t1 === null) {
    waiting = null;
    missed++;
  } else {
    lags.push(t1 - t0);
    apis.push(tApi - t0);
  }
  await sleep(5 + Math.random() * jitterMs); // changes are not batched together
}
lags.sort((a, b) => a - b);
apis.sort((a, b) => a - b);
const f = (x) => (x === undefined ? 'n/a' : x.toFixed(1));
console.log(`changes=${changes} seen=${lags.length} missed=${missed} p50_ms=${f(pct(lags, 50))} p99_ms=${f(pct(lags, 99))}` +
  ` max_ms=${f(lags[lags.length - 1])} api_p50_ms=${f(pct(apis, 50))} api_p99_ms=${f(pct(apis, 99))}`);
await db.query('DROP TRIGGER bench_lag ON stripe.customer');
await db.end();
agent.destroy();
