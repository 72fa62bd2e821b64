// RequestAuthentication with the real Envoy: a sidecar's inbound HTTP chain (taken from the
// translated virtualInbound listener and bound on loopback, since nothing redirects traffic
// here) in front of an app on 127.0.0.1, configured over ADS by the xDS server from a mesh
// holding RequestAuthentications and AuthorizationPolicies, with the control plane's JWKS
// resolver fetching keys from a loopback key server. Tokens are real RS256 / ES256 JWTs signed
// with node:crypto. What a client sees: a valid token passes and its claims reach RBAC and the
// app; no token passes unless a policy asks for a request principal (then RBAC says 403); an
// expired, wrongly signed or unknown-issuer token is refused (401; a wrong audience, 403 as
// Envoy answers it); keys served
// at a jwksUri work and rotate with a push; a jwksUri that cannot be fetched refuses its tokens.
import { jest } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { RequestAuthenticationSpec } from '../../src/api/request-authentication.js';
import { JwksResolver } from '../../src/controllers/jwks-resolver.js';
import { ConfigStore, type AnyConfig, type Config } from '../../src/model/config-store.js';
import { jwksSources } from '../../src/model/jwks.js';
import { Mesh } from '../../src/model/mesh.js';
import { buildSources, config, type ServiceFixture } from '../support/mesh-fixtures.js';
import { JWT_AUTHN_TYPE, UNAVAILABLE_JWKS_KID, unavailableJwks } from '../../src/translate/jwt-authn.js';
import { envoyJwksProblem } from '../../src/model/jwks-keys.js';
import { httpConnectionManagerFilter } from '../../src/translate/filters.js';
import { makeServingCert } from '../support/certs.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { VIRTUAL_INBOUND_LISTENER, inboundClusterName } from '../../src/translate/names.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { EncodedResource } from '../../src/xds/encoded-resource.js';
import { encodeMessage, packAny } from '../../src/xds/protos.js';
import { bootstrap, Envoy, freePort, sleep, staticResourcesBootstrap, validateBootstrap } from '../support/envoy.js';
import { messageName, TypeUrl, type Listener } from '../../src/xds/types.js';
import { decoded, sidecar } from '../support/mesh-fixtures.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { INBOUND_RBAC_FILTERS } from '../../src/translate/authz-chain.js';
import { inboundRouteConfiguration } from '../../src/translate/listeners-inbound.js';
import { workloadSecurity } from '../../src/translate/workload-security.js';
import { epoch, makeIssuer, startKeyServer, type Issuer, type KeyServer } from '../support/jwt.js';
import { withInboundChainOnLoopback } from '../support/inbound-chain.js';

