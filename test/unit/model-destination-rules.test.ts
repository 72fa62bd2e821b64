// DestinationRule lookup precedence (client namespace, service namespace, root namespace;
// exact host before wildcards; exportTo honoured) and Istio's merge within a namespace.
import type { DestinationRuleSpec } from '../../src/api/destination-rule.js';
import type { Config } from '../../src/model/config-store.js';
import { DestinationRuleIndex } from '../../src/model/destination-rules.js';
import { config } from '../support/mesh-fixtures.js';

const dr = (namespace: string, name: string, spec: DestinationRuleSpec, creationTimestamp?: string): Config<DestinationRuleSpec> =>
  config('DestinationRule', namespace, name, spec, creationTimestamp);
const ROOT = 'trellis-system';
const index = (configs: Config<DestinationRuleSpec>[], defaultExportTo = ['*']): DestinationRuleIndex => new DestinationRuleIndex(configs, { rootNamespace: ROOT, defaultExportTo });
/** The names of the rules merged into the answer, "ns/name+ns/name". */
const pick = (idx: DestinationRuleIndex, host: string, client: string, serviceNs?: string): string[] =>
  idx.lookup(host, client, serviceNs).map((r) => r.from.map((f) => `${f.namespace}/${f.name}`).join('+'));

const REVIEWS = 'reviews.prod.svc.cluster.local';

describe('lookup precedence', () => {
  const rules = [
    dr(ROOT, 'mesh-default', { host: '*.local' }),
    dr(ROOT, 'root-reviews', { host: REVIEWS }),
    dr('prod', 'svc-ns', { host: 'reviews' }), // short name: reviews.prod.svc.cluster.local
    dr('prod', 'svc-ns-wild', { host: '*.prod.svc.cluster.local' }),
    dr('client', 'client-own', { host: REVIEWS }),
    dr('client', 'client-wild', { host: '*.svc.cluster.local' }),
    dr('team-b', 'exported-to-c', { host: REVIEWS, exportTo: ['team-c'] }),
    dr('team-d', 'private-d', { host: REVIEWS, exportTo: ['.'] }),
  ];
  const idx = index(rules);

  test.each<[string, string, string | undefined, string[]]>([
    // [host, client, service namespace, rules that apply]
    [REVIEWS, 'client', 'prod', ['client/client-own']], // client namespace first
    ['ratings.prod.svc.cluster.local', 'client', 'prod', ['client/client-wild']], // its wildcard still beats the service namespace's
    [REVIEWS, 'other', 'prod', ['prod/svc-ns']], // then the service namespace, exact host
    ['ratings.prod.svc.cluster.local', 'other', 'prod', ['prod/svc-ns-wild']], // service namespace wildcard
    ['db.corp.svc.cluster.local', 'other', 'corp', ['trellis-system/mesh-default']], // root namespace
    [REVIEWS, 'other', undefined, ['trellis-system/root-reviews']], // unknown service namespace: root
    ['x.example.com', 'other', 'corp', []],
    [REVIEWS, 'team-b', 'prod', ['prod/svc-ns']], // exported only to team-c: not even its own namespace uses it
    [REVIEWS, 'team-d', 'prod', ['team-d/private-d']],
    [REVIEWS, 'team-c', 'prod', ['prod/svc-ns']], // exportTo to team-c does not beat the service namespace
    [REVIEWS, 'team-c', 'team-b', ['team-b/exported-to-c']], // but counts when team-b is the service namespace
    [REVIEWS, 'team-e', 'team-d', ['trellis-system/root-reviews']], // a private rule is not exported
  ])('%s from %s (service in %s) → %j', (host, client, svcNs, want) => {
    expect(pick(idx, host, client, svcNs)).toEqual(want);
  });

  test('the most specific host of a namespace decides, even if it is not exported to the client', () => {
    const i = index([dr('prod', 'wide', { host: '*.prod.svc.cluster.local' }), dr('prod', 'narrow', { host: REVIEWS, exportTo: ['team-x'] })]);
    expect(pick(i, REVIEWS, 'team-x', 'prod')).toEqual(['prod/narrow']);
    // For any other client the narrow host wins the match but is not exported: fall through to the root namespace.
    expect(pick(i, REVIEWS, 'team-y', 'prod')).toEqual([]);
  });

  test('a client in the root namespace uses the root namespace rules, private ones included, before the service namespace', () => {
    const i = index([dr(ROOT, 'root-private', { host: REVIEWS, exportTo: ['.'] }), dr('prod', 'svc', { host: REVIEWS })]);
    expect(pick(i, REVIEWS, ROOT, 'prod')).toEqual(['trellis-system/root-private']);
    expect(pick(i, REVIEWS, 'other', 'prod')).toEqual(['prod/svc']);
    const j = index([dr(ROOT, 'root-public', { host: REVIEWS }), dr('prod', 'svc', { host: REVIEWS })]);
    expect(pick(j, REVIEWS, ROOT, 'prod')).toEqual(['prod/svc']);
  });

  test('the mesh default exportTo "." keeps rules without exportTo in their namespace', () => {
    const i = index([dr('prod', 'svc', { host: REVIEWS })], ['.']);
    expect(pick(i, REVIEWS, 'prod', 'prod')).toEqual(['prod/svc']);
    expect(pick(i, REVIEWS, 'other', 'prod')).toEqual([]);
  });

  test('exportTo "~" hides a rule from every other namespace', () => {
    const i = index([dr('prod', 'hidden', { host: REVIEWS, exportTo: ['~'] })]);
    expect(pick(i, REVIEWS, 'other', 'prod')).toEqual([]);
  });

  test('a rule exported to its own namespace name only is private', () => {
    const i = index([dr('prod', 'own', { host: REVIEWS, exportTo: ['prod'] })]);
    expect(pick(i, REVIEWS, 'prod', 'prod')).toEqual(['prod/own']);
    expect(pick(i, REVIEWS, 'other', 'prod')).toEqual([]);
  });

  test('the root namespace is configurable', () => {
    const i = new DestinationRuleIndex([dr('istio-system', 'mesh', { host: '*.local' })], { rootNamespace: 'istio-system', defaultExportTo: ['*'] });
    expect(i.lookup('a.b.svc.cluster.local', 'x').map((r) => r.host)).toEqual(['*.local']);
  });
});

