// The CA while running: a new or changed `cacerts` is published beside the old root first and
// signs only after the propagation delay; a malformed one is refused with its Secret, key and
// problem named, and the CA keeps signing; replicas share one record of the roots; a self-signed
// root due for rotation is replaced in place. An in-memory stand-in for the Secrets API here
// (with resourceVersion conflicts); test/integration/ca-controller.test.ts runs it against the
// real API server.
import { X509Certificate } from 'node:crypto';
import { CaController, signingSwitchDelay, TRUST_STATE_KEY, type SecretWatch } from '../../src/ca/ca-controller.js';
import type { Secret } from '../../src/ca/ca-secret.js';
import { createCsr } from '../../src/ca/csr.js';
import { rootsOf } from '../../src/ca/trust-bundle.js';
import { ApiError } from '../../src/kube/rest.js';
import type { Logger } from '../../src/util/logger.js';
import { makePluginCa } from '../support/ca-certs.js';

const NS = 'trellis-system';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const path = (name: string): string => `/api/v1/namespaces/${NS}/secrets/${name}`;

/** Secrets by path with resourceVersions, and watches that hear of every write. */
class FakeSecrets {
  readonly store = new Map<string, Secret>();
  private version = 1;
  /** Writes that fail (the API server unavailable) before the next one succeeds. */
  failWrites = 0;
  private readonly listeners = new Map<string, Array<() => void>>();
  async get<T>(p: string): Promise<T> {
    await new Promise((r) => setImmediate(r));
    const s = this.store.get(p);
    if (!s) throw new ApiError(404, 'NotFound', `GET ${p}: 404`);
    return structuredClone(s) as T;
  }
  async post<T>(p: string, body: unknown): Promise<T> {
    await new Promise((r) => setImmediate(r));
    const s = body as Secret;
    const key = `${p}/${s.metadata!.name}`;
    if (this.store.has(key)) throw new ApiError(409, 'AlreadyExists', `POST ${p}: 409`);
    this.write(key, s);
    return body as T;
  }
  async request<T>(method: string, p: string, body?: unknown): Promise<T> {
    await new Promise((r) => setImmediate(r));
    if (method !== 'PUT') throw new Error(`unexpected ${method}`);
    const s = body as Secret;
    const cur = this.store.get(p);
    if (!cur) throw new ApiError(404, 'NotFound', `PUT ${p}: 404`);
    if (s.metadata?.resourceVersion && s.metadata.resourceVersion !== cur.metadata?.resourceVersion) throw new ApiError(409, 'Conflict', `PUT ${p}: 409`);
    this.write(p, s);
    return body as T;
  }
  set(name: string, data: Record<string, string> | undefined): void {
    if (data === undefined) {
      this.store.delete(path(name));
      this.notify(path(name));
    } else this.write(path(name), { metadata: { name, namespace: NS }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) });
  }
  private write(key: string, s: Secret): void {
    if (this.failWrites > 0 && !key.endsWith('/cacerts')) {
      this.failWrites--;
      throw new ApiError(503, 'ServiceUnavailable', 'the API server is unavailable');
    }
    this.store.set(key, { ...structuredClone(s), metadata: { ...s.metadata, resourceVersion: String(++this.version) } });
    this.notify(key);
  }
  private notify(key: string): void {
    for (const l of this.listeners.get(key) ?? []) l();
  }
  watch = (name: string): SecretWatch => ({
    on: (changed) => this.listeners.set(path(name), [...(this.listeners.get(path(name)) ?? []), changed]),
    get: () => structuredClone(this.store.get(path(name))),
    start: async () => undefined,
    stop: () => this.listeners.delete(path(name)),
  });
}

const logged: Array<{ message: string; fields: Record<string, unknown> }> = [];
const record =
  (level: string) =>
  (message: string, fields: Record<string, unknown> = {}): void =>
    void logged.push({ message: `${level}: ${message}`, fields });
