// An ingress gateway: a router-mode proxy selected by a Gateway, serving the VirtualServices
// bound to it (Istio's "ingress gateways" task: exact and prefix URI matches to a service port).
import type { V1Pod } from '@kubernetes/client-node';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { installTrellis } from '../support/install.js';
import { serviceAccountToken } from '../support/tokens.js';
import { AdsClient } from '../support/ads-client.js';
import { TypeUrl } from '../../src/xds/types.js';
import { makeServingCert, type TestCerts } from '../support/certs.js';
import { applyAll, clientPod, clusterAvailable, ECHO_IMAGE, echoDeployment, echoFrom, kube, proxyPod, testNamespace, waitFor, type EchoReply } from '../support/cluster.js';

const ns = testNamespace('gw');
/** Where the delegate VirtualService and its service live (Istio's example: another team's namespace). */
const delegates = `${ns}-team`;
const { kc, core } = kube();
const custom = kc.makeApiClient(CustomObjectsApi);
const selector = { app: `gw-${ns}` }; // unique: no other gateway pod matches

function gatewayPod(): V1Pod {
  return proxyPod({ name: 'ingress', namespace: ns, labels: selector, discoveryAddress: 'trellis.trellis-system.svc:15012', env: [{ name: 'TRELLIS_PROXY_TYPE', value: 'router' }] });
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await applyAll([
    echoDeployment(ns, 'httpbin', 1),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'httpbin', namespace: ns }, spec: { selector: { app: 'httpbin' }, ports: [{ name: 'http', port: 8000, targetPort: 8080 }] } } as never,
    clientPod(ns),
  ]);
  await core.createNamespacedPod({ namespace: ns, body: gatewayPod() });
  const obj = (kind: string, plural: string, name: string, spec: object): Promise<unknown> =>
    custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural, body: { apiVersion: 'networking.istio.io/v1', kind, metadata: { name }, spec } });
  await obj('Gateway', 'gateways', 'httpbin-gateway', { selector, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['httpbin.example.com'] }] });
  await obj('VirtualService', 'virtualservices', 'httpbin', {
    hosts: ['httpbin.example.com'],
    gateways: ['httpbin-gateway'],
    http: [{ match: [{ uri: { prefix: '/status' } }, { uri: { exact: '/delay' } }], route: [{ destination: { port: { number: 8000 }, host: 'httpbin' } }] }],
  });
});

afterAll(() => Promise.all([ns, delegates].map((name) => core.deleteNamespace({ name }).catch(() => undefined))));

test('the gateway routes exact and prefix URI matches of the bound VirtualService to the service port', async () => {
  const gw = await waitFor('the gateway pod ready', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'ingress' });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  }, 120_000);
  await waitFor('the client pod', async () => (await core.readNamespacedPod({ namespace: ns, name: 'client' })).status?.phase === 'Running');
  const url = `http://${gw.status?.podIP}:80`;
  const host = ['host: httpbin.example.com'];
  const ok = await waitFor('the route', async () => {
    const [r] = await echoFrom(`${ns}/client`, `${url}/status/200`, 1, host);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(ok.body?.path).toBe('/status/200');
  expect(ok.pod).toMatch(/^httpbin-/);
  expect((await echoFrom(`${ns}/client`, `${url}/delay`, 1, host))[0].status).toBe(200);
  // Not matched by the VirtualService, or another host: Envoy answers 404.
  expect((await echoFrom(`${ns}/client`, `${url}/headers`, 1, host))[0].status).toBe(404);
  expect((await echoFrom(`${ns}/client`, `${url}/status/200`, 1, ['host: other.example.com']))[0].status).toBe(404);
});

