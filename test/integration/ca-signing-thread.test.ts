// The mesh CA's TokenReviews and signatures on a thread of their own (src/ca/signing-thread.ts),
// run as the control plane runs it: the built module (dist/), its worker a real thread, the
// reviews against the real API server. Asserted: the work happens on the thread (its event loop
// is the one that gets busy), each request is signed by the CA current when it is made, a
// refusal says what the main thread would say, and nothing is lost when the thread dies.
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type * as AuthorityModule from '../../src/ca/authority.js';
import type * as ThreadModule from '../../src/ca/signing-thread.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { clusterAvailable, kube, kubeconfigPath, root, testNamespace } from '../support/cluster.js';
import { createServiceAccount, serviceAccountToken } from '../support/tokens.js';

// The built modules: the thread's worker is dist/src/ca/signing-worker.js, beside them. The CA
// classes come from there too, so a refusal is the class the thread's module throws.
const { startSigningThread } = (await import(path.join(root, 'dist/src/ca/signing-thread.js'))) as typeof ThreadModule;
const { CsrRejected, MeshCa } = (await import(path.join(root, 'dist/src/ca/authority.js'))) as typeof AuthorityModule;
type Ca = AuthorityModule.MeshCa;

const ns = testNamespace('ca-thread');
const { core } = kube();
const trustDomain = 'cluster.local';
const alice = { trustDomain, namespace: ns, serviceAccount: 'alice' };
const log = loggerFor('test');
setLogLevel('error');

let caA: Ca;
let caB: Ca;
let current: Ca;
const threads: Worker[] = [];
let thread: ThreadModule.SigningThread;
const reviewedHere: string[] = [];

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await createServiceAccount(ns, 'alice');
  caA = await MeshCa.create({ trustDomain });
  caB = await MeshCa.create({ trustDomain });
  current = caA;
  thread = await startSigningThread({
    kubeconfig: kubeconfigPath,
    currentCa: () => current,
    fallbackReview: (token) => {
      reviewedHere.push(token);
      return Promise.resolve({ authenticated: false, error: 'reviewed on the main thread' });
    },
    log,
    onThread: (w) => threads.push(w),
  });
});
afterAll(async () => {
  await thread?.close();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

const signedBy = (chain: string[], ca: Ca): boolean => new X509Certificate(chain[0]).verify(new X509Certificate(ca.signingCertPem).publicKey);
/** The thread's event loop's busy time so far (ms). */
const busy = (w: Worker): number => w.performance.eventLoopUtilization().active;

test('signs on the thread, with the CA current when each request is made', async () => {
  const w = threads.at(-1)!;
  const before = busy(w);
  const chains = await Promise.all(Array.from({ length: 40 }, () => thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600)));
  // 40 CSR checks and signatures: the thread's loop, not this one, did them.
  expect(busy(w) - before).toBeGreaterThan(5);
  for (const chain of chains) {
    expect(signedBy(chain, caA)).toBe(true);
    expect(new X509Certificate(chain[0]).subjectAltName).toBe(`URI:${spiffeId(alice)}`);
    expect(chain.slice(1)).toEqual([...caA.certChain]);
  }
  current = caB;
  const next = await thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600);
  expect(signedBy(next, caB)).toBe(true);
  expect(signedBy(next, caA)).toBe(false);
  current = caA;
  expect(signedBy(await thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600), caA)).toBe(true);
});

test('attack: a CSR for another identity is refused with the reason the main thread gives', async () => {
  const bobCsr = createCsr(spiffeId({ trustDomain, namespace: ns, serviceAccount: 'bob' })).csrPem;
  const onThread = await thread.signer.sign(bobCsr, alice, 3600).catch((e: unknown) => e);
  const here = await caA.sign(bobCsr, alice, 3600).catch((e: unknown) => e);
  expect(onThread).toBeInstanceOf(CsrRejected);
  expect(here).toBeInstanceOf(CsrRejected);
  expect((onThread as AuthorityModule.CsrRejected).kind).toBe('identity');
  expect((onThread as AuthorityModule.CsrRejected).reason).toBe((here as AuthorityModule.CsrRejected).reason);
});

test('reviews tokens with the API server from the thread', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  const status = await thread.review(token, ['istio-ca']);
  expect(status).toMatchObject({ authenticated: true, audiences: ['istio-ca'], user: { username: `system:serviceaccount:${ns}:alice` } });
  // Forged: alice's token with another account in it.
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: `system:serviceaccount:${ns}:bob` })).toString('base64url')}.${s}`;
  expect((await thread.review(forged, ['istio-ca'])).authenticated).toBeFalsy();
  expect(reviewedHere).toEqual([]);
});

test('nothing is lost when the thread dies: what it held is done here, and it comes back', async () => {
  const first = threads.at(-1)!;
  const inFlight = Array.from({ length: 30 }, () => thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600));
  await first.terminate();
  for (const chain of await Promise.all(inFlight)) expect(signedBy(chain, caA)).toBe(true);
  // While it is down, requests are answered here.
  expect(signedBy(await thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600), caA)).toBe(true);
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  await expect(thread.review(token, ['istio-ca'])).resolves.toMatchObject({ error: 'reviewed on the main thread' });
  // Started again after a second, and sent the current CA afresh.
  const deadline = Date.now() + 10_000;
  while (threads.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(threads).toHaveLength(2);
  const second = threads[1];
  const before = busy(second);
  const chains = await Promise.all(Array.from({ length: 20 }, () => thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600)));
  expect(busy(second) - before).toBeGreaterThan(2);
  for (const chain of chains) expect(signedBy(chain, caA)).toBe(true);
  await expect(thread.review(token, ['istio-ca'])).resolves.toMatchObject({ authenticated: true });
});

test('after close, the main thread signs', async () => {
  await thread.close();
  expect(signedBy(await thread.signer.sign(createCsr(spiffeId(alice)).csrPem, alice, 3600), caA)).toBe(true);
});
