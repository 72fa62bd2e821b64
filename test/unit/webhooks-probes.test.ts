// The kubelet's app probes, rewritten to the agent as Istio does (so STRICT mTLS and
// AuthorizationPolicies do not refuse them). The agent's side, probing the app on loopback with
// the kubelet's rules, is tested with it (src/sidecar/agent/internal/status).
import type { V1Pod } from '@kubernetes/client-node';
import { APP_PROBERS_ENV } from '../../src/sidecar/agent-contract.js';
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
