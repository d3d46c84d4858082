// sync_stripe_sdk.test.mjs - the product's first half as a user sees it:
// changes made with the official stripe-node SDK against the emulator show up
// in Postgres through `tether sync`, and the seed query (read with the
// `pg` client) follows them: create, cancel, delete.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { startStripeEmulator, API_KEY } from './lib/emulator.mjs';

const DB = process.env.TETHER_TEST_DATABASE_URL;
const SEED_QUERY = `SELECT subscription.status FROM stripe.subscription JOIN stripe.customer
  ON stripe.customer.id = stripe.subscription.customer_id
  WHERE stripe.customer.metadata ->> 'user_id' = 'user_abc'`;

async function eventually(fn, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached (last: ${last})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('stripe-node writes reach Postgres through tether sync', async () => {
  const emu = await startStripeEmulator(['--seed-customers', '20']);
  after(() => emu.stop());
  const sync = spawn(process.env.TETHER_BIN, ['sync', '--source', 'stripe', '--api-key', API_KEY,
    '--api-base', emu.base, '--database', DB, '--status-listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TETHER_SYNC_STRIPE_POLL_INTERVAL_MS: '200', TETHER_SYNC_STRIPE_SAFETY_WINDOW_MS: '1000' },
  });
  const exited = new Promise((resolve) => sync.on('exit', (code) => resolve(code)));
  after(() => sync.kill('SIGKILL'));
  const db = new pg.Client({ connectionString: DB });
  await db.connect();
  after(() => db.end());

  const stripe = emu.client();
  const customer = await stripe.customers.create({ email: 'abc@example.com', metadata: { user_id: 'user_abc' } });
  const product = await stripe.products.create({ name: 'Pro' });
  const price = await stripe.prices.create({ product: product.id, unit_amount: 1500, currency: 'usd',
    recurring: { interval: 'month' } });
  const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });

  const status = await eventually(async () => (await db.query(SEED_QUERY)).rows[0]?.status, 'subscription synced');
  assert.equal(status, sub.status);
  const item = await eventually(async () => (await db.query(
    'SELECT price_id, quantity FROM stripe.subscription_item WHERE subscription_id = $1', [sub.id])).rows[0],
  'subscription item synced');
  assert.equal(item.price_id, price.id);
  const amount = (await db.query('SELECT unit_amount, pg_typeof(unit_amount)::text AS t FROM stripe.price WHERE id = $1',
    [price.id])).rows[0];
  assert.equal(amount.t, 'bigint');
  assert.equal(Number(amount.unit_amount), 1500);

  await stripe.subscriptions.cancel(sub.id);
  await eventually(async () => (await db.query(SEED_QUERY)).rows[0]?.status === 'canceled', 'cancellation synced');

  await stripe.customers.del(customer.id);
  await eventually(async () => (await db.query('SELECT count(*)::int AS n FROM stripe.customer WHERE id = $1',
    [customer.id])).rows[0].n === 0, 'customer deletion synced');

  sync.kill('SIGTERM');
  assert.equal(await exited, 0, 'tether sync exits cleanly on SIGTERM');
});
