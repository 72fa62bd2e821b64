// The xDS server's ports: one gRPC server serves several (plaintext and TLS), and a port it
// cannot take is an error that names the address.
import * as grpc from '@grpc/grpc-js';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { AdsClient } from '../support/ads-client.js';
import { edsCluster } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

setLogLevel('error');

test('two ports on one server both serve, and a port in use is refused naming the address', async () => {
  const server = new XdsServer({ provider: new StaticSnapshotProvider({ [TypeUrl.Cluster]: new Map([['a', edsCluster('a')]]) }) });
  const other = new XdsServer({ provider: new StaticSnapshotProvider({}) });
  try {
    const ports = [await server.listen('127.0.0.1:0'), await server.listen('127.0.0.1:0')];
    expect(ports[0]).not.toBe(ports[1]);
    for (const port of ports) {
      const c = new AdsClient(`127.0.0.1:${port}`, { node: { id: `sidecar~10.0.0.1~p-${port}.default~default.svc.cluster.local` } });
      c.subscribe(TypeUrl.Cluster, []);
      await c.until('clusters', () => c.size(TypeUrl.Cluster) === 1);
      c.close();
    }
    await expect(other.listen(`127.0.0.1:${ports[0]}`, grpc.ServerCredentials.createInsecure())).rejects.toThrow(`cannot serve xDS on 127.0.0.1:${ports[0]}`);
  } finally {
    await server.close();
    await other.close();
  }
});
