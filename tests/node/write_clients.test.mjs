// write_clients.test.mjs - node-postgres (pg) and postgres.js writing Stripe
// customers through `tether proxy --source stripe`: the seed scenario with
// bound parameters (update email, invalid email -> an error the client
// catches with SQLSTATE, message and DETAIL, read-after-write on the same
// connection), named prepared statements, INSERT ... RETURNING the API's
// id, DELETE, a transaction (NOTICE, rollback keeps the API write, an API
// error aborts the block), and postgres.js pipelining several writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { useWriteFixture } from './write_fixture.mjs';

const { env, conn } = useWriteFixture('stripe');
async function api(p, method = 'GET') {
  const r = await fetch(env.EMU_URL + p, { method, headers: { Authorization: 'Bearer sk_test_tether' } });
  return r.json();
}

test('node-postgres: seed scenario with bound parameters', async () => {
  const c = new pg.Client(conn());
  await c.connect();
  try {
    const { rows: [{ id }] } = await c.query('SELECT id FROM stripe.customer ORDER BY id LIMIT 1');
    const r = await c.query('UPDATE stripe.customer SET email = $1 WHERE id = $2', ['node-new@email.com', id]);
    assert.equal(r.command, 'UPDATE');
    assert.equal(r.rowCount, 1);
    assert.equal((await api(`/v1/customers/${id}`)).email, 'node-new@email.com');
    assert.equal((await c.query('SELECT email FROM stripe.customer WHERE id = $1', [id])).rows[0].email,
      'node-new@email.com');
    await assert.rejects(c.query('UPDATE stripe.customer SET email = $1 WHERE id = $2', ['new@', id]), (e) => {
      assert.equal(e.code, '22023');
      assert.equal(e.message, `Error updating customer ${id}: Invalid email address: new@`);
      assert.match(e.detail, /code email_invalid, param email/);
      return true;
    });
    assert.equal((await c.query('SELECT email FROM stripe.customer WHERE id = $1', [id])).rows[0].email,
      'node-new@email.com');
  } finally {
    await c.end();
  }
});

test('node-postgres: named statement, INSERT RETURNING, DELETE', async () => {
  const c = new pg.Client(conn());
  await c.connect();
  try {
    const ids = (await c.query('SELECT id FROM stripe.customer ORDER BY id LIMIT 2')).rows.map((r) => r.id);
    for (let i = 0; i < 4; i++) {
      const r = await c.query({ name: 'rename', text: 'UPDATE stripe.customer SET name = $1 WHERE id = $2',
        values: [`named${i}`, ids[i % 2]] });
      assert.equal(r.rowCount, 1);
    }
    assert.equal((await api(`/v1/customers/${ids[1]}`)).name, 'named3');
    const ins = await c.query('INSERT INTO stripe.customer (email, metadata) VALUES ($1, $2) RETURNING id, created, metadata',
      ['node-made@example.com', { user_id: 'u_node' }]);
    const row = ins.rows[0];
    assert.match(row.id, /^cus_/);
    assert.ok(row.created instanceof Date);
    assert.deepEqual(row.metadata, { user_id: 'u_node' });
    const obj = await api(`/v1/customers/${row.id}`);
    assert.equal(obj.email, 'node-made@example.com');
    assert.equal(Math.floor(row.created.getTime() / 1000), obj.created);
    const del = await c.query('DELETE FROM stripe.customer WHERE id = $1', [row.id]);
    assert.equal(del.rowCount, 1);
    assert.equal((await api(`/v1/customers/${row.id}`)).deleted, true);
  } finally {
    await c.end();
  }
});

test('node-postgres: transaction block', async () => {
  const c = new pg.Client(conn());
  const notices = [];
  c.on('notice', (n) => notices.push(n.message));
  await c.connect();
  try {
    const { rows: [{ id }] } = await c.query('SELECT id FROM stripe.customer ORDER BY id LIMIT 1');
    await c.query('BEGIN');
    await c.query('UPDATE stripe.customer SET name = $1 WHERE id = $2', ['node-tx', id]);
    await c.query('ROLLBACK');
    assert.ok(notices.some((m) => /stays even if this transaction rolls back/.test(m)), notices.join('|'));
    assert.equal((await api(`/v1/customers/${id}`)).name, 'node-tx');
    await c.query('BEGIN');
    await assert.rejects(c.query('UPDATE stripe.customer SET email = $1 WHERE id = $2', ['bad@', id]), { code: '22023' });
    await assert.rejects(c.query('SELECT 1'), { code: '25P02' });
    await c.query('ROLLBACK');
    assert.equal((await c.query('SELECT name FROM stripe.customer WHERE id = $1', [id])).rows[0].name, 'node-tx');
  } finally {
    await c.end();
  }
});

test('postgres.js: writes, errors and pipelining', async () => {
  const sql = postgres({ ...conn(), username: 'postgres', max: 1, onnotice: () => {} });
  try {
    const ids = (await sql`SELECT id FROM stripe.customer ORDER BY id LIMIT 3`).map((r) => r.id);
    const r = await sql`UPDATE stripe.customer SET email = ${'pjs@email.com'} WHERE id = ${ids[0]}`;
    assert.equal(r.count, 1);
    assert.equal((await api(`/v1/customers/${ids[0]}`)).email, 'pjs@email.com');
    await assert.rejects(sql`UPDATE stripe.customer SET email = ${'new@'} WHERE id = ${ids[0]}`, (e) => {
      assert.equal(e.code, '22023');
      assert.match(e.message, /Invalid email address: new@/);
      return true;
    });
    // pipelined: several queries in flight on one connection
    const results = await Promise.all([
      sql`UPDATE stripe.customer SET name = ${'pipe0'} WHERE id = ${ids[0]}`,
      sql`SELECT count(*)::int AS n FROM stripe.customer`,
      sql`UPDATE stripe.customer SET name = ${'pipe1'} WHERE id = ${ids[1]}`,
      sql`UPDATE stripe.customer SET name = ${'pipe2'} WHERE id = ${ids[2]} RETURNING name`,
    ]);
    assert.equal(results[0].count, 1);
    assert.ok(results[1][0].n >= 3);
    assert.equal(results[3][0].name, 'pipe2');
    for (let i = 0; i < 3; i++) assert.equal((await api(`/v1/customers/${ids[i]}`)).name, `pipe${i}`);
    const [created] = await sql`INSERT INTO stripe.customer ${sql({ email: 'pjs-made@example.com', name: 'PJS' })} RETURNING id`;
    assert.match(created.id, /^cus_/);
    assert.equal((await sql`SELECT name FROM stripe.customer WHERE id = ${created.id}`)[0].name, 'PJS');
  } finally {
    await sql.end();
  }
});
