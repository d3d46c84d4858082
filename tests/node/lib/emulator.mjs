// emulator.mjs - starts `tether emulate stripe` on a free port for a node test
// and stops it afterwards. Usage:
//   const emu = await startStripeEmulator(['--seed-customers', '10']);
//   const stripe = emu.client();           // stripe-node pointed at it
//   after(() => emu.stop());
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';

export const API_KEY = 'sk_test_tether';

export async function startStripeEmulator(extraArgs = [], { timeoutMs = 60000 } = {}) {
  const bin = process.env.TETHER_BIN;
  if (!bin) throw new Error('TETHER_BIN is not set');
  const dir = mkdtempSync(join(tmpdir(), 'tether-emu-'));
  const portFile = join(dir, 'port');
  const child = spawn(bin, ['emulate', 'stripe', '--listen', '127.0.0.1:0', '--port-file', portFile,
    '--log-level', 'warn', ...extraArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(portFile)) {
    if (exited) throw new Error(`emulator exited early: ${JSON.stringify(exited)}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('emulator did not start'); }
    await new Promise((r) => setTimeout(r, 25));
  }
  const port = Number(readFileSync(portFile, 'utf8').trim());
  const base = `http://127.0.0.1:${port}`;
  const res = await fetch(`${base}/_emulator/health`);
  if (res.status !== 200) throw new Error('emulator not healthy');
  const stopper = () => { if (!exited) child.kill('SIGKILL'); };
  process.on('exit', stopper);
  return {
    port,
    base,
    client(opts = {}, key = API_KEY) {
      return new Stripe(key, { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0, ...opts });
    },
    async control(path, body) {
      const r = await fetch(`${base}/_emulator/${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      });
      return { status: r.status, body: await r.json() };
    },
    async raw(method, path, { body, headers = {}, key = API_KEY } = {}) {
      const r = await fetch(`${base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, headers: r.headers, text, json };
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      process.off('exit', stopper);
      rmSync(dir, { recursive: true, force: true });
      // A sanitizer report (leak, UB) makes the emulator exit non-zero.
      if (exited.code !== 0) throw new Error(`emulator exited with ${JSON.stringify(exited)}`);
      return exited;
    },
  };
}
