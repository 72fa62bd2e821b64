// Which CA the control plane signs with: the plug-in `cacerts` when it exists (validated, errors
// naming the Secret and key), else the self-signed root of istio-ca-secret, created once; two
// replicas racing to create it end up with the same root. An in-memory stand-in for the Secrets
// API here; test/integration/ca-secret.test.ts runs the same against the real API server.
import { X509Certificate } from 'node:crypto';
import { loadOrCreateCa } from '../../src/ca/ca-secret.js';
import { ApiError } from '../../src/kube/rest.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { makePluginCa } from '../support/ca-certs.js';

setLogLevel('error');
const log = loggerFor('ca-test');
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString();

interface StoredSecret {
  metadata: { name: string; namespace: string };
  type?: string;
  data: Record<string, string>;
}

/** Secrets by path; every call yields first, so concurrent callers interleave as over HTTP. */
class FakeSecrets {
  readonly store = new Map<string, StoredSecret>();
  posts = 0;
  async get<T>(path: string): Promise<T> {
    await new Promise((r) => setImmediate(r));
    const s = this.store.get(path);
    if (!s) throw new ApiError(404, 'NotFound', `GET ${path}: 404 not found`);
    return structuredClone(s) as T;
  }
  async post<T>(path: string, body: unknown): Promise<T> {
    await new Promise((r) => setImmediate(r));
    this.posts++;
    const s = body as StoredSecret;
    const key = `${path}/${s.metadata.name}`;
    if (this.store.has(key)) throw new ApiError(409, 'AlreadyExists', `POST ${path}: 409 already exists`);
    this.store.set(key, structuredClone(s));
    return body as T;
  }
  put(namespace: string, name: string, data: Record<string, string>): void {
    this.store.set(`/api/v1/namespaces/${namespace}/secrets/${name}`, { metadata: { name, namespace }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) });
  }
}

const opts = { namespace: 'trellis-system', trustDomain: 'cluster.local', log };

test('first start: a self-signed root is created and stored in istio-ca-secret (Istio\'s type and keys)', async () => {
  const api = new FakeSecrets();
  const ca = await loadOrCreateCa(api, opts);
  const stored = api.store.get('/api/v1/namespaces/trellis-system/secrets/istio-ca-secret')!;
  expect(stored.type).toBe('istio.io/ca-root');
  expect(unb64(stored.data['ca-cert.pem'])).toBe(ca.rootPem);
  expect(new X509Certificate(ca.rootPem).checkPrivateKey((await import('node:crypto')).createPrivateKey(unb64(stored.data['ca-key.pem'])))).toBe(true);
  // The next start (or a restart) uses the same root.
  const again = await loadOrCreateCa(api, opts);
  expect(again.rootPem).toBe(ca.rootPem);
  expect(api.posts).toBe(1);
});

test('two replicas starting together: one creates, the other (409) reads the winner\'s root', async () => {
  const api = new FakeSecrets();
  const [a, b] = await Promise.all([loadOrCreateCa(api, opts), loadOrCreateCa(api, opts)]);
  expect(api.posts).toBe(2); // both tried
  expect(a.rootPem).toBe(b.rootPem);
  expect(a.signingKeyPem).toBe(b.signingKeyPem);
});

test('the Secret name is a setting', async () => {
  const api = new FakeSecrets();
  await loadOrCreateCa(api, { ...opts, secretName: 'trellis-ca' });
  expect([...api.store.keys()]).toEqual(['/api/v1/namespaces/trellis-system/secrets/trellis-ca']);
});

test('a plug-in CA in cacerts wins over the self-signed root', async () => {
  const api = new FakeSecrets();
  const plugin = makePluginCa();
  api.put('trellis-system', 'cacerts', { 'ca-cert.pem': plugin.caCert, 'ca-key.pem': plugin.caKey, 'root-cert.pem': plugin.rootCert, 'cert-chain.pem': plugin.certChain });
  const ca = await loadOrCreateCa(api, opts);
  expect(ca.rootPem).toBe(plugin.rootCert);
  expect(ca.certChain).toEqual([plugin.caCert, plugin.rootCert]);
  expect(api.posts).toBe(0);
});

test('a broken plug-in CA stops the start with an error naming the Secret and the key', async () => {
  const api = new FakeSecrets();
  const plugin = makePluginCa();
  const other = makePluginCa();
  api.put('trellis-system', 'cacerts', { 'ca-cert.pem': plugin.caCert, 'ca-key.pem': other.caKey, 'root-cert.pem': plugin.rootCert, 'cert-chain.pem': plugin.certChain });
  await expect(loadOrCreateCa(api, opts)).rejects.toThrow(/^Secret trellis-system\/cacerts: ca-key.pem: does not match the certificate in ca-cert.pem/);
  api.put('trellis-system', 'cacerts', { 'ca-cert.pem': plugin.caCert, 'ca-key.pem': plugin.caKey });
  await expect(loadOrCreateCa(api, opts)).rejects.toThrow(/^Secret trellis-system\/cacerts: root-cert.pem: missing/);
  expect(api.posts).toBe(0); // never falls back to a self-signed root
});

test('a damaged istio-ca-secret is an error, not silently replaced', async () => {
  const api = new FakeSecrets();
  api.put('trellis-system', 'istio-ca-secret', { 'ca-cert.pem': 'garbage', 'ca-key.pem': 'garbage' });
  await expect(loadOrCreateCa(api, opts)).rejects.toThrow(/^Secret trellis-system\/istio-ca-secret: ca-cert.pem: holds no PEM certificate/);
});

test('an existing Istio installation\'s root (RSA, PKCS#1 key) is taken over as it is', async () => {
  const api = new FakeSecrets();
  const istio = makePluginCa({ rsa: true, rootSubject: '/O=cluster.local' });
  const { createPrivateKey } = await import('node:crypto');
  const pkcs1 = createPrivateKey(istio.rootKey).export({ type: 'pkcs1', format: 'pem' }).toString();
  api.put('trellis-system', 'istio-ca-secret', { 'ca-cert.pem': istio.rootCert, 'ca-key.pem': pkcs1 });
  const ca = await loadOrCreateCa(api, opts);
  expect(ca.rootPem).toBe(istio.rootCert);
});

test('no permission to read Secrets says so', async () => {
  const api = { get: <T>(): Promise<T> => Promise.reject(new ApiError(403, 'Forbidden', 'forbidden')), post: <T>(): Promise<T> => Promise.reject(new Error('unexpected')) };
  await expect(loadOrCreateCa(api, opts)).rejects.toThrow(/cannot read Secret trellis-system\/cacerts: forbidden/);
});
