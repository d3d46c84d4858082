// stripe_billing.test.mjs - products, prices, subscriptions (with items),
// invoices (with lines), charges and payment intents through stripe-node,
// including expand[] of references and list filters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStripeEmulator } from './lib/emulator.mjs';

let emu, stripe;
before(async () => { emu = await startStripeEmulator(); stripe = emu.client(); });
after(() => emu.stop());

test('products and prices', async () => {
  const prod = await stripe.products.create({ name: 'Pro plan', metadata: { plan: 'pro' } });
  assert.match(prod.id, /^prod_/);
  assert.equal(prod.active, true);
  const custom = await stripe.products.create({ id: 'prod_custom_id', name: 'Custom' });
  assert.equal(custom.id, 'prod_custom_id');
  await assert.rejects(stripe.products.create({ id: 'prod_custom_id', name: 'Again' }), (e) => e.statusCode === 400);
  const price = await stripe.prices.create({ product: prod.id, unit_amount: 2000, currency: 'usd', recurring: { interval: 'month' } });
  assert.match(price.id, /^price_/);
  assert.equal(price.type, 'recurring');
  assert.equal(price.unit_amount, 2000);
  assert.equal(String(price.unit_amount_decimal), '2000');
  assert.deepEqual(price.recurring, { interval: 'month', interval_count: 1, meter: null, trial_period_days: null, usage_type: 'licensed' });
  assert.equal(price.product, prod.id, 'references are ids by default');
  const expanded = await stripe.prices.retrieve(price.id, { expand: ['product'] });
  assert.equal(expanded.product.id, prod.id);
  assert.equal(expanded.product.name, 'Pro plan');
  const oneTime = await stripe.prices.create({ product_data: { name: 'Setup fee' }, unit_amount: 500, currency: 'usd' });
  assert.equal(oneTime.type, 'one_time');
  assert.match(oneTime.product, /^prod_/);
  const eur = await stripe.prices.create({ product: prod.id, unit_amount: 1800, currency: 'eur', recurring: { interval: 'month' } });
  const inEur = await stripe.prices.list({ currency: 'eur', type: 'recurring' });
  assert.deepEqual(inEur.data.map((p) => p.id), [eur.id]);
  await stripe.prices.update(eur.id, { active: false });
  const byProduct = await stripe.prices.list({ product: prod.id, active: true });
  assert.deepEqual(byProduct.data.map((p) => p.id), [price.id]);
  const listed = await stripe.prices.list({ expand: ['data.product'] });
  assert.ok(listed.data.every((p) => typeof p.product === 'object'));
  const upd = await stripe.products.update(prod.id, { description: 'The pro plan', active: false });
  assert.equal(upd.description, 'The pro plan');
  assert.equal(upd.active, false);
  const inactive = await stripe.products.list({ active: false });
  assert.ok(inactive.data.some((p) => p.id === prod.id));
  assert.ok(inactive.data.every((p) => p.active === false));
  await stripe.products.update(prod.id, { active: true });
  await assert.rejects(stripe.products.del(prod.id), (e) => e.statusCode === 400 && /has one or more user-created prices/.test(e.message));
  const del = await stripe.products.del(custom.id);
  assert.equal(del.deleted, true);
  await assert.rejects(stripe.products.retrieve(custom.id), (e) => e.statusCode === 404);
});

