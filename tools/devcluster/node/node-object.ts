// The Node object this agent stands for: registered at start, heartbeat through its Lease.
import os from 'node:os';
import { ApiError, type Rest } from '../../../src/kube/rest.js';
import type { Settings } from './settings.js';

export function nodeStatus(s: Settings, versions: Record<string, string>): Record<string, unknown> {
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const capacity = { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110', 'ephemeral-storage': '100Gi' };
  return {
    capacity,
    allocatable: capacity,
    addresses: [
      { type: 'InternalIP', address: s.nodeIp },
      { type: 'Hostname', address: s.nodeName },
    ],
    conditions: [
      { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'devcluster node agent is posting ready status', lastHeartbeatTime: t, lastTransitionTime: t },
      { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: t, lastTransitionTime: t },
      { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', lastHeartbeatTime: t, lastTransitionTime: t },
      { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', lastHeartbeatTime: t, lastTransitionTime: t },
    ],
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: os.release(),
      osImage: 'devcluster (pods as local processes)',
      containerRuntimeVersion: 'devcluster://1',
      kubeletVersion: versions.KUBE_VERSION,
      kubeProxyVersion: versions.KUBE_VERSION,
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
  };
}

export async function registerNode(api: Rest, s: Settings): Promise<void> {
  const body = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: s.nodeName,
      labels: { 'kubernetes.io/hostname': s.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'node.kubernetes.io/instance-type': 'devcluster' },
    },
    spec: { podCIDR: s.podCidr, podCIDRs: [s.podCidr] },
  };
  try {
    await api.post('/api/v1/nodes', body);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
  }
  await heartbeat(api, s);
}

export async function heartbeat(api: Rest, s: Settings): Promise<void> {
  await api.mergePatch(`/api/v1/nodes/${s.nodeName}/status`, { status: nodeStatus(s, s.versions) });
  const lease = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${s.nodeName}`;
  const renewTime = new Date().toISOString().replace('Z', '000Z');
  try {
    await api.mergePatch(lease, { spec: { renewTime } });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    await api.post('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: s.nodeName, namespace: 'kube-node-lease' },
      spec: { holderIdentity: s.nodeName, leaseDurationSeconds: 40, renewTime },
    });
  }
}
