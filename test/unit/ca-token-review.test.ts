// TokenAuthenticator: only a service account's token for the CA's audience proves an identity;
// successful reviews are reused until the token expires (capped), refusals only for seconds,
// and both caches stay bounded. The API server is replaced by a function here (the cache logic);
// test/integration/ca-token-review.test.ts runs the real TokenReview.
import { TokenAuthenticator, tokenExpiry, tokenReviewSeconds, Unauthenticated, type TokenReviewStatus } from '../../src/ca/token-review.js';

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
/** A JWT-shaped token (the signature is not checked here: the API server does that). */
const jwt = (exp: number | undefined, salt = ''): string => `${b64url({ alg: 'RS256' })}.${b64url({ sub: `system:serviceaccount:shop:alice${salt}`, ...(exp === undefined ? {} : { exp }) })}.sig${salt}`;

const accepted = (extra: Record<string, string[]> = {}): TokenReviewStatus => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:shop:alice', extra } });

function fakeApiServer(answer: (token: string) => TokenReviewStatus = () => accepted()) {
  const calls: { token: string; audiences: string[] }[] = [];
  return {
    calls,
    review: async (token: string, audiences: string[]) => {
      calls.push({ token, audiences });
      return answer(token);
    },
  };
}

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Unauthenticated);
  return (err as Unauthenticated).reason;
}

test('a service account token for istio-ca proves namespace, account and pod', async () => {
  const api = fakeApiServer(() => accepted({ 'authentication.kubernetes.io/pod-name': ['web-1'], 'authentication.kubernetes.io/pod-uid': ['uid-1'] }));
  const auth = new TokenAuthenticator(api.review);
  await expect(auth.authenticate(jwt(undefined), ['istio-ca'])).resolves.toEqual({ namespace: 'shop', serviceAccount: 'alice', podName: 'web-1', podUid: 'uid-1' });
  expect(api.calls).toEqual([{ token: jwt(undefined), audiences: ['istio-ca'] }]);
});

