// A push called off (its signal aborted) stops taking proxies: those not reached yet keep what
// they have until a later push, which the debouncer sends with the burst that called it off.
import { jest } from '@jest/globals';
import { setLogLevel } from '../../src/util/logger.js';
import type { ProxyInfo } from '../../src/xds/proxy-info.js';
import { StaticSnapshotProvider, type Snapshot } from '../../src/xds/snapshot.js';
import { TypeUrl } from '../../src/xds/types.js';
import { LoopbackXds } from '../support/loopback-xds.js';
import { routeConfiguration, smallSnapshot, subscribeLikeEnvoy } from '../support/envoy-resources.js';
import type { AdsClient } from '../support/ads-client.js';

const { Route } = TypeUrl;

class CountingProvider extends StaticSnapshotProvider {
  readonly evaluated: string[] = [];
  override snapshot(proxy: ProxyInfo, types: ReadonlySet<TypeUrl>): Snapshot {
    this.evaluated.push(proxy.id);
    return super.snapshot(proxy, types);
  }
}

jest.setTimeout(30_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

test('a push called off evaluates no proxy after the call; the next push reaches them all', async () => {
  const provider = new CountingProvider(smallSnapshot());
  const xds = await LoopbackXds.start({ provider, concurrency: 1 });
  const clients: AdsClient[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const c = xds.client({ node: { id: `sidecar~10.0.0.${i + 1}~app-${i}.default~default.svc.cluster.local` } });
      clients.push(c);
      await subscribeLikeEnvoy(c);
    }
    provider.evaluated.length = 0;
    provider.update({ [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/v2', cluster: 'a' }])]]) });
    const control = new AbortController();
    const push = xds.server.push({ reason: 'config', types: [Route], signal: control.signal });
    control.abort(); // the first proxy is under way (one at a time); no other is taken
    await push;
    expect(provider.evaluated).toHaveLength(1);
    const routeOf = (c: AdsClient) => JSON.stringify(c.resources(Route).get('r'));
    await clients[0].until('the new route', () => routeOf(clients[0]).includes('/v2'));
    await new Promise((r) => setTimeout(r, 200));
    expect(clients.slice(1).map(routeOf).some((r) => r.includes('/v2'))).toBe(false);

    await xds.server.push({ reason: 'config', types: [Route] });
    expect(provider.evaluated).toHaveLength(6);
    for (const c of clients) await c.until('the new route', () => routeOf(c).includes('/v2'));
  } finally {
    for (const c of clients) c.close();
    await xds.close();
  }
});
