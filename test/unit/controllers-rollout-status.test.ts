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