const log = { info: record('info'), warn: record('warn'), error: record('error'), debug: () => undefined } as unknown as Logger;

const DAY = 86_400_000;
const controllers: CaController[] = [];
function controller(api: FakeSecrets, extra: { propagationMs?: number; rotationGraceRatio?: number } = {}): { c: CaController; bundles: string[]; signings: number } {
  const c = new CaController({ kc: undefined as never, rest: api, namespace: NS, trustDomain: 'cluster.local', log, retainMs: DAY, propagationMs: 0, watchSecret: api.watch, ...extra });
  const out = { c, bundles: [] as string[], signings: 0 };
  c.listen({ onBundle: (b) => out.bundles.push(b), onSigning: () => void out.signings++ });
  controllers.push(c);
  return out;
}
/** A controller loaded and watching, and how many bundles it had published by then. */
async function running(api: FakeSecrets, extra: { propagationMs?: number; rotationGraceRatio?: number } = {}): Promise<ReturnType<typeof controller> & { first: Awaited<ReturnType<CaController['load']>>; published: number }> {
  const r = controller(api, extra);
  const first = await r.c.load();
  await r.c.watch();
  return { ...r, first, published: r.bundles.length };
}

afterEach(() => {
  for (const c of controllers.splice(0)) c.stop();
  logged.length = 0;
});

