// ServiceEntries for a host outside the mesh, reached by a DNS name: resolution DNS (Envoy
// resolves the name itself), and TLS origination — the app speaks plain HTTP to port 80, its
// sidecar opens TLS to the host's 8443, as in Istio's egress TLS origination task.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { makeServingCert } from '../support/certs.js';
import { applyAll, clientPod, clusterAvailable, devcluster, echoDeployment, echoFrom, kube, run, testNamespace, waitFor } from '../support/cluster.js';
import { installTrellis } from '../support/install.js';

const ns = testNamespace('se');
const ext = `${ns}-ext`;
const host = `api.${ns}.external.test`;
const { kc, core } = kube();
const custom = kc.makeApiClient(CustomObjectsApi);

function create(kind: string, plural: string, name: string, spec: object): Promise<unknown> {
  return custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural, body: { apiVersion: 'networking.istio.io/v1', kind, metadata: { name }, spec } });
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
  await core.createNamespace({ body: { metadata: { name: ext } } });
  // The "external" server: outside the mesh, plain HTTP on 8080 and HTTPS on 8443.
  const certs = makeServingCert([`DNS:${host}`], host);
  // credentialName Secrets in the client's namespace (Istio's generic format): the CA that
  // signed the server's certificate, and one that did not.
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'api-ca' }, stringData: { 'ca.crt': certs.caCert } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'wrong-ca' }, stringData: { 'ca.crt': makeServingCert(['DNS:other'], 'other').caCert } } });
  await core.createNamespacedSecret({ namespace: ext, body: { metadata: { name: 'api-tls' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': certs.cert, 'tls.key': certs.key } } });
  await applyAll([echoDeployment(ext, 'api', 1, {}, { tlsSecret: 'api-tls' }), clientPod(ns)]);
});

afterAll(async () => {
  await run(devcluster, ['dns', host, '-']);
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  await core.deleteNamespace({ name: ext }).catch(() => undefined);
});

test('resolution DNS reaches the host by its name, and TLS origination turns port 80 into TLS to 8443', async () => {
  const pod = await waitFor('the external server', async () => {
    const [p] = (await core.listNamespacedPod({ namespace: ext, labelSelector: 'app=api' })).items;
    return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });
  const dns = await run(devcluster, ['dns', host, pod.status!.podIP!]);
  expect(dns.code).toBe(0);
  await create('ServiceEntry', 'serviceentries', 'api', {
    hosts: [host],
    ports: [
      { number: 8080, name: 'http', protocol: 'HTTP' },
      { number: 80, name: 'http-originate', protocol: 'HTTP', targetPort: 8443 },
      { number: 81, name: 'http-verified', protocol: 'HTTP', targetPort: 8443 },
      { number: 82, name: 'http-wrong-ca', protocol: 'HTTP', targetPort: 8443 },
    ],
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
  });
  await create('DestinationRule', 'destinationrules', 'api', {
    host,
    trafficPolicy: {
      portLevelSettings: [
        { port: { number: 80 }, tls: { mode: 'SIMPLE', sni: host } },
        { port: { number: 81 }, tls: { mode: 'SIMPLE', sni: host, credentialName: 'api-ca' } },
        { port: { number: 82 }, tls: { mode: 'SIMPLE', sni: host, credentialName: 'wrong-ca' } },
      ],
    },
  });
  await waitFor('the client', async () => (await core.readNamespacedPod({ namespace: ns, name: 'client' })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  const plain = await waitFor('DNS resolution through the sidecar', async () => {
    const [r] = await echoFrom(`${ns}/client`, `http://${host}:8080/plain`, 1);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(plain.pod).toBe(pod.metadata?.name);
  expect(plain.headers?.['x-envoy-upstream-service-time']).toBeDefined();
  expect((plain.body as { port?: number }).port).toBe(8080);
  const originated = await waitFor('TLS origination', async () => {
    const [r] = await echoFrom(`${ns}/client`, `http://${host}/originated`, 1);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  // The app spoke HTTP; the server answered on its TLS port.
  expect((originated.body as { port?: number }).port).toBe(8443);
  expect(originated.body?.path).toBe('/originated');
  // credentialName: the CA comes from a Secret over SDS and the server's certificate is verified.
  const verified = await waitFor('verified origination', async () => {
    const [r] = await echoFrom(`${ns}/client`, `http://${host}:81/verified`, 1);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect((verified.body as { port?: number }).port).toBe(8443);
  const [wrong] = await echoFrom(`${ns}/client`, `http://${host}:82/wrong`, 1);
  expect(wrong.status).toBe(503); // the certificate does not verify against that CA
  expect(wrong.pod).toBeUndefined();
});
