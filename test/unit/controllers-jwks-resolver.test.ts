// The control plane's JWKS fetching against a real loopback HTTP server: keys fetched and kept,
// failures (error status, unreachable, timeout, not a key set, too large, bad URL) never thrown
// and never echoing what the server said, a failing refresh keeping the last good keys, periodic
// refresh and retry, OpenID discovery, and change notices only when something changed.
import { jest } from '@jest/globals';
import { JwksResolver } from '../../src/controllers/jwks-resolver.js';
import { ConfigStore } from '../../src/model/config-store.js';
import { ServiceRegistry } from '../../src/model/services.js';
import { MeshSource, ModelChanges } from '../../src/push/changes.js';
import type { Change } from '../../src/push/push-queue.js';
import { TypeUrl } from '../../src/xds/types.js';
import { jwksSourceKey, type JwksSource, type WantedJwks } from '../../src/model/jwks.js';
import { setLogLevel } from '../../src/util/logger.js';
import fs from 'node:fs';
import { makeServingCert } from '../support/certs.js';
import { makeIssuer, startKeyServer, type KeyServer } from '../support/jwt.js';
import { waitFor } from '../support/envoy.js';

beforeAll(() => setLogLevel('error'));

const want = (...sources: Array<JwksSource & { timeoutMs?: number }>): Map<string, WantedJwks> =>
  new Map(sources.map(({ timeoutMs, ...source }) => [jwksSourceKey(source as JwksSource), { source: source as JwksSource, timeoutMs: timeoutMs ?? 5000 }]));

