// Which resources a NACK holds back.
import { rejectedResources } from '../../src/xds/rejection.js';

const changed = new Set(['outbound|80||reviews.default.svc.cluster.local', 'outbound|80||ratings.default.svc.cluster.local', 'l1', 'l10']);

test('resources the error names are held back; the others are not', () => {
  expect(rejectedResources(changed, 'Error adding/updating cluster(s) outbound|80||reviews.default.svc.cluster.local: bad lb policy', false)).toEqual(
    new Set(['outbound|80||reviews.default.svc.cluster.local']),
  );
});

test('a name inside a longer name does not count, a sentence-ending dot does', () => {
  expect(rejectedResources(changed, 'listener l10: invalid address', false)).toEqual(new Set(['l10']));
  expect(rejectedResources(changed, 'cannot add l1.', false)).toEqual(new Set(['l1']));
});

test('an error naming nothing, or the NACK of a retry, holds back everything that changed', () => {
  expect(rejectedResources(changed, 'Proto constraint validation failed', false)).toEqual(changed);
  expect(rejectedResources(changed, 'listener l10: invalid', true)).toEqual(changed);
});
