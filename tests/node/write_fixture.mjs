// write_fixture.mjs - the write-through fixture shared by the node client
// tests: tests/integration/write_tools/env.sh starts the source's emulator,
// a backfill and `tether proxy --source SOURCE` before the tests and stops
// them after. Not a test file itself (no .test.mjs suffix).
import { before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const envSh = path.join(here, '..', 'integration', 'write_tools', 'env.sh');

/*
 * useWriteFixture(source) registers node:test before/after hooks and
 * returns { env, work, conn }: env.EMU_URL / env.PX_PORT are filled once
 * the fixture is up, work is its state directory (logs), conn() gives the
 * pg/postgres.js connection options for the proxy.
 */
export function useWriteFixture(source) {
  const work = mkdtempSync(path.join(tmpdir(), `tether-node-write-${source}.`));
  const env = {};
  before(() => {
    const out = execFileSync(envSh, ['start', work, source]).toString();
    for (const line of out.trim().split('\n')) {
      const i = line.indexOf('=');
      env[line.slice(0, i)] = line.slice(i + 1);
    }
  });
  after(() => {
    execFileSync(envSh, ['stop', work, source]);
    rmSync(work, { recursive: true, force: true });
  });
  const conn = () => ({ host: '127.0.0.1', port: Number(env.PX_PORT), user: 'postgres', password: 'postgres',
    database: process.env.PGDATABASE });
  return { env, work, conn };
}
