// The rollout reporter recomputes what can have moved: after ACKs alone only the objects not yet
// everywhere (an ACK only moves a proxy forward), after anything else every object.
import { jest } from '@jest/globals';
import { RolloutReporter } from '../../src/controllers/rollout-status.js';
import type { AnyConfig, ChangeSet } from '../../src/model/config-store.js';
import type { RolloutProxy } from '../../src/push/rollout.js';
import { buildMesh, config, type ServiceFixture } from '../support/mesh-fixtures.js';

const services: ServiceFixture[] = [{ namespace: 'shop', name: 'web', clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] }];
const upsert = (c: AnyConfig): ChangeSet => ({ kind: c.kind, namespace: c.namespace, name: c.name, hosts: [], op: 'upsert', after: c.spec }) as ChangeSet;

test('ACKs recompute only the objects not yet everywhere; a structural event recomputes all', () => {
  const older = config('VirtualService', 'shop', 'older', { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  const newer = config('VirtualService', 'shop', 'newer', { hosts: ['web.example'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  const mesh = buildMesh(services, [older, newer]);
  let synced = 5;
  const proxy: RolloutProxy = { id: 'p', kind: 'sidecar', namespace: 'shop', labels: {}, syncedEpoch: () => synced, rejected: () => undefined };
  const moved: string[][] = [];
  const reporter = new RolloutReporter({ rootNamespace: 'trellis-system', proxies: () => [proxy], mesh: () => mesh, onMoved: (_kind, objects) => moved.push(objects.map((o) => o.name)) });
  reporter.tracker.record(upsert(older), 3, older);
  reporter.tracker.record(upsert(newer), 7, newer);
  const computed = jest.spyOn(reporter.tracker, 'rollout');

  reporter.pass();
  expect(computed).toHaveBeenCalledTimes(2);
  expect(moved).toEqual([['older', 'newer']]);
  expect(reporter.snapshot().get('VirtualService/shop/newer')).toEqual({ reached: 1, upToDate: 0, rejected: [] });

  synced = 7;
  reporter.markDirty('progress');
  reporter.pass();
  expect(computed).toHaveBeenCalledTimes(3); // newer only: older was already everywhere
  expect(moved.at(-1)).toEqual(['newer']);
  expect(reporter.snapshot().get('VirtualService/shop/newer')).toEqual({ reached: 1, upToDate: 1, rejected: [] });

  reporter.pass(); // nothing happened: nothing computed
  expect(computed).toHaveBeenCalledTimes(3);

  reporter.markDirty(); // e.g. a proxy came or went
  reporter.pass();
  expect(computed).toHaveBeenCalledTimes(5);
  expect(moved).toHaveLength(2); // nothing moved
});

test("a status asks for the last pass's rollout while the generation is the same; a new generation is computed at once", () => {
  const vs = config('VirtualService', 'shop', 'web', { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  const mesh = buildMesh(services, [vs]);
  let synced = 3;
  const proxy: RolloutProxy = { id: 'p', kind: 'sidecar', namespace: 'shop', labels: {}, syncedEpoch: () => synced, rejected: () => undefined };
  const reporter = new RolloutReporter({ rootNamespace: 'trellis-system', proxies: () => [proxy], mesh: () => mesh, onMoved: () => undefined });
  reporter.tracker.record(upsert(vs), 3, vs);
  reporter.pass();
  const computed = jest.spyOn(reporter.tracker, 'rollout');
  // Each status write's echo asks again: answered from the pass.
  for (let i = 0; i < 5; i++) expect(reporter.rolloutOf('VirtualService', 'shop', 'web')).toEqual({ reached: 1, upToDate: 1, rejected: [] });
  expect(computed).not.toHaveBeenCalled();
  // A new generation entered at 4: the proxy holds 3, so not up to date, whatever the last pass said.
  reporter.tracker.record(upsert(vs), 4, vs);
  expect(reporter.rolloutOf('VirtualService', 'shop', 'web')).toEqual({ reached: 1, upToDate: 0, rejected: [] });
  expect(computed).toHaveBeenCalledTimes(1);
  synced = 4;
  reporter.markDirty();
  reporter.pass();
  expect(reporter.rolloutOf('VirtualService', 'shop', 'web')).toEqual({ reached: 1, upToDate: 1, rejected: [] });
  expect(computed).toHaveBeenCalledTimes(2); // the pass's own
  expect(reporter.rolloutOf('VirtualService', 'unknown', 'web')).toBeUndefined();
});

test('a pass reports at most its budget of moved objects, those reported longest ago first; a status keeps what was reported until then', () => {
  const objects = Array.from({ length: 60 }, (_, i) => config('VirtualService', 'shop', `vs-${i}`, { hosts: [`h${i}.example`], http: [{ route: [{ destination: { host: 'web' } }] }] }));
  const mesh = buildMesh(services, objects);
  let synced = 0;
  const proxies: RolloutProxy[] = [
    { id: 'p', kind: 'sidecar', namespace: 'shop', labels: {}, syncedEpoch: () => synced, rejected: () => undefined },
    { id: 'q', kind: 'sidecar', namespace: 'shop', labels: {}, syncedEpoch: () => 0, rejected: () => undefined },
  ];
  let clock = 0;
  const reports: string[][] = [];
  const reporter = new RolloutReporter({ rootNamespace: 'trellis-system', proxies: () => proxies, mesh: () => mesh, onMoved: (_kind, o) => reports.push(o.map((x) => x.name)), reportsPerPass: 25, now: () => clock });
  objects.forEach((o) => reporter.tracker.record(upsert(o), 1, o));
  const pass = (): string[] => {
    clock += 1000;
    reports.length = 0;
    reporter.pass();
    return reports.flat();
  };
  const first = pass();
  expect(first).toHaveLength(25);
  // p syncs: every object moves (0/2 → 1/2), reported or not.
  synced = 1;
  reporter.markDirty('progress');
  const second = pass();
  // The 35 never reported go first; none of the first 25 yet.
  expect(second).toHaveLength(25);
  expect(second.filter((n) => first.includes(n))).toEqual([]);
  // Until reported, a status (an echo of its last write) keeps what was reported.
  expect(reporter.rolloutOf('VirtualService', 'shop', first[0])).toEqual({ reached: 2, upToDate: 0, rejected: [] });
  expect(reporter.snapshot().get(`VirtualService/shop/${first[0]}`)).toEqual({ reached: 2, upToDate: 1, rejected: [] });
  const third = pass(); // the 10 never reported, then the 15 reported longest ago
  expect(third).toHaveLength(25);
  expect(third.filter((n) => !first.includes(n) && !second.includes(n))).toHaveLength(10);
  expect(third.filter((n) => first.includes(n))).toHaveLength(15);
  expect(pass()).toHaveLength(10);
  expect(pass()).toEqual([]); // everything reported as it is
  expect(objects.every((o) => reporter.rolloutOf('VirtualService', 'shop', o.name)?.upToDate === 1)).toBe(true);
});
