// The CRD schema checks in validationErrors(): the checker on its own (the keywords crds/*.yaml use), the
// generated schemas against crds/, and validationErrors() rejecting what the API server would reject.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_SPEC_SCHEMAS } from '../../src/api/crd-schemas.generated.js';
import { validationErrors } from '../../src/api/validate.js';
import { checkSchema, SCHEMA_KEYWORDS, type SchemaNode } from '../../src/api/validate-schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('checkSchema', () => {
  test('type: each mismatch is reported once, at its path, and not descended into', () => {
    const s: SchemaNode = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        count: { type: 'integer' },
        ratio: { type: 'number' },
        on: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
        inner: { type: 'object', properties: { x: { type: 'string' } } },
      },
    };
    expect(checkSchema(s, { name: 1, count: 1.5, ratio: 'x', on: 'yes', tags: 'a', inner: ['x'] }, 'spec')).toEqual([
      { path: 'spec.name', message: 'must be a string, got 1' },
      { path: 'spec.count', message: 'must be an integer, got 1.5' },
      { path: 'spec.ratio', message: 'must be a number, got "x"' },
      { path: 'spec.on', message: 'must be true or false, got "yes"' },
      { path: 'spec.tags', message: 'must be a list, got "a"' },
      { path: 'spec.inner', message: 'must be an object, got a list' },
    ]);
    expect(checkSchema(s, { name: 'a', count: 3, ratio: 3, on: false, tags: ['a'], inner: { x: 'y' } }, 'spec')).toEqual([]);
  });

  test('items and map values carry their index or key in the path', () => {
    const s: SchemaNode = {
      type: 'object',
      properties: {
        hosts: { type: 'array', items: { type: 'string' } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    };
    expect(checkSchema(s, { hosts: ['a', 2, null], labels: { app: 'x', version: 2 } }, 'spec')).toEqual([
      { path: 'spec.hosts[1]', message: 'must be a string, got 2' },
      { path: 'spec.hosts[2]', message: 'must be a string, got null' },
      { path: 'spec.labels[version]', message: 'must be a string, got 2' },
    ]);
  });

  test('enum names the allowed values and the value given', () => {
    const s: SchemaNode = { type: 'string', enum: ['A', 'B'] };
    expect(checkSchema(s, 'C', 'spec.mode')).toEqual([{ path: 'spec.mode', message: 'must be one of A, B, got "C"' }]);
    expect(checkSchema(s, 'A', 'spec.mode')).toEqual([]);
  });

  test('required: a missing or null field is reported at the field', () => {
    const s: SchemaNode = { type: 'object', required: ['host', 'port'], properties: { host: { type: 'string' }, port: { type: 'integer' } } };
    expect(checkSchema(s, { port: null }, 'spec')).toEqual([
      { path: 'spec.host', message: 'required' },
      { path: 'spec.port', message: 'required' },
    ]);
    expect(checkSchema(s, { host: 'a', port: 0 }, 'spec')).toEqual([]);
  });

  test('null is an absent field (the API server prunes it) unless nullable, where it is a value', () => {
    const s: SchemaNode = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'boolean', nullable: true } } };
    expect(checkSchema(s, { a: null, b: null }, 'spec')).toEqual([]);
  });

  test('unknown fields are not reported (the API server prunes them), unless a map allows them with a schema', () => {
    const s: SchemaNode = { type: 'object', properties: { a: { type: 'string' } } };
    expect(checkSchema(s, { a: 'x', zoneAwareLbSetting: 3 }, 'spec')).toEqual([]);
  });

  test('minimum, maximum (also exclusive) and the int32 range', () => {
    const s: SchemaNode = {
      type: 'object',
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 4294967295 },
        weight: { type: 'integer', format: 'int32' },
        ratio: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
      },
    };
    expect(checkSchema(s, { port: -1, weight: 2147483648, ratio: 0 }, 'spec')).toEqual([
      { path: 'spec.port', message: 'must be at least 0, got -1' },
      { path: 'spec.weight', message: 'must fit in 32 bits (-2147483648 to 2147483647), got 2147483648' },
      { path: 'spec.ratio', message: 'must be greater than 0, got 0' },
    ]);
    expect(checkSchema(s, { port: 4294967296, weight: -2147483649, ratio: 1 }, 'spec')).toEqual([
      { path: 'spec.port', message: 'must be at most 4294967295, got 4294967296' },
      { path: 'spec.weight', message: 'must fit in 32 bits (-2147483648 to 2147483647), got -2147483649' },
      { path: 'spec.ratio', message: 'must be less than 1, got 1' },
    ]);
    expect(checkSchema(s, { port: 4294967295, weight: -2147483648, ratio: 0.5 }, 'spec')).toEqual([]);
  });

  test('lengths of strings (in characters), lists and maps', () => {
    const s: SchemaNode = {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 3 },
        list: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'string' } },
        map: { type: 'object', maxProperties: 1, additionalProperties: { type: 'string' } },
      },
    };
    expect(checkSchema(s, { name: '', list: [], map: { a: 'x', b: 'y' } }, 'spec')).toEqual([
      { path: 'spec.name', message: 'must be at least 1 characters long, got 0' },
      { path: 'spec.list', message: 'must have at least 1 items, got 0' },
      { path: 'spec.map', message: 'must have at most 1 entries, got 2' },
    ]);
    expect(checkSchema(s, { name: 'abcd', list: ['a', 'b', 'c'] }, 'spec').map((e) => e.message)).toEqual([
      'must be at most 3 characters long, got 4',
      'must have at most 2 items, got 3',
    ]);
    expect(checkSchema(s, { name: '日本語', list: ['a'] }, 'spec')).toEqual([]);
  });

  test('x-kubernetes-int-or-string takes either', () => {
    const s: SchemaNode = { 'x-kubernetes-int-or-string': true };
    expect(checkSchema(s, 8080, 'p')).toEqual([]);
    expect(checkSchema(s, 'http', 'p')).toEqual([]);
    expect(checkSchema(s, true, 'p')).toEqual([{ path: 'p', message: 'must be an integer or a string, got true' }]);
  });

  test('x-kubernetes-preserve-unknown-fields keeps anything', () => {
    expect(checkSchema({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, { any: { thing: [1] } }, 'status')).toEqual([]);
  });

  test('the "at most one of" form of oneOf names the fields', () => {
    const atMostOne: SchemaNode = {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string' } },
      oneOf: [{ not: { anyOf: [{ required: ['a'] }, { required: ['b'] }, { required: ['c'] }] } }, { required: ['a'] }, { required: ['b'] }, { required: ['c'] }],
    };
    expect(checkSchema(atMostOne, {}, 'm')).toEqual([]);
    expect(checkSchema(atMostOne, { b: 'x' }, 'm')).toEqual([]);
    expect(checkSchema(atMostOne, { a: 'x', c: 'y' }, 'm')).toEqual([{ path: 'm', message: 'only one of a, b or c may be set, got a and c' }]);
    // A null field is absent.
    expect(checkSchema(atMostOne, { a: 'x', c: null }, 'm')).toEqual([]);
    // A field of the wrong type is reported at the field, not again as a oneOf mismatch.
    expect(checkSchema(atMostOne, { a: 1, b: 'x' }, 'm')).toEqual([{ path: 'm.a', message: 'must be a string, got 1' }]);
  });

  test('exactly one, anyOf, allOf and not', () => {
    const exactlyOne: SchemaNode = { type: 'object', oneOf: [{ required: ['a'] }, { required: ['b'] }] };
    expect(checkSchema(exactlyOne, {}, 'm')).toEqual([{ path: 'm', message: 'one of a or b is required' }]);
    expect(checkSchema(exactlyOne, { a: 1 }, 'm')).toEqual([]);
    const anyOf: SchemaNode = { type: 'object', anyOf: [{ required: ['a'] }, { required: ['b'] }] };
    expect(checkSchema(anyOf, {}, 'm')).toEqual([{ path: 'm', message: 'at least one of a or b is required' }]);
    expect(checkSchema(anyOf, { a: 1, b: 2 }, 'm')).toEqual([]);
    const allOf: SchemaNode = { type: 'object', allOf: [{ required: ['a'] }, { required: ['b'] }] };
    expect(checkSchema(allOf, {}, 'm')).toEqual([
      { path: 'm.a', message: 'required' },
      { path: 'm.b', message: 'required' },
    ]);
    const not: SchemaNode = { type: 'object', not: { anyOf: [{ required: ['a'] }] } };
    expect(checkSchema(not, { a: 1 }, 'm')).toEqual([{ path: 'm', message: 'must not set a' }]);
  });
});

