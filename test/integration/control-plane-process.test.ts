// The control plane binary: starts, serves /ready and /metrics, explains its flags, and exits
// cleanly on SIGTERM.
import path from 'node:path';
import tls from 'node:tls';
import { clusterAvailable, kube, root, run, testNamespace } from '../support/cluster.js';
import { startControlPlane } from '../support/control-plane.js';

const main = path.join(root, 'dist/src/main.js');
const ns = testNamespace('cp');
const { core } = kube();

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

test('serves xDS over TLS with a certificate of its mesh CA, verified by the root it keeps in istio-ca-secret', async () => {
  const cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
  try {
    const secret = await core.readNamespacedSecret({ namespace: ns, name: 'istio-ca-secret' });
    const ca = Buffer.from(secret.data?.['ca-cert.pem'] ?? '', 'base64').toString();
    const [host, port] = cp.xdsTlsAddress.split(':');
    // The certificate covers 127.0.0.1 here (--webhook-ip); Node checks the chain and the IP.
    const served = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ host, port: Number(port), ca, ALPNProtocols: ['h2'] }, () => {
        resolve(s.getPeerCertificate());
        s.end();
      });
      s.on('error', reject);
    });
    expect(served.subjectaltname).toContain('IP Address:127.0.0.1');
  } finally {
    expect(await cp.stop()).toBe(0);
  }
});

test('serves /ready, /metrics and /debug/configz, logs JSON per stage, exits 0 on SIGTERM', async () => {
  const cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
  try {
    const ready = await fetch(`${cp.monitoring}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
    const metrics = await fetch(`${cp.monitoring}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('trellis_process_cpu_user_seconds_total');
    expect(text).toContain('trellis_status_writes_total');
    expect(Array.isArray(await cp.configz())).toBe(true);
    expect((await fetch(`${cp.monitoring}/nope`)).status).toBe(404);
  } finally {
    expect(await cp.stop()).toBe(0);
  }
  const lines = cp
    .logs()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { stage: string; message: string });
  expect(lines.map((l) => l.message)).toEqual(expect.arrayContaining(['trellis started', 'stopping', 'stopped']));
  expect(lines.every((l) => typeof l.stage === 'string' && l.stage.length > 0)).toBe(true);
});

test('--help explains the options; a bad flag exits 2 naming it; no API is a clear error', async () => {
  const help = await run(process.execPath, [main, '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('--monitoring-address HOST:PORT');
  const bad = await run(process.execPath, [main, '--monitoring-address', 'x']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--monitoring-address: want HOST:PORT');
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  const noApi = await run(process.execPath, [main, '--monitoring-address', '127.0.0.1:0'], { env });
  expect(noApi.code).toBe(1);
  expect(noApi.stderr + noApi.stdout).toContain('no Kubernetes API to talk to: pass --kubeconfig');
});
