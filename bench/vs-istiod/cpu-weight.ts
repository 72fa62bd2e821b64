// The same CPU weight for both control planes. Trellis runs in a pod, and the devcluster's pods
// live in the kubelet's cgroups under /trellis-devcluster (cgroup v1 `cpu` here, the hybrid
// layout): on a saturated machine all pods together weigh what one busy host thread does, and the
// chart's pod (Burstable, 100m requested) weighs 102 shares within them. istiod runs here as a
// host process, whose every busy thread weighs as much as all the pods together: with the
// simulated clients and the API server keeping both vCPUs busy, the two control planes were not
// given the same CPU. istiod is therefore moved into a cgroup beside the pods of the Burstable
// class, with the shares the chart's request gives Trellis's pod.
import fs from 'node:fs';
import path from 'node:path';
import { root } from '../../test/support/cluster.js';

/** The kubelet's cgroupRoot in tools/devcluster/devcluster. */
const CGROUP_ROOT = '/trellis-devcluster';
/**
 * The chart's CPU request for the control plane (`resources.requests.cpu` in
 * charts/trellis/values.yaml) as the kubelet turns it into shares (milli-CPUs × 1024 / 1000, at
 * least 2), so a change of the chart changes istiod's weight with it.
 */
export function chartPodShares(valuesFile = path.join(root, 'charts/trellis/values.yaml')): number {
  const m = /^resources:\s*\n\s+requests:\s*\{[^}]*\bcpu:\s*['"]?(\d+(?:\.\d+)?)(m?)['"]?/m.exec(fs.readFileSync(valuesFile, 'utf8'));
  if (!m) throw new Error(`${valuesFile}: no resources.requests.cpu for the control plane`);
  const milli = m[2] === 'm' ? Number(m[1]) : Number(m[1]) * 1000;
  return Math.max(2, Math.floor((milli * 1024) / 1000));
}

/** The shares of Trellis's pod as the chart asks for them. */
export const TRELLIS_POD_SHARES = chartPodShares();

/** The `cpu` hierarchy's mount (v1), if there is one. */
function cpuMount(): string | undefined {
  for (const dir of ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu']) if (fs.existsSync(path.join(dir, 'cpu.shares'))) return dir;
  return undefined;
}

/**
 * Moves process `pid` (all its threads) into <cpu>/trellis-devcluster/kubepods/burstable/<name>
 * with `shares`; returns the cgroup's directory (remove it with `release` once the process has
 * exited), or a reason it could not.
 */
export function placeLikeTrellisPod(pid: number, name: string, shares = TRELLIS_POD_SHARES): { dir: string } | { skipped: string } {
  const mount = cpuMount();
  if (!mount) return { skipped: 'no cgroup v1 cpu hierarchy (cpu.shares)' };
  const burstable = path.join(mount, CGROUP_ROOT, 'kubepods', 'burstable');
  if (!fs.existsSync(burstable)) return { skipped: `${burstable} does not exist (is the devcluster's kubelet running?)` };
  const dir = path.join(burstable, name);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'cpu.shares'), String(shares));
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    return { dir };
  } catch (err) {
    return { skipped: `cannot use ${dir}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Removes a cgroup `placeLikeTrellisPod` made (empty once its process exited). */
export function release(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // still in use or gone: the kubelet's own cleanup does not touch it; harmless either way
  }
}