test('subscriptions bill an invoice with lines and a charge', async () => {
  const cust = await stripe.customers.create({ email: 'sub@example.com', name: 'Sub Scriber' });
  const prod = await stripe.products.create({ name: 'Team plan' });
  const price = await stripe.prices.create({ product: prod.id, unit_amount: 1500, currency: 'eur', recurring: { interval: 'month' } });
  const sub = await stripe.subscriptions.create({
    customer: cust.id, items: [{ price: price.id, quantity: 3 }], metadata: { team: 'a' },
    expand: ['latest_invoice', 'customer'],
  });
  assert.match(sub.id, /^sub_/);
  assert.equal(sub.status, 'active');
  assert.equal(sub.currency, 'eur');
  assert.equal(sub.customer.id, cust.id, 'expanded customer');
  assert.equal(sub.items.object, 'list');
  assert.equal(sub.items.data.length, 1);
  const item = sub.items.data[0];
  assert.match(item.id, /^si_/);
  assert.equal(item.object, 'subscription_item');
  assert.equal(item.quantity, 3);
  assert.equal(item.price.id, price.id, 'items embed the price');
  assert.equal(item.subscription, sub.id);
  assert.ok(item.current_period_end > item.current_period_start);
  const inv = sub.latest_invoice;
  assert.match(inv.id, /^in_/);
  assert.equal(inv.status, 'paid');
  assert.equal(inv.amount_due, 4500);
  assert.equal(inv.amount_paid, 4500);
  assert.equal(inv.customer, cust.id);
  assert.equal(inv.customer_email, 'sub@example.com');
  assert.equal(inv.parent.subscription_details.subscription, sub.id);
  assert.equal(inv.lines.data.length, 1);
  assert.equal(inv.lines.data[0].amount, 4500);

  const lines = await stripe.invoices.listLineItems(inv.id);
  assert.equal(lines.data[0].object, 'line_item');
  const charges = await stripe.charges.list({ customer: cust.id });
  assert.equal(charges.data.length, 1);
  assert.equal(charges.data[0].amount, 4500);
  assert.equal(charges.data[0].status, 'succeeded');
  const invs = await stripe.invoices.list({ customer: cust.id });
  assert.deepEqual(invs.data.map((i) => i.id), [inv.id]);
  const bySub = await stripe.invoices.list({ subscription: sub.id });
  assert.deepEqual(bySub.data.map((i) => i.id), [inv.id]);

  const plain = await stripe.subscriptions.retrieve(sub.id);
  assert.equal(plain.customer, cust.id);
  assert.equal(plain.latest_invoice, inv.id);
  const deep = await stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice.customer'] });
  assert.equal(deep.latest_invoice.customer.email, 'sub@example.com');

  const items = await stripe.subscriptionItems.list({ subscription: sub.id });
  assert.deepEqual(items.data.map((i) => i.id), [item.id]);
  const oneItem = await stripe.subscriptionItems.retrieve(item.id);
  assert.equal(oneItem.subscription, sub.id);
  await assert.rejects(stripe.subscriptionItems.retrieve('si_missing'), (e) => e.statusCode === 404);
  const byPrice = await stripe.subscriptions.list({ price: price.id });
  assert.deepEqual(byPrice.data.map((s) => s.id), [sub.id]);

  const upd = await stripe.subscriptions.update(sub.id, {
    items: [{ id: item.id, quantity: 5 }], cancel_at_period_end: true, metadata: { team: 'b' },
  });
  assert.equal(upd.items.data[0].quantity, 5);
  assert.equal(upd.cancel_at_period_end, true);
  const byCustomer = await stripe.subscriptions.list({ customer: cust.id });
  assert.deepEqual(byCustomer.data.map((s) => s.id), [sub.id]);

  const canceled = await stripe.subscriptions.cancel(sub.id);
  assert.equal(canceled.status, 'canceled');
  assert.ok(canceled.canceled_at);
  assert.equal((await stripe.subscriptions.list({ customer: cust.id })).data.length, 0, 'canceled hidden by default');
  assert.equal((await stripe.subscriptions.list({ customer: cust.id, status: 'canceled' })).data.length, 1);
  assert.equal((await stripe.subscriptions.list({ customer: cust.id, status: 'all' })).data.length, 1);

  const types = (await stripe.events.list({ limit: 100 })).data.map((e) => e.type);
  for (const t of ['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted',
    'invoice.created', 'invoice.paid', 'charge.succeeded', 'price.created', 'product.created']) {
    assert.ok(types.includes(t), `event ${t}`);
  }
});

