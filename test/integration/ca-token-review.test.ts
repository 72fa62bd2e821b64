// TokenReview against the real API server: a service account token requested for audience
// istio-ca proves its namespace and account (and its pod, when bound to one); a token for
// another audience, a forged one, or one whose pod or account is gone proves nothing.
import { TokenAuthenticator, Unauthenticated } from '../../src/ca/token-review.js';
import { clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';
import { createServiceAccount, heldPod, rest, serviceAccountToken } from '../support/tokens.js';

const ns = testNamespace('ca-tokens');
const { core } = kube();
// No cache: every call is a TokenReview, so each test sees the API server's own answer.
const uncached = (): TokenAuthenticator => TokenAuthenticator.forApiServer(rest(), { maxEntries: 0, failureCacheSeconds: 0 });

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await createServiceAccount(ns, 'alice');
  await createServiceAccount(ns, 'bob');
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

async function reason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Unauthenticated);
  return (err as Unauthenticated).reason;
}

test('a token for audience istio-ca proves its namespace and service account', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  await expect(uncached().authenticate(token, ['istio-ca'])).resolves.toEqual({ namespace: ns, serviceAccount: 'alice' });
});

test('a token bound to a pod names the pod; once the pod is deleted the token proves nothing', async () => {
  const pod = await heldPod(ns, 'web-1', 'bob');
  const token = await serviceAccountToken(ns, 'bob', { audiences: ['istio-ca'], pod });
  await expect(uncached().authenticate(token, ['istio-ca'])).resolves.toEqual({ namespace: ns, serviceAccount: 'bob', podName: 'web-1', podUid: pod.uid });
  await core.deleteNamespacedPod({ namespace: ns, name: 'web-1', gracePeriodSeconds: 0 });
  // The pod is gone once the API server says so; from then on its token is dead.
  const why = await waitFor('the deleted pod\'s token to be refused', () =>
    uncached()
      .authenticate(token, ['istio-ca'])
      .then(
        () => undefined,
        (e: unknown) => (e instanceof Unauthenticated ? e.reason : undefined),
      ),
  );
  expect(why).toMatch(/not accepted by the API server/);
});

test('attack: a token for the Kubernetes API (the default audience) is refused for istio-ca', async () => {
  const token = await serviceAccountToken(ns, 'alice');
  expect(await reason(uncached().authenticate(token, ['istio-ca']))).toMatch(/not accepted by the API server|not for audience istio-ca/);
});

test('attack: a token for another audience is refused', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['vault'] });
  expect(await reason(uncached().authenticate(token, ['istio-ca']))).toMatch(/not accepted by the API server|not for audience istio-ca/);
});

test('attack: a forged token (alice\'s with the account changed) is refused', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: `system:serviceaccount:${ns}:bob` })).toString('base64url')}.${s}`;
  expect(await reason(uncached().authenticate(forged, ['istio-ca']))).toMatch(/not accepted by the API server/);
});

test('a token of a deleted service account proves nothing', async () => {
  await createServiceAccount(ns, 'temp');
  const token = await serviceAccountToken(ns, 'temp', { audiences: ['istio-ca'] });
  await expect(uncached().authenticate(token, ['istio-ca'])).resolves.toMatchObject({ serviceAccount: 'temp' });
  await core.deleteNamespacedServiceAccount({ namespace: ns, name: 'temp' });
  // The API server checks the account through its own cache: allow it a moment.
  await waitFor('the deleted account\'s token to be refused', () => uncached().authenticate(token, ['istio-ca']).then(() => undefined, (e: unknown) => e instanceof Unauthenticated));
});

test('with the cache, a burst of requests with one token costs one review', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  let reviews = 0;
  const r = rest();
  const counting = { post: <T>(path: string, body: unknown): Promise<T> => (reviews++, r.post<T>(path, body)) };
  const auth = TokenAuthenticator.forApiServer(counting);
  const ids = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(token, ['istio-ca'])));
  ids.push(await auth.authenticate(token, ['istio-ca']));
  expect(new Set(ids.map((i) => `${i.namespace}/${i.serviceAccount}`))).toEqual(new Set([`${ns}/alice`]));
  expect(reviews).toBe(1);
});
