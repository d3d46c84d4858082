// proxy_postgresjs.test.mjs - postgres.js (npm "postgres") through `tether
// proxy` against the real test cluster: SCRAM and TLS logins, its default
// prepared-statement mode and unprepared mode, transactions, error fields,
// notices, COPY in/out streams, LISTEN/NOTIFY, and cancel of a pg_sleep.
// TETHER_TEST_DIRECT=1 runs the same checks against Postgres itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

const here = path.dirname(fileURLToPath(import.meta.url));
const proxySh = path.join(here, '..', 'harness', 'proxy.sh');
const work = mkdtempSync(path.join(tmpdir(), 'tether-node-postgresjs.'));
const ports = {};

function start(name, ...args) {
  ports[name] = null; // stopped in after() even if the start fails half-way
  ports[name] = Number(execFileSync(proxySh, ['start', path.join(work, name), ...args]).toString().trim());
}
function connect(name = 'scram', extra = {}) {
  return postgres({ host: '127.0.0.1', port: ports[name], user: 'postgres', password: 'postgres',
    database: process.env.PGDATABASE, max: 2, onnotice: () => {}, ...extra });
}

before(() => { start('scram', '--auth', 'scram'); start('tls', '--auth', 'scram', '--tls'); });
after(() => {
  for (const name of Object.keys(ports)) execFileSync(proxySh, ['stop', path.join(work, name)]);
  rmSync(work, { recursive: true, force: true });
});

test('logins, prepared and unprepared queries, transactions', async () => {
  const tls = connect('tls', { ssl: { rejectUnauthorized: false } });
  assert.equal((await tls`SELECT 1 AS one`)[0].one, 1);
  await tls.end();
  for (const prepare of [true, false]) {
    const sql = connect('scram', { prepare });
    await sql`CREATE TABLE IF NOT EXISTS pjs_items (id int PRIMARY KEY, name text)`;
    await sql`TRUNCATE pjs_items`;
    for (let i = 0; i < 20; i++) await sql`INSERT INTO pjs_items VALUES (${i}, ${'n' + i})`;
    assert.equal((await sql`SELECT name FROM pjs_items WHERE id = ${7}`)[0].name, 'n7');
    await assert.rejects(sql.begin(async (tx) => {
      await tx`INSERT INTO pjs_items VALUES (100, 'x')`;
      await tx`SELECT 1/0`;
    }), (e) => e.code === '22012');
    assert.equal((await sql`SELECT count(*)::int AS n FROM pjs_items WHERE id = 100`)[0].n, 0);
    await sql.end();
  }
});

test('errors and notices with all fields', async () => {
  const notices = [];
  const sql = connect('scram', { onnotice: (n) => notices.push(n) });
  await assert.rejects(
    sql.unsafe("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'P0099', DETAIL = 'd1', HINT = 'h1'; END $$"),
    (e) => e.code === 'P0099' && e.detail === 'd1' && e.hint === 'h1' && e.severity === 'ERROR');
  await assert.rejects(sql`SELECT nosuch FROM pg_class`, (e) => e.code === '42703' && e.position === '8');
  await sql.unsafe("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
  assert.equal(notices.length, 1);
  assert.equal(notices[0].message, 'hello 42');
  await sql.end();
});

test('COPY in and out', async () => {
  const sql = connect();
  await sql`CREATE TABLE IF NOT EXISTS pjs_copy (id int, name text)`;
  await sql`TRUNCATE pjs_copy`;
  const lines = [];
  for (let i = 0; i < 5000; i++) lines.push(`${i}\tname ${i}\n`);
  const w = await sql`COPY pjs_copy FROM STDIN`.writable();
  await pipeline(Readable.from(lines), w);
  assert.equal((await sql`SELECT count(*)::int AS n FROM pjs_copy`)[0].n, 5000);
  const r = await sql`COPY (SELECT * FROM pjs_copy ORDER BY id) TO STDOUT`.readable();
  let out = '';
  for await (const chunk of r) out += chunk.toString();
  assert.equal(out, lines.join(''));
  await sql.end();
});

test('LISTEN/NOTIFY and cancel', async () => {
  const sql = connect();
  const got = new Promise((resolve) => { sql.listen('pjs_chan', resolve); });
  await new Promise((r) => setTimeout(r, 200));
  const other = connect();
  await other`SELECT pg_notify('pjs_chan', 'payload-p')`;
  assert.equal(await got, 'payload-p');
  const q = other`SELECT pg_sleep(30)`;
  setTimeout(() => q.cancel(), 1000);
  await assert.rejects(q, (e) => e.code === '57014');
  assert.equal((await other`SELECT 1 AS one`)[0].one, 1);
  await other.end();
  await sql.end();
});
