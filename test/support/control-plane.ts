// Runs the real control plane (dist/src/main.js) as a host process against the test cluster,
// with its webhooks at a loopback URL, for tests that need Trellis without deploying it.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { kubeconfigPath, kubectlPath, PROXY_IMAGE, root, run, waitFor } from './cluster.js';

import { freePort } from './envoy.js';

export { freePort };

export interface RunningControlPlane {
  proc: ChildProcess;
  monitoring: string;
  webhookUrl: string;
  xdsAddress: string;
  /** xDS and the mesh CA over TLS (a certificate of its mesh CA, SAN 127.0.0.1). */
  xdsTlsAddress: string;
  /** Where pods reach xDS and the CA (with `podReachable`; else xdsTlsAddress). */
  discoveryAddress: string;
  logs: () => string;
  stop: () => Promise<number | null>;
  configz: () => Promise<{ kind: string; namespace: string; name: string; generation: number; spec: unknown }[]>;
  metric: (name: string) => Promise<number>;
}

let crds: Promise<void> | undefined;

/** The networking.istio.io CRDs, applied once per test process (server-side, idempotent). */
export function ensureCrds(): Promise<void> {
  crds ??= (async () => {
    const kubectl = kubectlPath();
    const applied = await run(kubectl, ['--kubeconfig', kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-f', path.join(root, 'crds')]);
    if (applied.code !== 0) throw new Error(`applying crds/ failed: ${applied.stderr}`);
    await run(kubectl, ['--kubeconfig', kubeconfigPath, 'wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  })();
  return crds;
}

export interface ControlPlaneOptions {
  namespace: string;
  validatingConfig: string;
  mutatingConfig?: string;
  extraArgs?: string[];
  /**
   * Pods can reach its xDS and CA (on the host end of the devcluster's link, 10.243.0.1), and
   * injection points pods there. Label the pods' namespaces `trellis.io/control-plane: <namespace>`
   * so this control plane publishes its root there (and an in-cluster Trellis does not).
   */
  podReachable?: boolean;
  /** Node.js's own flags (before the script): e.g. --inspect for a benchmark's heap readings. */
  nodeArgs?: string[];
}

/** tools/devcluster/network.env: pods reach the host here. */
export const HOST_LINK_IP = '10.243.0.1';

/** Starts the control plane (installing the CRDs first) and waits until it is ready. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  await ensureCrds();
  const cp = await spawnControlPlane(opts);
  await waitFor('the control plane to be ready', async () => (await fetch(`${cp.monitoring}/ready`).catch(() => undefined))?.status === 200, 60_000).catch((err: Error) => {
    cp.proc.kill('SIGKILL');
    throw new Error(`${err.message}\n--- control plane logs ---\n${cp.logs()}`);
  });
  return cp;
}

/** Spawns dist/src/main.js on free loopback ports and returns at once (a benchmark times its start). */
export async function spawnControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const mport = await freePort();
  const wport = await freePort();
  const xport = await freePort();
  const tport = await freePort();
  const tlsHost = opts.podReachable ? HOST_LINK_IP : '127.0.0.1';
  const discoveryAddress = `${tlsHost}:${tport}`;
  const proc = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      path.join(root, 'dist/src/main.js'),
      '--kubeconfig',
      kubeconfigPath,
      '--namespace',
      opts.namespace,
      '--monitoring-address',
      `127.0.0.1:${mport}`,
      '--webhook-address',
      `127.0.0.1:${wport}`,
      '--webhook-ip',
      '127.0.0.1',
      ...(opts.podReachable ? ['--webhook-ip', HOST_LINK_IP, '--discovery-address', discoveryAddress] : []),
      '--xds-address',
      `127.0.0.1:${xport}`,
      '--xds-tls-address',
      discoveryAddress,
      '--validating-webhook-config',
      opts.validatingConfig,
      '--mutating-webhook-config',
      opts.mutatingConfig ?? `trellis-sidecar-injector-${opts.namespace}`,
      '--cert-secret',
      `trellis-webhook-certs-${opts.namespace}`,
      // Its own mesh root goes only to namespaces labelled for it (the in-cluster Trellis skips those).
      '--root-cert-namespaces',
      `trellis.io/control-plane=${opts.namespace}`,
      // The proxy image the node has (make images): nothing can be pulled.
      '--proxy-image',
      PROXY_IMAGE,
      ...(opts.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
  );
  let logs = '';
  const keep = (d: Buffer): void => {
    logs = (logs + d.toString()).slice(-200_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const monitoring = `http://127.0.0.1:${mport}`;
  return {
    proc,
    monitoring,
    webhookUrl: `https://127.0.0.1:${wport}`,
    xdsAddress: `127.0.0.1:${xport}`,
    xdsTlsAddress: discoveryAddress,
    discoveryAddress,
    logs: () => logs,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    configz: async () => (await (await fetch(`${monitoring}/debug/configz`)).json()) as never,
    metric: async (name: string) => {
      const text = await (await fetch(`${monitoring}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith(name) && !l.startsWith('#'))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    },
  };
}
