// RequestAuthentication → Envoy's jwt_authn filter (Istio's shape): providers, the requirement
// (no token passes, a bad one is refused; REQUIRED rules must be present), inline keys (the
// rule's own, fetched ones, or keys that verify nothing while a jwksUri cannot be fetched), the
// filter order in a workload's security filters, and the warnings a RequestAuthentication's
// status carries about its keys.
import type { RequestAuthenticationSpec } from '../../src/api/request-authentication.js';
import { ConfigStore, type AnyConfig, type Config, type ConfigOf } from '../../src/model/config-store.js';
import { jwksSources, type JwksSource, type JwksState } from '../../src/model/jwks.js';
import { envoyJwksProblem } from '../../src/model/jwks-keys.js';
import { Mesh } from '../../src/model/mesh.js';
import { ServiceRegistry } from '../../src/model/services.js';
import { warningsFor } from '../../src/model/warnings.js';
import { JWT_AUTHN_FILTER } from '../../src/translate/authz-matchers.js';
import { jwtAuthentication, jwtAuthnFilter, jwtRequirement, unavailableJwks, UNAVAILABLE_JWKS_KID } from '../../src/translate/jwt-authn.js';
import { config, decoded } from '../support/mesh-fixtures.js';
import { workloadSecurity } from '../../src/translate/workload-security.js';
import { makeIssuer } from '../support/jwt.js';

const JWKS = makeIssuer('RS256', 'k1').jwks;
const FETCHED = makeIssuer('ES256', 'k2').jwks;
const ra = (name: string, spec: RequestAuthenticationSpec, ns = 'default'): ConfigOf<'RequestAuthentication'> => config('RequestAuthentication', ns, name, spec);
const none = (): JwksState => ({ status: 'pending' });

type Provider = Record<string, unknown> & { local_jwks: { inline_string: string } };
function filterConfig(configs: Config<RequestAuthenticationSpec>[], jwks: (s: JwksSource) => JwksState = none): { providers: Record<string, Provider>; rules: Array<{ match: unknown; requires: unknown }>; bypass_cors_preflight: boolean } {
  const filter = jwtAuthnFilter(configs, jwks);
  expect(filter?.name).toBe(JWT_AUTHN_FILTER);
  return decoded(filter?.typed_config) as never;
}

describe('providers', () => {
  test('one rule: issuer, audiences, inline keys, payload under "payload", scope and permission split; token locations left to Envoy (Authorization: Bearer, access_token)', () => {
    const c = filterConfig([ra('a', { jwtRules: [{ issuer: 'https://issuer.example', audiences: ['bookstore'], jwks: JWKS }] })]);
    expect(Object.keys(c.providers)).toEqual(['origins-0']);
    const p = c.providers['origins-0']!;
    expect(p).toMatchObject({
      issuer: 'https://issuer.example',
      audiences: ['bookstore'],
      local_jwks: { inline_string: JWKS },
      payload_in_metadata: 'payload',
      normalize_payload_in_metadata: { space_delimited_claims: ['permission', 'scope'] },
      forward: false,
      forward_payload_header: '',
      from_headers: [],
      from_params: [],
      from_cookies: [],
      claim_to_headers: [],
    });
    expect(c.bypass_cors_preflight).toBe(true);
    expect(c.rules).toEqual([expect.objectContaining({ match: expect.objectContaining({ prefix: '/' }) })]);
  });

  test('every rule field maps to Envoy: headers with prefixes, params, cookies, forward, payload and claim headers, own space-delimited claims', () => {
    const c = filterConfig([
      ra('a', {
        jwtRules: [
          {
            issuer: 'iss',
            jwks: JWKS,
            fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }, { name: 'x-raw' }],
            fromParams: ['tok'],
            fromCookies: ['session'],
            forwardOriginalToken: true,
            outputPayloadToHeader: 'x-payload',
            outputClaimToHeaders: [{ header: 'x-group', claim: 'group' }],
            spaceDelimitedClaims: ['roles', 'scope', 'a.b'],
          },
        ],
      }),
    ]);
    expect(c.providers['origins-0']).toMatchObject({
      from_headers: [
        { name: 'x-jwt', value_prefix: 'Token ' },
        { name: 'x-raw', value_prefix: '' },
      ],
      from_params: ['tok'],
      from_cookies: ['session'],
      forward: true,
      forward_payload_header: 'x-payload',
      claim_to_headers: [{ header_name: 'x-group', claim_name: 'group' }],
      normalize_payload_in_metadata: { space_delimited_claims: ['a.b', 'permission', 'roles', 'scope'] },
    });
  });

  test('rules of every policy, sorted by issuer (ties in policy age order), named origins-<i>', () => {
    const c = filterConfig([ra('old', { jwtRules: [{ issuer: 'zeta', jwks: JWKS }, { issuer: 'alpha', jwks: JWKS, audiences: ['first'] }] }), ra('new', { jwtRules: [{ issuer: 'alpha', jwks: JWKS, audiences: ['second'] }] })]);
    expect(Object.entries(c.providers).map(([n, p]) => [n, p.issuer, p.audiences])).toEqual([
      ['origins-0', 'alpha', ['first']],
      ['origins-1', 'alpha', ['second']],
      ['origins-2', 'zeta', []],
    ]);
  });

  test('no rules, no filter', () => {
    expect(jwtAuthnFilter([], none)).toBeUndefined();
    expect(jwtAuthnFilter([ra('empty', {})], none)).toBeUndefined();
  });
});