describe('JwksResolver', () => {
  let server: KeyServer;
  let resolver: JwksResolver;
  let changes: Array<{ keys: boolean }>;
  const a = makeIssuer('RS256');
  const b = makeIssuer('ES256');
  const compact = (jwks: string) => JSON.stringify(JSON.parse(jwks));

  beforeEach(async () => {
    server = await startKeyServer();
    changes = [];
  });
  afterEach(async () => {
    resolver?.close();
    await server.close();
  });
  const start = (opts: Partial<ConstructorParameters<typeof JwksResolver>[0]> = {}) => (resolver = new JwksResolver({ onChange: (c) => changes.push(c), ...opts }));

  test('fetches a new source at once, holds its keys (compact JSON) and says the keys changed', async () => {
    server.set('/jwks', `  ${a.jwks}\n`);
    start();
    const uri = server.url('/jwks');
    expect(resolver.state({ uri })).toEqual({ status: 'pending' });
    resolver.sync(want({ uri }));
    await resolver.idle();
    expect(resolver.state({ uri })).toMatchObject({ status: 'ok', jwks: compact(a.jwks) });
    expect(changes).toEqual([{ keys: true }]);
  });

  test.each<[string, (s: KeyServer) => string, RegExp]>([
    ['an error status (the body is not repeated)', (s) => (s.set('/jwks', { status: 503, body: 'internal secret page' }), s.url('/jwks')), /^GET http:\/\/127\.0\.0\.1:\d+\/jwks: status 503$/],
    ['a body that is not JSON (not repeated either)', (s) => (s.set('/jwks', '<html>internal secret page</html>'), s.url('/jwks')), /the response is not JSON$/],
    ['JSON that is not a key set', (s) => (s.set('/jwks', '{"keys":[{"kty":"RSA"}]}'), s.url('/jwks')), /not a key set Envoy can use: no usable key \(key 0: an RSA key needs "n" and "e"\)$/],
    ['keys Envoy would refuse (an even modulus)', (s) => (s.set('/jwks', JSON.stringify({ keys: [{ kty: 'RSA', e: 'AQAB', n: Buffer.alloc(256, 0xaa).toString('base64url') }] })), s.url('/jwks')), /the modulus must be odd\)$/],
    ['a response over the size limit', (s) => (s.set('/jwks', JSON.stringify({ keys: [], pad: 'x'.repeat(5000) })), s.url('/jwks')), /larger than 4096 bytes/],
    ['an unreachable server', () => 'http://127.0.0.1:1/jwks', /ECONNREFUSED/],
    ['a URL that is not one', () => 'http//missing-colon', /is not a URL/],
    ['another scheme', () => 'ftp://127.0.0.1/jwks', /is not an http or https URL/],
  ])('%s: failed, with the reason, never thrown', async (_name, setup, reason) => {
    start({ maxBytes: 4096 });
    const uri = setup(server);
    resolver.sync(want({ uri }));
    await resolver.idle();
    const state = resolver.state({ uri });
    expect(state.status).toBe('failed');
    expect(state.status === 'failed' && state.error).toMatch(reason);
    expect(JSON.stringify(state)).not.toMatch(/secret/);
    // Nothing to push (the stand-in keys are the same), but the status has news.
    expect(changes).toEqual([{ keys: false }]);
  });

  test('a server that does not answer within the rule’s timeout', async () => {
    server.set('/slow', 'hang');
    start();
    const uri = server.url('/slow');
    resolver.sync(want({ uri, timeoutMs: 200 }));
    await resolver.idle();
    expect(resolver.state({ uri })).toEqual({ status: 'failed', error: `GET ${uri}: no answer within 200 ms` });
  });

  test('a failing refresh keeps the last good keys (and says why); the next success clears it; the same keys again are no change', async () => {
    server.set('/jwks', a.jwks);
    start();
    const uri = server.url('/jwks');
    resolver.sync(want({ uri }));
    await resolver.idle();
    server.set('/jwks', { status: 500, body: 'oops' });
    await resolver.refreshAll();
    expect(resolver.state({ uri })).toMatchObject({ status: 'ok', jwks: compact(a.jwks), refreshError: `GET ${uri}: status 500` });
    expect(changes).toEqual([{ keys: true }, { keys: false }]);
    server.set('/jwks', JSON.stringify(JSON.parse(a.jwks), null, 2));
    await resolver.refreshAll();
    expect(resolver.state({ uri })).toEqual(expect.objectContaining({ status: 'ok', jwks: compact(a.jwks) }));
    expect(resolver.state({ uri })).not.toHaveProperty('refreshError');
    expect(changes).toEqual([{ keys: true }, { keys: false }, { keys: false }]);
    await resolver.refreshAll();
    expect(changes).toHaveLength(3);
  });

  test('rotated keys are a change of keys', async () => {
    server.set('/jwks', a.jwks);
    start();
    const uri = server.url('/jwks');
    resolver.sync(want({ uri }));
    await resolver.idle();
    server.set('/jwks', b.jwks);
    await resolver.refreshAll();
    expect(resolver.state({ uri })).toMatchObject({ status: 'ok', jwks: compact(b.jwks) });
    expect(changes).toEqual([{ keys: true }, { keys: true }]);
  });

  test('keys not refreshed for longer than the staleness limit are dropped (fail closed)', async () => {
    server.set('/jwks', a.jwks);
    start({ maxStaleMs: 0 });
    const uri = server.url('/jwks');
    resolver.sync(want({ uri }));
    await resolver.idle();
    server.set('/jwks', { status: 404, body: '' });
    await resolver.refreshAll();
    expect(resolver.state({ uri })).toMatchObject({ status: 'failed' });
    expect(changes).toEqual([{ keys: true }, { keys: true }]);
  });

  test('refreshes on its own: periodically after a success, sooner (then backing off) after a failure', async () => {
    server.set('/jwks', { status: 500, body: '' });
    start({ refreshMs: 100, retryMs: 50, maxRetryMs: 100 });
    const uri = server.url('/jwks');
    resolver.sync(want({ uri }));
    await waitFor('retries', () => server.hits('/jwks') >= 3, 5000, 10);
    server.set('/jwks', a.jwks);
    await waitFor('the keys after a retry', () => resolver.state({ uri }).status === 'ok', 5000, 10);
    server.set('/jwks', b.jwks);
    await waitFor('the rotated keys after a refresh', () => resolver.state({ uri }).status === 'ok' && (resolver.state({ uri }) as { jwks: string }).jwks === compact(b.jwks), 5000, 10);
    expect(changes.filter((c) => c.keys)).toHaveLength(2);
  });

  test('redirects are followed (at most 10)', async () => {
    server.set('/jwks', a.jwks);
    server.set('/moved', { status: 302, body: '', headers: { location: '/jwks' } });
    server.set('/loop', { status: 301, body: '', headers: { location: server.url('/loop') } });
    start();
    resolver.sync(want({ uri: server.url('/moved') }, { uri: server.url('/loop') }));
    await resolver.idle();
    expect(resolver.state({ uri: server.url('/moved') })).toMatchObject({ status: 'ok', jwks: compact(a.jwks) });
    expect(resolver.state({ uri: server.url('/loop') })).toMatchObject({ status: 'failed', error: expect.stringMatching(/stopped after 10 redirects$/) });
    expect(server.hits('/loop')).toBe(11);
  });

  test('https: the server certificate is verified (system CAs, plus extraCa)', async () => {
    const certs = makeServingCert(['IP:127.0.0.1']);
    const secure = await startKeyServer('127.0.0.1', { cert: certs.cert, key: certs.key });
    try {
      secure.set('/jwks', a.jwks);
      const uri = secure.url('/jwks');
      start();
      resolver.sync(want({ uri }));
      await resolver.idle();
      expect(resolver.state({ uri })).toMatchObject({ status: 'failed', error: expect.stringMatching(/certificate/) });
      resolver.close();
      start({ extraCa: certs.caCert });
      resolver.sync(want({ uri }));
      await resolver.idle();
      expect(resolver.state({ uri })).toMatchObject({ status: 'ok', jwks: compact(a.jwks) });
    } finally {
      await secure.close();
      fs.rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  test('OpenID discovery: an issuer alone leads to the jwks_uri of its configuration document', async () => {
    server.set('/jwks', a.jwks);
    const issuer = server.url('/realm');
    server.set('/realm/.well-known/openid-configuration', JSON.stringify({ issuer, jwks_uri: server.url('/jwks') }));
    start();
    resolver.sync(want({ issuer }, { issuer: server.url('/none') }));
    await resolver.idle();
    expect(resolver.state({ issuer })).toMatchObject({ status: 'ok', jwks: compact(a.jwks) });
    expect(resolver.state({ issuer: server.url('/none') })).toMatchObject({ status: 'failed', error: expect.stringMatching(/openid-configuration: status 404$/) });
  });

  test('sync drops sources no policy uses any more, and never fetches them again', async () => {
    server.set('/jwks', a.jwks);
    start({ refreshMs: 50 });
    const uri = server.url('/jwks');
    resolver.sync(want({ uri }));
    await resolver.idle();
    resolver.sync(want());
    expect(resolver.state({ uri })).toEqual({ status: 'pending' });
    const hits = server.hits('/jwks');
    await new Promise((r) => setTimeout(r, 200));
    expect(server.hits('/jwks')).toBe(hits);
  });

  test('after close, nothing is fetched or reported', async () => {
    server.set('/slow', 'hang');
    const onChange = jest.fn();
    resolver = new JwksResolver({ onChange });
    resolver.sync(want({ uri: server.url('/slow'), timeoutMs: 100 }));
    resolver.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(onChange).not.toHaveBeenCalled();
  });
});

describe('a change of fetched keys, as the composition root wires it (ModelChanges.onJwksChange)', () => {
  function wired() {
    const mesh = new MeshSource(new ConfigStore(), new ServiceRegistry());
    const queued: Change[] = [];
    const settled = jest.fn();
    const changes = new ModelChanges({ mesh, queue: { enqueue: (c) => queued.push(c) }, connected: () => [], onSettled: settled, settleMs: 10 });
    return { mesh, queued, settled, changes };
  }

  test('new keys: a new mesh, listeners pushed, statuses re-checked', async () => {
    const { mesh, queued, settled, changes } = wired();
    const before = mesh.current();
    changes.onJwksChange({ keys: true });
    expect(mesh.current()).not.toBe(before);
    expect(queued).toEqual([{ reason: 'jwks', types: [TypeUrl.Listener] }]);
    await waitFor('statuses re-checked', () => settled.mock.calls.length === 1, 1000, 5);
    changes.close();
  });

  test('only what a status says: no push, statuses re-checked', async () => {
    const { queued, settled, changes } = wired();
    changes.onJwksChange({ keys: false });
    expect(queued).toEqual([]);
    await waitFor('statuses re-checked', () => settled.mock.calls.length === 1, 1000, 5);
    changes.close();
  });
});
