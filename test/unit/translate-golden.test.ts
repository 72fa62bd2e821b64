// The golden set (every feature the translation supports): every produced resource encodes as
// its Envoy message, names are unique per type, every EDS cluster has an assignment, and every
// cluster a route or tcp_proxy names exists (or is knowingly left to Envoy's 503: none here).
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { decoded } from '../../src/translate/testing/fixtures.js';
import { scenarios } from '../../src/translate/testing/scenarios.js';
import { encodeMessage } from '../../src/xds/protos.js';
import { messageName, TypeUrl } from '../../src/xds/types.js';

const FILES = { ca: '/certs/ca.pem', cert: '/certs/cert.pem', key: '/certs/key.pem' };

/** Every cluster name a route configuration or a listener's filters point at. */
function referencedClusters(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referencedClusters(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.type_url === 'string' && o.value !== undefined) {
      // The retry host predicate is an empty message whose proto src/xds does not load.
      return o.type_url.endsWith('.PreviousHostsPredicate') ? out : referencedClusters(decoded(o), out);
    }
    if (typeof o.cluster === 'string') out.add(o.cluster);
    const weighted = o.weighted_clusters as { clusters?: Array<{ name?: string }> } | undefined;
    for (const c of weighted?.clusters ?? []) if (c.name) out.add(c.name);
    for (const [k, v] of Object.entries(o)) if (k !== 'cluster') referencedClusters(v, out);
  }
  return out;
}

describe.each(scenarios(FILES).map((s) => [s.name, s] as const))('%s', (_name, s) => {
  const snapshot = sidecarSnapshot(s.mesh, s.proxy, s.options);

  test('every resource encodes as its Envoy message', () => {
    for (const [type, resources] of Object.entries(snapshot)) {
      for (const [name, r] of resources as Map<string, object>) expect(() => encodeMessage(messageName(type), r)).not.toThrow(name);
    }
  });

  test('every EDS cluster has an assignment and every referenced cluster exists', () => {
    const clusters = snapshot[TypeUrl.Cluster] ?? new Map();
    const eds = [...clusters.values()].filter((c) => c.type === 'EDS').map((c) => c.name);
    expect([...(snapshot[TypeUrl.Endpoint]?.keys() ?? [])].sort()).toEqual(eds.sort());
    const refs = referencedClusters([...(snapshot[TypeUrl.Listener]?.values() ?? []), ...(snapshot[TypeUrl.Route]?.values() ?? [])]);
    const missing = [...refs].filter((c) => !clusters.has(c));
    expect(missing).toEqual([]);
  });
});
