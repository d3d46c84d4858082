// salesforce_helpers.mjs - starts `tether emulate salesforce` on a free port
// (port 0, URL read from its first stdout line) and stops it again.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export const CREDS = {
  clientId: 'test-client',
  clientSecret: 'test-secret',
  username: 'jsforce@tether.test',
  password: 'hunter2-pw',
};

export async function startEmulator(extraArgs = []) {
  const bin = process.env.TETHER_BIN;
  if (!bin) throw new Error('TETHER_BIN is not set');
  const child = spawn(bin, ['emulate', 'salesforce', '--listen', '127.0.0.1:0',
    '--client-id', CREDS.clientId, '--client-secret', CREDS.clientSecret,
    '--username', CREDS.username, '--password', CREDS.password, ...extraArgs],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`emulator exited ${code}: ${stderr}`)));
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code;
    },
    async faults(body) {
      const res = await fetch(`${url}/_emulator/faults`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      return res.json();
    },
  };
}