test.each<[string, TokenReviewStatus, RegExp]>([
  ['the API server does not accept it', { authenticated: false, error: 'token has expired' }, /not accepted by the API server: token has expired/],
  ['it is for another audience', { authenticated: true, audiences: ['https://kubernetes.default.svc'], user: { username: 'system:serviceaccount:shop:alice' } }, /not for audience istio-ca/],
  ['the API server says nothing of audiences', { authenticated: true, user: { username: 'system:serviceaccount:shop:alice' } }, /not for audience istio-ca/],
  ['it is a person, not a service account', { authenticated: true, audiences: ['istio-ca'], user: { username: 'alice@example.com' } }, /belongs to alice@example.com, not a service account/],
  ['the account name is malformed', { authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:shop:alice:extra' } }, /not a well-formed service account/],
  ['the namespace would forge a path', { authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:shop/sa/bob:x' } }, /not a well-formed/],
])('refused when %s', async (_what, status, reason) => {
  const auth = new TokenAuthenticator(fakeApiServer(() => status).review);
  expect(await refusal(auth.authenticate(jwt(undefined), ['istio-ca']))).toMatch(reason);
});

test('no token, or an absurdly long one, is refused without asking the API server', async () => {
  const api = fakeApiServer();
  const auth = new TokenAuthenticator(api.review);
  expect(await refusal(auth.authenticate('', ['istio-ca']))).toBe('no token');
  expect(await refusal(auth.authenticate('x'.repeat(20_000), ['istio-ca']))).toMatch(/longer than/);
  expect(api.calls).toHaveLength(0);
});

test('a success is reused until the token expires, never beyond the cap', async () => {
  const c = clock();
  const api = fakeApiServer();
  const auth = new TokenAuthenticator(api.review, { now: c.now, maxCacheSeconds: 600 });
  const soon = jwt(Math.floor(c.now() / 1000) + 60, 'soon'); // expires in a minute
  const late = jwt(Math.floor(c.now() / 1000) + 3600, 'late'); // expires in an hour
  await auth.authenticate(soon, ['istio-ca']);
  await auth.authenticate(late, ['istio-ca']);
  c.advance(59_000);
  await auth.authenticate(soon, ['istio-ca']);
  await auth.authenticate(late, ['istio-ca']);
  expect(api.calls).toHaveLength(2);
  c.advance(2_000); // `soon` has expired: asked again (and the API server decides)
  await auth.authenticate(soon, ['istio-ca']);
  expect(api.calls).toHaveLength(3);
  c.advance(600_000); // the cap: `late` is asked again although it is still valid
  await auth.authenticate(late, ['istio-ca']);
  expect(api.calls).toHaveLength(4);
});

test('the cache is keyed by the token and the audiences', async () => {
  const api = fakeApiServer((t) => ({ ...accepted(), audiences: t.endsWith('x') ? ['other'] : ['istio-ca', 'other'] }));
  const auth = new TokenAuthenticator(api.review);
  await auth.authenticate(jwt(undefined), ['istio-ca']);
  await auth.authenticate(jwt(undefined), ['other']);
  expect(api.calls).toHaveLength(2);
  await auth.authenticate(jwt(undefined, 'x'), ['other']);
  expect(await refusal(auth.authenticate(jwt(undefined, 'x'), ['istio-ca']))).toMatch(/not for audience/);
});

test('a refusal is remembered for seconds only: a token that becomes valid is accepted soon', async () => {
  const c = clock();
  let valid = false;
  const api = fakeApiServer(() => (valid ? accepted() : { authenticated: false }));
  const auth = new TokenAuthenticator(api.review, { now: c.now, failureCacheSeconds: 5 });
  await refusal(auth.authenticate(jwt(undefined), ['istio-ca']));
  await refusal(auth.authenticate(jwt(undefined), ['istio-ca']));
  expect(api.calls).toHaveLength(1);
  valid = true;
  c.advance(5_001);
  await expect(auth.authenticate(jwt(undefined), ['istio-ca'])).resolves.toMatchObject({ serviceAccount: 'alice' });
  expect(api.calls).toHaveLength(2);
});

test('an API server that cannot answer is an error, not a refusal, and is not remembered', async () => {
  let down = true;
  const api = fakeApiServer();
  const auth = new TokenAuthenticator(async (t, a) => {
    if (down) throw new Error('connect ECONNREFUSED');
    return api.review(t, a);
  });
  const reviews = async (outcome: string): Promise<number> => (await tokenReviewSeconds.get()).values.find((v) => v.metricName === 'trellis_token_review_duration_seconds_count' && v.labels.outcome === outcome)?.value ?? 0;
  const before = { failed: await reviews('failed'), answered: await reviews('answered') };
  await expect(auth.authenticate(jwt(undefined), ['istio-ca'])).rejects.toThrow('ECONNREFUSED');
  down = false;
  await expect(auth.authenticate(jwt(undefined), ['istio-ca'])).resolves.toMatchObject({ namespace: 'shop' });
  // Each review is timed, by whether the API server answered.
  expect({ failed: await reviews('failed'), answered: await reviews('answered') }).toEqual({ failed: before.failed + 1, answered: before.answered + 1 });
});

test('concurrent requests with one token share one review', async () => {
  const api = fakeApiServer();
  const auth = new TokenAuthenticator(api.review);
  await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(jwt(undefined), ['istio-ca'])));
  expect(api.calls).toHaveLength(1);
});

test('both caches are bounded: the least recently used entry goes first', async () => {
  const api = fakeApiServer((t) => (t.includes('bad') ? { authenticated: false } : accepted()));
  const auth = new TokenAuthenticator(api.review, { maxEntries: 3, maxFailureEntries: 2 });
  for (const s of ['a', 'b', 'c']) await auth.authenticate(jwt(undefined, s), ['istio-ca']);
  await auth.authenticate(jwt(undefined, 'a'), ['istio-ca']); // a is now the most recent
  await auth.authenticate(jwt(undefined, 'd'), ['istio-ca']); // evicts b
  expect(api.calls).toHaveLength(4);
  await auth.authenticate(jwt(undefined, 'a'), ['istio-ca']);
  await auth.authenticate(jwt(undefined, 'c'), ['istio-ca']);
  expect(api.calls).toHaveLength(4);
  await auth.authenticate(jwt(undefined, 'b'), ['istio-ca']);
  expect(api.calls).toHaveLength(5);
  for (const s of ['bad1', 'bad2', 'bad3']) await refusal(auth.authenticate(jwt(undefined, s), ['istio-ca']));
  await refusal(auth.authenticate(jwt(undefined, 'bad1'), ['istio-ca'])); // evicted: asked again
  expect(api.calls).toHaveLength(9);
});

test('maxEntries 0 turns the cache off (every request is reviewed)', async () => {
  const api = fakeApiServer();
  const auth = new TokenAuthenticator(api.review, { maxEntries: 0 });
  await auth.authenticate(jwt(undefined), ['istio-ca']);
  await auth.authenticate(jwt(undefined), ['istio-ca']);
  expect(api.calls).toHaveLength(2);
});

test('the expiry is read from the payload without trusting it; anything odd has none', () => {
  expect(tokenExpiry(jwt(1234))).toBe(1234);
  expect(tokenExpiry('not-a-jwt')).toBeUndefined();
  expect(tokenExpiry('a.!!!.c')).toBeUndefined();
  expect(tokenExpiry(`a.${b64url({ exp: 'soon' })}.c`)).toBeUndefined();
});

test("a deleted pod's bound tokens are reviewed again (and so refused) at once, not honoured from the cache", async () => {
  let podExists = true;
  const bound = accepted({ 'authentication.kubernetes.io/pod-name': ['web-1'], 'authentication.kubernetes.io/pod-uid': ['uid-1'] });
  const api = fakeApiServer(() => (podExists ? bound : { authenticated: false, error: 'pod "web-1" not found' }));
  const auth = new TokenAuthenticator(api.review);
  const token = jwt(undefined, 'bound');
  await expect(auth.authenticate(token)).resolves.toMatchObject({ podName: 'web-1' });
  await auth.authenticate(token);
  expect(api.calls).toHaveLength(1); // cached
  auth.forgetPod('shop', 'other-pod'); // another pod: nothing forgotten
  await auth.authenticate(token);
  expect(api.calls).toHaveLength(1);
  podExists = false;
  auth.forgetPod('shop', 'web-1');
  expect(await refusal(auth.authenticate(token))).toContain('not found');
  expect(api.calls).toHaveLength(2);
});

test("the API server's own review cache cannot bring a deleted pod's token back: the pod's UID is remembered", async () => {
  const bound = accepted({ 'authentication.kubernetes.io/pod-name': ['web-1'], 'authentication.kubernetes.io/pod-uid': ['uid-1'] });
  const api = fakeApiServer(() => bound); // still accepting, as for seconds after the deletion
  const auth = new TokenAuthenticator(api.review);
  const token = jwt(undefined, 'stale');
  await auth.authenticate(token);
  auth.forgetPod('shop', 'web-1', 'uid-1');
  expect(await refusal(auth.authenticate(token))).toContain('bound to pod shop/web-1, which was deleted');
  // A new pod of the same name has another UID: its tokens work.
  const again = new TokenAuthenticator(fakeApiServer(() => accepted({ 'authentication.kubernetes.io/pod-name': ['web-1'], 'authentication.kubernetes.io/pod-uid': ['uid-2'] })).review);
  again.forgetPod('shop', 'web-1', 'uid-1');
  await expect(again.authenticate(jwt(undefined, 'new'))).resolves.toMatchObject({ podName: 'web-1' });
});
