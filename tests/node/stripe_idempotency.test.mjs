// stripe_idempotency.test.mjs - Idempotency-Key: same key + same request
// replays the first response; same key + different body is idempotency_error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { startStripeEmulator } from './lib/emulator.mjs';

let emu, stripe;
before(async () => { emu = await startStripeEmulator(); stripe = emu.client(); });
after(() => emu.stop());

test('same key and body replays the first response', async () => {
  const a = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: 'key-1' });
  const b = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: 'key-1' });
  assert.equal(a.id, b.id);
  assert.equal(b.lastResponse.headers['idempotent-replayed'], 'true');
  const list = await stripe.customers.list({ email: 'idem@example.com' });
  assert.equal(list.data.length, 1, 'only one customer was created');
  const events = await stripe.events.list({ types: ['customer.created'], limit: 100 });
  const mine = events.data.filter((e) => e.data.object.id === a.id);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].request.idempotency_key, 'key-1');
});

test('errors are replayed too', async () => {
  const r1 = await emu.raw('POST', '/v1/customers', { body: 'email=bad', headers: { 'Idempotency-Key': 'k-err' } });
  const r2 = await emu.raw('POST', '/v1/customers', { body: 'email=bad', headers: { 'Idempotency-Key': 'k-err' } });
  assert.equal(r1.status, 400);
  assert.equal(r2.status, 400);
  assert.equal(r1.text, r2.text);
});

test('same key with different parameters is an idempotency error', async () => {
  await stripe.customers.create({ email: 'one@example.com' }, { idempotencyKey: 'key-2' });
  await assert.rejects(stripe.customers.create({ email: 'two@example.com' }, { idempotencyKey: 'key-2' }), (e) => {
    assert.ok(e instanceof Stripe.errors.StripeIdempotencyError);
    assert.equal(e.statusCode, 400);
    assert.equal(e.rawType, 'idempotency_error');
    assert.match(e.message, /Keys for idempotent requests can only be used with the same parameters/);
    return true;
  });
});

test('different keys create different objects', async () => {
  const a = await stripe.customers.create({ email: 'x@example.com' }, { idempotencyKey: 'key-3' });
  const b = await stripe.customers.create({ email: 'x@example.com' }, { idempotencyKey: 'key-4' });
  assert.notEqual(a.id, b.id);
});