describe("delegation on the gateway (Istio's delegate example)", () => {
  const vsObj = (namespace: string, name: string, spec: object): Promise<unknown> =>
    custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace, plural: 'virtualservices', body: { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name }, spec } });

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: delegates } } });
    await applyAll([
      echoDeployment(delegates, 'productpage', 1),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'productpage', namespace: delegates }, spec: { selector: { app: 'productpage' }, ports: [{ name: 'http', port: 9080, targetPort: 8080 }] } } as never,
    ]);
    await custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: ns,
      plural: 'gateways',
      body: { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'bookinfo-gateway' }, spec: { selector, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['bookinfo.example.com'] }] } },
    });
    // The root: bound to the gateway, delegating /productpage to another namespace and /status to one of its own.
    await vsObj(ns, 'bookinfo', {
      hosts: ['bookinfo.example.com'],
      gateways: ['bookinfo-gateway'],
      http: [
        { match: [{ uri: { prefix: '/productpage' } }], delegate: { name: 'productpage', namespace: delegates } },
        { match: [{ uri: { prefix: '/status' } }], delegate: { name: 'status' } },
      ],
    });
    await vsObj(delegates, 'productpage', {
      http: [
        { match: [{ uri: { prefix: '/productpage/v1' } }], route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] },
        // Outside the root's /productpage: ignored, with a warning on this VirtualService.
        { match: [{ uri: { prefix: '/elsewhere' } }], route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] },
      ],
    });
    await vsObj(ns, 'status', { http: [{ route: [{ destination: { host: 'httpbin', port: { number: 8000 } } }] }] });
  });

  test('each delegated path reaches its service through the ingress gateway pod; a route outside the root match is ignored and warned about', async () => {
    const gw = await waitFor('the gateway pod ready', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'ingress' });
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, 120_000);
    const url = `http://${gw.status?.podIP}:80`;
    const host = ['host: bookinfo.example.com'];
    const page = await waitFor('the delegated /productpage route', async () => {
      const [r] = await echoFrom(`${ns}/client`, `${url}/productpage/v1/index`, 1, host);
      return r?.status === 200 ? r : undefined;
    }, 90_000);
    expect(page.pod).toMatch(/^productpage-/);
    expect(page.body?.path).toBe('/productpage/v1/index');
    const [status] = await echoFrom(`${ns}/client`, `${url}/status/200`, 1, host);
    expect([status.status, status.pod]).toEqual([200, expect.stringMatching(/^httpbin-/)]);
    // The root's /productpage outside the delegate's /productpage/v1, and the delegate's /elsewhere outside the root: no route.
    expect((await echoFrom(`${ns}/client`, `${url}/productpage/other`, 1, host))[0].status).toBe(404);
    expect((await echoFrom(`${ns}/client`, `${url}/elsewhere`, 1, host))[0].status).toBe(404);

    const warned = await waitFor('the warning on the delegate', async () => {
      const o = (await custom.getNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: delegates, plural: 'virtualservices', name: 'productpage' })) as {
        status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
      };
      return o.status?.conditions?.find((c) => c.type === 'Warnings' && c.status === 'True');
    }, 60_000);
    expect(warned.message).toContain(`spec.http[1].match: fits no match of spec.http[0] of VirtualService ${ns}/bookinfo`);
  });
});

