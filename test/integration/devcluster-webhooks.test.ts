// The API server reaches admission webhooks both ways Trellis uses them: served by a pod
// behind a Service (the in-cluster control plane) and by a host process at a URL (a developer
// running the control plane outside the cluster).
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, type V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { makeServingCert } from '../support/certs.js';
import { applyAll, clusterAvailable, echoDeployment, kube, testNamespace, waitFor } from '../support/cluster.js';

const ns = testNamespace('hooks');
const { kc, core } = kube();
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const hookNames: string[] = [];
let hostServer: https.Server | undefined;

function webhookConfig(name: string, clientConfig: object, caBundle: string): V1ValidatingWebhookConfiguration {
  return {
    metadata: { name },
    webhooks: [
      {
        name: `${name}.trellis.test`,
        clientConfig: { ...clientConfig, caBundle: Buffer.from(caBundle).toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        objectSelector: { matchLabels: { target: name } },
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
      },
    ],
  };
}

/** Creates a ConfigMap that the webhook `target` denies; resolves with the API's message. */
async function deniedMessage(target: string): Promise<string> {
  return waitFor(`webhook ${target} to deny`, async () => {
    try {
      const name = `cm-${Date.now()}`;
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels: { target, 'echo-deny': 'nope' } } } });
      await core.deleteNamespacedConfigMap({ namespace: ns, name });
      return undefined; // the API server has not picked up the webhook configuration yet
    } catch (err) {
      const body = String((err as { body?: unknown }).body ?? err);
      return body.includes('denied') ? body : undefined;
    }
  });
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  for (const name of hookNames) await admission.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
  hostServer?.close();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('a webhook served by a pod behind a Service is called by the API server', async () => {
  const certs = makeServingCert([`DNS:hook.${ns}.svc`]);
  await applyAll([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook-tls', namespace: ns }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': certs.cert, 'tls.key': certs.key } } as never,
    echoDeployment(ns, 'hook', 1, {}, { tlsSecret: 'hook-tls' }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'hook', namespace: ns }, spec: { selector: { app: 'hook' }, ports: [{ name: 'https', port: 443, targetPort: 8443 }] } } as never,
  ]);
  const name = `${ns}-pod`;
  hookNames.push(name);
  await admission.createValidatingWebhookConfiguration({ body: webhookConfig(name, { service: { namespace: ns, name: 'hook', path: '/admission', port: 443 } }, certs.caCert) });
  const message = await deniedMessage(name);
  expect(message).toMatch(/denied by hook-[a-z0-9]+-[a-z0-9]+: nope/);
  // An object the webhook allows is created.
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'allowed', labels: { target: name } } } });
});

test('a webhook served by a host process at a URL is called by the API server', async () => {
  const certs = makeServingCert(['IP:127.0.0.1']);
  hostServer = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const review = JSON.parse(body) as { request: { uid: string } };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: false, status: { code: 403, message: 'denied by the host process' } } }));
    });
  });
  await new Promise<void>((resolve) => hostServer!.listen(0, '127.0.0.1', resolve));
  const port = (hostServer.address() as AddressInfo).port;
  const name = `${ns}-url`;
  hookNames.push(name);
  await admission.createValidatingWebhookConfiguration({ body: webhookConfig(name, { url: `https://127.0.0.1:${port}/validate` }, certs.caCert) });
  expect(await deniedMessage(name)).toContain('denied by the host process');
});