describe('the requirement', () => {
  const any = (...r: unknown[]) => ({ requires_any: { requirements: r } });
  const all = (...r: unknown[]) => ({ requires_all: { requirements: r } });
  const p = (n: string) => ({ provider_name: n });
  const missing = { allow_missing: {} };

  test('one provider: its token or none', () => {
    expect(jwtRequirement(['origins-0'])).toEqual(any(p('origins-0'), missing));
  });

  test('several: any single provider, or every token present valid (Istio)', () => {
    expect(jwtRequirement(['origins-0', 'origins-1'])).toEqual(any(p('origins-0'), p('origins-1'), all(any(p('origins-0'), missing), any(p('origins-1'), missing))));
  });

  test('presence REQUIRED: that provider is a must, on top of Istio’s requirement', () => {
    expect(jwtRequirement(['origins-0'], new Set(['origins-0']))).toEqual(p('origins-0'));
    expect(jwtRequirement(['origins-0', 'origins-1'], new Set(['origins-1']))).toEqual(all(p('origins-1'), any(p('origins-0'), p('origins-1'), all(any(p('origins-0'), missing), any(p('origins-1'), missing)))));
    expect(jwtRequirement(['origins-0', 'origins-1'], new Set(['origins-0', 'origins-1']))).toEqual(all(p('origins-0'), p('origins-1')));
  });

  test('presence is read from the rules, after sorting', () => {
    const c = jwtAuthentication([ra('a', { jwtRules: [{ issuer: 'z', jwks: JWKS, presence: 'REQUIRED' }, { issuer: 'a', jwks: JWKS, presence: 'OPTIONAL' }] })], none);
    expect(c?.rules?.[0]?.requires).toEqual(jwtRequirement(['origins-0', 'origins-1'], new Set(['origins-1'])));
  });
});

describe('keys by URL', () => {
  const uri = 'https://keys.example/jwks.json';

  test('fetched keys are inlined', () => {
    const c = filterConfig([ra('a', { jwtRules: [{ issuer: 'iss', jwksUri: uri }] })], (s) => (s.uri === uri ? { status: 'ok', jwks: FETCHED } : none()));
    expect(c.providers['origins-0']!.local_jwks.inline_string).toBe(FETCHED);
  });

  test('jwks_uri (the proto spelling) and an issuer alone (OpenID discovery) are looked up too', () => {
    const asked: JwksSource[] = [];
    filterConfig([ra('a', { jwtRules: [{ issuer: 'i1', jwks_uri: uri }, { issuer: 'https://i2.example' }] })], (s) => (asked.push(s), none()));
    expect(asked).toEqual([{ issuer: 'https://i2.example' }, { uri }]); // sorted by issuer
  });

  test.each<[string, JwksState]>([
    ['never fetched', { status: 'pending' }],
    ['failing with nothing kept', { status: 'failed', error: 'connect ECONNREFUSED' }],
  ])('%s: keys nobody can sign with (fail closed), stable and distinct per source', (_name, state) => {
    const c = filterConfig([ra('a', { jwtRules: [{ issuer: 'iss', jwksUri: uri }, { issuer: 'other', jwksUri: `${uri}?2` }] })], () => state);
    const [a, b] = [c.providers['origins-0']!.local_jwks.inline_string, c.providers['origins-1']!.local_jwks.inline_string];
    expect(a).toBe(unavailableJwks(uri));
    expect(b).not.toBe(a);
    const key = (JSON.parse(a) as { keys: Array<Record<string, string>> }).keys[0]!;
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: UNAVAILABLE_JWKS_KID });
    // A real point, which Envoy loads (a key it could not would make it refuse the listener).
    expect(envoyJwksProblem(a)).toBeUndefined();
    expect(unavailableJwks(uri)).toBe(a);
  });

  test('jwksSources: one entry per source, the longest timeout of its rules (default 5 s), inline keys need none', () => {
    const wanted = jwksSources([
      ra('a', { jwtRules: [{ issuer: 'i', jwksUri: uri, timeout: '2s' }, { issuer: 'j', jwks: JWKS }] }),
      ra('b', { jwtRules: [{ issuer: 'k', jwks_uri: uri, timeout: '10s' }, { issuer: 'https://disco.example' }] }),
    ]);
    expect([...wanted.entries()]).toEqual([
      [`uri:${uri}`, { source: { uri }, timeoutMs: 10_000 }],
      ['issuer:https://disco.example', { source: { issuer: 'https://disco.example' }, timeoutMs: 5000 }],
    ]);
  });
});

