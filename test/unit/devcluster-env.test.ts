import { containerEnv, expand, serviceEnv } from '../../tools/devcluster/node/env.js';
import { ImageTable } from '../../tools/devcluster/node/images.js';
import { containerArgv } from '../../tools/devcluster/node/container.js';
import { hostsFile } from '../../tools/devcluster/node/dns.js';
import type { V1Pod } from '@kubernetes/client-node';

describe('$(VAR) expansion (the kubelet rules)', () => {
  const vars: Record<string, string> = { A: 'one', B: 'two' };
  const lookup = (n: string): string | undefined => vars[n];
  test.each([
    ['$(A)', 'one'],
    ['x-$(A)-$(B)-y', 'x-one-two-y'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['cost $5', 'cost $5'],
    ['$(A', '$(A'],
    ['end$', 'end$'],
  ])('%s -> %s', (input, want) => expect(expand(input, lookup)).toBe(want));
});

describe('container environment', () => {
  const pod: V1Pod = {
    metadata: { name: 'p1', namespace: 'ns1', uid: 'u-1', labels: { app: 'a' } },
    spec: { containers: [], serviceAccountName: 'sa1' },
  };
  const base = {
    pod,
    podIp: '10.244.0.9',
    hostIp: '10.243.0.2',
    services: [],
    kubernetesSvcIp: '10.96.0.1',
    configMap: (_ns: string, name: string) => (name === 'cm' ? { K: 'v' } : undefined),
    secret: () => undefined,
  };

  test('downward API fields, references to earlier variables and envFrom with prefix', () => {
    const env = containerEnv(
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
        env: [
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'URL', value: 'http://$(IP):8080/$(POD)' },
        ],
      },
      base,
    );
    expect(env).toMatchObject({ POD: 'p1', IP: '10.244.0.9', APP: 'a', URL: 'http://10.244.0.9:8080/p1', CM_K: 'v', KUBERNETES_SERVICE_HOST: '10.96.0.1' });
  });

  test('a missing required configmap key is an error that names it', () => {
    expect(() => containerEnv({ name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'nope' } } }] }, base)).toThrow(
      'env X: key "nope" of configmap "cm" not found',
    );
  });

  test('service links for the namespace Services', () => {
    const env = serviceEnv([{ metadata: { name: 'my-svc' }, spec: { clusterIP: '10.96.3.4', ports: [{ name: 'http', port: 80 }] } }], '10.96.0.1', true);
    expect(env).toMatchObject({ MY_SVC_SERVICE_HOST: '10.96.3.4', MY_SVC_SERVICE_PORT: '80', MY_SVC_SERVICE_PORT_HTTP: '80' });
  });
});

describe('images', () => {
  test.each([
    ['trellis/echo', 'trellis/echo'],
    ['trellis/echo:1.0', 'trellis/echo'],
    ['ghcr.io/acme/trellis/echo:1.0', 'acme/trellis/echo'],
    ['localhost:5000/trellis/proxy@sha256:abc', 'trellis/proxy'],
    ['docker.io/trellis/controller:latest', 'trellis/controller'],
  ])('repository of %s is %s', (image, repo) => expect(ImageTable.repository(image)).toBe(repo));

  test('command replaces the entrypoint and args replace the cmd, with $(VAR) expanded', () => {
    const image = { entrypoint: ['server'], cmd: ['--default'], path: [] };
    expect(containerArgv({ name: 'c' }, image, {})).toEqual(['server', '--default']);
    expect(containerArgv({ name: 'c', args: ['--port', '$(PORT)'] }, image, { PORT: '9' })).toEqual(['server', '--port', '9']);
    expect(containerArgv({ name: 'c', command: ['sleep'] }, image, {})).toEqual(['sleep']);
    expect(containerArgv({ name: 'c', command: ['sleep'], args: ['1'] }, image, {})).toEqual(['sleep', '1']);
  });
});

describe('cluster DNS records', () => {
  test('ClusterIP services get one record; headless ones get their ready endpoints', () => {
    const out = hostsFile(
      [
        { metadata: { name: 'a', namespace: 'n' }, spec: { clusterIP: '10.96.0.5' } },
        { metadata: { name: 'h', namespace: 'n' }, spec: { clusterIP: 'None' } },
      ],
      [
        {
          addressType: 'IPv4',
          metadata: { namespace: 'n', labels: { 'kubernetes.io/service-name': 'h' } },
          endpoints: [
            { addresses: ['10.244.0.7'], hostname: 'h-0', conditions: { ready: true } },
            { addresses: ['10.244.0.8'], conditions: { ready: false } },
          ],
        },
      ],
      'cluster.local',
    );
    expect(out.trim().split('\n')).toEqual(['10.244.0.7\th-0.h.n.svc.cluster.local', '10.244.0.7\th.n.svc.cluster.local', '10.96.0.5\ta.n.svc.cluster.local']);
  });
});
