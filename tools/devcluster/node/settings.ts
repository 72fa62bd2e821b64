// The devcluster's addresses and versions, read from the same env files the shell script sources.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(\S*)/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The repo root, found from this file whether it runs from src (jest) or dist (node). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'tools', 'devcluster', 'network.env'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (tools/devcluster/network.env)');
    dir = up;
  }
  return dir;
}

export interface Settings {
  root: string;
  nodeName: string;
  podNsPrefix: string;
  nodeNs: string;
  bridge: string;
  bridgeIp: string;
  podCidr: string;
  nodeIp: string;
  clusterDomain: string;
  kubernetesSvcIp: string;
  versions: Record<string, string>;
}

export function loadSettings(): Settings {
  const root = repoRoot();
  const net = readEnvFile(path.join(root, 'tools/devcluster/network.env'));
  const versions = readEnvFile(path.join(root, 'tools/devcluster/versions.env'));
  return {
    root,
    nodeName: net.NODE_NAME,
    podNsPrefix: net.POD_NS_PREFIX,
    nodeNs: net.NODE_NS,
    bridge: net.BRIDGE,
    bridgeIp: net.BRIDGE_IP,
    podCidr: net.POD_CIDR,
    nodeIp: net.NODE_LINK_IP,
    clusterDomain: net.CLUSTER_DOMAIN,
    kubernetesSvcIp: net.KUBERNETES_SVC_IP,
    versions,
  };
}
