// Test helpers for the real cluster the suite runs against: the devcluster locally, or any
// cluster a KUBECONFIG names (kind in GitHub Actions).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';

/** The repo root, from the sources (jest) or from dist/ (benchmarks). */
export const root = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'tools/devcluster/network.env')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
export const devcluster = path.join(root, 'tools/devcluster/devcluster');
export const kubeconfigPath = process.env.KUBECONFIG ?? path.join(root, '.devcluster/kubeconfig');

export function clusterAvailable(): boolean {
  return fs.existsSync(kubeconfigPath);
}

export function kube(): { kc: KubeConfig; core: CoreV1Api; apps: AppsV1Api; discovery: DiscoveryV1Api; objects: KubernetesObjectApi } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never rejects (the exit code is in the result). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `devcluster exec ns/pod -- argv...`. */
export function podExec(pod: string, argv: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(devcluster, ['exec', pod, '--', ...argv], { timeoutMs });
}

export interface EchoReply {
  status?: number;
  pod?: string;
  error?: string;
  headers?: Record<string, string>;
  body?: { pod?: string; labels?: Record<string, string>; headers?: Record<string, string>; path?: string; host?: string };
}

/** Sends `count` requests from inside a pod with the echo image's client. */
export async function echoFrom(pod: string, url: string, count = 1, headers: string[] = [], extra: string[] = []): Promise<EchoReply[]> {
  const args = ['echo-client', url, '-n', String(count), ...headers.flatMap((h) => ['-H', h]), ...extra];
  const res = await podExec(pod, args, 30_000 + count * 2_000);
  return res.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as EchoReply);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function applyAll(objects: KubernetesObject[]): Promise<void> {
  const { objects: api } = kube();
  for (const o of objects) await api.create(o);
}

/** A unique namespace name for one test file. */
export function testNamespace(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

export function echoDeployment(ns: string, name: string, replicas: number, labels: Record<string, string> = {}, extra: { env?: { name: string; value: string }[] } = {}): KubernetesObject {
  const podLabels = { app: name, ...labels };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'echo',
              image: 'trellis/echo:latest',
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ...(extra.env ?? []),
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
              volumeMounts: [{ name: 'podinfo', mountPath: '/etc/podinfo' }],
            },
          ],
          volumes: [{ name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }],
        },
      },
    },
  } as KubernetesObject;
}

export function clientPod(ns: string, name = 'client'): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'client', image: 'trellis/echo:latest', command: ['sleep', 'infinity'] }] },
  } as KubernetesObject;
}
