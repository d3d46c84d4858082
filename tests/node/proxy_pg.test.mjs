// proxy_pg.test.mjs - node-postgres (pg) through `tether proxy` against the
// real test cluster: SCRAM and TLS logins, parameters (extended protocol),
// named prepared statements, transaction errors, error fields, notices,
// LISTEN/NOTIFY across two connections. TETHER_TEST_DIRECT=1 runs the same
// checks against Postgres itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const here = path.dirname(fileURLToPath(import.meta.url));
const proxySh = path.join(here, '..', 'harness', 'proxy.sh');
const work = mkdtempSync(path.join(tmpdir(), 'tether-node-pg.'));
const ports = {};

function start(name, ...args) {
  ports[name] = null; // stopped in after() even if the start fails half-way
  ports[name] = Number(execFileSync(proxySh, ['start', path.join(work, name), ...args]).toString().trim());
}
function client(name = 'scram', extra = {}) {
  return new pg.Client({ host: '127.0.0.1', port: ports[name], user: 'postgres', password: 'postgres',
    database: process.env.PGDATABASE, ...extra });
}

before(() => { start('scram', '--auth', 'scram'); start('tls', '--auth', 'scram', '--tls'); });
after(() => {
  for (const name of Object.keys(ports)) execFileSync(proxySh, ['stop', path.join(work, name)]);
  rmSync(work, { recursive: true, force: true });
});

test('SCRAM and TLS logins', async () => {
  const c = client();
  await c.connect();
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  await c.end();
  const t = client('tls', { ssl: { rejectUnauthorized: false } });
  await t.connect();
  assert.equal((await t.query('SELECT 2 AS two')).rows[0].two, 2);
  await t.end();
});

test('parameters, prepared statements, transactions, errors, notices', async () => {
  const c = client();
  await c.connect();
  await c.query('CREATE TABLE IF NOT EXISTS node_items (id int PRIMARY KEY, name text)');
  await c.query('TRUNCATE node_items');
  for (let i = 0; i < 20; i++) {
    await c.query({ name: 'ins', text: 'INSERT INTO node_items VALUES ($1, $2)', values: [i, `n${i}`] });
  }
  const r = await c.query('SELECT name FROM node_items WHERE id = $1', [7]);
  assert.equal(r.rows[0].name, 'n7');
  await c.query('BEGIN');
  await assert.rejects(c.query('SELECT 1/0'), (e) => e.code === '22012');
  await assert.rejects(c.query('SELECT 1'), (e) => e.code === '25P02');
  await c.query('ROLLBACK');
  await assert.rejects(
    c.query("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'P0099', DETAIL = 'd1', HINT = 'h1'; END $$"),
    (e) => e.code === 'P0099' && e.detail === 'd1' && e.hint === 'h1' && e.severity === 'ERROR' && !!e.routine);
  await assert.rejects(c.query('SELECT nosuch FROM node_items'), (e) => e.code === '42703' && e.position === '8');
  const notices = [];
  c.on('notice', (n) => notices.push(n));
  await c.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
  assert.equal(notices.length, 1);
  assert.equal(notices[0].message, 'hello 42');
  assert.equal(notices[0].code, '00000');
  await c.end();
});

test('LISTEN/NOTIFY across two connections', async () => {
  const l = client();
  const s = client();
  await l.connect();
  await s.connect();
  await l.query('LISTEN node_chan');
  const got = new Promise((resolve) => l.on('notification', resolve));
  await s.query("NOTIFY node_chan, 'payload-n'");
  const n = await got;
  assert.equal(n.channel, 'node_chan');
  assert.equal(n.payload, 'payload-n');
  await l.end();
  await s.end();
});