describe('HTTPS through the gateway, the certificate from credentialName over SDS', () => {
  const first = makeServingCert(['DNS:httpbin.example.com'], 'httpbin-first');
  const rotated = makeServingCert(['DNS:httpbin.example.com'], 'httpbin-rotated');
  const clientCert = makeServingCert(['DNS:tls-client'], 'tls-client');
  const upstreamCert = makeServingCert(['DNS:nginx.example.com'], 'nginx.example.com');
  const tlsSecret = (c: TestCerts): object => ({ 'tls.crt': Buffer.from(c.cert).toString('base64'), 'tls.key': Buffer.from(c.key).toString('base64') });
  let gwIp = '';

  beforeAll(async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'httpbin-credential' }, type: 'kubernetes.io/tls', data: tlsSecret(first) as Record<string, string> } });
    // Both CAs, so the client verifies the certificate before and after the rotation.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'test-ca' }, data: { 'ca.crt': first.caCert + rotated.caCert + upstreamCert.caCert, 'client.crt': clientCert.cert, 'client.key': clientCert.key } } });
    // MUTUAL: the server pair and, as ca.crt, the CA that signed the client's certificate.
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'mtls-credential' }, type: 'kubernetes.io/tls', data: { ...(tlsSecret(first) as Record<string, string>), 'ca.crt': Buffer.from(clientCert.caCert).toString('base64') } } });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'tls-client' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'client', image: ECHO_IMAGE, command: ['sleep', 'infinity'], volumeMounts: [{ name: 'ca', mountPath: '/etc/test-ca' }] }],
          volumes: [{ name: 'ca', configMap: { name: 'test-ca' } }],
        },
      },
    });
    await custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: ns,
      plural: 'gateways',
      body: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'Gateway',
        metadata: { name: 'httpbin-tls' },
        spec: {
          selector,
          servers: [
            { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['httpbin.example.com'], tls: { mode: 'SIMPLE', credentialName: 'httpbin-credential' } },
            { port: { number: 8443, name: 'https-mtls', protocol: 'HTTPS' }, hosts: ['httpbin.example.com'], tls: { mode: 'MUTUAL', credentialName: 'mtls-credential' } },
          ],
        },
      },
    });
    await custom.patchNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices', name: 'httpbin', body: [{ op: 'replace', path: '/spec/gateways', value: ['httpbin-gateway', 'httpbin-tls'] }] });
    gwIp = (await core.readNamespacedPod({ namespace: ns, name: 'ingress' })).status!.podIP!;
    await waitFor('the TLS client', async () => (await core.readNamespacedPod({ namespace: ns, name: 'tls-client' })).status?.phase === 'Running');
  });

  test('the client verifies the chain and SNI, and reaches the route', async () => {
    const reply = await waitFor('HTTPS through the gateway', async () => {
      const [r] = await echoFromTls(1);
      return r?.status === 200 ? r : undefined;
    }, 60_000);
    expect((reply as EchoReply & { tls: { subject: string; issuer: string; servername: string } }).tls).toEqual({ subject: 'httpbin-first', issuer: 'test-ca', servername: 'httpbin.example.com' });
    expect(reply.body?.path).toBe('/status/200');
  });

  test('rotating the Secret swaps the certificate under continuous requests with zero failures', async () => {
    const running = echoFromTls(80);
    await new Promise((r) => setTimeout(r, 500));
    await core.replaceNamespacedSecret({ namespace: ns, name: 'httpbin-credential', body: { metadata: { name: 'httpbin-credential' }, type: 'kubernetes.io/tls', data: tlsSecret(rotated) as Record<string, string> } });
    const replies = (await running) as (EchoReply & { tls?: { subject: string } })[];
    expect(replies).toHaveLength(80);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    const after = await waitFor('the rotated certificate', async () => {
      const [r] = (await echoFromTls(1)) as (EchoReply & { tls?: { subject: string } })[];
      return r?.tls?.subject === 'httpbin-rotated' ? r : undefined;
    }, 30_000);
    expect(after.status).toBe(200);
  });

  test('MUTUAL rejects a client without a certificate and accepts one signed by the Secret\'s CA', async () => {
    const url = `https://${gwIp}:8443/status/200`;
    const withCert = await waitFor('mutual TLS', async () => {
      const [r] = await echoFrom(`${ns}/tls-client`, url, 1, ['host: httpbin.example.com'], ['--cacert', '/etc/test-ca/ca.crt', '--cert', '/etc/test-ca/client.crt', '--key', '/etc/test-ca/client.key']);
      return r?.status === 200 ? r : undefined;
    }, 30_000);
    expect(withCert.body?.path).toBe('/status/200');
    const [without] = await echoFrom(`${ns}/tls-client`, url, 1, ['host: httpbin.example.com'], ['--cacert', '/etc/test-ca/ca.crt']);
    expect(without.status).toBeUndefined();
    expect(without.error).toBeDefined();
  });

  test('PASSTHROUGH forwards by SNI to a TLS upstream whose certificate the client sees untouched', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'nginx-tls' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': upstreamCert.cert, 'tls.key': upstreamCert.key } } });
    const nginx = echoDeployment(ns, 'nginx', 1, {}, { env: [{ name: 'ECHO_TLS_PORT', value: '8443' }, { name: 'ECHO_TLS_CERT', value: '/etc/tls/tls.crt' }, { name: 'ECHO_TLS_KEY', value: '/etc/tls/tls.key' }] }) as unknown as {
      spec: { template: { spec: { containers: { volumeMounts: object[] }[]; volumes: object[] } } };
    };
    nginx.spec.template.spec.containers[0].volumeMounts.push({ name: 'tls', mountPath: '/etc/tls', readOnly: true });
    nginx.spec.template.spec.volumes.push({ name: 'tls', secret: { secretName: 'nginx-tls' } });
    await applyAll([
      nginx as never,
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'my-nginx', namespace: ns }, spec: { selector: { app: 'nginx' }, ports: [{ name: 'https', port: 443, targetPort: 8443 }] } } as never,
    ]);
    const obj = (kind: string, plural: string, name: string, spec: object): Promise<unknown> =>
      custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural, body: { apiVersion: 'networking.istio.io/v1', kind, metadata: { name }, spec } });
    await obj('Gateway', 'gateways', 'passthrough', { selector, servers: [{ port: { number: 9443, name: 'tls', protocol: 'TLS' }, hosts: ['nginx.example.com'], tls: { mode: 'PASSTHROUGH' } }] });
    await obj('VirtualService', 'virtualservices', 'nginx', {
      hosts: ['nginx.example.com'],
      gateways: ['passthrough'],
      tls: [{ match: [{ port: 9443, sniHosts: ['nginx.example.com'] }], route: [{ destination: { host: 'my-nginx', port: { number: 443 } } }] }],
    });
    const reply = (await waitFor('passthrough', async () => {
      const [r] = await echoFrom(`${ns}/tls-client`, `https://${gwIp}:9443/passthrough`, 1, ['host: nginx.example.com'], ['--cacert', '/etc/test-ca/ca.crt']);
      return r?.status === 200 ? r : undefined;
    }, 60_000)) as EchoReply & { tls: { subject: string; issuer: string } };
    // The upstream's own certificate, and the upstream's own TLS port: nothing in between
    // terminated the connection.
    expect(reply.tls.subject).toBe('nginx.example.com');
    expect(reply.pod).toMatch(/^nginx-/);
    expect((reply.body as { port?: number }).port).toBe(8443);
  });

  test('a gateway cannot obtain a Secret of another namespace, even asking for it by name over SDS', async () => {
    const other = `${ns}-other`;
    await core.createNamespace({ body: { metadata: { name: other } } });
    try {
      await core.createNamespacedSecret({ namespace: other, body: { metadata: { name: 'other-credential' }, type: 'kubernetes.io/tls', data: tlsSecret(rotated) as Record<string, string> } });
      // A Gateway in the other namespace uses it, so the control plane does serve it there.
      await custom.createNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1',
        namespace: other,
        plural: 'gateways',
        body: { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'other' }, spec: { selector, servers: [{ port: { number: 9443, name: 'https', protocol: 'HTTPS' }, hosts: ['other.example.com'], tls: { mode: 'SIMPLE', credentialName: 'other-credential' } }] } },
      });
      const svc = await core.readNamespacedService({ namespace: 'trellis-system', name: 'trellis' });
      // Posing as this namespace's gateway pod (same labels), straight to the control plane, with
      // a token of this namespace: authenticated here, so it may have this namespace's Secrets only.
      const labels = { fields: Object.fromEntries(Object.entries(selector).map(([k, v]) => [k, { stringValue: v }])) };
      const rootCa = (await core.readNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert' })).data?.['root-cert.pem'] ?? '';
      const client = new AdsClient(`${svc.spec?.clusterIP}:15012`, {
        tls: { rootCa, serverName: 'trellis.trellis-system.svc' },
        token: await serviceAccountToken(ns, 'default', { audiences: ['istio-ca'] }),
        node: { id: `router~${gwIp}~ingress.${ns}~${ns}.svc.cluster.local`, metadata: { fields: { NAMESPACE: { stringValue: ns }, LABELS: { structValue: labels } } } },
      });
      try {
        client.subscribe(TypeUrl.Secret, ['kubernetes://httpbin-credential', 'kubernetes://other-credential', `kubernetes://${other}/other-credential`]);
        await client.until('the SDS answer', () => client.names(TypeUrl.Secret).includes('kubernetes://httpbin-credential'), 20_000);
        await new Promise((r) => setTimeout(r, 1000)); // and nothing more arrives
        expect(client.names(TypeUrl.Secret).sort()).toEqual(['kubernetes://httpbin-credential']);
      } finally {
        client.close();
      }
    } finally {
      await core.deleteNamespace({ name: other }).catch(() => undefined);
    }
  });

  function echoFromTls(count: number): Promise<EchoReply[]> {
    return echoFrom(`${ns}/tls-client`, `https://${gwIp}:443/status/200`, count, ['host: httpbin.example.com'], ['--cacert', '/etc/test-ca/ca.crt']);
  }
});
