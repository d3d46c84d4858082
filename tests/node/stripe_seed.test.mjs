// stripe_seed.test.mjs - --seed-* flags create realistic objects before
// serving; a full backfill through auto-pagination sees each exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStripeEmulator } from './lib/emulator.mjs';

const N = 2500;
let emu, stripe;
before(async () => {
  emu = await startStripeEmulator(['--seed-customers', String(N), '--seed-products', '4', '--seed-prices', '8',
    '--seed-subscriptions', '30', '--seed-invoices', '5', '--seed-charges', '7', '--seed-random', '42']);
  stripe = emu.client();
});
after(() => emu.stop());

test('backfill of seeded customers through auto-pagination', async () => {
  const all = await stripe.customers.list({ limit: 100 }).autoPagingToArray({ limit: 10000 });
  assert.equal(all.length, N);
  assert.equal(new Set(all.map((c) => c.id)).size, N);
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i - 1].created >= all[i].created, 'newest first');
    assert.ok(all[i - 1].id > all[i].id);
  }
  const c = all[17];
  assert.match(c.email, /^[A-Za-z]+\.[A-Za-z]+\.\d+@/);
  assert.ok(c.name && c.address && c.address.country === 'US');
  const one = await stripe.customers.list({ email: c.email });
  assert.deepEqual(one.data.map((x) => x.id), [c.id]);
  const window = await stripe.customers.list({ created: { gte: all[200].created, lte: all[100].created }, limit: 100 });
  assert.ok(window.data.every((x) => x.created >= all[200].created && x.created <= all[100].created));
});

test('seeded billing objects', async () => {
  assert.equal((await stripe.products.list({ limit: 100 })).data.length, 4);
  assert.equal((await stripe.prices.list({ limit: 100 })).data.length, 8);
  const subs = await stripe.subscriptions.list({ limit: 100, expand: ['data.customer'] });
  assert.equal(subs.data.length, 30);
  assert.ok(subs.data.every((s) => s.status === 'active' && s.customer.object === 'customer'));
  const invoices = await stripe.invoices.list({ limit: 100 });
  assert.equal(invoices.data.length, 35, 'one per subscription plus the seeded drafts');
  const charges = await stripe.charges.list({ limit: 100 });
  assert.ok(charges.data.length >= 7);
  assert.equal((await stripe.events.list()).data.length, 0, 'seeding emits no events');
});

test('the same --seed-random gives the same data', async () => {
  const twin = await startStripeEmulator(['--seed-customers', String(N), '--seed-products', '4', '--seed-prices', '8',
    '--seed-subscriptions', '30', '--seed-invoices', '5', '--seed-charges', '7', '--seed-random', '42']);
  try {
    const a = await stripe.customers.list({ limit: 5 });
    const b = await twin.client().customers.list({ limit: 5 });
    assert.deepEqual(b.data.map((c) => [c.id, c.email]), a.data.map((c) => [c.id, c.email]));
  } finally {
    await twin.stop();
  }
});
