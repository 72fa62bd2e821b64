// `trellisctl proxy-config authorization`: the security filters of each inbound chain, in the
// order Envoy runs them, with the policies they hold — read from the same dump the control
// plane's /debug/config_dump serves.
import { proxyConfigTable, resourcesOf } from '../../src/cli/proxy-config.js';
import type { ConfigDump } from '../../src/cli/control-plane.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { buildMesh, config, sidecar } from '../support/mesh-fixtures.js';
import { configDump } from '../../src/xds/config-dump.js';

const SERVICES = [{ namespace: 'shop', name: 'api', clusterIP: '10.96.0.10', selector: { app: 'api' }, ports: [{ name: 'http', port: 8080 }] }];

function table(configs: Parameters<typeof buildMesh>[1]): string[][] {
  const dump = { resources: configDump(sidecarSnapshot(buildMesh(SERVICES, configs), sidecar('shop', { app: 'api' }))) } as unknown as ConfigDump;
  return proxyConfigTable('authorization', resourcesOf(dump, 'authorization'))
    .trim()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));
}

test('each inbound chain lists DENY before ALLOW with the rule names, dry-run shown as such', () => {
  const rows = table([
    config('AuthorizationPolicy', 'shop', 'deny-evil', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['evil'] } }] }] }),
    { ...config('AuthorizationPolicy', 'shop', 'try-get', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }), annotations: { 'istio.io/dry-run': 'true' } },
  ]);
  expect(rows[0]).toEqual(['LISTENER', 'CHAIN', 'FILTER', 'ACTION', 'POLICIES / ISSUERS']);
  const http = rows.filter((r) => r[1] === 'inbound|8080||');
  expect(http).toEqual([
    ['virtualInbound', 'inbound|8080||', 'rbac', 'DENY', 'ns[shop]-policy[deny-evil]-rule[0]'],
    ['virtualInbound', 'inbound|8080||', 'rbac', 'ALLOW (dry-run)', 'ns[shop]-policy[try-get]-rule[0]'],
  ]);
});

test('without policies it says so', () => {
  expect(proxyConfigTable('authorization', resourcesOf({ resources: configDump(sidecarSnapshot(buildMesh(SERVICES, []), sidecar('shop', { app: 'api' }))) } as unknown as ConfigDump, 'authorization'))).toMatch(/^no authorization or JWT filters/);
});
