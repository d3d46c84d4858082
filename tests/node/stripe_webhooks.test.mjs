// stripe_webhooks.test.mjs - events are POSTed to webhook endpoints with a
// Stripe-Signature that stripe.webhooks.constructEvent accepts, and retried
// with backoff while the receiver fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Stripe from 'stripe';
import { startStripeEmulator } from './lib/emulator.mjs';

const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function receiver(handler) {
  const got = [];
  const waiters = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const item = { headers: req.headers, body };
      got.push(item);
      res.statusCode = handler ? handler(item, got.length) : 200;
      res.end('ok');
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return {
    url: `http://127.0.0.1:${srv.address().port}/hook`,
    got,
    async waitFor(pred, ms = 20000) {
      const end = Date.now() + ms;
      while (!pred(got)) {
        if (Date.now() > end) throw new Error(`timed out; got ${got.length} deliveries`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
  };
}

test('endpoint registered through the API receives signed events', async () => {
  const emu = await startStripeEmulator();
  cleanups.push(() => emu.stop());
  const stripe = emu.client();
  const rx = await receiver();
  const ep = await stripe.webhookEndpoints.create({ url: rx.url, enabled_events: ['customer.created', 'customer.updated'] });
  assert.match(ep.id, /^we_/);
  assert.match(ep.secret, /^whsec_/);
  assert.equal((await stripe.webhookEndpoints.retrieve(ep.id)).secret, undefined, 'secret shown on create only');
  const c = await stripe.customers.create({ email: 'hook@example.com' });
  await stripe.customers.update(c.id, { name: 'Hooked' });
  await stripe.products.create({ name: 'not subscribed to' });
  await rx.waitFor((g) => g.length >= 2);
  const events = rx.got.map((d) => stripe.webhooks.constructEvent(d.body, d.headers['stripe-signature'], ep.secret));
  assert.deepEqual(events.map((e) => e.type), ['customer.created', 'customer.updated']);
  assert.equal(events[0].pending_webhooks, 1);
  const prodEvent = (await stripe.events.list({ types: ['product.created'] })).data[0];
  assert.equal(prodEvent.pending_webhooks, 0, 'no endpoint wants product events');
  assert.equal(events[0].data.object.id, c.id);
  assert.deepEqual(events[1].data.previous_attributes, { name: null });
  assert.match(rx.got[0].headers['stripe-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
  assert.throws(() => stripe.webhooks.constructEvent(rx.got[0].body, rx.got[0].headers['stripe-signature'], 'whsec_wrong'),
    Stripe.errors.StripeSignatureVerificationError);
  const listed = await stripe.webhookEndpoints.list();
  assert.deepEqual(listed.data.map((w) => w.id), [ep.id]);
  await stripe.webhookEndpoints.update(ep.id, { disabled: true });
  await stripe.customers.create({ email: 'quiet@example.com' });
  assert.equal((await stripe.webhookEndpoints.del(ep.id)).deleted, true);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(rx.got.length, 2, 'disabled endpoints receive nothing');
  await assert.rejects(stripe.webhookEndpoints.create({ url: 'ftp://x', enabled_events: ['*'] }), (e) => e.param === 'url');
});

test('flag endpoint is retried with backoff until it answers 2xx', async () => {
  const rx = await receiver((item, n) => (n <= 2 ? 500 : 200));
  const secret = 'whsec_test_flag_secret';
  const emu = await startStripeEmulator(['--webhook', rx.url, '--webhook-secret', secret, '--webhook-retry-ms', '50']);
  cleanups.push(() => emu.stop());
  const stripe = emu.client();
  const c = await stripe.customers.create({ email: 'retry@example.com' });
  await rx.waitFor((g) => g.length >= 3);
  const evs = rx.got.slice(0, 3).map((d) => stripe.webhooks.constructEvent(d.body, d.headers['stripe-signature'], secret));
  assert.ok(evs.every((e) => e.id === evs[0].id && e.type === 'customer.created' && e.data.object.id === c.id),
    'the same event is redelivered');
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(rx.got.length, 3, 'no more deliveries after success');
});