describe('the generated schemas', () => {
  test('are up to date with crds/*.yaml (else run node scripts/gen-crd-schemas.js)', () => {
    expect(() => execFileSync(process.execPath, [path.join(root, 'scripts/gen-crd-schemas.js'), '--check'], { cwd: root, stdio: 'pipe' })).not.toThrow();
  });

  test('cover every kind validationErrors() serves', () => {
    expect(Object.keys(CRD_SPEC_SCHEMAS).sort()).toEqual(['AuthorizationPolicy', 'DestinationRule', 'Gateway', 'PeerAuthentication', 'RequestAuthentication', 'ServiceEntry', 'Telemetry', 'VirtualService']);
  });

  test('use only keywords the checker knows, so none is silently ignored', () => {
    const unknown = new Set<string>();
    const walk = (node: SchemaNode): void => {
      for (const key of Object.keys(node)) if (!SCHEMA_KEYWORDS.includes(key)) unknown.add(key);
      for (const sub of Object.values(node.properties ?? {})) walk(sub);
      for (const sub of [...(node.allOf ?? []), ...(node.anyOf ?? []), ...(node.oneOf ?? [])]) walk(sub);
      if (node.items) walk(node.items);
      if (node.not) walk(node.not);
      if (typeof node.additionalProperties === 'object') walk(node.additionalProperties);
    };
    for (const schema of Object.values(CRD_SPEC_SCHEMAS)) walk(schema);
    expect([...unknown]).toEqual([]);
  });
});

