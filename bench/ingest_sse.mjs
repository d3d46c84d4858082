// ingest_sse.mjs - backfills the Stripe emulator's customers into Postgres
// with @supabase/stripe-sync-engine (the peer this benchmark compares with)
// and prints `rows=N seconds=S rows_per_sec=R`.
//
// Pointing it at the emulator: StripeSync builds its own Stripe client in
// its constructor with only apiVersion and appInfo (dist/index.js, `new
// Stripe(config.stripeSecretKey, {apiVersion, appInfo})`); the config has no
// host/port/protocol option. The client is the public field `stripe`, so this
// wrapper replaces it right after construction with a stripe-node client
// built with the same options plus {host, port, protocol: 'http'}. No file in
// node_modules is patched.
//
// Its migrations hard-code the schema `stripe`, so it gets a database of its
// own (the same cluster as Tether's). Usage:
//   node ingest_sse.mjs DATABASE_URL EMULATOR_PORT [OBJECT]
import { createRequire } from 'node:module';

// The package's ESM build resolves its migrations through `__dirname`, which
// ESM does not define (runMigrations then logs the error and creates no
// tables); its CommonJS build works, so load that.
const require = createRequire(import.meta.url);
const Stripe = require('stripe');
const { StripeSync, runMigrations } = require('@supabase/stripe-sync-engine');

const [dbUrl, port, object = 'customer'] = process.argv.slice(2);
if (!dbUrl || !port) {
  console.error('usage: node ingest_sse.mjs DATABASE_URL EMULATOR_PORT [OBJECT]');
  process.exit(2);
}
const key = 'sk_test_tether';
const apiVersion = '2020-08-27';

const logger = { info() {}, warn() {}, error: (...a) => console.error(...a) };
await runMigrations({ databaseUrl: dbUrl, schema: 'stripe', logger });
const sync = new StripeSync({
  poolConfig: { connectionString: dbUrl },
  stripeSecretKey: key,
  stripeWebhookSecret: 'whsec_unused',
  stripeApiVersion: apiVersion,
});
sync.stripe = new Stripe(key, {
  apiVersion,
  appInfo: { name: 'Stripe Postgres Sync' },
  host: '127.0.0.1',
  port: Number(port),
  protocol: 'http',
});
const t0 = process.hrtime.bigint();
const res = await sync.syncBackfill({ object });
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const rows = Object.values(res).reduce((a, r) => a + (r?.synced ?? 0), 0);
console.log(`rows=${rows} seconds=${secs.toFixed(2)} rows_per_sec=${(rows / secs).toFixed(0)}`);
await sync.postgresClient.pool.end();
