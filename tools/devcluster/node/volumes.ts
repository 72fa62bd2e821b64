// Materialises a pod's volumes as folders under the pod's directory; containers get them as
// bind mounts at their mountPath.
import fs from 'node:fs';
import path from 'node:path';
import type { V1DownwardAPIVolumeFile, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import type { Rest } from '../../../src/kube/rest.js';

interface Secretish {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  binaryData?: Record<string, string>;
}

function writeFile(dir: string, rel: string, content: Buffer | string, mode?: number): void {
  const file = path.join(dir, rel);
  if (!file.startsWith(dir + path.sep)) throw new Error(`volume item path "${rel}" escapes the volume`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode: mode ?? 0o644 });
}

function writeKeys(dir: string, data: Record<string, Buffer>, items: V1KeyToPath[] | undefined, what: string, mode?: number): void {
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) writeFile(dir, k, v, mode);
    return;
  }
  for (const item of items) {
    const v = data[item.key];
    if (v === undefined) throw new Error(`${what}: key "${item.key}" not found`);
    writeFile(dir, item.path, v, item.mode ?? mode);
  }
}

function decodeConfigMap(cm: Secretish): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(cm.data ?? {})) out[k] = Buffer.from(v, 'utf8');
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

function decodeSecret(s: Secretish): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

function downwardLines(map: Record<string, string> | undefined): string {
  return Object.entries(map ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n');
}

function downwardValue(pod: V1Pod, f: V1DownwardAPIVolumeFile): string {
  const fp = f.fieldRef?.fieldPath ?? '';
  const md = pod.metadata ?? {};
  if (fp === 'metadata.labels') return downwardLines(md.labels);
  if (fp === 'metadata.annotations') return downwardLines(md.annotations);
  if (fp === 'metadata.name') return md.name ?? '';
  if (fp === 'metadata.namespace') return md.namespace ?? '';
  if (fp === 'metadata.uid') return md.uid ?? '';
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fp);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]] ?? '';
  if (f.resourceFieldRef) return '0';
  throw new Error(`downwardAPI: unsupported fieldPath "${fp}"`);
}

/** A volume's ConfigMap or Secret does not exist (yet): the kubelet keeps retrying the mount. */
export class MountPendingError extends Error {}

async function fetchObject(api: Rest, kind: 'configmaps' | 'secrets', ns: string, name: string, optional: boolean): Promise<Secretish | undefined> {
  try {
    return await api.get<Secretish>(`/api/v1/namespaces/${ns}/${kind}/${name}`);
  } catch (err) {
    if ((err as { status?: number }).status !== 404) throw err;
    if (optional) return undefined;
    throw new MountPendingError(`MountVolume.SetUp failed: ${kind === 'configmaps' ? 'configmap' : 'secret'} "${name}" not found`);
  }
}

/** Writes every volume of the pod; returns volume name → host folder (or host path). */
export async function materialiseVolumes(api: Rest, pod: V1Pod, podDir: string): Promise<Map<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const out = new Map<string, string>();
  for (const vol of pod.spec?.volumes ?? []) out.set(vol.name, await materialise(api, pod, ns, vol, podDir));
  return out;
}

async function materialise(api: Rest, pod: V1Pod, ns: string, vol: V1Volume, podDir: string): Promise<string> {
  if (vol.hostPath) return vol.hostPath.path;
  const dir = path.join(podDir, 'volumes', vol.name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777); // emptyDir is world-writable, like the kubelet's
  const what = `volume "${vol.name}"`;
  if (vol.configMap) {
    const cm = await fetchObject(api, 'configmaps', ns, vol.configMap.name ?? '', vol.configMap.optional ?? false);
    if (cm) writeKeys(dir, decodeConfigMap(cm), vol.configMap.items, what, vol.configMap.defaultMode);
  } else if (vol.secret) {
    const s = await fetchObject(api, 'secrets', ns, vol.secret.secretName ?? '', vol.secret.optional ?? false);
    if (s) writeKeys(dir, decodeSecret(s), vol.secret.items, what, vol.secret.defaultMode);
  } else if (vol.downwardAPI) {
    for (const item of vol.downwardAPI.items ?? []) writeFile(dir, item.path, downwardValue(pod, item));
  } else if (vol.projected) {
    for (const src of vol.projected.sources ?? []) {
      if (src.serviceAccountToken) {
        const token = await requestToken(api, pod, src.serviceAccountToken.audience, src.serviceAccountToken.expirationSeconds);
        writeFile(dir, src.serviceAccountToken.path, token, 0o644);
      } else if (src.configMap) {
        const cm = await fetchObject(api, 'configmaps', ns, src.configMap.name ?? '', src.configMap.optional ?? false);
        if (cm) writeKeys(dir, decodeConfigMap(cm), src.configMap.items, what);
      } else if (src.secret) {
        const s = await fetchObject(api, 'secrets', ns, src.secret.name ?? '', src.secret.optional ?? false);
        if (s) writeKeys(dir, decodeSecret(s), src.secret.items, what);
      } else if (src.downwardAPI) {
        for (const item of src.downwardAPI.items ?? []) writeFile(dir, item.path, downwardValue(pod, item));
      }
    }
  } else if (!vol.emptyDir) {
    throw new Error(`${what}: the devcluster supports emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes`);
  }
  return dir;
}

async function requestToken(api: Rest, pod: V1Pod, audience: string | undefined, expirationSeconds: number | undefined): Promise<string> {
  const ns = pod.metadata?.namespace ?? 'default';
  const sa = pod.spec?.serviceAccountName ?? 'default';
  const res = await api.post<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: audience ? [audience] : null,
      expirationSeconds: expirationSeconds ?? 3607,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
    },
  });
  return res.status.token;
}