describe('merge within a namespace', () => {
  test('subsets concatenate oldest first, duplicates keep the first, first traffic policy wins', () => {
    const idx = index([
      dr('prod', 'b-newer', { host: REVIEWS, subsets: [{ name: 'v2', labels: { version: 'v2' } }, { name: 'v1', labels: { version: 'other' } }], trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }, '2024-02-01T00:00:00Z'),
      dr('prod', 'a-older', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }], trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } }, '2024-01-01T00:00:00Z'),
    ]);
    const [merged] = idx.lookup(REVIEWS, 'prod');
    expect(merged.from.map((f) => f.name)).toEqual(['a-older', 'b-newer']);
    expect(merged.spec.host).toBe(REVIEWS);
    expect(merged.spec.subsets).toEqual([
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ]);
    expect(merged.spec.trafficPolicy).toEqual({ loadBalancer: { simple: 'LEAST_REQUEST' } });
    expect(idx.losses).toEqual([
      { config: { namespace: 'prod', name: 'b-newer' }, what: 'subset', index: 1, subset: 'v1', keptFrom: { namespace: 'prod', name: 'a-older' } },
      { config: { namespace: 'prod', name: 'b-newer' }, what: 'trafficPolicy', index: undefined, subset: undefined, keptFrom: { namespace: 'prod', name: 'a-older' } },
    ]);
  });

  test('a later rule supplies the traffic policy the first lacks, and exportTo when the first has none', () => {
    const idx = index([dr('prod', 'first', { host: REVIEWS, subsets: [{ name: 'v1' }] }), dr('prod', 'second', { host: REVIEWS, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } }, exportTo: ['*'] })]);
    const [merged] = idx.lookup(REVIEWS, 'prod');
    expect(merged.spec.trafficPolicy).toEqual({ tls: { mode: 'ISTIO_MUTUAL' } });
    expect(merged.exportTo).toEqual(['*']);
    expect(idx.losses).toEqual([]);
  });

  test('different hosts or namespaces never merge', () => {
    const idx = index([dr('prod', 'a', { host: REVIEWS, subsets: [{ name: 'v1' }] }), dr('prod', 'b', { host: 'ratings', subsets: [{ name: 'v1' }] }), dr('dev', 'c', { host: REVIEWS, subsets: [{ name: 'v1' }] })]);
    expect(idx.losses).toEqual([]);
    expect(pick(idx, REVIEWS, 'prod')).toEqual(['prod/a']);
    expect(pick(idx, REVIEWS, 'dev')).toEqual(['dev/c']);
  });
});

describe('workloadSelector rules', () => {
  const rules = [
    dr('client', 'general', { host: REVIEWS, subsets: [{ name: 'v1' }] }),
    dr('client', 'canary-only', { host: REVIEWS, workloadSelector: { matchLabels: { app: 'canary' } }, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
    dr('client', 'canary-too', { host: REVIEWS, workloadSelector: { matchLabels: { app: 'canary' } }, subsets: [{ name: 'v9' }] }),
    dr('prod', 'svc-selector', { host: REVIEWS, workloadSelector: { matchLabels: { app: 'x' } }, exportTo: ['*'] }),
  ];
  const idx = index(rules);

  test('apply only to matching workloads of their own namespace, merged with same-selector rules', () => {
    const canary = idx.forProxy(REVIEWS, 'client', { app: 'canary', version: 'v1' });
    expect(canary?.from.map((f) => f.name)).toEqual(['canary-only', 'canary-too', 'general']);
    expect(canary?.spec.subsets?.map((s) => s.name)).toEqual(['v9', 'v1']);
    expect(canary?.spec.trafficPolicy).toEqual({ loadBalancer: { simple: 'RANDOM' } });
    expect(idx.forProxy(REVIEWS, 'client', { app: 'web' })?.from.map((f) => f.name)).toEqual(['general']);
    expect(idx.forProxy(REVIEWS, 'client')?.from.map((f) => f.name)).toEqual(['general']);
  });

  test('are never exported to other namespaces', () => {
    expect(idx.forProxy(REVIEWS, 'elsewhere', { app: 'x' }, 'prod')).toBeUndefined();
    expect(pick(idx, REVIEWS, 'elsewhere', 'prod')).toEqual([]);
  });
});
