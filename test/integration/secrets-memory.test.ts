// The control plane holds only the Secrets it serves, and only their credential keys: with 5,000
// service account token and Helm release Secrets in the cluster (32 KiB each, 160 MiB in all)
// and 1,000 Opaque application Secrets without credentials (16 KiB each), its memory does not
// grow with them, while a TLS Secret created after them is still seen. Real API server, real
// control plane process, its resident memory from /proc.
import fs from 'node:fs';
import { clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { makeServingCert } from '../support/certs.js';
import { rest } from '../support/tokens.js';

const ns = testNamespace('secrets-memory');
const { core } = kube();
let cp: RunningControlPlane;

function rssBytes(): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${cp.proc.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
}

async function secretsKnown(): Promise<number> {
  const page = (await (await fetch(`${cp.monitoring}/debug/registryz`)).json()) as { counts: { secrets: number } };
  return page.counts.secrets;
}

/** Creates `count` Secrets from `body(i)`, 16 at a time. */
async function createSecrets(count: number, body: (i: number) => object): Promise<void> {
  const api = rest();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        await api.post(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', ...body(i) });
      }
    }),
  );
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
});

afterAll(async () => {
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('5,000 token and Helm Secrets and 1,000 application Secrets do not grow the control plane', async () => {
  await new Promise((r) => setTimeout(r, 3000)); // let the start settle
  const before = rssBytes();
  const known = await secretsKnown();
  const padding = Buffer.alloc(32 * 1024, 'x').toString('base64');
  await createSecrets(2500, (i) => ({ metadata: { name: `sa-token-${i}`, annotations: { 'kubernetes.io/service-account.name': 'default' } }, type: 'kubernetes.io/service-account-token', data: { padding } }));
  await createSecrets(2500, (i) => ({ metadata: { name: `sh.helm.release.v1.app-${i}.v1`, labels: { owner: 'helm' } }, type: 'helm.sh/release.v1', data: { release: padding } }));
  const appData = Buffer.alloc(16 * 1024, 'p').toString('base64');
  await createSecrets(1000, (i) => ({ metadata: { name: `app-${i}` }, type: 'Opaque', data: { password: appData } }));
  // A credential created after them all is still seen (the watches are alive and caught up).
  const cert = makeServingCert(['DNS:marker.example.com'], 'marker');
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'marker' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(cert.cert).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') } } });
  await waitFor('the marker credential', async () => (await secretsKnown()) >= known + 1, 120_000);
  await new Promise((r) => setTimeout(r, 5000));
  const grown = rssBytes() - before;
  // Held, the 5,000 would take over 210 MiB (base64 in the API's JSON), the 1,000 another 21 MiB.
  expect(grown).toBeLessThan(64 * 1024 * 1024);
});