test('deleting a customer cancels its subscriptions', async () => {
  const cust = await stripe.customers.create({ email: 'leaving@example.com' });
  const price = await stripe.prices.create({ product_data: { name: 'Monthly' }, unit_amount: 300, currency: 'usd', recurring: { interval: 'month' } });
  const sub = await stripe.subscriptions.create({ customer: cust.id, items: [{ price: price.id }] });
  await stripe.customers.del(cust.id);
  const after = await stripe.subscriptions.retrieve(sub.id, { expand: ['customer'] });
  assert.equal(after.status, 'canceled');
  assert.deepEqual(after.customer, { id: cust.id, object: 'customer', deleted: true });
  const evs = await stripe.events.list({ types: ['customer.subscription.deleted'], limit: 100 });
  assert.ok(evs.data.some((e) => e.data.object.id === sub.id && e.data.previous_attributes.status === 'active'));
});

test('subscription validation', async () => {
  const cust = await stripe.customers.create({});
  await assert.rejects(stripe.subscriptions.create({ customer: cust.id }),
    (e) => e.code === 'parameter_missing' && e.param === 'items');
  const once = await stripe.prices.create({ product_data: { name: 'One-off' }, unit_amount: 100, currency: 'usd' });
  await assert.rejects(stripe.subscriptions.create({ customer: cust.id, items: [{ price: once.id }] }),
    (e) => e.statusCode === 400 && /type=recurring/.test(e.message));
  const trialPrice = await stripe.prices.create({ product_data: { name: 'Trial' }, unit_amount: 900, currency: 'usd', recurring: { interval: 'year' } });
  const trial = await stripe.subscriptions.create({ customer: cust.id, items: [{ price: trialPrice.id }], trial_period_days: 14 });
  assert.equal(trial.status, 'trialing');
  assert.equal(trial.trial_end - trial.trial_start, 14 * 86400);
});

test('manual invoices: draft, finalize, pay, delete', async () => {
  const cust = await stripe.customers.create({ email: 'inv@example.com' });
  const draft = await stripe.invoices.create({ customer: cust.id, description: 'Manual' });
  assert.equal(draft.status, 'draft');
  assert.equal(draft.customer_email, 'inv@example.com');
  const fin = await stripe.invoices.finalizeInvoice(draft.id);
  assert.equal(fin.status, 'open');
  assert.ok(fin.number);
  const paid = await stripe.invoices.pay(draft.id);
  assert.equal(paid.status, 'paid');
  await assert.rejects(stripe.invoices.del(draft.id), (e) => e.statusCode === 400);
  const d2 = await stripe.invoices.create({ customer: cust.id });
  assert.equal((await stripe.invoices.del(d2.id)).deleted, true);
});

test('charges and payment intents', async () => {
  const cust = await stripe.customers.create({ email: 'pay@example.com' });
  const ch = await stripe.charges.create({ amount: 1234, currency: 'usd', customer: cust.id, source: 'tok_visa' });
  assert.match(ch.id, /^ch_/);
  assert.equal(ch.paid, true);
  assert.equal(ch.payment_method_details.card.last4, '4242');
  const up = await stripe.charges.update(ch.id, { description: 'Updated', metadata: { order: '42' } });
  assert.equal(up.description, 'Updated');
  const withCust = await stripe.charges.retrieve(ch.id, { expand: ['customer'] });
  assert.equal(withCust.customer.email, 'pay@example.com');

  const pi = await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', customer: cust.id });
  assert.match(pi.id, /^pi_/);
  assert.equal(pi.status, 'requires_payment_method');
  assert.ok(pi.client_secret.startsWith(`${pi.id}_secret_`));
  await assert.rejects(stripe.paymentIntents.confirm(pi.id), (e) => e.code === 'payment_intent_unexpected_state');
  const ok = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
  assert.equal(ok.status, 'succeeded');
  assert.match(ok.latest_charge, /^ch_/);
  const viaCharge = await stripe.charges.list({ payment_intent: pi.id });
  assert.equal(viaCharge.data[0].id, ok.latest_charge);
  const direct = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
  assert.equal(direct.status, 'succeeded');
  const toCancel = await stripe.paymentIntents.create({ amount: 700, currency: 'usd' });
  assert.equal((await stripe.paymentIntents.cancel(toCancel.id)).status, 'canceled');
  const pis = await stripe.paymentIntents.list({ customer: cust.id });
  assert.deepEqual(pis.data.map((p) => p.id), [pi.id]);
});