describe('inline keys Envoy cannot load', () => {
  const even = JSON.stringify({ keys: [{ kty: 'RSA', e: 'AQAB', n: Buffer.alloc(256, 0xaa).toString('base64url') }] });

  test('are never sent (Envoy would refuse the listener): keys that verify nothing instead, and the status says so', () => {
    expect(envoyJwksProblem(even)).toBe('no usable key (key 0: the modulus must be odd)');
    const c = filterConfig([ra('a', { jwtRules: [{ issuer: 'iss', jwks: even }, { issuer: 'jss', jwks: JWKS }] })]);
    expect(c.providers['origins-0']!.local_jwks.inline_string).toBe(unavailableJwks('the inline keys of issuer iss'));
    expect(c.providers['origins-1']!.local_jwks.inline_string).toBe(JWKS);
    const store = new ConfigStore();
    const config = ra('bad-keys', { jwtRules: [{ issuer: 'iss', jwks: even }] });
    store.upsert(config);
    expect(warningsFor(config, new Mesh(store, new ServiceRegistry()))).toEqual([
      'spec.jwtRules[0].jwks: Envoy cannot load these keys (no usable key (key 0: the modulus must be odd)); requests with a token of issuer iss are refused (401)',
    ]);
  });

  test.each<[string, string, string | undefined]>([
    ['an RSA, an EC and an HMAC key', JSON.stringify({ keys: [...JSON.parse(JWKS).keys, ...JSON.parse(FETCHED).keys, { kty: 'oct', k: 'c2VjcmV0' }] }), undefined],
    ['not JSON', 'nope', 'not JSON'],
    ['no keys at all', '{"keys":[]}', 'no keys'],
    ['exponent 5', JSON.stringify({ keys: [{ ...JSON.parse(JWKS).keys[0], e: 'BQ' }] }), 'no usable key (key 0: the exponent must be 3 or 65537)'],
    ['an EC point off its curve', JSON.stringify({ keys: [{ ...JSON.parse(FETCHED).keys[0], x: JSON.parse(FETCHED).keys[0].y }] }), 'no usable key (key 0: the point is not on curve P-256)'],
    ['an unsupported kty', '{"keys":[{"kty":"RSA-OAEP"}]}', 'no usable key (key 0: kty "RSA-OAEP" is not supported (RSA, EC, oct, OKP))'],
    ['a single key object, no set', JSON.parse(JWKS).keys[0] && JSON.stringify(JSON.parse(JWKS).keys[0]), 'no "keys" (nor a map of key ids to PEM certificates)'],
  ])('envoyJwksProblem: %s', (_name, jwks, problem) => {
    expect(envoyJwksProblem(jwks)).toBe(problem);
  });
});

