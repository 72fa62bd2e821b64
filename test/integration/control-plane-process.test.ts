// The control plane binary: starts, serves /ready and /metrics, explains its flags, and exits
// cleanly on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { root, run, waitFor } from '../support/cluster.js';

const main = path.join(root, 'dist/src/main.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

let proc: ChildProcess | undefined;
afterEach(() => proc?.kill('SIGKILL'));

test('serves /ready and /metrics on the monitoring address and exits 0 on SIGTERM', async () => {
  const port = await freePort();
  proc = spawn(process.execPath, [main, '--monitoring-address', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
  let logs = '';
  proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  const ready = await waitFor('/ready', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/ready`);
    return r.status === 200 ? r : undefined;
  });
  expect(await ready.text()).toBe('ready\n');
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(metrics.headers.get('content-type')).toContain('text/plain');
  expect(await metrics.text()).toContain('trellis_process_cpu_user_seconds_total');
  expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);

  const exited = new Promise<number | null>((resolve) => proc?.on('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  // Production logs are JSON lines, each naming its stage.
  const lines = logs.trim().split('\n').map((l) => JSON.parse(l) as { stage: string; message: string });
  expect(lines.map((l) => l.message)).toEqual(expect.arrayContaining(['trellis started', 'stopping', 'stopped']));
  expect(lines.every((l) => typeof l.stage === 'string')).toBe(true);
});

test('--help explains the options; a bad flag exits 2 naming it', async () => {
  const help = await run(process.execPath, [main, '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('--monitoring-address HOST:PORT');
  const bad = await run(process.execPath, [main, '--monitoring-address', 'x']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--monitoring-address: want HOST:PORT');
});
