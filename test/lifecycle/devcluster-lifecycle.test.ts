// Starting twice is harmless; stopping leaves nothing behind; after a crash, `up` cleans up
// and starts again. This suite stops and starts the cluster, so scripts/test.sh runs it alone,
// after every other suite.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { devcluster, root, run, waitFor } from '../support/cluster.js';

const state = path.join(root, '.devcluster');
const components = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'dnsmasq', 'kube-proxy', 'node'];

function pidOf(c: string): number {
  return Number(fs.readFileSync(path.join(state, 'run', `${c}.pid`), 'utf8'));
}
function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z'; // a zombie is dead
  } catch {
    return false;
  }
}
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

async function nodeReady(): Promise<boolean> {
  const r = await run(path.join(state, 'cache/kubernetes-v1.34.4/kubectl'), ['--kubeconfig', path.join(state, 'kubeconfig'), 'get', 'node', 'trellis-node', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
  return r.stdout.trim() === 'True';
}

/** Everything the devcluster can leave on the machine. */
function leftovers(pids: number[]): string[] {
  const found: string[] = [];
  for (const pid of pids) if (alive(pid)) found.push(`process ${pid}`);
  for (const ns of sh('ip', ['netns', 'list']).split('\n')) if (ns.startsWith('trellis-')) found.push(`netns ${ns}`);
  if (sh('ip', ['-o', 'link', 'show']).includes('trl-host')) found.push('link trl-host');
  for (const r of sh('ip', ['route', 'show']).split('\n')) if (/^10\.(244|96)\./.test(r)) found.push(`route ${r}`);
  for (const m of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) if (m.includes(state)) found.push(`mount ${m}`);
  for (const rule of sh('iptables-save', []).split('\n')) if (/KUBE-|trellis/.test(rule)) found.push(`iptables ${rule}`);
  const self = new Set([String(process.pid), String(process.ppid)]);
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && !self.has(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('node_modules/jest')) continue; // the test runner names the state folder in its --outputFile
      if (cmd.includes(`${state}/`) || cmd.includes('devcluster/node/main.js')) found.push(`process ${pid} ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
    } catch {
      /* exited */
    }
  }
  return found;
}

test('up twice is harmless: the second run finds it up and changes nothing', async () => {
  const before = components.map(pidOf);
  const r = await run(devcluster, ['up'], { timeoutMs: 600_000 });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('already up');
  expect(components.map(pidOf)).toEqual(before);
  expect(await nodeReady()).toBe(true);
});

test('down leaves no process, network namespace, link, route, mount or iptables rule behind', async () => {
  const pids = components.map(pidOf);
  const r = await run(devcluster, ['down'], { timeoutMs: 120_000 });
  expect(r.code).toBe(0);
  expect(leftovers(pids)).toEqual([]);
  // down again is harmless
  expect((await run(devcluster, ['down'])).code).toBe(0);
});

test('after a crash (every component killed), up cleans up and starts a working cluster', async () => {
  expect((await run(devcluster, ['up'], { timeoutMs: 600_000 })).code).toBe(0);
  const pids = components.map(pidOf);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await waitFor('components dead', async () => pids.every((p) => !alive(p)));
  const r = await run(devcluster, ['up'], { timeoutMs: 600_000 });
  expect(r.stderr).toContain('restarting stopped components: etcd kube-apiserver kube-controller-manager dnsmasq kube-proxy node');
  expect(r.code).toBe(0);
  expect(await nodeReady()).toBe(true);
  const status = await run(devcluster, ['status']);
  expect(status.code).toBe(0);
  for (const c of components) expect(status.stdout).toMatch(new RegExp(`${c}\\s+running`));
});
