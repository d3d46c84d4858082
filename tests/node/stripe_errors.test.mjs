// stripe_errors.test.mjs - validation and auth errors in Stripe's shape, and
// the error classes stripe-node raises for them; hostile form bodies get 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { startStripeEmulator } from './lib/emulator.mjs';

let emu, stripe;
before(async () => {
  emu = await startStripeEmulator(['--api-key', 'sk_test_tether', '--api-key', 'sk_test_second']);
  stripe = emu.client();
});
after(() => emu.stop());

test('invalid email on create and update', async () => {
  await assert.rejects(stripe.customers.create({ email: 'not-an-email' }), (e) => {
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(e.type, 'StripeInvalidRequestError');
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'email_invalid');
    assert.equal(e.param, 'email');
    assert.equal(e.message, 'Invalid email address: not-an-email');
    assert.match(e.requestId, /^req_/);
    return true;
  });
  const c = await stripe.customers.create({ email: 'ok@example.com' });
  await assert.rejects(stripe.customers.update(c.id, { email: 'a b@example.com' }),
    (e) => e.code === 'email_invalid' && e.param === 'email' && e.statusCode === 400);
  assert.equal((await stripe.customers.retrieve(c.id)).email, 'ok@example.com', 'failed update changes nothing');
});

test('unknown id is a 404 resource_missing', async () => {
  await assert.rejects(stripe.customers.retrieve('cus_doesnotexist'), (e) => {
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'resource_missing');
    assert.equal(e.message, "No such customer: 'cus_doesnotexist'");
    assert.equal(e.param, 'id');
    return true;
  });
  const p = await stripe.products.create({ name: 'Not a customer' });
  await assert.rejects(stripe.customers.retrieve(p.id), (e) => e.statusCode === 404);
  await assert.rejects(stripe.subscriptions.create({ customer: 'cus_nope', items: [{ price: 'price_nope' }] }),
    (e) => e.statusCode === 400 && e.code === 'resource_missing' && e.param === 'customer');
});

test('unknown, missing and malformed parameters are 400', async () => {
  await assert.rejects(stripe.customers.create({ favourite_colour: 'blue' }), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'parameter_unknown');
    assert.equal(e.param, 'favourite_colour');
    assert.equal(e.message, 'Received unknown parameter: favourite_colour');
    return true;
  });
  await assert.rejects(stripe.products.create({}), (e) =>
    e.code === 'parameter_missing' && e.param === 'name' && e.message === 'Missing required param: name.');
  await assert.rejects(stripe.customers.create({ balance: 'lots' }), (e) =>
    e.code === 'parameter_invalid_integer' && e.param === 'balance');
  await assert.rejects(stripe.customers.list({ limit: 101 }), (e) => e.statusCode === 400 && e.param === 'limit');
  await assert.rejects(stripe.customers.list({ limit: 0 }), (e) => e.statusCode === 400 && e.param === 'limit');
  await assert.rejects(stripe.customers.list({ starting_after: 'cus_missing' }),
    (e) => e.statusCode === 400 && e.code === 'resource_missing' && e.param === 'starting_after');
  await assert.rejects(stripe.customers.list({ frobnicate: '1' }), (e) => e.code === 'parameter_unknown');
  const someone = await stripe.customers.create({});
  await assert.rejects(stripe.customers.retrieve(someone.id, { frobnicate: '1' }), (e) => e.code === 'parameter_unknown');
  await assert.rejects(stripe.charges.create({ amount: 10, currency: 'usd', source: 'tok_visa' }),
    (e) => e.code === 'amount_too_small' && e.param === 'amount');
  await assert.rejects(stripe.customers.retrieve((await stripe.customers.create({})).id, { expand: ['nonsense'] }),
    (e) => e.statusCode === 400 && e.message === 'This property cannot be expanded (nonsense).');
});

test('wrong or missing API key is a 401 authentication error', async () => {
  const bad = emu.client({}, 'sk_test_wrong_key_123456');
  await assert.rejects(bad.customers.list(), (e) => {
    assert.ok(e instanceof Stripe.errors.StripeAuthenticationError);
    assert.equal(e.statusCode, 401);
    assert.match(e.message, /^Invalid API Key provided: sk_test_\*+/);
    assert.ok(!e.message.includes('wrong_key_123456'), 'key is masked');
    return true;
  });
  const second = emu.client({}, 'sk_test_second');
  assert.equal((await second.customers.list()).object, 'list', 'every --api-key is accepted');
  const r = await fetch(`${emu.base}/v1/customers`);
  assert.equal(r.status, 401);
  const body = await r.json();
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /You did not provide an API key/);
});

test('unknown URL is a 404 in Stripe shape', async () => {
  const r = await emu.raw('GET', '/v1/frobnicators');
  assert.equal(r.status, 404);
  assert.match(r.json.error.message, /^Unrecognized request URL \(GET: \/v1\/frobnicators\)/);
  const d = await emu.raw('DELETE', `/v1/charges/ch_x`);
  assert.equal(d.status, 404);
});

test('hostile form bodies are 400, never a crash', async () => {
  const cases = [
    'email=a%ZZb',                       // bad percent-encoding
    'email=abc%',                        // truncated escape
    'name=%00',                          // encoded NUL
    'a' + '[x]'.repeat(50) + '=1',        // deep nesting
    'k'.repeat(100000) + '=1',            // huge key
    'metadata[a=1',                      // unbalanced bracket
    'metadata]=1',
    'metadata=x&metadata[a]=1',          // value and hash at once
    Array.from({ length: 3000 }, (_, i) => `metadata[k${i}]=v`).join('&'),
  ];
  for (const body of cases) {
    const r = await emu.raw('POST', '/v1/customers', { body });
    assert.equal(r.status, 400, `400 for ${body.slice(0, 40)}`);
    assert.equal(r.json.error.type, 'invalid_request_error');
  }
  const deepQuery = await emu.raw('GET', '/v1/customers?a' + '[x]'.repeat(20) + '=1');
  assert.equal(deepQuery.status, 400, 'deep nesting in a query string');
  const longPath = await emu.raw('GET', '/v1/customers/' + 'c'.repeat(5000));
  assert.equal(longPath.status, 404);
  const big = await emu.raw('POST', '/v1/customers', { body: 'description=' + 'x'.repeat(2 * 1024 * 1024) });
  assert.equal(big.status, 413);
  assert.equal((await stripe.customers.list({ limit: 1 })).object, 'list', 'still serving');
});
