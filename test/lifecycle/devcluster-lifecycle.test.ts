// Starting twice is harmless; stopping leaves nothing behind; after a crash, `up` cleans up
// and starts again. This suite stops and starts the cluster, so scripts/test.sh runs it alone,
// after every other suite.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { applyAll, clientPod, devcluster, kube, root, run, testNamespace, waitFor } from '../support/cluster.js';

const state = path.join(root, '.devcluster');
const components = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'dnsmasq', 'dns-feed', 'kube-proxy', 'containerd', 'kubelet'];
// The kubelet's cgroup root (tools/devcluster/devcluster), in every hierarchy.
const cgroupRoot = 'trellis-devcluster';

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

/** The pods' network namespaces containerd pinned (cni-<id>). */
const podNetns = (): string[] => (fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n.startsWith('cni-')) : []);

/** Everything the devcluster can leave on the machine: `netns` are the pods' it had. */
function leftovers(pids: number[], netns: string[] = []): string[] {
  const found: string[] = [];
  for (const pid of pids) if (alive(pid)) found.push(`process ${pid}`);
  for (const ns of netns) if (fs.existsSync(`/run/netns/${ns}`)) found.push(`pod netns ${ns}`);
  for (const h of fs.readdirSync('/sys/fs/cgroup')) if (fs.existsSync(`/sys/fs/cgroup/${h}/${cgroupRoot}`)) found.push(`cgroup ${h}/${cgroupRoot}`);
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
      // Our daemons and containerd's shims name the state folder; the containers' processes are
      // in the kubelet's cgroups.
      if (cmd.includes(`${state}/`)) found.push(`process ${pid} ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
      else if (fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`:/${cgroupRoot}/`)) found.push(`container process ${pid} ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
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

/** The machine-wide settings the kubelet changes, and the paths outside .devcluster it makes, as `up` found them. */
function savedHost(): { sysctls: Map<string, string>; absent: string[] } {
  const sysctls = new Map<string, string>();
  const absent: string[] = [];
  for (const line of fs.readFileSync(path.join(state, 'node-host.saved'), 'utf8').trim().split('\n')) {
    const [kind, value] = line.split(' ');
    if (kind === 'sysctl') sysctls.set(value.split('=')[0], value.split('=')[1]);
    else absent.push(value);
  }
  return { sysctls, absent };
}

test('down leaves no process, container, network namespace, cgroup, link, route, mount or iptables rule behind, and puts the sysctls back', async () => {
  // A running pod, so there is a container, a pod network namespace and pod cgroups to remove.
  const ns = testNamespace('lifecycle');
  await kube().core.createNamespace({ body: { metadata: { name: ns } } });
  await applyAll([clientPod(ns)]);
  await waitFor('the client pod running', async () => (await kube().core.readNamespacedPod({ namespace: ns, name: 'client' })).status?.phase === 'Running', 120_000);
  const pids = components.map(pidOf);
  const netns = podNetns();
  const host = savedHost();
  expect(netns.length).toBeGreaterThan(0);
  const r = await run(devcluster, ['down'], { timeoutMs: 120_000 });
  expect(r.code).toBe(0);
  expect(leftovers(pids, netns)).toEqual([]);
  for (const [key, value] of host.sysctls) expect(`${key}=${sh('sysctl', ['-n', key]).trim()}`).toBe(`${key}=${value}`);
  expect(host.absent.filter((p) => fs.existsSync(p))).toEqual([]);
  // down again is harmless
  expect((await run(devcluster, ['down'])).code).toBe(0);
});

test('after a crash (every component killed), up cleans up and starts a working cluster', async () => {
  expect((await run(devcluster, ['up'], { timeoutMs: 600_000 })).code).toBe(0);
  const pids = components.map(pidOf);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await waitFor('components dead', async () => pids.every((p) => !alive(p)));
  const r = await run(devcluster, ['up'], { timeoutMs: 600_000 });
  expect(r.stderr).toContain(`restarting stopped components: ${components.join(' ')}`);
  expect(r.code).toBe(0);
  expect(await nodeReady()).toBe(true);
  const status = await run(devcluster, ['status']);
  expect(status.code).toBe(0);
  for (const c of components) expect(status.stdout).toMatch(new RegExp(`${c}\\s+running`));
});
