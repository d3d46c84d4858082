// emulator_pages.mjs - load generator for the Stripe emulator's list pages:
// CONC keep-alive clients each walk /v1/customers?limit=100 with
// starting_after cursors (as a backfill does) for SECONDS, then it prints
// pages/s, objects/s, and the ratio to Stripe's live-mode read rate limit
// (100 requests/s), the fastest any sync could ever page real Stripe.
// Usage: node emulator_pages.mjs PORT [SECONDS] [CONC]
import http from 'node:http';

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3] ?? 10);
const conc = Number(process.argv[4] ?? 4);
const STRIPE_LIVE_READ_LIMIT = 100;
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const auth = 'Bearer sk_test_tether';

function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { Authorization: auth } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        resolve(Buffer.concat(chunks));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

let pages = 0, objects = 0, bytes = 0;
const end = Date.now() + seconds * 1000;
async function worker(w) {
  let cursor = null;
  while (Date.now() < end) {
    const path = `/v1/customers?limit=100${cursor ? `&starting_after=${cursor}` : ''}`;
    const body = await get(path);
    const page = JSON.parse(body);
    pages++;
    objects += page.data.length;
    bytes += body.length;
    cursor = page.has_more ? page.data[page.data.length - 1].id : null;
  }
}
const t0 = Date.now();
await Promise.all(Array.from({ length: conc }, (_, i) => worker(i)));
const secs = (Date.now() - t0) / 1000;
const pps = pages / secs;
console.log(`pages=${pages} seconds=${secs.toFixed(1)} clients=${conc}`);
console.log(`pages_per_sec=${pps.toFixed(0)} objects_per_sec=${(objects / secs).toFixed(0)} MB_per_sec=${(bytes / secs / 1e6).toFixed(1)}`);
console.log(`ratio_vs_stripe_live_read_limit=${(pps / STRIPE_LIVE_READ_LIMIT).toFixed(1)}x`);
agent.destroy();
