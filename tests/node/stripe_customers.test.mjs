// stripe_customers.test.mjs - stripe-node against the emulator: customer
// create/retrieve/update/delete, lists with auto-pagination, cursors,
// filters, and the events every change appends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStripeEmulator } from './lib/emulator.mjs';

let emu, stripe;
before(async () => { emu = await startStripeEmulator(); stripe = emu.client(); });
after(async () => { const e = await emu.stop(); assert.equal(e.code, 0, 'emulator exits cleanly on SIGTERM'); });

test('create, retrieve, update, delete a customer', async () => {
  const c = await stripe.customers.create({ email: 'ada@example.com', name: 'Ada', metadata: { tier: 'gold' } });
  assert.match(c.id, /^cus_[0-9A-Za-z]{14}$/);
  assert.equal(c.object, 'customer');
  assert.equal(c.email, 'ada@example.com');
  assert.deepEqual(c.metadata, { tier: 'gold' });
  assert.equal(c.livemode, false);
  assert.equal(typeof c.created, 'number');
  assert.match(c.lastResponse.requestId, /^req_/);

  const got = await stripe.customers.retrieve(c.id);
  assert.deepEqual({ ...got, lastResponse: undefined }, { ...c, lastResponse: undefined });

  const up = await stripe.customers.update(c.id, { name: 'Ada Lovelace', metadata: { tier: '', vip: 'yes' } });
  assert.equal(up.name, 'Ada Lovelace');
  assert.deepEqual(up.metadata, { vip: 'yes' }, 'empty metadata value removes the key');
  const cleared = await stripe.customers.update(c.id, { phone: '+15550001', description: '' });
  assert.equal(cleared.phone, '+15550001');
  assert.equal(cleared.description, null);

  const del = await stripe.customers.del(c.id);
  assert.deepEqual({ id: del.id, object: del.object, deleted: del.deleted }, { id: c.id, object: 'customer', deleted: true });
  const after = await stripe.customers.retrieve(c.id);
  assert.equal(after.deleted, true, 'a deleted customer retrieves as a stub');
  await assert.rejects(stripe.customers.update(c.id, { name: 'x' }), (e) => e.statusCode === 404);
  const list = await stripe.customers.list({ limit: 100 });
  assert.ok(!list.data.some((x) => x.id === c.id), 'deleted customers leave lists');
});

test('lists are newest first and auto-paginate across pages', async () => {
  const created = [];
  for (let i = 0; i < 25; i++) created.push((await stripe.customers.create({ email: `page${i}@example.com` })).id);
  const page = await stripe.customers.list({ limit: 10 });
  assert.equal(page.object, 'list');
  assert.equal(page.url, '/v1/customers');
  assert.equal(page.data.length, 10);
  assert.equal(page.has_more, true);
  assert.equal(page.data[0].id, created[24], 'newest first');

  const all = await stripe.customers.list({ limit: 7 }).autoPagingToArray({ limit: 1000 });
  const ids = all.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates across pages');
  for (const id of created) assert.ok(ids.includes(id));
  const mine = ids.filter((id) => created.includes(id));
  assert.deepEqual(mine, [...created].reverse());
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].created >= all[i].created, 'created non-increasing');
  assert.deepEqual([...ids].sort().reverse(), ids, 'ids sort by creation');

  const next = await stripe.customers.list({ limit: 5, starting_after: created[10] });
  assert.deepEqual(next.data.map((c) => c.id), created.slice(5, 10).reverse());
  const prev = await stripe.customers.list({ limit: 5, ending_before: created[10] });
  assert.deepEqual(prev.data.map((c) => c.id), created.slice(11, 16).reverse());
  assert.equal(prev.has_more, true);
  const last = await stripe.customers.list({ limit: 3, ending_before: created[21] });
  assert.deepEqual(last.data.map((c) => c.id), created.slice(22, 25).reverse());
  assert.equal(last.has_more, false);
});

test('email and created filters', async () => {
  const a = await stripe.customers.create({ email: 'filter-me@example.com' });
  await stripe.customers.create({ email: 'other@example.com' });
  const byEmail = await stripe.customers.list({ email: 'filter-me@example.com' });
  assert.deepEqual(byEmail.data.map((c) => c.id), [a.id]);
  const none = await stripe.customers.list({ created: { gt: a.created + 1000 } });
  assert.equal(none.data.length, 0);
  const some = await stripe.customers.list({ created: { gte: a.created }, limit: 100 });
  assert.ok(some.data.some((c) => c.id === a.id));
  assert.ok(some.data.every((c) => c.created >= a.created));
  const exact = await stripe.customers.list({ created: a.created, limit: 100 });
  assert.ok(exact.data.every((c) => c.created === a.created));
  const before = await stripe.customers.list({ created: { lt: a.created }, limit: 100 });
  assert.ok(before.data.every((c) => c.created < a.created));
});

test('every change appends an event with previous attributes', async () => {
  const c = await stripe.customers.create({ email: 'ev@example.com', name: 'Old' });
  await stripe.customers.update(c.id, { name: 'New' });
  await stripe.customers.del(c.id);
  const events = await stripe.events.list({ limit: 100 }).autoPagingToArray({ limit: 10000 });
  const mine = events.filter((e) => e.data.object.id === c.id);
  assert.deepEqual(mine.map((e) => e.type), ['customer.deleted', 'customer.updated', 'customer.created']);
  const upd = mine[1];
  assert.match(upd.id, /^evt_/);
  assert.equal(upd.object, 'event');
  assert.equal(upd.data.object.name, 'New');
  assert.deepEqual(upd.data.previous_attributes, { name: 'Old' });
  assert.match(upd.request.id, /^req_/);
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i - 1].created >= events[i].created);
    assert.ok(events[i - 1].id > events[i].id, 'event ids strictly ordered');
  }
  const got = await stripe.events.retrieve(upd.id);
  assert.equal(got.type, 'customer.updated');
  const onlyDeleted = await stripe.events.list({ types: ['customer.deleted'], limit: 100 });
  assert.ok(onlyDeleted.data.length >= 1);
  assert.ok(onlyDeleted.data.every((e) => e.type === 'customer.deleted'));
  const byType = await stripe.events.list({ type: 'customer.*', limit: 100 });
  assert.ok(byType.data.every((e) => e.type.startsWith('customer.')));
  const recent = await stripe.events.list({ created: { gte: upd.created }, limit: 100 });
  assert.ok(recent.data.every((e) => e.created >= upd.created));
});

test('concurrent requests from many clients', async () => {
  const made = await Promise.all(Array.from({ length: 60 }, (_, i) =>
    emu.client().customers.create({ email: `conc${i}@example.com`, metadata: { i: String(i) } })));
  assert.equal(new Set(made.map((c) => c.id)).size, 60);
  const listed = await Promise.all(made.map((c) => stripe.customers.retrieve(c.id)));
  assert.deepEqual(listed.map((c) => c.email), made.map((c) => c.email));
});

test('Basic auth and Stripe-Version are accepted', async () => {
  const r = await fetch(`${emu.base}/v1/customers?limit=1`, {
    headers: { Authorization: 'Basic ' + Buffer.from('sk_test_tether:').toString('base64'), 'Stripe-Version': '2024-06-20' },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('stripe-version'), '2024-06-20');
  assert.match(r.headers.get('request-id'), /^req_/);
});