describe('in the workload security filters', () => {
  function mesh(configs: AnyConfig[], jwks?: (s: JwksSource) => JwksState): Mesh {
    const store = new ConfigStore();
    for (const c of configs) store.upsert(c);
    return new Mesh(store, new ServiceRegistry(), jwks ? { jwks } : {});
  }
  const policy = config('AuthorizationPolicy', 'default', 'allow', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] });
  const authn = ra('authn', { selector: { matchLabels: { app: 'web' } }, jwtRules: [{ issuer: 'iss', jwksUri: 'http://keys/jwks' }] });

  test('jwt_authn first, then RBAC (which reads the payload it writes)', () => {
    const s = workloadSecurity(mesh([policy, authn]), 'default', { app: 'web' });
    expect(s.http.map((f) => f.name)).toEqual([JWT_AUTHN_FILTER, 'envoy.filters.http.rbac']);
    expect(s.tcp.map((f) => f.name)).toEqual(['envoy.filters.network.rbac']);
  });

  test('a RequestAuthentication alone: the filter and no RBAC; a workload it does not select: nothing', () => {
    expect(workloadSecurity(mesh([authn]), 'default', { app: 'web' }).http.map((f) => f.name)).toEqual([JWT_AUTHN_FILTER]);
    expect(workloadSecurity(mesh([authn]), 'default', { app: 'db' })).toMatchObject({ key: '', http: [], tcp: [] });
  });

  test('the key changes with the policy, and with the fetched keys', () => {
    const key = (configs: AnyConfig[], jwks?: (s: JwksSource) => JwksState) => workloadSecurity(mesh(configs, jwks), 'default', { app: 'web' }).key;
    const base = key([authn]);
    expect(key([authn])).toBe(base);
    expect(key([{ ...authn, resourceVersion: 'next' }])).not.toBe(base);
    const fetched = key([authn], () => ({ status: 'ok', jwks: FETCHED }));
    expect(fetched).not.toBe(base);
    expect(key([authn], () => ({ status: 'ok', jwks: FETCHED, refreshError: 'timeout' }))).toBe(fetched);
    expect(key([authn], () => ({ status: 'ok', jwks: JWKS }))).not.toBe(fetched);
    expect(key([authn], () => ({ status: 'failed', error: 'x' }))).toBe(base);
  });
});

describe('RequestAuthentication status warnings', () => {
  const uri = 'https://keys.example/jwks.json';
  const warn = (spec: RequestAuthenticationSpec, state: JwksState): string[] => {
    const c = ra('authn', spec);
    const store = new ConfigStore();
    store.upsert(c);
    return warningsFor(c, new Mesh(store, new ServiceRegistry(), { jwks: () => state }));
  };

  test('keys that cannot be fetched name the field, the URI, the error and the consequence', () => {
    expect(warn({ jwtRules: [{ issuer: 'iss', jwks: JWKS }, { issuer: 'iss2', jwksUri: uri }] }, { status: 'failed', error: `GET ${uri}: status 503` })).toEqual([
      `spec.jwtRules[1].jwksUri: cannot fetch the JWKS from ${uri}: GET ${uri}: status 503; requests with a token of issuer iss2 are refused (401) until it can be fetched`,
    ]);
    expect(warn({ jwtRules: [{ jwks_uri: uri }] }, { status: 'failed', error: 'boom' })).toEqual([`spec.jwtRules[0].jwks_uri: cannot fetch the JWKS from ${uri}: boom; requests with a token are refused (401) until it can be fetched`]);
    expect(warn({ jwtRules: [{ issuer: 'https://i.example' }] }, { status: 'failed', error: 'boom' })).toEqual([
      'spec.jwtRules[0].issuer: cannot fetch the JWKS of issuer https://i.example (OpenID discovery at https://i.example/.well-known/openid-configuration): boom; requests with a token of issuer https://i.example are refused (401) until it can be fetched',
    ]);
  });

  test('a failing refresh says the last good keys stay in use; fetched keys and a first fetch under way say nothing', () => {
    expect(warn({ jwtRules: [{ issuer: 'iss', jwksUri: uri }] }, { status: 'ok', jwks: FETCHED, fetchedAt: '2025-01-01T00:00:00.000Z', refreshError: 'no answer within 5000 ms' })).toEqual([
      `spec.jwtRules[0].jwksUri: cannot refresh the JWKS from ${uri}: no answer within 5000 ms; the keys fetched at 2025-01-01T00:00:00.000Z are still in use`,
    ]);
    expect(warn({ jwtRules: [{ issuer: 'iss', jwksUri: uri }] }, { status: 'ok', jwks: FETCHED })).toEqual([]);
    expect(warn({ jwtRules: [{ issuer: 'iss', jwksUri: uri }] }, { status: 'pending' })).toEqual([]);
  });
});