const plugin = (p: ReturnType<typeof makePluginCa>): Record<string, string> => ({ 'ca-cert.pem': p.caCert, 'ca-key.pem': p.caKey, 'root-cert.pem': p.rootCert, 'cert-chain.pem': p.certChain });
const serials = (bundle: string): string[] => rootsOf(bundle).map((r) => new X509Certificate(r).serialNumber);
const serial = (pem: string): string => new X509Certificate(pem).serialNumber;
const issuerOf = async (c: CaController): Promise<string> => {
  const { csrPem } = createCsr('spiffe://cluster.local/ns/a/sa/b');
  const chain = await c.signer.sign(csrPem, { trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b' }, 3600);
  return chain[chain.length - 1];
};

test('the switch waits for new roots to propagate, not for a new intermediate under a trusted root, nor when the current CA cannot sign that long', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const a = makePluginCa();
  const b = makePluginCa();
  const current = { notAfter: new Date('2027-01-01T00:00:00Z'), rootPem: a.rootCert };
  expect(signingSwitchDelay(current, { rootPem: b.rootCert }, now, 120_000)).toBe(120_000);
  expect(signingSwitchDelay(current, { rootPem: b.rootCert + a.rootCert }, now, 120_000)).toBe(120_000);
  expect(signingSwitchDelay(current, { rootPem: a.rootCert }, now, 120_000)).toBe(0);
  expect(signingSwitchDelay({ ...current, notAfter: new Date('2026-12-01T00:01:00Z') }, { rootPem: b.rootCert }, now, 120_000)).toBe(0);
  expect(signingSwitchDelay(undefined, { rootPem: b.rootCert }, now, 120_000)).toBe(0);
});

test('a cacerts created while running: both roots published at once, the new CA signs after the propagation delay', async () => {
  const api = new FakeSecrets();
  const { c, bundles, signings } = controller(api, { propagationMs: 300 });
  const first = await c.load();
  await c.watch();
  expect(serials(c.bundle)).toEqual([serial(first.rootPem)]);
  const p = makePluginCa();
  api.set('cacerts', plugin(p));
  await c.settled();
  expect(serials(c.bundle)).toEqual([serial(p.rootCert), serial(first.rootPem)]);
  expect(bundles.at(-1)).toBe(c.bundle);
  // Still the old CA: workloads have not all got the new root yet.
  expect(await issuerOf(c)).toBe(first.rootPem);
  expect(signings).toBe(0);
  await new Promise((r) => setTimeout(r, 400));
  expect(serial(await issuerOf(c))).toBe(serial(p.rootCert));
  expect(c.ca.certChain.length).toBe(2);
  // The record every replica and restart reads.
  const stored = JSON.parse(Buffer.from(api.store.get(path('trellis-ca-roots'))!.data![TRUST_STATE_KEY], 'base64').toString()) as { current: string[]; retained: Array<{ until: string }> };
  expect(stored.current.map(serial)).toEqual([serial(p.rootCert)]);
  expect(stored.retained).toHaveLength(1);
  expect(Date.parse(stored.retained[0].until) - Date.now()).toBeGreaterThan(DAY - 60_000);
});

test('a malformed cacerts is refused, naming the Secret, the key and the problem; the CA keeps signing with what it had', async () => {
  const api = new FakeSecrets();
  const { c, bundles, first, published } = await running(api);
  const p = makePluginCa();
  const other = makePluginCa();
  api.set('cacerts', { ...plugin(p), 'ca-key.pem': other.caKey });
  await c.settled();
  expect(logged.find((l) => l.message.startsWith('error: refusing the plug-in CA Secret'))?.fields).toMatchObject({ secret: `${NS}/cacerts`, error: expect.stringMatching(/^Secret trellis-system\/cacerts: ca-key.pem: does not match the certificate in ca-cert.pem/) });
  api.set('cacerts', { ...plugin(p), 'root-cert.pem': '' });
  await c.settled();
  expect(logged.filter((l) => l.message.startsWith('error: refusing')).at(-1)?.fields.error).toMatch(/cacerts: root-cert.pem: missing/);
  expect(c.ca).toBe(first);
  expect(bundles.length).toBe(published);
  expect(await issuerOf(c)).toBe(first.rootPem);
});

test('cacerts deleted: back to the self-signed root (both roots trusted meanwhile); istio-ca-secret deleted: put back, not replaced', async () => {
  const api = new FakeSecrets();
  const p = makePluginCa();
  api.set('cacerts', plugin(p));
  const { c } = controller(api);
  await c.load();
  await c.watch();
  expect(serials(c.bundle)).toEqual([serial(p.rootCert)]);
  api.set('cacerts', undefined);
  await c.settled();
  const self = c.ca;
  expect(self.selfSigned).toBe(true);
  expect(serials(c.bundle)).toEqual([serial(self.rootPem), serial(p.rootCert)]);
  api.set('istio-ca-secret', undefined);
  await c.settled();
  expect(c.ca).toBe(self);
  expect(Buffer.from(api.store.get(path('istio-ca-secret'))!.data!['ca-cert.pem'], 'base64').toString()).toBe(self.signingCertPem);
});

test('a new intermediate under the same root signs at once; the bundle does not change', async () => {
  const api = new FakeSecrets();
  const p = makePluginCa();
  api.set('cacerts', plugin(p));
  const { c, bundles } = controller(api, { propagationMs: 60_000 });
  const first = await c.load();
  await c.watch();
  const published = bundles.length;
  // Another intermediate signed by the same root (openssl, as an operator renews one).
  const renewed = makePluginCa({ reuseRoot: p });
  api.set('cacerts', plugin(renewed));
  await c.settled();
  expect(c.ca).not.toBe(first);
  expect(c.ca.signingCertPem).toBe(renewed.caCert);
  expect(bundles.length).toBe(published);
});

test('deleting the trust record drops the previous roots at once (a compromised old root), and it is written again', async () => {
  const api = new FakeSecrets();
  const { c } = controller(api);
  const first = await c.load();
  await c.watch();
  const p = makePluginCa();
  api.set('cacerts', plugin(p));
  await c.settled();
  expect(serials(c.bundle)).toEqual([serial(p.rootCert), serial(first.rootPem)]);
  api.set('trellis-ca-roots', undefined);
  await c.settled();
  expect(serials(c.bundle)).toEqual([serial(p.rootCert)]);
  expect(logged.some((l) => l.message.startsWith('warn: the trust record was deleted'))).toBe(true);
  expect(api.store.has(path('trellis-ca-roots'))).toBe(true);
});

test('when the root cannot be recorded (API server down), nothing changes: the CA keeps signing, and a later event applies it', async () => {
  const api = new FakeSecrets();
  const { c, bundles, first, published } = await running(api);
  const p = makePluginCa();
  api.failWrites = 1;
  api.set('cacerts', plugin(p));
  await c.settled();
  expect(c.ca).toBe(first);
  expect(bundles.length).toBe(published);
  expect(logged.some((l) => l.message.startsWith('error: cannot apply the CA Secrets now'))).toBe(true);
  api.set('cacerts', plugin(p)); // the retry, or any later event
  await c.settled();
  expect(serial(await issuerOf(c))).toBe(serial(p.rootCert));
  expect(serials(c.bundle)).toEqual([serial(p.rootCert), serial(first.rootPem)]);
});

test('two replicas publish the same bundle; a restart during the transition keeps the old root trusted', async () => {
  const api = new FakeSecrets();
  const a = controller(api);
  const b = controller(api);
  const first = await a.c.load();
  await b.c.load();
  await Promise.all([a.c.watch(), b.c.watch()]);
  expect(b.c.ca.rootPem).toBe(first.rootPem);
  const p = makePluginCa();
  api.set('cacerts', plugin(p));
  await Promise.all([a.c.settled(), b.c.settled()]);
  await Promise.all([a.c.settled(), b.c.settled()]);
  expect(a.c.bundle).toBe(b.c.bundle);
  expect(serials(a.c.bundle)).toEqual([serial(p.rootCert), serial(first.rootPem)]);
  const restarted = controller(api);
  await restarted.c.load();
  expect(restarted.c.bundle).toBe(a.c.bundle);
});

test('a self-signed root due for rotation is replaced in istio-ca-secret; the old root stays trusted', async () => {
  const api = new FakeSecrets();
  const { c } = controller(api, { rotationGraceRatio: 1 });
  const first = await c.load();
  await c.watch();
  await c.check();
  await c.settled();
  expect(c.ca.rootPem).not.toBe(first.rootPem);
  expect(Buffer.from(api.store.get(path('istio-ca-secret'))!.data!['ca-cert.pem'], 'base64').toString()).toBe(c.ca.signingCertPem);
  expect(serials(c.bundle)).toEqual([serial(c.ca.rootPem), serial(first.rootPem)]);
  expect(logged.some((l) => l.message.startsWith('info: rotating the self-signed root'))).toBe(true);
});

test('a plug-in CA is never rotated by the control plane', async () => {
  const api = new FakeSecrets();
  const p = makePluginCa();
  api.set('cacerts', plugin(p));
  const { c } = controller(api, { rotationGraceRatio: 1 });
  const first = await c.load();
  await c.watch();
  await c.check();
  expect(c.ca).toBe(first);
  expect(api.store.has(path('istio-ca-secret'))).toBe(false);
});

test('a plug-in root deleted is never copied into istio-ca-secret: a self-signed root of its own is made', async () => {
  const api = new FakeSecrets();
  const p = makePluginCa();
  api.set('cacerts', { 'ca-cert.pem': p.rootCert, 'ca-key.pem': p.rootKey, 'root-cert.pem': p.rootCert });
  const { c } = controller(api);
  const first = await c.load();
  expect(first.selfSigned).toBe(true);
  await c.watch();
  api.set('cacerts', undefined);
  await c.settled();
  const stored = Buffer.from(api.store.get(path('istio-ca-secret'))!.data!['ca-key.pem'], 'base64').toString();
  expect(stored).not.toContain(p.rootKey.split('\n')[1]);
  expect(c.ca.rootPem).not.toBe(first.rootPem);
  expect(serials(c.bundle)).toEqual([serial(c.ca.rootPem), serial(p.rootCert)]);
});
