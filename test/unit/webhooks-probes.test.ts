// The kubelet's app probes, rewritten to the agent as Istio does (so STRICT mTLS and
// AuthorizationPolicies do not refuse them), and the agent answering them by probing the app on
// loopback with the kubelet's rules.
import http from 'node:http';
import net from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { APP_PROBERS_ENV, appProbeServer, parseAppProbers, runProber } from '../../src/sidecar/app-probes.js';
import { loggerFor } from '../../src/util/logger.js';
import { injectPod } from '../../src/webhooks/inject.js';
import { rewriteAppProbes } from '../../src/webhooks/probes.js';

const pod = (annotations: Record<string, string> = {}): V1Pod => ({
  metadata: { name: 'echo', namespace: 'ns', annotations },
  spec: {
    containers: [
      {
        name: 'echo',
        image: 'trellis/echo',
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' as never, httpHeaders: [{ name: 'x-probe', value: '1' }] }, periodSeconds: 1, timeoutSeconds: 2 },
        livenessProbe: { tcpSocket: { port: 9090 as never }, periodSeconds: 10 },
        startupProbe: { exec: { command: ['true'] } },
      },
    ],
  },
});

test('HTTP and TCP probes go to the agent on 15020; the originals (named port resolved) go to the agent; exec stays', () => {
  const { containers, probers } = rewriteAppProbes(pod());
  expect(containers[0]!.readinessProbe).toEqual({ httpGet: { path: '/app-health/echo/readyz', port: 15020, scheme: 'HTTP' }, periodSeconds: 1, timeoutSeconds: 2 });
  expect(containers[0]!.livenessProbe).toEqual({ httpGet: { path: '/app-health/echo/livez', port: 15020, scheme: 'HTTP' }, periodSeconds: 10 });
  expect(containers[0]!.startupProbe).toEqual({ exec: { command: ['true'] } });
  expect(probers).toEqual({
    '/app-health/echo/readyz': { httpGet: { path: '/ready', port: 8080, httpHeaders: [{ name: 'x-probe', value: '1' }] }, timeoutSeconds: 2 },
    '/app-health/echo/livez': { tcpSocket: { port: 9090 } },
  });
});

test('the injected pod carries them: the app probes the agent, the proxy container has ISTIO_KUBE_APP_PROBERS', () => {
  const r = injectPod(pod(), { proxyImage: 'p', discoveryAddress: 'd:15012', proxyUid: 1337, clusterDomain: 'cluster.local' });
  if (!('injected' in r)) throw new Error('not injected');
  expect(r.injected.spec!.containers[0]!.readinessProbe?.httpGet?.port).toBe(15020);
  const proxy = r.injected.spec!.initContainers!.find((c) => c.name === 'trellis-proxy')!;
  expect(JSON.parse(proxy.env!.find((e) => e.name === APP_PROBERS_ENV)!.value!)).toHaveProperty(['/app-health/echo/readyz']);
});

test('rewriteAppHTTPProbers: "false" keeps the probes as written', () => {
  const { containers, probers } = rewriteAppProbes(pod({ 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' }));
  expect(containers[0]!.readinessProbe?.httpGet?.port).toBe('http');
  expect(probers).toEqual({});
});

describe('the agent answers a probe by probing the app', () => {
  const log = loggerFor('test');
  let app: http.Server;
  let appPort = 0;
  let closedPort = 0;
  beforeAll(async () => {
    app = http.createServer((req, res) => res.writeHead(req.url === '/ready' && req.headers['x-probe'] === '1' ? 204 : 500).end());
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appPort = (app.address() as net.AddressInfo).port;
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    closedPort = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
  });
  afterAll(() => new Promise((r) => app.close(r)));

  test('HTTP 2xx/3xx is healthy, other statuses and refused connections are not; TCP accepted is healthy', async () => {
    expect(await runProber({ httpGet: { port: appPort, path: '/ready', httpHeaders: [{ name: 'x-probe', value: '1' }] } })).toBeUndefined();
    expect(await runProber({ httpGet: { port: appPort, path: '/ready' } })).toBe('HTTP 500');
    expect(await runProber({ httpGet: { port: closedPort, path: '/' } })).toMatch(/ECONNREFUSED/);
    expect(await runProber({ tcpSocket: { port: appPort } })).toBeUndefined();
    expect(await runProber({ tcpSocket: { port: closedPort } })).toMatch(/ECONNREFUSED/);
  });

  test('the status server: 200 healthy, 503 unhealthy, 404 for a path it was not given', async () => {
    const probers = parseAppProbers(JSON.stringify({ '/app-health/echo/readyz': { httpGet: { port: appPort, path: '/ready', httpHeaders: [{ name: 'x-probe', value: '1' }] } }, '/app-health/echo/livez': { tcpSocket: { port: closedPort } } }), log);
    const server = appProbeServer(probers, log);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const status = (path: string): Promise<number> => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject));
    try {
      expect(await status('/app-health/echo/readyz')).toBe(200);
      expect(await status('/app-health/echo/livez')).toBe(503);
      expect(await status('/app-health/other/readyz')).toBe(404);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('malformed probers are logged and probe nothing', () => {
    expect(parseAppProbers('{not json', log).size).toBe(0);
  });
});