jest.setTimeout(180_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const NODE_ID = `sidecar~127.0.0.1~web-0.${NS}~${NS}.svc.cluster.local`;
const ISSUER_INLINE = 'https://inline.example';
const ISSUER_URI = 'https://fetched.example';
const ISSUER_DOWN = 'https://unreachable.example';

interface Reply {
  status: number;
  body: string;
}

function get(port: number, headers: Record<string, string> = {}, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000, headers: { host: 'web', ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

test('envoy --mode validate accepts the filter with every rule field, several policies and REQUIRED presence', async () => {
  const issuer = makeIssuer('RS256');
  const { store, registry } = buildSources(
    [{ namespace: NS, name: 'web', clusterIP: '10.96.0.80', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }], endpoints: [{ address: '10.0.0.5', labels: { app: 'web' } }] }],
    [
      config('RequestAuthentication', NS, 'full', {
        jwtRules: [
          {
            issuer: 'https://a.example',
            audiences: ['x', 'y'],
            jwks: issuer.jwks,
            fromHeaders: [{ name: 'x-token', prefix: 'Token ' }, { name: 'authorization', prefix: 'Bearer ' }],
            fromParams: ['tok'],
            fromCookies: ['session'],
            forwardOriginalToken: true,
            outputPayloadToHeader: 'x-payload',
            outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
            spaceDelimitedClaims: ['roles'],
            presence: 'REQUIRED',
          },
          { issuer: 'https://b.example', jwksUri: 'https://keys.example/jwks.json', timeout: '2s' },
        ],
      }),
      config('RequestAuthentication', 'trellis-system', 'mesh-wide', { jwtRules: [{ issuer: 'https://c.example' }] }),
      config('AuthorizationPolicy', NS, 'p', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], when: [{ key: 'request.auth.claims[roles]', values: ['admin'] }] }] }),
    ],
  );
  const snapshot = sidecarSnapshot(new Mesh(store, registry), sidecar(NS, { app: 'web' }, '10.0.0.5'));
  const listeners = [...(snapshot[TypeUrl.Listener]?.values() ?? [])];
  const inbound = listeners.find((l) => l.name === VIRTUAL_INBOUND_LISTENER);
  const hcm = decoded(inbound?.filter_chains?.find((c) => c.name === inboundClusterName(8080))?.filters?.[0]?.typed_config) as { http_filters: Array<{ name: string }> };
  expect(hcm.http_filters.map((f) => f.name).slice(0, 2)).toEqual(['envoy.filters.http.jwt_authn', INBOUND_RBAC_FILTERS.AUDIT]);
  // The inbound RBAC rules travel with the routes (RDS): validated here in an extra listener
  // whose connection manager carries that route configuration inline.
  const mesh = new Mesh(store, registry);
  const security = workloadSecurity(mesh, NS, { app: 'web' });
  expect(Object.keys(security.inboundPerRoute)).toEqual([INBOUND_RBAC_FILTERS.ALLOW]);
  const port = { port: 8080, protocol: 'HTTP' } as Parameters<typeof inboundRouteConfiguration>[0];
  const inlineRoutes: Listener = {
    name: 'validate-inbound-routes',
    address: { socket_address: { address: '127.0.0.1', port_value: 15999 } },
    filter_chains: [{ filters: [httpConnectionManagerFilter('inbound|8080||', inboundRouteConfiguration(port, security), 'inbound', security.inboundHttp)] }],
  };
  listeners.push(inlineRoutes);
  const encoded = <T extends TypeUrl>(t: T, items: readonly { name?: string }[]) => items.map((x) => new EncodedResource(t, x.name ?? '', encodeMessage(messageName(t), x)));
  const r = await validateBootstrap({
    binary: staticResourcesBootstrap({ listeners: encoded(TypeUrl.Listener, listeners), clusters: encoded(TypeUrl.Cluster, [...(snapshot[TypeUrl.Cluster]?.values() ?? [])]) }),
    json: bootstrap({ nodeId: NODE_ID, xdsPort: 15010 }),
  });
  expect(r.output).toMatch(/OK/);
  expect(r.code).toBe(0);
});