describe('validationErrors() includes the CRD schema', () => {
  test('rejects a load balancer the schema does not list (the API server would)', () => {
    const spec = { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } };
    expect(validationErrors('DestinationRule', 'default', 'reviews', spec)).toEqual([
      { path: 'spec.trafficPolicy.loadBalancer.simple', message: 'must be one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, got "FASTEST"' },
    ]);
  });

  test('rejects a ServiceEntry location the schema does not list', () => {
    const spec = { hosts: ['api.example.com'], location: 'OUTSIDE', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'TLS' }] };
    expect(validationErrors('ServiceEntry', 'default', 'api', spec)).toEqual([{ path: 'spec.location', message: 'must be one of MESH_EXTERNAL, MESH_INTERNAL, got "OUTSIDE"' }]);
  });

  test('a problem both the schema and Istio\'s rules see is reported once, in Istio\'s words', () => {
    const errors = validationErrors('PeerAuthentication', 'default', 'pa', { mtls: { mode: 'SOMETIMES' } });
    expect(errors.filter((e) => e.path === 'spec.mtls.mode')).toHaveLength(1);
    const lb = validationErrors('DestinationRule', 'default', 'r', { host: 'r', trafficPolicy: { loadBalancer: { simple: 'RANDOM', consistentHash: { useSourceIp: true } } } });
    expect(lb).toEqual([{ path: 'spec.trafficPolicy.loadBalancer', message: 'only one of simple or consistentHash may be set' }]);
  });

  test('a mistyped field gets the schema\'s error, and Istio\'s rules do not misread what is below it', () => {
    const spec = { hosts: ['api.example.com'], resolution: 'STATIC', endpoints: [{ address: '10.0.0.1', ports: 'https' }], ports: [{ number: 443, name: 'https', protocol: 'TLS' }] };
    expect(validationErrors('ServiceEntry', 'default', 'se', spec)).toEqual([{ path: 'spec.endpoints[0].ports', message: 'must be an object, got "https"' }]);
    expect(validationErrors('Gateway', 'default', 'gw', { servers: [{ port: 80, hosts: ['*'] }] })).toEqual([{ path: 'spec.servers[0].port', message: 'must be an object, got 80' }]);
  });

  test('the schema reaches nested policies (subsets, port-level settings)', () => {
    const spec = { host: 'r', subsets: [{ name: 'v1', trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, connectionPool: { http: { h2UpgradePolicy: 'MAYBE' } } }] } }] };
    expect(validationErrors('DestinationRule', 'default', 'r', spec).map((e) => e.path)).toEqual(['spec.subsets[0].trafficPolicy.portLevelSettings[0].connectionPool.http.h2UpgradePolicy']);
  });
});
