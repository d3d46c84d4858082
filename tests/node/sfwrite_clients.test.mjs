// sfwrite_clients.test.mjs - node-postgres (pg) writing Salesforce contacts
// through `tether proxy --source salesforce`: the seed's invalid-email error
// caught with SQLSTATE, message, DETAIL (code and field) with bound
// parameters (extended protocol) and in a simple-protocol query, UPDATE and
// INSERT ... RETURNING the API's values, read-after-write on the same
// connection, a 150-row UPDATE with one bound array going through the
// composite API, a partial failure, and an API error inside a transaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { useWriteFixture } from './write_fixture.mjs';

const { env, work, conn } = useWriteFixture('salesforce');

let token = null;
async function sf(p) {
  if (!token) {
    const body = new URLSearchParams({ grant_type: 'password', client_id: 'tether-sf-client',
      client_secret: 'tether-sf-secret', username: 'admin@tether.example', password: 'tether-sf-password' });
    token = (await (await fetch(env.EMU_URL + '/services/oauth2/token', { method: 'POST', body })).json()).access_token;
  }
  const r = await fetch(env.EMU_URL + '/services/data/v59.0' + p, { headers: { Authorization: 'Bearer ' + token } });
  return { status: r.status, usage: r.headers.get('sforce-limit-info'), body: await r.json() };
}
const usage = async () => Number(/api-usage=(\d+)/.exec((await sf('/limits')).usage)[1]);

test('node-postgres: update, invalid email (extended and simple protocol), RETURNING', async () => {
  const c = new pg.Client(conn());
  await c.connect();
  try {
    const { rows: [{ id }] } = await c.query('SELECT id FROM salesforce.contact WHERE NOT is_deleted ORDER BY id LIMIT 1');
    const r = await c.query('UPDATE salesforce.contact SET email = $1 WHERE id = $2 RETURNING email, system_modstamp',
      ['node@example.com', id]);
    assert.equal(r.command, 'UPDATE');
    assert.equal(r.rowCount, 1);
    assert.equal(r.rows[0].email, 'node@example.com');
    const rec = (await sf(`/sobjects/Contact/${id}`)).body;
    assert.equal(rec.Email, 'node@example.com');
    assert.equal(new Date(r.rows[0].system_modstamp).getTime(), new Date(rec.SystemModstamp.replace('+0000', 'Z')).getTime());
    const check = (e) => {
      assert.equal(e.code, '22023');
      assert.equal(e.message, `Error updating contact ${id}: INVALID_EMAIL_ADDRESS: Email: invalid email address: bad@`);
      assert.match(e.detail, /API status 400, code INVALID_EMAIL_ADDRESS, param Email/);
      return true;
    };
    await assert.rejects(c.query('UPDATE salesforce.contact SET email = $1 WHERE id = $2', ['bad@', id]), check);
    await assert.rejects(c.query(`UPDATE salesforce.contact SET email = 'bad@' WHERE id = '${id}'`), check);
    assert.equal((await c.query('SELECT email FROM salesforce.contact WHERE id = $1', [id])).rows[0].email,
      'node@example.com');
    assert.equal((await sf(`/sobjects/Contact/${id}`)).body.Email, 'node@example.com');
    // read-only: before any API call
    await assert.rejects(c.query('UPDATE salesforce.contact SET created_date = now() WHERE id = $1', [id]),
      (e) => e.code === '428C9' && /created_date/.test(e.message));
    // named prepared statement, INSERT ... RETURNING the API's id
    const ins = await c.query({ name: 'mk', text: 'INSERT INTO salesforce.contact (last_name, email) VALUES ($1, $2) RETURNING id, created_date',
      values: ['Node', 'node.made@example.com'] });
    assert.match(ins.rows[0].id, /^003/);
    assert.ok(ins.rows[0].created_date instanceof Date);
    assert.equal((await sf(`/sobjects/Contact/${ins.rows[0].id}`)).body.LastName, 'Node');
    const del = await c.query('DELETE FROM salesforce.contact WHERE id = $1', [ins.rows[0].id]);
    assert.equal(del.rowCount, 1);
    assert.equal((await sf(`/sobjects/Contact/${ins.rows[0].id}`)).status, 404);
  } finally {
    await c.end();
  }
});

test('node-postgres: 150 rows in one UPDATE go through the composite API', async () => {
  const c = new pg.Client(conn());
  await c.connect();
  try {
    const ids = (await c.query('SELECT id FROM salesforce.contact WHERE NOT is_deleted ORDER BY id DESC LIMIT 150'))
      .rows.map((x) => x.id);
    assert.equal(ids.length, 150);
    const u0 = await usage();
    const r = await c.query('UPDATE salesforce.contact SET title = $1 WHERE id = ANY($2) RETURNING id, title',
      ['Node Batch', ids]);
    const used = (await usage()) - u0 - 1;
    assert.equal(r.rowCount, 150);
    assert.equal(r.rows.length, 150);
    assert.ok(r.rows.every((x) => x.title === 'Node Batch'));
    assert.ok(used >= 1 && used <= 4, `150-row UPDATE took ${used} API requests`);
    assert.match(readFileSync(path.join(work, 'proxy.log'), 'utf8'), /event=salesforce\.composite .*op=update rows=150 sent=150/);
    assert.equal((await sf(`/sobjects/Contact/${ids[77]}`)).body.Title, 'Node Batch');
    const n = await c.query("SELECT count(*)::int AS n FROM salesforce.contact WHERE title = 'Node Batch'");
    assert.equal(n.rows[0].n, 150);
  } finally {
    await c.end();
  }
});

test('node-postgres: partial failure keeps the accepted rows; an error aborts a transaction', async () => {
  const c = new pg.Client(conn());
  const notices = [];
  c.on('notice', (n) => notices.push(n.message));
  await c.connect();
  try {
    const ids = (await c.query('SELECT id FROM salesforce.contact WHERE NOT is_deleted ORDER BY id LIMIT 4 OFFSET 10'))
      .rows.map((x) => x.id);
    await assert.rejects(c.query(
      "UPDATE salesforce.contact SET email = CASE WHEN id = $1 THEN 'nope@' ELSE 'p-' || lower(id) || '@example.com' END WHERE id = ANY($2)",
      [ids[2], ids]), (e) => {
      assert.equal(e.code, '22023');
      assert.match(e.message, new RegExp(`^Error updating contact ${ids[2]}: INVALID_EMAIL_ADDRESS: .*\\(3 of 4 rows applied\\)$`));
      assert.match(e.detail, /Row 3 of 4 was rejected; 3 rows were applied/);
      return true;
    });
    const rows = (await c.query('SELECT id, email FROM salesforce.contact WHERE id = ANY($1)', [ids])).rows;
    for (const row of rows) {
      if (row.id === ids[2]) assert.notEqual(row.email, 'nope@');
      else assert.equal(row.email, `p-${row.id.toLowerCase()}@example.com`);
    }
    await c.query('BEGIN');
    await c.query('UPDATE salesforce.contact SET title = $1 WHERE id = $2', ['InTx', ids[0]]);
    assert.ok(notices.some((m) => /stays even if this transaction rolls back/.test(m)), notices.join('|'));
    await assert.rejects(c.query('UPDATE salesforce.contact SET email = $1 WHERE id = $2', ['bad@', ids[0]]),
      (e) => e.code === '22023');
    await assert.rejects(c.query('SELECT 1'), (e) => e.code === '25P02');
    await c.query('ROLLBACK');
    assert.equal((await sf(`/sobjects/Contact/${ids[0]}`)).body.Title, 'InTx');
  } finally {
    await c.end();
  }
});