describe('which key sets Envoy loads: envoyJwksProblem agrees with envoy --mode validate', () => {
  const rsa = JSON.parse(makeIssuer('RS256', 'r').jwks) as { keys: Array<Record<string, string>> };
  const ec = JSON.parse(makeIssuer('ES256', 'e').jwks) as { keys: Array<Record<string, string>> };
  const other = JSON.parse(makeIssuer('ES256', 'o').jwks) as { keys: Array<Record<string, string>> };
  const rsaKey = rsa.keys[0]!;
  const ecKey = ec.keys[0]!;
  const set = (...keys: unknown[]) => JSON.stringify({ keys });
  const evenModulus = (() => {
    const n = Buffer.from(rsaKey.n!, 'base64url');
    n[n.length - 1] = n[n.length - 1]! & 0xfe;
    return n.toString('base64url');
  })();
  /** An odd modulus of exactly `bits` bits. */
  const modulusOf = (bits: number): string => {
    const b = Buffer.alloc(bits / 8, 0xab);
    b[0] = 0xc1;
    return b.toString('base64url');
  };
  const certs = makeServingCert(['DNS:keys.example']);
  afterAll(() => fs.rmSync(certs.dir, { recursive: true, force: true }));

  test.each<[string, () => string]>([
    ['an RSA key', () => set(rsaKey)],
    ['an EC P-256 key', () => set(ecKey)],
    ['an EC P-384 key', () => set({ ...crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }), kid: 'p384' })],
    ['an Ed25519 key', () => set({ ...crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'ed' })],
    ['an HMAC key', () => set({ kty: 'oct', k: 'c2VjcmV0LWtleQ', alg: 'HS256' })],
    ['a 512-bit modulus', () => set({ kty: 'RSA', n: modulusOf(512), e: 'AQAB' })],
    ['a 16384-bit modulus', () => set({ kty: 'RSA', n: modulusOf(16384), e: 'Aw' })],
    ['an RSA key for PS256', () => set({ ...rsaKey, alg: 'PS256' })],
    ['a bad key, then a good one (the bad one skipped)', () => set({ ...rsaKey, e: 'BQ' }, rsaKey)],
    ['a good key, then one of an unknown kty', () => set(rsaKey, { kty: 'foo' })],
    ['base64url with its padding', () => set({ kty: 'oct', k: 'c2VjcmV0LWtleQ==' })],
    ['a 504-bit modulus', () => set({ kty: 'RSA', n: modulusOf(504), e: 'AQAB' })],
    ['a 16392-bit modulus', () => set({ kty: 'RSA', n: modulusOf(16392), e: 'AQAB' })],
    ['non-objects among the keys (skipped)', () => set('x', 3, rsaKey)],
    ['a non-string alg (ignored)', () => set({ ...rsaKey, alg: 5 })],
    ['PEM certificates by key id', () => JSON.stringify({ cert1: certs.cert })],
    ['the stand-in for keys that cannot be fetched', () => unavailableJwks('https://keys.example/jwks.json')],
    ['an even modulus', () => set({ ...rsaKey, n: evenModulus })],
    ['exponent 5', () => set({ ...rsaKey, e: 'BQ' })],
    ['an RSA key for ES256', () => set({ ...rsaKey, alg: 'ES256' })],
    ['an HMAC key for RS256', () => set({ kty: 'oct', k: 'c2VjcmV0LWtleQ', alg: 'RS256' })],
    ['standard base64 (not URL-safe)', () => set({ kty: 'oct', k: 'ab+/' })],
    ['wrong padding', () => set({ ...rsaKey, e: 'AQAB==' })],
    ['a non-string kty', () => set({ ...rsaKey, kty: 5 })],
    ['a point off the curve', () => set({ ...ecKey, y: other.keys[0]!.y })],
    ['an unsupported curve', () => set({ ...ecKey, crv: 'secp256k1' })],
    ['alg and curve that disagree', () => set({ ...ecKey, alg: 'ES384' })],
    ['an Ed25519 key of 31 bytes', () => set({ kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31, 1).toString('base64url') })],
    ['an unknown kty', () => set({ kty: 'foo' })],
    ['no keys', () => set()],
    ['keys that are not a list', () => JSON.stringify({ keys: 'x' })],
    ['neither keys nor certificates', () => JSON.stringify({ kid: 'x' })],
    ['a list, not an object', () => '[]'],
    ['only bad keys', () => set({ ...rsaKey, e: 'BQ' }, { kty: 'foo' })],
  ])('%s', async (_name, jwks) => {
    const text = jwks();
    const filter = { name: 'envoy.filters.http.jwt_authn', typed_config: packAny(JWT_AUTHN_TYPE, { providers: { p: { issuer: 'i', local_jwks: { inline_string: text } } }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] }) };
    const listener: Listener = {
      name: 'validate_jwks',
      address: { socket_address: { address: '127.0.0.1', port_value: 30000 } },
      filter_chains: [{ filters: [httpConnectionManagerFilter('v', { name: 'r', virtual_hosts: [] }, 'inbound', [filter])] }],
    };
    const r = await validateBootstrap({ binary: staticResourcesBootstrap({ listeners: [new EncodedResource(TypeUrl.Listener, 'validate_jwks', encodeMessage(messageName(TypeUrl.Listener), listener))] }), json: bootstrap({ nodeId: NODE_ID, xdsPort: 15010 }) });
    const envoyLoads = r.code === 0;
    const problem = envoyJwksProblem(text);
    expect({ envoyLoads, problem: problem ?? null, output: envoyLoads ? '' : r.output.slice(-300) }).toEqual({ envoyLoads: problem === undefined, problem: problem ?? null, output: envoyLoads ? '' : expect.stringContaining('invalid local jwks') });
  });
});

