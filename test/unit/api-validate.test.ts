// Validation of networking.istio.io and security.istio.io objects: Istio's documentation examples
// pass, and each real mistake in the shared table (test/fixtures/invalid) is rejected with its
// exact message.
import { formatErrors, validationErrors, validateManifest } from '../../src/api/validate.js';
import { loadFixtures } from '../fixtures/load.js';

const valid = loadFixtures('valid');
const invalid = loadFixtures('invalid');

describe('valid manifests (examples from Istio documentation)', () => {
  test.each(valid.map((f) => [f.file, f] as const))('%s has no errors', (_file, fixture) => {
    const result = validateManifest(fixture.object);
    expect(result).toBeDefined();
    expect(result?.messages).toEqual([]);
  });
});

describe('invalid manifests', () => {
  test('the table has at least 60 entries, each with an expected message', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(60);
    for (const fixture of invalid) expect({ file: fixture.file, expect: fixture.expect.length > 0 }).toEqual({ file: fixture.file, expect: true });
  });

  test.each(invalid.map((f) => [f.file, f] as const))('%s is rejected with the expected message', (_file, fixture) => {
    expect(validateManifest(fixture.object)?.messages).toEqual(fixture.expect);
  });
});

describe('the shared table', () => {
  test('names are unique per kind across valid and invalid manifests, so both sets can be applied together', () => {
    const keys = [...valid, ...invalid].map((f) => `${f.object.kind}/${f.object.metadata.namespace ?? 'default'}/${f.object.metadata.name}`);
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
  });

  test('covers every kind and every served version', () => {
    const all = [...valid, ...invalid];
    expect(new Set(all.map((f) => f.object.kind))).toEqual(new Set(['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar', 'PeerAuthentication', 'Telemetry']));
    expect(new Set(all.map((f) => f.object.apiVersion))).toEqual(
      new Set(['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3', 'security.istio.io/v1', 'security.istio.io/v1beta1', 'telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1']),
    );
  });
});

describe('validationErrors()', () => {
  test('renders errors as <Kind> <namespace>/<name>: <field path>: <rule>', () => {
    const spec = {
      hosts: ['reviews'],
      http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 80 }, { destination: { host: 'reviews', subset: 'v2' }, weight: -10 }] }],
    };
    const errors = validationErrors('VirtualService', 'default', 'reviews', spec);
    expect(errors).toEqual([{ path: 'spec.http[0].route[1].weight', message: 'must not be negative, got -10' }]);
    expect(formatErrors('VirtualService', 'default', 'reviews', errors)).toEqual([
      'VirtualService default/reviews: spec.http[0].route[1].weight: must not be negative, got -10',
    ]);
  });

  test('reports every error of an object, in field order', () => {
    const spec = { host: 'reviews', subsets: [{ name: 'v1' }, { name: 'v1' }, { name: 'bad_name' }] };
    expect(validationErrors('DestinationRule', 'default', 'reviews', spec).map((e) => e.path)).toEqual([
      'spec.subsets[1].name',
      'spec.subsets[2].name',
    ]);
  });

  test('a single destination may omit its weight; several need weights that are not all 0 (they are relative, as in Istio)', () => {
    const one = { hosts: ['a'], http: [{ route: [{ destination: { host: 'a' } }] }] };
    const split = { hosts: ['a'], tcp: [{ route: [{ destination: { host: 'a' }, weight: 100 }, { destination: { host: 'b' } }] }] };
    const relative = { hosts: ['a'], tcp: [{ route: [{ destination: { host: 'a' }, weight: 550 }, { destination: { host: 'b' }, weight: 500 }] }] };
    const none = { hosts: ['a'], tcp: [{ route: [{ destination: { host: 'a' } }, { destination: { host: 'b' } }] }] };
    expect(validationErrors('VirtualService', 'ns', 'a', one)).toEqual([]);
    expect(validationErrors('VirtualService', 'ns', 'a', split)).toEqual([]);
    expect(validationErrors('VirtualService', 'ns', 'a', relative)).toEqual([]);
    expect(validationErrors('VirtualService', 'ns', 'a', none).map((e) => e.path)).toEqual(['spec.tcp[0].route']);
  });

  test('"*" is allowed as a host when the VirtualService is bound only to gateways', () => {
    const spec = { hosts: ['*'], gateways: ['istio-system/ingress'], http: [{ route: [{ destination: { host: 'web' } }] }] };
    expect(validationErrors('VirtualService', 'ns', 'web', spec)).toEqual([]);
    expect(validationErrors('VirtualService', 'ns', 'web', { ...spec, gateways: ['ingress', 'mesh'] })).toHaveLength(1);
  });

  test('malformed input yields errors, never an exception', () => {
    expect(validationErrors('VirtualService', 'ns', 'x', null)).toEqual([{ path: 'spec', message: 'required, and must be an object' }]);
    expect(validationErrors('Gateway', 'ns', 'x', [])).toEqual([{ path: 'spec', message: 'required, and must be an object' }]);
    expect(validationErrors('EnvoyFilter', 'ns', 'x', {})).toEqual([{ path: 'kind', message: 'unsupported kind "EnvoyFilter"' }]);
    const weird = [
      { hosts: 'reviews', http: { route: 1 } },
      { hosts: [1, null], http: [null] },
      { hosts: ['a'], http: [{ route: [{ destination: null, weight: 'x' }], match: [{ uri: { regex: 7 } }] }] },
    ];
    for (const spec of weird) expect(() => validationErrors('VirtualService', 'ns', 'x', spec)).not.toThrow();
    const weirdOthers = [
      ['DestinationRule', { host: 3, subsets: [null], trafficPolicy: { portLevelSettings: 'x' } }],
      ['Gateway', { servers: [null, { port: 'x', hosts: 'y', tls: 5 }] }],
      ['ServiceEntry', { hosts: [null], ports: [null], endpoints: [{ ports: 'x' }] }],
    ] as const;
    for (const [kind, spec] of weirdOthers) {
      const errors = validationErrors(kind, 'ns', 'x', spec);
      expect(Array.isArray(errors)).toBe(true);
      expect(errors.length).toBeGreaterThan(0);
    }
  });
});

describe('validateManifest()', () => {
  test('uses the manifest namespace, or the default one', () => {
    const manifest = { apiVersion: 'networking.istio.io/v1beta1', kind: 'ServiceEntry', metadata: { name: 'se', namespace: 'prod' }, spec: { hosts: [] } };
    expect(validateManifest(manifest)?.messages).toEqual(['ServiceEntry prod/se: spec.hosts: at least one host is required']);
    expect(validateManifest({ ...manifest, metadata: { name: 'se' } }, 'team-a')?.messages).toEqual([
      'ServiceEntry team-a/se: spec.hosts: at least one host is required',
    ]);
  });

  test('ignores objects that are not networking.istio.io kinds', () => {
    expect(validateManifest({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: {} })).toBeUndefined();
    expect(validateManifest({ apiVersion: 'networking.istio.io/v1', kind: 'EnvoyFilter', metadata: { name: 's' }, spec: {} })).toBeUndefined();
    expect(validateManifest('not an object')).toBeUndefined();
  });
});
