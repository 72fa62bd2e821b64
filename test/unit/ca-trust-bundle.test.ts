// Across a root change the published bundle trusts both roots for as long as certificates of
// the old one may live, then only the new one; a self-signed root is replaced in the last fifth
// of its life, as Istio's.
import { X509Certificate } from 'node:crypto';
import { MeshCa } from '../../src/ca/authority.js';
import { fingerprint, nextExpiry, nextTrustState, parseTrustState, rootRotationDue, rootsOf, trustBundle, type TrustState } from '../../src/ca/trust-bundle.js';

const TD = 'cluster.local';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const t0 = new Date('2026-12-01T10:00:00Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);
const fps = (bundle: string): string[] => rootsOf(bundle).map(fingerprint);

let oldRoot: string;
let newRoot: string;
let third: string;
let shortLived: string;
beforeAll(async () => {
  [oldRoot, newRoot, third] = (await Promise.all([0, 1, 2].map(() => MeshCa.create({ trustDomain: TD, now: t0 })))).map((c) => c.rootPem);
  shortLived = (await MeshCa.create({ trustDomain: TD, now: t0, days: 1 })).rootPem;
});

test('the first state holds the current root only', () => {
  const s = nextTrustState(undefined, [oldRoot], t0, DAY);
  expect(s).toEqual({ current: [oldRoot], retained: [] });
  expect(fps(trustBundle(s, t0))).toEqual([fingerprint(oldRoot)]);
});

test('after a root change both roots are trusted until the retention ends, then only the new one', () => {
  const before = nextTrustState(undefined, [oldRoot], t0, DAY);
  const after = nextTrustState(before, [newRoot], at(HOUR), DAY);
  expect(after.current).toEqual([newRoot]);
  expect(after.retained).toEqual([{ pem: oldRoot, until: at(HOUR + DAY).toISOString() }]);
  // New root first: what the CA signs under now.
  expect(fps(trustBundle(after, at(2 * HOUR)))).toEqual([fingerprint(newRoot), fingerprint(oldRoot)]);
  expect(fps(trustBundle(after, at(HOUR + DAY - 1)))).toEqual([fingerprint(newRoot), fingerprint(oldRoot)]);
  expect(fps(trustBundle(after, at(HOUR + DAY)))).toEqual([fingerprint(newRoot)]);
  expect(nextExpiry(after, at(2 * HOUR))).toEqual(at(HOUR + DAY));
  // Past it, nothing more to wait for (a stored record not yet pruned must not wake every second).
  expect(nextExpiry(after, at(HOUR + DAY))).toBeUndefined();
  // The next change drops what has run out.
  expect(nextTrustState(after, [newRoot], at(2 * DAY), DAY).retained).toEqual([]);
});

test('an unchanged root (a cacerts edit that kept its root, a restart) changes nothing', () => {
  const s = nextTrustState(nextTrustState(undefined, [oldRoot], t0, DAY), [newRoot], t0, DAY);
  expect(nextTrustState(s, [newRoot], at(HOUR), DAY)).toEqual(s);
  // The same root written differently (CRLF, no final newline) is the same root.
  expect(nextTrustState(s, [newRoot.replace(/\n/g, '\r\n').trim()], at(HOUR), DAY)).toEqual(s);
});

test('two quick changes keep both earlier roots; going back to a retained root makes it current again', () => {
  const a = nextTrustState(undefined, [oldRoot], t0, DAY);
  const b = nextTrustState(a, [newRoot], at(HOUR), DAY);
  const c = nextTrustState(b, [third], at(2 * HOUR), DAY);
  expect(c.retained.map((r) => r.pem)).toEqual([oldRoot, newRoot]);
  expect(fps(trustBundle(c, at(3 * HOUR)))).toEqual([third, oldRoot, newRoot].map(fingerprint));
  const back = nextTrustState(c, [oldRoot], at(3 * HOUR), DAY);
  expect(back.current).toEqual([oldRoot]);
  expect(back.retained.map((r) => r.pem)).toEqual([newRoot, third]);
});

test('a retained root is never kept past its own expiry', () => {
  const s = nextTrustState(nextTrustState(undefined, [shortLived], t0, DAY), [newRoot], at(HOUR), 90 * DAY);
  const end = Date.parse(new X509Certificate(shortLived).validTo);
  expect(Date.parse(s.retained[0].until)).toBe(end);
  expect(fps(trustBundle(s, new Date(end + 1000)))).toEqual([fingerprint(newRoot)]);
});

test('a bundle of several roots (an operator\'s root-cert.pem with old and new) is current as a whole', () => {
  const s = nextTrustState(nextTrustState(undefined, [oldRoot], t0, DAY), [newRoot + oldRoot], at(HOUR), DAY);
  expect(s.retained).toEqual([]);
  expect(fps(trustBundle(s, at(HOUR)))).toEqual([newRoot, oldRoot].map(fingerprint));
});

test('the roots the CA signs under right now are always in the bundle, whatever the stored state says', () => {
  const stale: TrustState = { current: [oldRoot], retained: [] };
  expect(fps(trustBundle(stale, t0, [newRoot]))).toEqual([oldRoot, newRoot].map(fingerprint));
});

test('a stored state is read back, and one that is not a list of self-signed CA roots is refused', async () => {
  const s = nextTrustState(nextTrustState(undefined, [oldRoot], t0, DAY), [newRoot], at(HOUR), DAY);
  expect(parseTrustState(JSON.stringify(s))).toEqual(s);
  expect(() => parseTrustState('[]')).toThrow(/current/);
  expect(() => parseTrustState(JSON.stringify({ current: [oldRoot], retained: [{ pem: oldRoot }] }))).toThrow(/retained\[0\]/);
  // An attacker's leaf certificate slipped into the state is not a root: refused, not trusted.
  const ca = await MeshCa.create({ trustDomain: TD });
  const leaf = (await ca.issueServing(['evil.example'], 1)).cert;
  expect(() => parseTrustState(JSON.stringify({ current: [leaf], retained: [] }))).toThrow(/not a self-signed CA certificate/);
});

test('a self-signed root is rotated in the last 20% of its lifetime (Istio\'s grace period), not before', () => {
  const root = { validFrom: '2026-01-01T00:00:00Z', validTo: '2036-01-01T00:00:00Z' };
  expect(rootRotationDue(root, new Date('2027-01-01T00:00:00Z'))).toBe(false);
  expect(rootRotationDue(root, new Date('2033-12-01T00:00:00Z'))).toBe(false);
  expect(rootRotationDue(root, new Date('2034-01-02T00:00:00Z'))).toBe(true);
  expect(rootRotationDue(root, new Date('2037-01-01T00:00:00Z'))).toBe(true);
  expect(rootRotationDue(root, new Date('2030-01-01T00:00:00Z'), 0.7)).toBe(true);
});