describe('RequestAuthentication with the real Envoy', () => {
  let app: http.Server;
  let appPort: number;
  let keys: KeyServer;
  let server: XdsServer;
  let envoy: Envoy;
  let resolver: JwksResolver;
  let testPort: number;
  let configs: AnyConfig[] = [];
  let current: Mesh;
  const inline = makeIssuer('RS256', 'inline-key');
  let fetched: Issuer = makeIssuer('ES256', 'fetched-key');
  const forger = makeIssuer('RS256', 'inline-key'); // same kid, another private key

  const services = (): ServiceFixture[] => [{ namespace: NS, name: 'web', clusterIP: '10.96.0.80', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', labels: { app: 'web' } }] }];

  /** The mesh of `configs`, reading the resolver's keys (rebuilt on every change, as MeshSource does). */
  function rebuild(): void {
    const { store, registry } = buildSources(services(), configs);
    current = new Mesh(store as ConfigStore, registry, { jwks: (s) => resolver.state(s) });
  }

  /** Applies new configs as the control plane does: the resolver follows the RequestAuthentications, then a push. */
  async function apply(next: AnyConfig[]): Promise<void> {
    configs = next;
    resolver.sync(jwksSources(configs.filter((c) => c.kind === 'RequestAuthentication') as Config<RequestAuthenticationSpec>[]));
    await resolver.idle();
    rebuild();
    await server.push({ reason: 'config' });
  }

  const authn = (): AnyConfig =>
    config('RequestAuthentication', NS, 'web-jwt', {
      selector: { matchLabels: { app: 'web' } },
      jwtRules: [
        { issuer: ISSUER_INLINE, audiences: ['web'], jwks: inline.jwks, outputClaimToHeaders: [{ header: 'x-jwt-group', claim: 'group' }] },
        { issuer: ISSUER_URI, jwksUri: keys.url('/keys/jwks.json') },
        { issuer: ISSUER_DOWN, jwksUri: 'http://127.0.0.1:1/jwks.json', timeout: '1s' },
      ],
    });
  const claims = (iss = ISSUER_INLINE, extra: Record<string, unknown> = {}) => ({ iss, sub: 'alice', aud: 'web', iat: epoch(-10), exp: epoch(3600), group: 'admins', ...extra });

  beforeAll(async () => {
    app = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`app group=${String(req.headers['x-jwt-group'] ?? '-')}`));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appPort = (app.address() as net.AddressInfo).port;
    testPort = await freePort();
    keys = await startKeyServer();
    keys.set('/keys/jwks.json', fetched.jwks);
    // As in main.ts: new keys rebuild the mesh and push listeners.
    resolver = new JwksResolver({
      onChange: ({ keys: changed }) => {
        rebuild();
        if (changed) void server.push({ reason: 'jwks', types: [TypeUrl.Listener] });
      },
    });
    rebuild();
    const sidecars = new MeshSnapshotProvider(() => current, { inboundPort: await freePort(), outboundPort: await freePort() });
    // The sidecar's inbound HTTP chain for the app's port, on a loopback port of its own.
    server = new XdsServer({ provider: withInboundChainOnLoopback(sidecars, inboundClusterName(appPort), testPort) });
    const xdsPort = await server.listen('127.0.0.1:0');
    const boot = bootstrap({ nodeId: NODE_ID, xdsPort });
    Object.assign(boot.node as object, { metadata: { LABELS: { app: 'web' }, NAMESPACE: NS } });
    envoy = await Envoy.start(boot);
    await apply([authn()]);
  });

  afterAll(async () => {
    resolver?.close();
    await envoy?.stop();
    await server?.close();
    await keys?.close();
    await new Promise((r) => app?.close(r));
  });

  /** Waits until Envoy answers `probe` as expected (a push takes a moment to apply). */
  async function until(what: string, probe: () => Promise<Reply>, status: number): Promise<void> {
    await envoy.eventually(what, async () => (await probe().catch(() => undefined))?.status === status);
  }

  test('Envoy takes the jwt_authn filter (nothing rejected) before RBAC on the inbound chain', async () => {
    await until('the inbound chain with jwt_authn', () => get(testPort, bearer('not-a-jwt')), 401);
    expect(await envoy.stat('listener_manager.lds.update_rejected')).toBe(0);
  });

  describe('no AuthorizationPolicy: authentication alone', () => {
    test('no token passes: nothing requires a request principal', async () => {
      expect(await get(testPort)).toEqual({ status: 200, body: 'app group=-' });
    });

    test('a valid token (RS256, inline keys) passes, and its claim reaches the app as configured', async () => {
      expect(await get(testPort, bearer(inline.sign(claims())))).toEqual({ status: 200, body: 'app group=admins' });
      // Envoy's default locations: the access_token query parameter too.
      expect((await get(testPort, {}, `/?access_token=${inline.sign(claims())}`)).status).toBe(200);
    });

    test.each<[string, () => string]>([
      ['expired', () => inline.sign(claims(ISSUER_INLINE, { exp: epoch(-3600), iat: epoch(-7200) }))],
      ['signed with another key under the same kid', () => forger.sign(claims())],
      ['from an issuer no rule names', () => inline.sign(claims('https://stranger.example'))],
      ['not a JWT at all', () => 'garbage'],
    ])('a token %s is refused with 401', async (_name, token) => {
      const r = await get(testPort, bearer(token()));
      expect(r.status).toBe(401);
      expect(r.body).toMatch(/Jwt|Jwks/);
    });

    test('a token for another audience is refused too: Envoy (so Istio) answers 403 for that one', async () => {
      expect(await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { aud: 'elsewhere' }))))).toEqual({ status: 403, body: 'Audiences in Jwt are not allowed' });
      expect((await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { aud: ['elsewhere', 'web'] }))))).status).toBe(200);
    });

    test('keys served at a jwksUri (ES256, fetched by the control plane) verify their tokens', async () => {
      expect(resolver.state({ uri: keys.url('/keys/jwks.json') }).status).toBe('ok');
      expect((await get(testPort, bearer(fetched.sign(claims(ISSUER_URI))))).status).toBe(200);
      expect((await get(testPort, bearer(inline.sign(claims(ISSUER_URI))))).status).toBe(401);
    });

    test('a jwksUri that cannot be fetched: its tokens are refused (401), requests without a token still pass', async () => {
      expect(resolver.state({ uri: 'http://127.0.0.1:1/jwks.json' })).toMatchObject({ status: 'failed', error: expect.stringMatching(/ECONNREFUSED/) });
      const r = await get(testPort, bearer(inline.sign(claims(ISSUER_DOWN))));
      expect(r.status).toBe(401);
      // Not even a token naming the stand-in key: nobody holds its private key.
      expect((await get(testPort, bearer(makeIssuer('ES256', UNAVAILABLE_JWKS_KID).sign(claims(ISSUER_DOWN)))))).toMatchObject({ status: 401, body: 'Jwt verification fails' });
      expect((await get(testPort)).status).toBe(200);
    });

    test('rotated keys at the jwksUri reach Envoy with the next refresh and push', async () => {
      const old = fetched;
      fetched = makeIssuer('ES256', 'fetched-key-2');
      keys.set('/keys/jwks.json', fetched.jwks);
      await resolver.refreshAll();
      await until('the new key accepted', () => get(testPort, bearer(fetched.sign(claims(ISSUER_URI)))), 200);
      expect((await get(testPort, bearer(old.sign(claims(ISSUER_URI))))).status).toBe(401);
    });

    test('a key server that fails later: the last good keys stay in use', async () => {
      keys.set('/keys/jwks.json', { status: 500, body: 'down' });
      await resolver.refreshAll();
      expect(resolver.state({ uri: keys.url('/keys/jwks.json') })).toMatchObject({ status: 'ok', refreshError: expect.stringMatching(/status 500/) });
      await sleep(1500);
      expect((await get(testPort, bearer(fetched.sign(claims(ISSUER_URI))))).status).toBe(200);
      keys.set('/keys/jwks.json', fetched.jwks);
    });
  });

  describe('with AuthorizationPolicies reading the token', () => {
    test('ALLOW when request.auth.claims[group] is admins (or scope has write): the verified claims decide', async () => {
      await apply([
        authn(),
        config('AuthorizationPolicy', NS, 'admins', {
          selector: { matchLabels: { app: 'web' } },
          rules: [{ when: [{ key: 'request.auth.claims[group]', values: ['admins'] }] }, { when: [{ key: 'request.auth.claims[scope]', values: ['write'] }] }],
        }),
      ]);
      await until('RBAC on the chain', () => get(testPort), 403);
      const denied = await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { group: 'users' }))));
      expect(denied).toEqual({ status: 403, body: 'RBAC: access denied' });
      expect(await get(testPort, bearer(inline.sign(claims())))).toEqual({ status: 200, body: 'app group=admins' });
      // scope is space-delimited: "read write" holds the element write.
      expect((await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { group: 'users', scope: 'read write' })))))).toMatchObject({ status: 200 });
      expect((await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { group: 'users', scope: 'read' })))))).toMatchObject({ status: 403 });
      // A claim the token does not really carry (a forged signature) never reaches RBAC.
      expect((await get(testPort, bearer(forger.sign(claims())))).status).toBe(401);
    });

    test('ALLOW requestPrincipals ["*"]: no token is denied by RBAC (403), any valid token passes', async () => {
      await apply([authn(), config('AuthorizationPolicy', NS, 'any-user', { selector: { matchLabels: { app: 'web' } }, rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })]);
      await until('RBAC requiring a principal', () => get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { group: 'users' })))), 200);
      expect(await get(testPort)).toEqual({ status: 403, body: 'RBAC: access denied' });
      expect((await get(testPort, bearer(fetched.sign(claims(ISSUER_URI))))).status).toBe(200);
      expect((await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { exp: epoch(-3600) }))))).status).toBe(401);
    });

    test('requestPrincipals naming issuer/subject: only that principal passes', async () => {
      await apply([authn(), config('AuthorizationPolicy', NS, 'alice', { selector: { matchLabels: { app: 'web' } }, rules: [{ from: [{ source: { requestPrincipals: [`${ISSUER_INLINE}/alice`] } }] }] })]);
      await until('RBAC naming alice', () => get(testPort, bearer(fetched.sign(claims(ISSUER_URI)))), 403);
      expect((await get(testPort, bearer(inline.sign(claims())))).status).toBe(200);
      expect((await get(testPort, bearer(inline.sign(claims(ISSUER_INLINE, { sub: 'bob' }))))).status).toBe(403);
    });
  });

  describe('presence REQUIRED', () => {
    test('a request without the token is refused with 401, with it passes', async () => {
      const spec = authn().spec as RequestAuthenticationSpec;
      await apply([config('RequestAuthentication', NS, 'web-jwt', { ...spec, jwtRules: spec.jwtRules!.map((r) => (r.issuer === ISSUER_INLINE ? { ...r, presence: 'REQUIRED' as const } : r)) })]);
      await until('the token required', () => get(testPort), 401);
      expect((await get(testPort, bearer(inline.sign(claims())))).status).toBe(200);
      // A valid token of another rule does not stand in for the required one.
      expect((await get(testPort, bearer(fetched.sign(claims(ISSUER_URI))))).status).toBe(401);
    });
  });

  test('no RequestAuthentication any more: tokens are not looked at', async () => {
    await apply([]);
    await until('no jwt_authn', () => get(testPort, bearer('garbage')), 200);
  });
});
