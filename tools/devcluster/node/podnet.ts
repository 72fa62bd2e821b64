// A pod's network: its own namespace with eth0, a veth whose other end is on the node's bridge.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './sh.js';
import type { Settings } from './settings.js';

export function netnsName(s: Settings, uid: string): string {
  return s.podNsPrefix + uid.replace(/-/g, '').slice(0, 12);
}

function hostVeth(uid: string): string {
  return 'vp' + uid.replace(/-/g, '').slice(0, 12); // interface names are at most 15 bytes
}

/** Hands out pod IPs from the node's range; the bridge has the first address. */
export class Ipam {
  private readonly used = new Map<string, string>(); // ip -> uid
  private readonly base: number[];
  private readonly size: number;
  constructor(cidr: string) {
    const [ip, bits] = cidr.split('/');
    this.base = ip.split('.').map(Number);
    this.size = 2 ** (32 - Number(bits));
  }
  allocate(uid: string): string {
    for (const [ip, owner] of this.used) if (owner === uid) return ip;
    for (let i = 2; i < this.size - 1; i++) {
      const ip = [this.base[0], this.base[1], this.base[2] + Math.floor(i / 256), (this.base[3] + i) % 256].join('.');
      if (!this.used.has(ip)) {
        this.used.set(ip, uid);
        return ip;
      }
    }
    throw new Error(`pod range ${this.base.join('.')} is full`);
  }
  release(uid: string): void {
    for (const [ip, owner] of this.used) if (owner === uid) this.used.delete(ip);
  }
}

export async function createPodNetwork(s: Settings, uid: string, ip: string): Promise<string> {
  const ns = netnsName(s, uid);
  const veth = hostVeth(uid);
  const prefix = s.podCidr.split('/')[1];
  await deletePodNetwork(s, uid);
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run('ip', ['link', 'set', veth, 'netns', s.nodeNs]);
  await run('ip', ['-n', s.nodeNs, 'link', 'set', veth, 'master', s.bridge, 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', ns, 'addr', 'add', `${ip}/${prefix}`, 'dev', 'eth0']);
  await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', s.bridgeIp]);
  // As container runtimes do for pods: any user may bind ports below 1024 (a gateway running
  // as UID 1337 listens on 80 and 443).
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_unprivileged_port_start=0']);
  return ns;
}

export async function deletePodNetwork(s: Settings, uid: string): Promise<void> {
  const ns = netnsName(s, uid);
  if (!fs.existsSync(path.join('/var/run/netns', ns))) return;
  const pids = (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await run('ip', ['-n', s.nodeNs, 'link', 'delete', hostVeth(uid)]).catch(() => undefined);
  await run('ip', ['netns', 'delete', ns]).catch(() => undefined);
}

/** Pod namespaces left by an earlier node agent (its pods are recreated from the API). */
export async function staleNamespaces(s: Settings): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']).catch(() => '');
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(s.podNsPrefix));
}

export async function deleteNamespace(s: Settings, ns: string): Promise<void> {
  const pids = (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await run('ip', ['netns', 'delete', ns]).catch(() => undefined);
  void s;
}
