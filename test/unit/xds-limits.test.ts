// The building blocks of the xDS limits: a token bucket, the admission gate's order and bound,
// the truncation of client-supplied text, and the per-client stream limit on the plaintext port.
import * as grpc from '@grpc/grpc-js';
import { AdmissionGate, TokenBucket, truncate } from '../../src/xds/limits.js';
import { XdsServer } from '../../src/xds/server.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import { AdsClient } from '../support/ads-client.js';
import { edsCluster } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

test('a token bucket allows its burst, then its rate', () => {
  let t = 0;
  const b = new TokenBucket(10, 3, () => t);
  expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  expect(b.wait()).toBe(100);
  t += 100;
  expect([b.take(), b.take()]).toEqual([true, false]);
  t += 10_000; // refills up to the burst, not beyond
  expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
});

test('the admission gate admits in order at its rate, and refuses at once past its queue bound', async () => {
  const gate = new AdmissionGate(100, 1, 2);
  expect(gate.admit()).toBe(true);
  const order: number[] = [];
  const a = Promise.resolve(gate.admit()).then((ok) => order.push(ok ? 1 : -1));
  const b = Promise.resolve(gate.admit()).then((ok) => order.push(ok ? 2 : -2));
  expect(gate.admit()).toBe(false); // two already wait
  await Promise.all([a, b]);
  expect(order).toEqual([1, 2]);
});

test("a client's text is cut to the bound and says so", () => {
  expect(truncate('short', 10)).toBe('short');
  const long = truncate('x'.repeat(60 * 1024 * 1024), 4096);
  expect(long.length).toBeLessThan(4200);
  expect(long).toContain(`(${60 * 1024 * 1024 - 4096} more characters not kept)`);
});

test('the plaintext port counts streams per client address (no identity there): one address cannot open more than its share', async () => {
  const server = new XdsServer({ provider: new StaticSnapshotProvider({ [TypeUrl.Cluster]: new Map([['c', edsCluster('c')]]) }), limits: { maxStreamsPerIdentity: 2 } });
  const port = await server.listen('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), { kind: 'plaintext' });
  const clients = [0, 1, 2].map((i) => new AdsClient(`127.0.0.1:${port}`, { node: { id: `sidecar~10.0.0.${i}~p${i}.ns~ns.svc.cluster.local` } }));
  try {
    for (const c of clients.slice(0, 2)) {
      c.subscribe(TypeUrl.Cluster, []);
      await c.until('served', () => c.names(TypeUrl.Cluster).length > 0);
    }
    clients[2].subscribe(TypeUrl.Cluster, []);
    await clients[2].until('refused', () => clients[2].error !== undefined);
    expect(clients[2].error?.message).toContain('RESOURCE_EXHAUSTED: peer 127.0.0.1 already holds 2 xDS streams (at most 2)');
    expect(clients[2].received).toHaveLength(0);
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
});
