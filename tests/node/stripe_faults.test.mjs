// stripe_faults.test.mjs - injected faults (429 + Retry-After, 500, dropped
// connections, truncated bodies, latency, late events) as stripe-node sees
// them, set through flags and the /_emulator/faults control endpoint.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { startStripeEmulator } from './lib/emulator.mjs';

let emu, stripe;
before(async () => { emu = await startStripeEmulator(); stripe = emu.client(); });
after(() => emu.stop());

const clear = { rate_429: 0, rate_500: 0, drop_rate: 0, truncate_rate: 0, latency_ms: 0, event_delay_ms: 0 };

test('429 with Retry-After', async () => {
  assert.equal((await emu.control('faults', { rate_429: 1 })).status, 200);
  await assert.rejects(stripe.customers.list(), (e) => {
    assert.ok(e instanceof Stripe.errors.StripeRateLimitError);
    assert.equal(e.statusCode, 429);
    assert.equal(e.code, 'rate_limit');
    return true;
  });
  const r = await emu.raw('GET', '/v1/customers');
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '1');
  await emu.control('faults', clear);
  assert.equal((await stripe.customers.list()).object, 'list');
});

test('500s, dropped connections and truncated bodies', async () => {
  await emu.control('faults', { rate_500: 1 });
  await assert.rejects(stripe.customers.list(), (e) => e instanceof Stripe.errors.StripeAPIError && e.statusCode === 500);
  await emu.control('faults', { ...clear, drop_rate: 1 });
  await assert.rejects(stripe.customers.list(), (e) => e instanceof Stripe.errors.StripeConnectionError);
  await emu.control('faults', { ...clear, truncate_rate: 1 });
  await assert.rejects(stripe.customers.list(), (e) => e instanceof Stripe.errors.StripeError);
  await emu.control('faults', clear);
});

test('the SDK retries through a partial 500 rate with idempotency keys', async () => {
  const retrying = emu.client({ maxNetworkRetries: 20 });
  // Stripe-node's backoff starts at 0.5 s; keep the rate low so the test stays short.
  await emu.control('faults', { rate_500: 0.3 });
  const made = [];
  for (let i = 0; i < 5; i++) made.push(await retrying.customers.create({ email: `retry${i}@example.com` }));
  await emu.control('faults', clear);
  for (const c of made) {
    const found = await stripe.customers.list({ email: c.email });
    assert.equal(found.data.length, 1, 'each create happened exactly once');
  }
});

test('latency and control endpoint validation', async () => {
  await emu.control('faults', { latency_ms: 200 });
  const t0 = Date.now();
  await stripe.customers.list();
  const waited = Date.now() - t0;
  await emu.control('faults', clear);
  assert.ok(waited >= 200, `latency applied (${waited} ms)`);
  assert.equal((await emu.control('faults', { rate_429: 2 })).status, 400);
  assert.equal((await emu.control('faults', { nonsense: 1 })).status, 400);
  const form = await fetch(`${emu.base}/_emulator/faults`, { method: 'POST', body: 'latency_ms=0&rate_500=0',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 200);
  assert.equal((await form.json()).latency_ms, 0);
});

test('events become visible late with an event delay', async () => {
  // The delay applies at read time: an event shows once it is event_delay_ms old.
  await emu.control('faults', { event_delay_ms: 600000 });
  const c = await stripe.customers.create({ email: 'late@example.com' });
  const now = await stripe.events.list({ limit: 100 });
  assert.ok(!now.data.some((e) => e.data.object.id === c.id), 'not visible yet');
  const hidden = (await stripe.events.list({ limit: 100, types: ['customer.created'] })).data;
  assert.ok(!hidden.some((e) => e.data.object.id === c.id));
  await emu.control('faults', { event_delay_ms: 0 });
  const later = await stripe.events.list({ limit: 100 });
  const ev = later.data.find((e) => e.data.object.id === c.id);
  assert.ok(ev, 'visible once the delay has passed');
  await emu.control('faults', { event_delay_ms: 600000 });
  await assert.rejects(stripe.events.retrieve(ev.id), (e) => e.statusCode === 404, 'retrieve hides it too');
  await emu.control('faults', clear);
});

test('reset empties the store', async () => {
  await stripe.customers.create({ email: 'gone@example.com' });
  assert.equal((await emu.control('reset')).status, 200);
  assert.equal((await stripe.customers.list()).data.length, 0);
  assert.equal((await stripe.events.list()).data.length, 0);
});

test('fault flags apply from start', async () => {
  const e2 = await startStripeEmulator(['--fault-429-rate', '1']);
  try {
    await assert.rejects(e2.client().customers.list(), (e) => e.statusCode === 429);
  } finally {
    await e2.stop();
  }
});
