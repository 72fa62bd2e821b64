import { hostsFile } from '../../tools/devcluster/dns/hosts.js';

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
